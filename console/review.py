"""The supervisor's page of example phrasings (`/examples`): the customers' questions agents
answered with an article, awaiting approval; approved ones answer customers' questions (the bots
reload them within seconds), rejected ones are never proposed again. Supervisors and admins only;
every form carries the session's CSRF token (checked by `current_user`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helpline.bots.examples import ExampleStore, Status

from .auth import managers
from .errors import NotFound
from .pages import _page
from .roles import Principal
from .services import Services, services

router = APIRouter(include_in_schema=False)
SHOWN = 200  # newest first; deciding these brings the next ones up
Svc = Annotated[Services, Depends(services)]
Manager = Annotated[Principal, Depends(managers)]


@router.get("/examples", response_class=HTMLResponse)
async def examples_page(request: Request, svc: Svc, who: Manager, status: str = "pending") -> Response:
    chosen = Status(status) if status in Status.__members__.values() else Status.PENDING
    store = ExampleStore(svc.client)
    every = await store.all()
    counts = {s.value: sum(1 for e in every if e.status is s) for s in Status}
    shown = [e for e in every if e.status is chosen]
    shown.reverse()  # newest first
    total = len(shown)
    shown = shown[:SHOWN]
    titles: dict[str, str] = {}
    if svc.articles is not None:
        for a in svc.articles.articles:
            titles.setdefault(a.key, a.title)
            if a.language == "en":
                titles[a.key] = a.title
    return await _page(
        request,
        svc,
        who,
        "examples.html",
        examples=shown,
        status=chosen.value,
        counts=counts,
        titles=titles,
        statuses=[s.value for s in Status],
        total=total,
    )


@router.post("/examples/{example_id}/{decision}")
async def decide(example_id: str, decision: str, svc: Svc, who: Manager, request: Request) -> Response:
    if decision not in ("approve", "reject"):
        raise NotFound(f"no action {decision!r}")
    decided = await ExampleStore(svc.client).decide(example_id, decision == "approve", who.actor)
    if decided is None:
        raise NotFound(f"example {example_id!r} not found")
    back = str((await request.form()).get("status") or "pending")
    back = back if back in Status.__members__.values() else "pending"
    return RedirectResponse(f"/examples?status={back}", status_code=303)
