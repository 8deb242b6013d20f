"""Accounts: users (admins), API tokens, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from helpline.console import accounts
from helpline.console.auth import admins, current_user
from helpline.console.errors import Invalid
from helpline.console.roles import Principal
from helpline.console.schemas import Me, TokenIn, TokenOut, UserIn, UserPatch
from helpline.console.services import Services, services
from helpline.console.tokens import TokenInfo
from helpline.console.users import Preferences, User, UserError
from helpline.routing.models import Presence

router = APIRouter(tags=["accounts"])

Svc = Annotated[Services, Depends(services)]
Admin = Annotated[Principal, Depends(admins)]
Anyone = Annotated[Principal, Depends(current_user)]


@router.get("/me", response_model=Me)
async def me(svc: Svc, who: Anyone) -> Me:
    presence: Presence | None = None
    for a in await svc.assignments.roster():
        if a.agent.id == who.username:
            presence = a.agent.presence
    user = await svc.users.get(who.username)
    return Me(
        username=who.username,
        name=who.name,
        role=who.role,
        teams=list(who.teams),
        via=who.via,
        presence=presence,
        preferences=user.preferences if user else Preferences(),
    )


@router.patch("/me/preferences", response_model=Preferences)
async def prefer(body: Preferences, svc: Svc, who: Anyone) -> Preferences:
    """Change the caller's console settings (time zone, alerts): only the fields sent."""
    try:
        return (await svc.users.prefer(who.username, body)).preferences
    except UserError as exc:
        raise Invalid(str(exc)) from None


@router.get("/users", response_model=list[User])
async def list_users(svc: Svc, _: Admin) -> list[User]:
    return await svc.users.list()


@router.post("/users", response_model=User, status_code=201)
async def add_user(body: UserIn, svc: Svc, _: Admin) -> User:
    return await accounts.create_user(svc, body)


@router.patch("/users/{username}", response_model=User)
async def update_user(username: str, body: UserPatch, svc: Svc, who: Admin) -> User:
    return await accounts.change_user(svc, who, username, body)


@router.delete("/users/{username}", status_code=204)
async def delete_user(username: str, svc: Svc, who: Admin) -> None:
    await accounts.remove_user(svc, who, username)


def _out(t: TokenInfo, token: str | None = None) -> TokenOut:
    return TokenOut(
        id=t.id,
        name=t.name,
        username=t.username,
        role=t.role,
        created_at=t.created_at,
        last_used_at=t.last_used_at,
        token=token,
    )


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(svc: Svc, who: Anyone) -> list[TokenOut]:
    """Admins see every token; others their own. The tokens themselves are never shown again."""
    return [_out(t) for t in await accounts.visible_tokens(svc, who)]


@router.post("/tokens", response_model=TokenOut, status_code=201)
async def create_token(body: TokenIn, svc: Svc, who: Anyone) -> TokenOut:
    """A new API token, shown in this response only. Its role is at most its owner's."""
    token, info = await accounts.issue_token(svc, who, body.name, body.username, body.role)
    return _out(info, token)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, svc: Svc, who: Anyone) -> None:
    await accounts.revoke_token(svc, who, token_id)
