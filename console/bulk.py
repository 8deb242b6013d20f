"""Bulk actions on the inbox's selected conversations: each conversation goes through the same
loading, permission checks and action as when it is handled alone, so a bulk request can do
nothing one by one could not; what one conversation refuses is reported and the others go on."""

from __future__ import annotations

from collections.abc import Sequence

from . import actions, assigning
from .errors import ConsoleError, Forbidden, Invalid
from .roles import Principal, can_assign
from .schemas import BulkResult
from .services import Services

MAX = 100
ACTIONS = ("assign", "resolve", "label")


async def run(
    svc: Services, who: Principal, ids: Sequence[str], action: str, label: str = "", agent_id: str | None = None
) -> list[BulkResult]:
    """Apply `action` to each conversation in turn. Idempotent as each single action is."""
    if action not in ACTIONS:
        raise Invalid(f"action: one of {', '.join(ACTIONS)}")
    if action == "label" and not label:
        raise Invalid("label: required to label in bulk")
    out = []
    for cid in dict.fromkeys(ids):
        try:
            out.append(BulkResult(id=cid, ok=True, changed=await _one(svc, who, cid, action, label, agent_id)))
        except ConsoleError as exc:
            out.append(BulkResult(id=cid, ok=False, status=exc.status, error=exc.message))
    return out


async def _one(svc: Services, who: Principal, cid: str, action: str, label: str, agent_id: str | None) -> bool:
    conv = await actions.load(svc, who, cid, act=True)
    if action == "assign":
        if not can_assign(who, conv):
            raise Forbidden(f"assigned to {conv.assignee}; only a supervisor may reassign it")
        return await assigning.assign(svc, who, conv, agent_id, "assigned in bulk")
    if action == "resolve":
        return await assigning.resolve(svc, who, conv, "resolved in bulk")
    return await actions.change_labels(svc, who, conv, [label], [], "labelled in bulk")
