"""The pages of accounts: users (`/users`, admins only: create, edit, disable, reset a password,
delete) and API tokens (`/tokens`: create, shown once; list; revoke), where every user manages
their own tokens and an admin everyone's. The same functions as the API (console/accounts.py), so
the same checks; every form with the session's CSRF token (checked by `current_user`). A refused
form comes back with the error and what was typed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from . import accounts
from .auth import admins, current_user
from .errors import ConsoleError
from .pages import _page, desk_languages, form_error, form_page
from .roles import Principal, Role, may_delegate
from .schemas import UserIn, UserPatch
from .services import Services, services

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Admin = Annotated[Principal, Depends(admins)]
Anyone = Annotated[Principal, Depends(current_user)]


async def _form(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The form's single fields and its lists (checkbox groups), without the CSRF token."""
    form = await request.form()
    single = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    return single, {k: [str(v) for v in form.getlist(k)] for k in ("teams", "languages")}


# --- users ---


async def _users(
    request: Request,
    svc: Services,
    who: Principal,
    error: str = "",
    code: int = 200,
    draft: dict[str, Any] | None = None,
) -> Response:
    users = await svc.users.list()
    return await form_page(
        request,
        svc,
        who,
        "users.html",
        code=code,
        error=error,
        draft=draft,
        users=users,
        roles=list(Role),
        teams=list(svc.teams) or sorted({t for u in users for t in u.teams}),
        languages=desk_languages(svc, (lang for u in users for lang in u.languages)),
    )


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, svc: Svc, who: Admin) -> Response:
    return await _users(request, svc, who)


@router.post("/users")
async def create(request: Request, svc: Svc, who: Admin) -> Response:
    fields, lists = await _form(request)
    values = {
        **{k: v.strip() for k, v in fields.items() if k != "password"},
        **lists,
        "password": fields.get("password", ""),
    }
    try:
        user = await accounts.create_user(svc, UserIn.model_validate(values))
    except (ValidationError, ConsoleError) as exc:
        error = form_error(exc) if isinstance(exc, ValidationError) else exc.message
        return await _users(
            request,
            svc,
            who,
            error=error,
            code=422,
            draft={k: v for k, v in values.items() if k != "password"} | {"for": ""},
        )
    return RedirectResponse(f"/users#user-{user.username}", status_code=303)


@router.post("/users/{username}")
async def edit(request: Request, username: str, svc: Svc, who: Admin) -> Response:
    """Role, name, teams, languages, capacity, status; or (alone) a new password."""
    fields, lists = await _form(request)
    if "password" in fields:
        values: dict[str, Any] = {"password": fields["password"]}
    else:
        values = {
            "role": fields.get("role"),
            "name": fields.get("name", "").strip(),
            "capacity": fields.get("capacity"),
            "disabled": fields.get("status") == "disabled",
            **lists,
        }
    try:
        await accounts.change_user(svc, who, username, UserPatch.model_validate(values))
    except (ValidationError, ConsoleError) as exc:
        error = form_error(exc) if isinstance(exc, ValidationError) else exc.message
        draft = {k: v for k, v in values.items() if k != "password"} | {"for": username}
        return await _users(
            request,
            svc,
            who,
            error=f"{username}: {error}",
            code=exc.status if isinstance(exc, ConsoleError) else 422,
            draft=draft if "password" not in values else {},
        )
    done = "password" if "password" in values else "saved"
    return RedirectResponse(f"/users?{done}={username}#user-{username}", status_code=303)


@router.post("/users/{username}/delete")
async def delete(request: Request, username: str, svc: Svc, who: Admin) -> Response:
    try:
        await accounts.remove_user(svc, who, username)
    except ConsoleError as exc:
        return await _users(request, svc, who, error=exc.message, code=exc.status)
    return RedirectResponse("/users", status_code=303)


# --- API tokens ---


async def _tokens(
    request: Request,
    svc: Services,
    who: Principal,
    error: str = "",
    code: int = 200,
    draft: dict[str, str] | None = None,
    created: str = "",
) -> Response:
    tokens = await accounts.visible_tokens(svc, who)
    admin = who.role is Role.ADMIN
    response = await _page(
        request,
        svc,
        who,
        "tokens.html",
        code=code,
        tokens=tokens,
        roles=[r for r in Role if may_delegate(who.role, r)],  # the server checks the owner's role too
        users=await svc.users.list() if admin else [],  # others create tokens for themselves only
        admin=admin,
        error=error,
        draft=draft or {},
        created=created,
    )
    if created:  # the one page that shows it: never from a cache or the back button
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/tokens", response_class=HTMLResponse)
async def tokens_page(request: Request, svc: Svc, who: Anyone) -> Response:
    return await _tokens(request, svc, who)


@router.post("/tokens")
async def issue(request: Request, svc: Svc, who: Anyone) -> Response:
    """The new token is in this answer only (not a redirect: a URL would keep it in the history
    and the access log)."""
    fields, _ = await _form(request)
    try:
        role = Role(fields["role"]) if fields.get("role") else None
        token, _info = await accounts.issue_token(
            svc, who, fields.get("name", ""), fields.get("username") or None, role
        )
    except ValueError:
        return await _tokens(request, svc, who, error="role: not a role", code=422, draft=fields)
    except ConsoleError as exc:
        return await _tokens(request, svc, who, error=exc.message, code=exc.status, draft=fields)
    return await _tokens(request, svc, who, created=token)


@router.post("/tokens/{token_id}/revoke")
async def revoke(request: Request, token_id: str, svc: Svc, who: Anyone) -> Response:
    try:
        await accounts.revoke_token(svc, who, token_id)
    except ConsoleError as exc:
        return await _tokens(request, svc, who, error=exc.message, code=exc.status)
    return RedirectResponse("/tokens", status_code=303)
