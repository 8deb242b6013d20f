"""Request bodies are capped per route before they are read; credential-less API writes are refused unread."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from helpline.console.limits import API_MAX_BYTES, FORM_MAX_BYTES, WEBHOOK_MAX_BYTES, RequestLimits

from .helpers import Desk

MIB = 1024 * 1024


class Body:
    """A 200 MiB streamed body that counts how much of it the server pulled."""

    def __init__(self, total: int = 200 * MIB, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"{" + b" " * (self.chunk - 1)


async def test_api_bodies_are_refused_or_capped_before_they_are_read(desk: Desk) -> None:
    anonymous = Body()
    response = await desk.client().post(
        "/api/v1/users", content=anonymous, headers={"content-type": "application/json"}
    )
    assert response.status_code == 401 and anonymous.sent <= anonymous.chunk  # no credential: nothing read
    headers = {**await desk.token("root"), "content-type": "application/json"}
    streamed = Body()
    response = await desk.client().post("/api/v1/users", content=streamed, headers=headers)
    assert response.status_code == 413 and streamed.sent <= API_MAX_BYTES + 2 * streamed.chunk
    declared = Body()
    response = await desk.client().post(
        "/api/v1/users", content=declared, headers={**headers, "content-length": str(declared.total)}
    )
    assert response.status_code == 413 and declared.sent <= declared.chunk
    form = Body(total=2 * FORM_MAX_BYTES, chunk=4096)
    response = await desk.client().post(
        "/login", content=form, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413 and form.sent <= FORM_MAX_BYTES + 2 * form.chunk
    created = await desk.client().post(
        "/api/v1/users",
        headers=await desk.token("root"),
        json={"username": "newbie", "password": "a long enough password", "role": "agent", "teams": ["support"]},
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    ("path", "limit"), [("/webhooks/x/a/", WEBHOOK_MAX_BYTES), ("/api/v1/x", API_MAX_BYTES), ("/do", FORM_MAX_BYTES)]
)
async def test_each_route_family_has_its_limit(path: str, limit: int) -> None:
    async def echo(request: Request) -> Response:
        return Response(str(len(await request.body())))

    app = RequestLimits(Starlette(routes=[Route(path, echo, methods=["POST"])]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        auth = {"authorization": "Bearer x"}
        assert (await c.post(path, content=b"a" * limit, headers=auth)).text == str(limit)
        assert (await c.post(path, content=b"a" * (limit + 1), headers=auth)).status_code == 413
