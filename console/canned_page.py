"""The supervisor's page of canned responses (`/canned`): create, edit and delete them, with a
variant per language the desk supports (and any other a response already has). The same checks
as the API (console/canned.py); supervisors and admins only, every form with the session's CSRF
token (checked by `current_user`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from .auth import managers
from .canned import CannedResponse
from .errors import NotFound
from .pages import desk_languages, form_error, form_page
from .roles import Principal
from .services import Services, services

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Manager = Annotated[Principal, Depends(managers)]


async def _show(
    request: Request,
    svc: Services,
    who: Principal,
    error: str = "",
    code: int = 200,
    draft: dict[str, str] | None = None,
) -> Response:
    responses = await svc.canned.list()
    return await form_page(
        request,
        svc,
        who,
        "canned.html",
        code=code,
        error=error,
        draft=draft,
        responses=responses,
        languages=desk_languages(svc, (lang for c in responses for lang in c.texts)),
    )


@router.get("/canned", response_class=HTMLResponse)
async def canned_page(request: Request, svc: Svc, who: Manager) -> Response:
    return await _show(request, svc, who)


@router.post("/canned")
async def save(request: Request, svc: Svc, who: Manager) -> Response:
    """Create (no id) or replace (the id of an existing one) a canned response; an empty variant
    is no variant."""
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    texts = {k.removeprefix("text_"): v.strip() for k, v in fields.items() if k.startswith("text_") and v.strip()}
    values: dict[str, object] = {"title": fields.get("title", "").strip(), "texts": texts}
    if fields.get("article", "").strip():
        values["article"] = fields["article"].strip()
    if fields.get("id"):
        values["id"] = fields["id"]
        if await svc.canned.get(fields["id"]) is None:
            raise NotFound(f"canned response {fields['id']!r} not found")
    try:
        canned = CannedResponse.model_validate(values)
    except ValidationError as exc:
        return await _show(
            request,
            svc,
            who,
            error=form_error(exc),
            code=422,
            draft={k: v for k, v in fields.items() if k != "csrf_token"},
        )
    await svc.canned.put(canned)
    return RedirectResponse(f"/canned#canned-{canned.id}", status_code=303)


@router.post("/canned/{canned_id}/delete")
async def delete(canned_id: str, svc: Svc, who: Manager) -> Response:
    if not await svc.canned.delete(canned_id):
        raise NotFound(f"canned response {canned_id!r} not found")
    return RedirectResponse("/canned", status_code=303)
