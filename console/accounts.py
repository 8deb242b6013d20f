"""Managing accounts (users and API tokens): the checks and side effects the API and the admin
pages share, so both refuse and do the same. Each raises a ConsoleError naming the field."""

from __future__ import annotations

from collections.abc import Iterable

from .assigning import withdraw_agent
from .errors import Forbidden, Invalid, NotFound
from .roles import Principal, Role, may_delegate
from .schemas import UserIn, UserPatch
from .services import Services
from .tokens import TokenInfo
from .users import User, UserError


def _known_teams(svc: Services, teams: Iterable[str]) -> None:
    unknown = sorted(set(teams) - set(svc.teams)) if svc.teams else []
    if unknown:
        raise Invalid(f"teams: unknown team {unknown[0]!r}")


async def create_user(svc: Services, body: UserIn) -> User:
    _known_teams(svc, body.teams)
    try:
        return await svc.users.add(
            body.username,
            body.password,
            body.role,
            name=body.name,
            teams=body.teams,
            languages=body.languages,
            capacity=body.capacity,
        )
    except (UserError, ValueError) as exc:
        raise Invalid(str(exc)) from None


async def change_user(svc: Services, who: Principal, username: str, body: UserPatch) -> User:
    """Role, name, teams, languages, capacity, disabled and password. A new password or a disabled
    account ends the user's sessions; leaving the agent roles takes them out of routing."""
    changes = body.model_dump(exclude_none=True)
    password = changes.pop("password", None)
    if username == who.username and (changes.get("disabled") or changes.get("role", who.role) != who.role):
        raise Invalid("username: you cannot disable yourself or change your own role")  # no admin locks themselves out
    _known_teams(svc, changes.get("teams", ()))
    try:
        user = await svc.users.update(username, **changes) if changes else await svc.users.get(username)
        if user is not None and password is not None:
            await svc.users.set_password(username, password)
            await svc.sessions.end_all(username)  # whoever knew the old password is logged out
    except (UserError, ValueError) as exc:
        raise Invalid(str(exc)) from None
    if user is None:
        raise NotFound(f"user {username!r} not found")
    if user.disabled or not user.role.is_routing_agent:  # no longer answers customers
        await withdraw_agent(svc, who, username, f"{username} was disabled or changed role")
        if user.disabled:
            await svc.sessions.end_all(username)
    return user


async def remove_user(svc: Services, who: Principal, username: str) -> None:
    if username == who.username:
        raise Invalid("username: you cannot delete yourself")
    if not await svc.users.delete(username):
        raise NotFound(f"user {username!r} not found")
    await withdraw_agent(svc, who, username, f"{username} was deleted")
    await svc.sessions.end_all(username)
    for t in await svc.tokens.list():  # a user added later under the same name must not inherit them
        if t.username == username:
            await svc.tokens.revoke(t.id)


async def visible_tokens(svc: Services, who: Principal) -> list[TokenInfo]:
    """Admins see every token; others their own. The tokens themselves are never shown again."""
    return [t for t in await svc.tokens.list() if who.role is Role.ADMIN or t.username == who.username]


async def issue_token(
    svc: Services, who: Principal, name: str, username: str | None, role: Role | None
) -> tuple[str, TokenInfo]:
    """A new token (in clear this once) and its record. Its role is at most its owner's."""
    username = username or who.username
    if username != who.username and who.role is not Role.ADMIN:
        raise Forbidden("only an admin may create tokens for someone else")
    owner = await svc.users.get(username)
    if owner is None:
        raise Invalid(f"username: no user {username!r}")
    role = role or owner.role
    if not may_delegate(owner.role, role) or (who.role is not Role.ADMIN and not may_delegate(who.role, role)):
        raise Forbidden(f"role: a {owner.role.value} cannot hold a {role.value} token")
    if not name.strip():
        raise Invalid("name: give the token a name")
    return await svc.tokens.create(name.strip(), username, role)


async def revoke_token(svc: Services, who: Principal, token_id: str) -> None:
    if token_id not in {t.id for t in await visible_tokens(svc, who)} or not await svc.tokens.revoke(token_id):
        raise NotFound(f"token {token_id!r} not found")
