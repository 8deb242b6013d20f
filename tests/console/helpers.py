"""A console test desk: app, users of every role, and ways to log in and make conversations."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as redis
from fastapi import FastAPI

from helpline.console.roles import Role
from helpline.console.services import Services
from helpline.routing.models import MessageKind, Presence
from helpline.routing.router import Router
from tests.factories import Parts, build_router, create_app, message, parts, route_all

PASSWORD = "correct horse battery"
USERS: dict[str, dict[str, Any]] = {
    "root": {"role": Role.ADMIN, "name": "Root Admin"},
    "amy": {"role": Role.AGENT, "name": "Amy Agent", "teams": ["support"], "languages": ["en", "ko"]},
    "bob": {"role": Role.AGENT, "name": "Bob Agent", "teams": ["vip"]},
    "sue": {"role": Role.SUPERVISOR, "name": "Sue Supervisor", "teams": ["support", "vip"]},
    "meg": {"role": Role.MARKETING, "name": "Meg Marketing"},
}


@dataclass
class Desk:
    parts: Parts
    app: FastAPI
    router: Router
    svc: Services
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, base_url: str = "http://console.test") -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=base_url, follow_redirects=False)
        self.clients.append(c)
        return c

    async def login(self, username: str, password: str = PASSWORD) -> tuple[httpx.AsyncClient, str]:
        """A client with a session cookie, and the session's CSRF token (read from a page)."""
        c = self.client()
        response = await login(c, username, password)
        assert response.status_code == 303, response.text
        page = await c.get("/")
        match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert match, page.text[:300]
        return c, match.group(1)

    async def token(self, username: str, role: Role | None = None) -> dict[str, str]:
        token, _ = await self.svc.tokens.create("test", username, role or USERS[username]["role"])
        return {"Authorization": f"Bearer {token}"}

    async def conversation(
        self,
        text: str = "my withdrawal is stuck",
        thread: str = "t1",
        user: str = "u1",
        kind: MessageKind = MessageKind.DIRECT,
        **extra: Any,
    ) -> str:
        await self.parts.bus.ingest([message(text, thread=thread, user=user, kind=kind, **extra)])
        await route_all(self.parts, self.router)
        cid = await self.parts.store.find_thread(extra.get("platform", "null"), extra.get("account", "main"), thread)
        assert cid is not None
        return cid

    async def online(self, *agents: str) -> None:
        for a in agents:
            await self.parts.assignments.set_presence(a, Presence.ONLINE)


async def login(c: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    return await c.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1), "next": "/"}
    )


async def make_desk(r: redis.Redis, **overrides: Any) -> Desk:
    settings: dict[str, Any] = {
        "teams": [{"id": "support", "default": True}, {"id": "vip"}],
        "rules": [{"name": "vip customers", "match": {"keywords": ["vip"]}, "set": {"team": "vip"}}],
    }
    settings.update(overrides)
    p = parts(r, **settings)
    app = create_app(p)
    desk = Desk(p, app, build_router(p, {}), app.state.console)
    for username, spec in USERS.items():
        await desk.svc.users.add(
            username,
            PASSWORD,
            spec["role"],
            name=spec["name"],
            teams=spec.get("teams", ()),
            languages=spec.get("languages", ()),
        )
    return desk
