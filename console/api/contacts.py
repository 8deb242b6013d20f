"""Contacts: a person's profile across platforms, linking the same person's contacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from helpline.console import actions
from helpline.console.archived import archived_story, history_ids
from helpline.console.archived import contact as archived_contact
from helpline.console.auth import staff
from helpline.console.queries import summarize
from helpline.console.roles import Principal, can_see_contact, can_view
from helpline.console.schemas import ContactOut, LinkIn
from helpline.console.services import Services, services
from helpline.console.timeline import conversations_of
from helpline.routing.models import Contact, Conversation, EventType, utcnow
from helpline.routing.store import Effects

router = APIRouter(prefix="/contacts", tags=["contacts"])

Svc = Annotated[Services, Depends(services)]
Staff = Annotated[Principal, Depends(staff)]


async def _contact(
    svc: Services, who: Principal, contact_id: str, convs: Sequence[Conversation] | None = None
) -> Contact:
    """The contact, if the caller may see it: supervisors and admins see every contact, an agent
    those with a conversation they may see (others are "not found", so ids cannot be probed).
    `convs`: recent conversations already read that include the contact's."""
    contact = await archived_contact(svc, contact_id)
    if contact is not None and not who.sees_all:
        if convs is None:
            convs = await svc.store.get_many(await conversations_of(svc, [contact_id]))
        if not can_see_contact(who, contact_id, convs) and not await history_ids(svc, who, [contact_id]):
            contact = None  # neither a recent conversation nor one in the record that `who` may see
    if contact is None:
        raise HTTPException(404, f"contact {contact_id!r} not found")
    return contact


@router.get("/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: str, svc: Svc, who: Staff) -> ContactOut:
    """The contact, the contacts linked to it, and the conversations of all of them the caller
    may see."""
    group = await svc.links.group(contact_id)
    ids = dict.fromkeys([*await conversations_of(svc, group), *await history_ids(svc, who, group)])
    recent = await svc.store.get_many(list(ids))
    archived = [
        story[0]
        for cid in ids
        if cid not in {c.id for c in recent} and (story := await archived_story(svc, cid)) is not None
    ]
    contact = await _contact(svc, who, contact_id, [*recent, *archived])
    linked = [
        c
        for c in [await archived_contact(svc, cid) for cid in group[1:]]
        if c is not None and can_see_contact(who, c.id, [*recent, *archived])
    ]  # another team's stays hidden
    convs = sorted((c for c in [*recent, *archived] if can_view(who, c)), key=lambda c: c.updated_at, reverse=True)
    return ContactOut(contact=contact, linked=linked, conversations=await summarize(svc, who, convs))


@router.post("/{contact_id}/links", response_model=ContactOut)
async def link(contact_id: str, body: LinkIn, svc: Svc, who: Staff) -> ContactOut:
    """Record that two contacts are the same person (idempotent). Their recent conversations
    get a "linked" event naming who linked them."""
    await _contact(svc, who, contact_id)
    await _contact(svc, who, body.other)
    try:
        await svc.links.link(contact_id, body.other)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    now = utcnow()
    convs = await svc.store.get_many(await conversations_of(svc, [contact_id, body.other]))
    await actions.commit(
        svc,
        [
            Effects(c.id).event(
                actions.event(
                    c, EventType.LINKED, who, "contacts linked as one person", now, contacts=[contact_id, body.other]
                )
            )
            for c in convs
        ],
        now,
        by=who,
    )
    return await get_contact(contact_id, svc, who)


@router.delete("/{contact_id}/links/{other}", response_model=ContactOut)
async def unlink(contact_id: str, other: str, svc: Svc, who: Staff) -> ContactOut:
    await _contact(svc, who, contact_id)
    await _contact(svc, who, other)
    await svc.links.unlink(contact_id, other)
    return await get_contact(contact_id, svc, who)
