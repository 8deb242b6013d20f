"""The web console: server-rendered pages (Jinja2, autoescaped) and their form actions.

Pages call the same functions as the API, so the API's role checks are the pages' checks. Forms
carry the session's CSRF token; the login form, before any session exists, uses a double-submit
cookie. JavaScript (under /static) only enhances: live updates, shortcuts, the composer.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from helpline.routing.models import Presence, utcnow

from . import actions, assigning, files, learning, linking, split
from .api import contacts as contacts_api
from .auth import current_user, optional_principal
from .email_copy import email_copy_account
from .errors import ConsoleError, Forbidden, Invalid
from .queries import SORTS, VIEWS, Filters, default_sort, labels_in_use, list_page, view_facets
from .roles import Principal, Role, can_act, can_assign
from .schemas import LinkIn
from .services import Services, services
from .sessions import COOKIE, TTL_S
from .shell import layout_context
from .timeline import detail, may_split
from .timeline_view import entries
from .viewhelpers import install as install_helpers

LOGIN_CSRF_COOKIE = "hl_login_csrf"

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
install_helpers(templates.env)
router = APIRouter(include_in_schema=False)

Svc = Annotated[Services, Depends(services)]
MaybeUser = Annotated[Principal | None, Depends(optional_principal)]
User = Annotated[Principal, Depends(current_user)]


def _secure(request: Request, svc: Services) -> bool:
    return svc.secure_cookies if svc.secure_cookies is not None else request.url.scheme == "https"


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


async def _page(
    request: Request, svc: Services, who: Principal, name: str, code: int = 200, **context: Any
) -> HTMLResponse:
    chrome = await layout_context(request, who)
    return templates.TemplateResponse(request, name, {**chrome, **context}, status_code=code)


async def form_page(
    request: Request,
    svc: Services,
    who: Principal,
    name: str,
    *,
    code: int,
    error: str,
    draft: Mapping[str, Any] | None,
    **context: Any,
) -> HTMLResponse:
    """A page with a form: the error of a refused form (empty when none) and what was typed."""
    return await _page(request, svc, who, name, code=code, **context, error=error, draft=dict(draft or {}))


def form_error(exc: ValidationError) -> str:
    """The first thing wrong with a form, as `field: message`."""
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or 'form'}: {first['msg']}"


def desk_languages(svc: Services, used: Iterable[str]) -> list[str]:
    """The languages the desk supports, then any other that is already in use, sorted."""
    supported = list(svc.settings.languages.supported)
    return supported + sorted(set(used) - set(supported))


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, a webhook, a file or a script)."""
    path = request.url.path
    return (
        request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and not path.startswith(("/api/", "/webhooks/", "/static/", "/healthz", "/metrics"))
    )


async def error_page(request: Request, svc: Services, status: int, message: str) -> Response:
    """401: to the login, coming back here after; 403 and 404: the error page, in the console's
    layout when the visitor is signed in."""
    if status == 401:
        return _login_redirect(request)
    try:
        who = await optional_principal(request, svc)
    except HTTPException:
        who = None
    words = message if status == 403 else "There is no such page."
    if who is None:
        return templates.TemplateResponse(request, "error.html", {"who": None, "message": words}, status_code=status)
    return await _page(request, svc, who, "error.html", code=status, message=words)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, svc: Svc, next: str = "/") -> Response:
    # No `error` from the query string: a link must not put its own words in the sign-in alert.
    return await _login_page(request, svc, "", next)


async def _login_page(request: Request, svc: Services, error: str, next: str) -> Response:
    token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request, "login.html", {"csrf": token, "error": error, "next": _safe(next)}, status_code=401 if error else 200
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request, svc),
        max_age=3600,
        path="/login",
    )
    return response


