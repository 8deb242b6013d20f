"""`helpline announce ...`: the Typer app `announce_commands(load)` builds.

The command line acts as an operator: it is for people who already hold the Redis credentials,
so it does not check console roles; `--as` names who did it in the announcement's history. The
configuration is read by the `helpline` command line, which passes `load` (this package does not
know the configuration file).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypeVar

import redis.asyncio as redis
import typer

from helpline.connectors.base import AccountSettings
from helpline.connectors.registry import capabilities_lookup

from .deliveries import DeliveryStore
from .errors import AnnouncementError
from .models import Announcement, Target, TargetKind, parse_publish_at
from .render import preview as render_preview
from .settings import AnnouncementSettings
from .store import AnnouncementStore
from .workflow import Workflow, unknown_account

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="helpline.toml")]
ActorOption = Annotated[str, typer.Option("--as", help="who is doing this (recorded)")]
T = TypeVar("T")


class Desk(NamedTuple):
    """What the commands need of the configuration."""

    redis_url: str
    settings: AnnouncementSettings
    accounts: Sequence[AccountSettings]


#: Reads the configuration file (None: the default one); refuses a bad one with `typer.Exit`.
LoadDesk = Callable[[Path | None], Desk]


def _run(desk: Desk, action: Callable[[Workflow, redis.Redis], Awaitable[T]]) -> T:
    async def main() -> T:
        client = redis.Redis.from_url(desk.redis_url)
        try:
            workflow = Workflow(
                AnnouncementStore(client), desk.settings, capabilities_lookup(desk.accounts), desk.accounts
            )
            return await action(workflow, client)
        finally:
            await client.aclose()

    try:
        return asyncio.run(main())
    except (AnnouncementError, ValueError) as exc:
        typer.echo(f"helpline: {exc}", err=True)
        raise typer.Exit(2) from None


TARGET_HELP = "repeatable: x:<acct>, mastodon:<acct>, telegram:<acct>:subscribers or telegram:<acct>:<chat id>"


def parse_target(spec: str) -> Target:
    """x:<account> | mastodon:<account> | telegram:<account>:subscribers | telegram:<account>:<chat id>"""
    parts = spec.split(":")
    if len(parts) == 2 and parts[0] == "x":
        return Target(kind=TargetKind.X_TIMELINE, account=parts[1])
    if len(parts) == 2 and parts[0] == "mastodon":
        return Target(kind=TargetKind.MASTODON_ACCOUNT, account=parts[1])
    if len(parts) == 3 and parts[0] == "telegram":
        if parts[2] == "subscribers":
            return Target(kind=TargetKind.TELEGRAM_SUBSCRIBERS, account=parts[1])
        return Target(kind=TargetKind.TELEGRAM_CHAT, account=parts[1], chat_id=int(parts[2]))
    raise typer.BadParameter(
        f"{spec!r}: use x:<acct>, mastodon:<acct>, telegram:<acct>:subscribers or telegram:<acct>:<chat id>"
    )


def _line(a: Announcement) -> str:
    when = a.local_publish_at()
    return (
        f"{a.id}\t{a.state.value}\t{when.isoformat() + ' ' + a.timezone if when else 'now'}\t{a.title or a.text[:60]!r}"
    )


def _show_preview(a: Announcement, w: Workflow) -> None:
    for target, r in render_preview(a, w.capabilities):
        typer.echo(f"== {target.key} ({r.platform}, limit {r.limit})")
        if r.refused:
            typer.echo(f"   REFUSED: {r.refused}")
        for i, part in enumerate(r.parts, 1):
            typer.echo(f"   [{i}/{len(r.parts)}, {part.length}] {part.visible}")


def announce_commands(load: LoadDesk) -> typer.Typer:
    """The `announce` commands, reading the configuration with `load`."""
    app = typer.Typer(help="Compose, preview, schedule and approve announcements.", no_args_is_help=True)

    @app.command("create")
    def create(
        text: Annotated[str, typer.Option(help="the announcement text")],
        target: Annotated[list[str], typer.Option(help=TARGET_HELP)],
        title: str = "",
        at: Annotated[str | None, typer.Option(help='ISO time or "now"')] = None,
        timezone: str = "UTC",
        actor: ActorOption = "cli",
        config: ConfigOption = None,
    ) -> None:
        """Create a draft (refused, with the reason, if a target cannot take the text)."""
        targets = [parse_target(t) for t in target]
        desk = load(config)
        for spec, t in zip(target, targets, strict=True):  # named as given, before Redis is asked
            unknown = unknown_account(t, desk.accounts)
            if unknown:
                typer.echo(f"helpline: --target {spec}: {unknown}", err=True)
                raise typer.Exit(2)

        async def action(w: Workflow, _: redis.Redis) -> Announcement:
            return await w.compose(
                text=text,
                targets=targets,
                actor=actor,
                title=title,
                publish_at=parse_publish_at(at, timezone),
                timezone=timezone,
            )

        typer.echo(_line(_run(desk, action)))

    @app.command("preview")
    def preview(announcement_id: str, config: ConfigOption = None) -> None:
        """Show every target's parts and character counts."""

        async def action(w: Workflow, _: redis.Redis) -> None:
            _show_preview(await w.store.get(announcement_id), w)

        _run(load(config), action)

    @app.command("schedule")
    def schedule(
        announcement_id: str,
        at: Annotated[str, typer.Option(help='ISO time (local to --timezone) or "now"')],
        timezone: str = "UTC",
        submit: Annotated[bool, typer.Option(help="also submit it")] = True,
        actor: ActorOption = "cli",
        config: ConfigOption = None,
    ) -> None:
        """Set the publish time of a draft and (by default) submit it for approval/scheduling."""

        async def action(w: Workflow, _: redis.Redis) -> Announcement:
            a = await w.schedule(announcement_id, parse_publish_at(at, timezone), timezone)
            return await w.submit(a.id, actor) if submit else a

        typer.echo(_line(_run(load(config), action)))

    @app.command("approve")
    def approve(
        announcement_id: str,
        comment: str = "",
        reject: bool = False,
        actor: ActorOption = "cli",
        config: ConfigOption = None,
    ) -> None:
        """Approve (or, with --reject and a --comment, send back) an announcement awaiting approval."""

        async def action(w: Workflow, _: redis.Redis) -> Announcement:
            if reject:
                return await w.reject(announcement_id, actor, comment)
            return await w.approve(announcement_id, actor, comment)

        typer.echo(_line(_run(load(config), action)))

    @app.command("list")
    def listing(limit: int = 20, config: ConfigOption = None) -> None:
        """Newest announcements first."""

        async def action(w: Workflow, _: redis.Redis) -> list[Announcement]:
            return await w.store.recent(limit=limit)

        for a in _run(load(config), action):
            typer.echo(_line(a))

    @app.command("status")
    def status(announcement_id: str, limit: int = 50, config: ConfigOption = None) -> None:
        """Delivery status per target (and subscriber)."""

        async def action(w: Workflow, client: redis.Redis) -> tuple[Announcement, Any, list[Any]]:
            a = await w.store.get(announcement_id)
            return a, await w.store.progress(a.id), await DeliveryStore(client).list(a.id, limit=limit)

        a, progress, records = _run(load(config), action)
        typer.echo(
            f"{_line(a)}\n{progress.sent}/{progress.total} sent, {progress.failed} failed, "
            f"{progress.uncertain} uncertain, {progress.pending} pending"
        )
        for d in records:
            typer.echo(
                f"{d.target}\t{d.recipient or ''}\t{d.state.value}\t{d.attempts}\t{d.url or ''}\t{d.error or ''}"
            )

    return app
