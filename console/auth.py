"""Who is calling, and may they: session cookies or bearer API tokens, CSRF, role checks.

FastAPI dependencies, so every API route enforces roles itself (pages only hide what the API
would refuse anyway). A cookie-authenticated state-changing request must echo the session's
CSRF token (header `X-CSRF-Token`, or form field `csrf_token`); bearer-token calls are exempt,
since a browser never attaches a bearer token on its own.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from .roles import Principal, Role, may_delegate
from .services import Services, services
from .sessions import COOKIE

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


async def optional_principal(request: Request, svc: Annotated[Services, Depends(services)]) -> Principal | None:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("Authorization: expected 'Bearer <token>'")
        info = await svc.tokens.resolve(token.strip())
        user = await svc.users.get(info.username) if info else None
        if info is None or user is None or user.disabled:
            raise _unauthorized("Authorization: unknown or revoked token")
        if not may_delegate(user.role, info.role):  # the owner lost the role since: the token did too
            raise _unauthorized(f"Authorization: the token's role {info.role.value} exceeds its owner's")
        return user.principal(via="token", role=info.role)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    session = await svc.sessions.get(cookie)
    user = await svc.users.get(session.username) if session else None
    if session is None or user is None or user.disabled:
        return None
    return user.principal(via="session", csrf=session.csrf)


async def csrf_ok(request: Request, who: Principal) -> bool:
    if request.method in SAFE_METHODS or who.via != "session":
        return True
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return bool(sent and who.csrf and hmac.compare_digest(sent.encode(), who.csrf.encode()))


async def current_user(request: Request, who: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    """The caller, authenticated, with CSRF checked for cookie sessions."""
    if who is None:
        raise _unauthorized("not logged in")
    if not await csrf_ok(request, who):
        raise HTTPException(403, "CSRF token missing or wrong (send X-CSRF-Token)")
    return who


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, if their role is one of `roles`."""

    async def check(who: Annotated[Principal, Depends(current_user)]) -> Principal:
        if who.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(r.value for r in roles)}")
        return who

    return check


#: Who passes a check by role name (for routers mounted from other packages): an admin may do
#: everything; a supervisor what an agent may; marketing only its own. "reader" is every role: the
#: console mounts announcements with it as the view role, so marketing, who writes them, may read them.
_ROLE_HOLDERS = {
    "reader": (Role.AGENT, Role.SUPERVISOR, Role.MARKETING, Role.ADMIN),
    "agent": (Role.AGENT, Role.SUPERVISOR, Role.ADMIN),
    "supervisor": (Role.SUPERVISOR, Role.ADMIN),
    "marketing": (Role.MARKETING, Role.ADMIN),
    "admin": (Role.ADMIN,),
}


def role_names(role: Role) -> frozenset[str]:
    """The names `require_role` takes that `role` passes: mounted pages hide what would be refused."""
    return frozenset(name for name, holders in _ROLE_HOLDERS.items() if role in holders)


def require_role(name: str) -> Callable[..., Awaitable[Principal]]:
    """`require` by role name, for the reports and announcements routers."""
    return require(*_ROLE_HOLDERS[name])


staff = require(Role.AGENT, Role.SUPERVISOR, Role.ADMIN)  # everyone who handles conversations
managers = require(Role.SUPERVISOR, Role.ADMIN)
admins = require(Role.ADMIN)