def _safe(target: str) -> str:
    """Only same-site paths: a login link must not bounce the user to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("/login")
async def login(
    request: Request,
    svc: Svc,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        return await _login_page(request, svc, "Your login form expired. Please try again.", next)
    address = request.client.host if request.client else "unknown"
    verdict = await svc.throttle.attempt(username, address)  # counted before the password is checked
    wait = verdict.wait_s
    if wait:
        response = await _login_page(request, svc, f"Too many attempts. Try again in {wait // 60 + 1} min.", next)
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response
    if verdict.delay_s:  # this username is being guessed from many places: every try is slow
        await asyncio.sleep(verdict.delay_s)
    user = await svc.users.authenticate(username, password)
    if user is None:
        return await _login_page(request, svc, "Wrong username or password.", next)
    await svc.throttle.succeeded(username, address)
    value, _ = await svc.sessions.create(user.username)
    response = RedirectResponse(_safe(next), status_code=303)
    response.set_cookie(COOKIE, value, httponly=True, samesite="lax", secure=_secure(request, svc), max_age=TTL_S)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, svc: Svc, _: User) -> Response:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await svc.sessions.delete(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
async def inbox(
    request: Request,
    svc: Svc,
    who: MaybeUser,
    view: str = "",
    status: str = "open",
    platform: str = "",
    priority: str = "",
    team: str = "",
    agent: str = "",
    language: str = "",
    label: str = "",
    q: str = "",
    cursor: str | None = None,
    sort: str = "",
) -> Response:
    if who is None:
        return _login_redirect(request)
    view = view if view in VIEWS else ("mine" if who.role is Role.AGENT else "all")
    sort = sort if sort in SORTS else default_sort(view)
    filters = Filters(
        view=view,
        status=status or None,
        platform=platform or None,
        priority=priority or None,
        team=team or None,
        assignee=agent or None,
        language=language or None,
        label=label.strip() or None,
        q=q or None,
        sort=sort,
    )
    try:
        page = await list_page(svc, who, filters, 50, cursor)
    except ConsoleError:  # a stale or edited cursor: start from the top
        page = await list_page(svc, who, filters, 50, None)
    counts, labels = await view_facets(svc, who, filters)
    chosen: dict[str, Any] = {
        "status": status,
        "platform": platform,
        "priority": priority,
        "team": team,
        "agent": agent,
        "language": language,
        "label": label.strip(),
        "q": q,
    }
    settings = svc.settings
    return await _page(
        request,
        svc,
        who,
        "inbox.html",
        page=page,
        counts=counts,
        view=view,
        views=VIEWS,
        sort=sort,
        sorts=SORTS,
        bulk=who.role is not Role.MARKETING,
        labels=labels,
        teams=[t.id for t in settings.teams],
        languages=list(settings.languages.supported),
        platforms=sorted({a.platform for a in settings.accounts} | {p for p, _ in svc.connectors} - {"null"}),
        agents=sorted(await assigning.roster(svc)),
        keep=urlencode(chosen),
        **chosen,
    )


@router.get("/c/{conversation_id}", response_class=HTMLResponse)
async def conversation(
    request: Request, conversation_id: str, svc: Svc, who: MaybeUser, example: str = "", link_q: str = ""
) -> Response:
    if who is None:
        return _login_redirect(request)
    try:
        conv = await actions.load(svc, who, conversation_id)
    except ConsoleError as exc:
        return await _page(request, svc, who, "error.html", code=exc.status, message=exc.message)
    await actions.mark_seen(svc, who, conv)
    data = await detail(svc, who, conv)
    link_q = link_q.strip()[:100]
    found = (
        await linking.search(svc, who, link_q, await svc.links.group(conv.contact_id))
        if link_q and can_act(who, conv)
        else []
    )
    return await _page(
        request,
        svc,
        who,
        "conversation.html",
        d=data,
        entries=entries(data.timeline),
        conv=conv,
        may_act=can_act(who, conv),
        may_assign=can_assign(who, conv),
        reply_key=secrets.token_urlsafe(16),
        opened_at=utcnow(),
        reply_files=files.reply_files(svc, conv),
        known_labels=await labels_in_use(svc, who),
        email_copies=email_copy_account(svc, conv),
        may_split=can_act(who, conv) and may_split(svc, conv),
        example_proposed=example == "proposed",
        link_q=link_q,
        link_matches=found,
        article_choices=learning.article_choices(svc.articles, conv.language),
        first_message=next(
            (it.data.get("message_id") for it in data.timeline if it.kind == "message" and it.current), None
        ),
        agents=list((await assigning.roster(svc)).values()) if who.manages else [],
    )


@router.post("/c/{conversation_id}/do/{action}")
async def act(request: Request, conversation_id: str, action: str, svc: Svc, who: User) -> Response:
    """The conversation page's forms (they work without JavaScript)."""
    form = await request.form()
    text = str(form.get("text") or "")
    reason = str(form.get("reason") or "")
    try:
        conv = await actions.load(svc, who, conversation_id, act=True)
        if action == "send":  # the two-mode composer: a reply or a note, as its mode says
            action = "note" if form.get("mode") == "note" else "reply"
        if action == "reply":
            await actions.reply(
                svc,
                who,
                conv,
                text,
                str(form.get("idempotency_key") or "") or None,
                canned_id=str(form.get("canned_id") or "") or None,
            )
        elif action == "note":
            await actions.note(svc, who, conv, text)
        elif action == "assign":
            if not can_assign(who, conv):
                raise Forbidden(f"assigned to {conv.assignee}; only a supervisor may reassign it")
            await assigning.assign(svc, who, conv, str(form.get("agent_id") or "") or None, reason)
        elif action == "resolve":
            await assigning.resolve(svc, who, conv, reason)
        elif action == "reopen":
            await assigning.reopen(svc, who, conv, reason)
        elif action == "pending":
            await actions.set_pending(svc, who, conv, reason)
        elif action == "escalate":
            await actions.escalate(svc, who, conv, reason)
        elif action == "split":  # this customer message and the later ones start a conversation of their own
            first = str(form.get("message_id") or "")
            history = [m.message_id for m in await svc.store.messages(conv.id)]
            chosen = history[history.index(first) :] if first in history else [first]
            _, new_id = await split.split(svc, who, conv, chosen)
            return RedirectResponse(f"/c/{new_id or conversation_id}", status_code=303)
        elif action == "example":  # "this article answers it": the question waits for a supervisor
            await learning.mark_answered(svc, who, conv, str(form.get("article") or ""))
            return RedirectResponse(f"/c/{conversation_id}?example=proposed", status_code=303)
        elif action == "labels":  # add the typed label(s), or remove the chip's
            added = [v for v in str(form.get("add") or "").replace(",", " ").split() if v]
            await actions.change_labels(svc, who, conv, added, [str(v) for v in form.getlist("remove") if v], reason)
        elif action in ("link", "unlink"):  # the person's contact on another channel, with the API's checks
            other = str(form.get("other") or "")
            if not other:
                raise Invalid("other: choose a contact")
            try:
                if action == "link":
                    await contacts_api.link(conv.contact_id, LinkIn(other=other), svc, who)
                else:
                    await contacts_api.unlink(conv.contact_id, other, svc, who)
            except HTTPException as exc:  # not found (or hidden from this viewer), or refused
                refused = ConsoleError(str(exc.detail))
                refused.status = exc.status_code
                raise refused from None
        elif action == "snooze":
            until = snooze_until(
                str(form.get("until") or ""), str(form.get("tz") or ""), str(form.get("for") or ""), utcnow()
            )
            await actions.set_pending(svc, who, conv, reason, until=until)
        else:
            raise Forbidden(f"unknown action {action!r}")
    except ConsoleError as exc:
        return await _page(
            request, svc, who, "error.html", code=exc.status, message=exc.message, back=f"/c/{conversation_id}"
        )
    return RedirectResponse(f"/c/{conversation_id}", status_code=303)


def snooze_until(local: str, zone: str, hours: str, now: datetime) -> datetime:
    """Pure: when a snooze ends, from the form: a local date and time in the viewer's zone (the
    browser's, sent along; UTC without one), else a number of hours from now."""
    if local:
        try:
            tz = ZoneInfo(zone) if zone else UTC
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(f"tz: {zone[:60]!r} is not a time zone") from None
        try:
            parsed = datetime.fromisoformat(local)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
        except ValueError:
            raise Invalid("until: expected a date and time") from None
    if hours.isdigit() and 0 < int(hours) <= 24 * 90:
        return now + timedelta(hours=int(hours))
    raise Invalid("snooze: choose how long, or a date and time")


@router.post("/presence")
async def presence(request: Request, svc: Svc, who: User) -> Response:
    form = await request.form()
    try:
        await assigning.set_presence(svc, who.username, Presence(str(form.get("presence"))))
    except (ConsoleError, ValueError):
        return await _page(
            request, svc, who, "error.html", code=422, message="Only agents in the roster have a presence."
        )
    return RedirectResponse(_safe(str(form.get("next") or "/")), status_code=303)
