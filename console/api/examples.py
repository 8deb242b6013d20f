"""Example phrasings learnt from agents (see `helpline.bots.examples`): list them, approve,
reject or delete one. Supervisors and admins only, like the `/examples` page; a cookie session
must send its CSRF token, a bearer token need not."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from helpline.bots.examples import Example, ExampleStore, Status
from helpline.console.auth import managers
from helpline.console.roles import Principal
from helpline.console.services import Services, services

router = APIRouter(prefix="/examples", tags=["examples"])

Svc = Annotated[Services, Depends(services)]
Manager = Annotated[Principal, Depends(managers)]
ExampleId = Annotated[str, Path(pattern=r"^[0-9a-f]{20}$")]


@router.get("", response_model=list[Example])
async def list_examples(svc: Svc, _: Manager, status: Status | None = None) -> list[Example]:
    """Every example (or those with `status`), oldest proposal first."""
    store = ExampleStore(svc.client)
    return await store.with_status(status) if status is not None else await store.all()


@router.get("/{example_id}", response_model=Example)
async def get_example(example_id: ExampleId, svc: Svc, _: Manager) -> Example:
    example = await ExampleStore(svc.client).get(example_id)
    if example is None:
        raise HTTPException(404, f"example {example_id!r} not found")
    return example


async def _decide(svc: Services, who: Principal, example_id: str, approve: bool) -> Example:
    decided = await ExampleStore(svc.client).decide(example_id, approve, who.actor)
    if decided is None:
        raise HTTPException(404, f"example {example_id!r} not found")
    return decided


@router.post("/{example_id}/approve", response_model=Example)
async def approve(example_id: ExampleId, svc: Svc, who: Manager) -> Example:
    """The example joins retrieval (bots reload within seconds). Idempotent."""
    return await _decide(svc, who, example_id, True)


@router.post("/{example_id}/reject", response_model=Example)
async def reject(example_id: ExampleId, svc: Svc, who: Manager) -> Example:
    """The example leaves retrieval if it was approved, and is not proposed again. Idempotent."""
    return await _decide(svc, who, example_id, False)


@router.delete("/{example_id}", status_code=204)
async def delete(example_id: ExampleId, svc: Svc, _: Manager) -> None:
    """Forget the example: the same phrasing may be proposed again later."""
    if not await ExampleStore(svc.client).delete(example_id):
        raise HTTPException(404, f"example {example_id!r} not found")
