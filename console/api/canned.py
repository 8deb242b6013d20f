"""Canned responses: everyone who answers customers reads and renders them; supervisors and
admins write them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from helpline.console import actions
from helpline.console.auth import managers, staff
from helpline.console.canned import ID_PATTERN, CannedResponse, render
from helpline.console.roles import Principal
from helpline.console.schemas import CannedIn, RenderedCanned
from helpline.console.services import Services, services

router = APIRouter(prefix="/canned", tags=["canned responses"])

Svc = Annotated[Services, Depends(services)]


@router.get("", response_model=list[CannedResponse])
async def list_canned(svc: Svc, _: Annotated[Principal, Depends(staff)]) -> list[CannedResponse]:
    return await svc.canned.list()


@router.get("/rendered/{conversation_id}", response_model=list[RenderedCanned])
async def rendered(conversation_id: str, svc: Svc, who: Annotated[Principal, Depends(staff)]) -> list[RenderedCanned]:
    """Every canned response filled in for this conversation, in its language (else English)."""
    conv = await actions.load(svc, who, conversation_id, act=True)
    contact = await svc.store.contact(conv.contact_id)
    values = {
        "contact.name": (contact.display_name or contact.handle) if contact else "",
        "contact.handle": contact.handle if contact else "",
        "agent.name": who.name,
    }
    out = []
    for c in await svc.canned.list():
        language, text = render(c, conv.language, values)
        out.append(RenderedCanned(id=c.id, title=c.title, language=language, text=text))
    return out


@router.post("", response_model=CannedResponse, status_code=201)
async def create(body: CannedIn, svc: Svc, _: Annotated[Principal, Depends(managers)]) -> CannedResponse:
    canned = CannedResponse(**body.model_dump(exclude_none=True))
    if await svc.canned.get(canned.id) is not None:
        raise HTTPException(409, f"id: {canned.id!r} exists (PUT to replace it)")
    return await svc.canned.put(canned)


@router.put("/{canned_id}", response_model=CannedResponse)
async def replace(
    canned_id: Annotated[str, Path(pattern=ID_PATTERN)],
    body: CannedIn,
    svc: Svc,
    _: Annotated[Principal, Depends(managers)],
) -> CannedResponse:
    return await svc.canned.put(CannedResponse(**{**body.model_dump(exclude_none=True), "id": canned_id}))


@router.delete("/{canned_id}", status_code=204)
async def delete(canned_id: str, svc: Svc, _: Annotated[Principal, Depends(managers)]) -> None:
    if not await svc.canned.delete(canned_id):
        raise HTTPException(404, f"canned response {canned_id!r} not found")
