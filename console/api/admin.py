"""Accounts: users (admins), API tokens, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from helpline.console.assigning import withdraw_agent
from helpline.console.auth import admins, current_user
from helpline.console.roles import Principal, Role, may_delegate
from helpline.console.schemas import Me, TokenIn, TokenOut, UserIn, UserPatch
from helpline.console.services import Services, services
from helpline.console.users import User, UserError
from helpline.routing.models import Presence

router = APIRouter(tags=["accounts"])

Svc = Annotated[Services, Depends(services)]
Admin = Annotated[Principal, Depends(admins)]
Anyone = Annotated[Principal, Depends(current_user)]


@router.get("/me", response_model=Me)
async def me(svc: Svc, who: Anyone) -> Me:
    presence: Presence | None = None
    for a in await svc.parts.assignments.roster():
        if a.agent.id == who.username:
            presence = a.agent.presence
    return Me(username=who.username, name=who.name, role=who.role, teams=list(who.teams), via=who.via,
              presence=presence)


@router.get("/users", response_model=list[User])
async def list_users(svc: Svc, _: Admin) -> list[User]:
    return await svc.users.list()


@router.post("/users", response_model=User, status_code=201)
async def add_user(body: UserIn, svc: Svc, _: Admin) -> User:
    try:
        return await svc.users.add(body.username, body.password, body.role, name=body.name, teams=body.teams,
                                   languages=body.languages, capacity=body.capacity)
    except (UserError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None


@router.patch("/users/{username}", response_model=User)
async def update_user(username: str, body: UserPatch, svc: Svc, who: Admin) -> User:
    changes = body.model_dump(exclude_none=True)
    password = changes.pop("password", None)
    try:
        user = await svc.users.update(username, **changes) if changes else await svc.users.get(username)
        if password is not None:
            await svc.users.set_password(username, password)
            await svc.sessions.end_all(username)  # whoever knew the old password is logged out
    except (UserError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    if user is None:
        raise HTTPException(404, f"user {username!r} not found")
    if user.disabled or not user.role.is_routing_agent:  # no longer answers customers
        await withdraw_agent(svc, who, username, f"{username} was disabled or changed role")
        if user.disabled:
            await svc.sessions.end_all(username)
    return user


@router.delete("/users/{username}", status_code=204)
async def delete_user(username: str, svc: Svc, who: Admin) -> None:
    if username == who.username:
        raise HTTPException(422, "username: you cannot delete yourself")
    if not await svc.users.delete(username):
        raise HTTPException(404, f"user {username!r} not found")
    await withdraw_agent(svc, who, username, f"{username} was deleted")
    await svc.sessions.end_all(username)
    for t in await svc.tokens.list():  # a user added later under the same name must not inherit them
        if t.username == username:
            await svc.tokens.revoke(t.id)


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(svc: Svc, who: Anyone) -> list[TokenOut]:
    """Admins see every token; others their own. The tokens themselves are never shown again."""
    return [TokenOut(id=t.id, name=t.name, username=t.username, role=t.role) for t in await svc.tokens.list()
            if who.role is Role.ADMIN or t.username == who.username]


@router.post("/tokens", response_model=TokenOut, status_code=201)
async def create_token(body: TokenIn, svc: Svc, who: Anyone) -> TokenOut:
    """A new API token, shown in this response only. Its role is at most its owner's."""
    username = body.username or who.username
    if username != who.username and who.role is not Role.ADMIN:
        raise HTTPException(403, "only an admin may create tokens for someone else")
    owner = await svc.users.get(username)
    if owner is None:
        raise HTTPException(422, f"username: no user {username!r}")
    role = body.role or owner.role
    if not may_delegate(owner.role, role) or (who.role is not Role.ADMIN and not may_delegate(who.role, role)):
        raise HTTPException(403, f"role: a {owner.role.value} cannot hold a {role.value} token")
    token, info = await svc.tokens.create(body.name, username, role)
    return TokenOut(id=info.id, name=info.name, username=info.username, role=info.role, token=token)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, svc: Svc, who: Anyone) -> None:
    mine = {t.id for t in await svc.tokens.list() if t.username == who.username}
    if who.role is not Role.ADMIN and token_id not in mine:
        raise HTTPException(404, f"token {token_id!r} not found")
    if not await svc.tokens.revoke(token_id):
        raise HTTPException(404, f"token {token_id!r} not found")
