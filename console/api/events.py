"""Live updates as Server-Sent Events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from helpline.console import live
from helpline.console.auth import current_user, optional_principal
from helpline.console.roles import Principal
from helpline.console.services import Services, services

router = APIRouter(tags=["live"])


@router.get("/events/stream", response_class=StreamingResponse)
async def stream(
    request: Request, svc: Annotated[Services, Depends(services)], who: Annotated[Principal, Depends(current_user)]
) -> StreamingResponse:
    """`event: conversations` with `{"conversations": [ids]}` whenever a conversation the caller
    may see changes (a customer message, a reply, an assignment...). Clients re-fetch what they show.
    The caller's rights are read again while the stream is open; `event: signed-out` ends it."""

    async def reauthorize() -> Principal | None:
        try:
            return await optional_principal(request, svc)
        except HTTPException:  # a token revoked or its owner's role lowered
            return None

    return StreamingResponse(
        live.stream(svc.client, svc.store, who, reauthorize=reauthorize),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
