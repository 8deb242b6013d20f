"""The announcement life cycle: compose, edit, schedule, submit, approve/reject, unschedule.

Each action checks the state it starts from and saves with compare-and-set, so it is safe to
retry and two people cannot both win a race (the loser gets `Conflict`). Who may do what (roles)
is the caller's business (the REST API and the CLI); this module enforces what may happen when.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from helpline.connectors.base import AccountSettings
from helpline.connectors.capabilities import CapabilityLookup
from helpline.connectors.registry import capabilities_lookup
from helpline.routing.models import utcnow

from .errors import InvalidTransition, Refused
from .models import Announcement, Image, IncidentSpec, Review, State, Target
from .render import refusals
from .settings import AnnouncementSettings
from .store import AnnouncementStore

#: A publish time this far in the past is a mistake, not "now".
PAST_TOLERANCE = timedelta(minutes=1)


def _expect(announcement: Announcement, *states: State, action: str) -> None:
    if announcement.state not in states:
        allowed = " or ".join(s.value for s in states)
        raise InvalidTransition(
            f"cannot {action} announcement {announcement.id}: it is {announcement.state.value}, not {allowed}"
        )


def unknown_account(target: Target, accounts: Sequence[AccountSettings]) -> str | None:
    """Why `target` cannot be published from the configured `accounts` (its account is not one of
    them: the reason names those its platform has), or None. With no account configured, any is
    taken. The one check of the command line's `announce create` and the REST API's."""
    configured = {(a.platform, a.name) for a in accounts}
    if not configured or (target.platform, target.account) in configured:
        return None
    names = ", ".join(sorted(n for p, n in configured if p == target.platform)) or "none"
    return f"no {target.platform} account {target.account!r} in the configuration ({target.platform} accounts: {names})"


class Workflow:
    def __init__(
        self,
        store: AnnouncementStore,
        settings: AnnouncementSettings | None = None,
        capabilities: CapabilityLookup | None = None,
        accounts: Sequence[AccountSettings] = (),
    ) -> None:
        """`accounts`: the configured ones, which targets must name (none: any is taken)."""
        self.store = store
        self.settings = settings or AnnouncementSettings()
        self.capabilities = capabilities or capabilities_lookup(())
        self.accounts = accounts

    def check(self, announcement: Announcement) -> None:
        """Refuse a target whose account is not configured, and a text some target cannot publish
        (the reasons name the account or the platform)."""
        for target in announcement.targets:
            unknown = unknown_account(target, self.accounts)
            if unknown:
                raise Refused(f"target {target.key}: {unknown}")
        reasons = refusals(announcement, self.capabilities)
        if reasons:
            raise Refused("; ".join(reasons))

    async def compose(
        self,
        *,
        text: str,
        targets: Sequence[Target],
        actor: str,
        title: str = "",
        overrides: dict[str, str] | None = None,
        images: Sequence[Image] = (),
        publish_at: datetime | None = None,
        timezone: str = "UTC",
        incident: IncidentSpec | None = None,
    ) -> Announcement:
        """A new draft. Refused (nothing stored) if a target cannot take the text."""
        try:
            draft = Announcement(
                id="new",
                title=title,
                text=text,
                overrides=overrides or {},
                images=tuple(images),
                targets=tuple(targets),
                publish_at=publish_at,
                timezone=timezone,
                incident=incident,
                created_by=actor,
            )
        except ValidationError as exc:
            raise Refused(_first(exc)) from None
        self.check(draft)
        return await self.store.save(draft.model_copy(update={"id": await self.store.new_id()}))

    async def edit(self, announcement_id: str, actor: str, **changes: Any) -> Announcement:
        """Change a draft's fields (text, title, overrides, images, targets, incident, publish time)."""
        current = await self.store.get(announcement_id)
        _expect(current, State.DRAFT, action="edit")
        allowed = {"text", "title", "overrides", "images", "targets", "incident", "publish_at", "timezone"}
        unknown = set(changes) - allowed
        if unknown:
            raise Refused(f"cannot change {', '.join(sorted(unknown))}")
        try:
            updated = Announcement.model_validate({**current.model_dump(), **changes})
        except ValidationError as exc:
            raise Refused(_first(exc)) from None
        self.check(updated)
        return await self.store.save(updated)

    async def schedule(
        self, announcement_id: str, publish_at: datetime | None, timezone: str = "UTC", now: datetime | None = None
    ) -> Announcement:
        """Set the publish time of a draft (None: as soon as it is submitted/approved)."""
        current = await self.store.get(announcement_id)
        _expect(current, State.DRAFT, action="schedule")
        if publish_at is not None and publish_at < (now or utcnow()) - PAST_TOLERANCE:
            raise Refused(f"publish time {publish_at.isoformat()} is in the past")
        try:
            updated = Announcement.model_validate(
                {**current.model_dump(), "publish_at": publish_at, "timezone": timezone}
            )
        except ValidationError as exc:
            raise Refused(_first(exc)) from None
        return await self.store.save(updated)

    async def submit(self, announcement_id: str, actor: str) -> Announcement:
        """draft → awaiting_approval (a target requires approval) or scheduled."""
        current = await self.store.get(announcement_id)
        _expect(current, State.DRAFT, action="submit")
        self.check(current)
        state = State.AWAITING_APPROVAL if self.settings.requires_approval(current) else State.SCHEDULED
        return await self.store.save(current.model_copy(update={"state": state, "review": None}))

    async def approve(self, announcement_id: str, actor: str, comment: str = "") -> Announcement:
        current = await self.store.get(announcement_id)
        _expect(current, State.AWAITING_APPROVAL, action="approve")
        self.check(current)
        review = Review(decision="approved", by=actor, comment=comment)
        return await self.store.save(current.model_copy(update={"state": State.SCHEDULED, "review": review}))

    async def reject(self, announcement_id: str, actor: str, comment: str) -> Announcement:
        """Back to draft with the supervisor's comment (marketing edits and submits again)."""
        if not comment.strip():
            raise Refused("a rejection needs a comment saying what to change")
        current = await self.store.get(announcement_id)
        _expect(current, State.AWAITING_APPROVAL, action="reject")
        review = Review(decision="rejected", by=actor, comment=comment.strip())
        return await self.store.save(current.model_copy(update={"state": State.DRAFT, "review": review}))

    async def unschedule(self, announcement_id: str, actor: str) -> Announcement:
        """Withdraw a submitted announcement (waiting or scheduled) back to draft."""
        current = await self.store.get(announcement_id)
        _expect(current, State.AWAITING_APPROVAL, State.SCHEDULED, action="unschedule")
        return await self.store.save(current.model_copy(update={"state": State.DRAFT}))


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "announcement"
    return f"{where}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}"
