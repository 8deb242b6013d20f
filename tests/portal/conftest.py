from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from fastapi import FastAPI

from tests.factories import Parts, create_app, parts

KB_DIR = Path(__file__).resolve().parents[2] / "kb"
PUBLIC = "https://help.example.test"


def help_parts(r: redis.Redis, kb: Path = KB_DIR, **overrides: Any) -> Parts:
    settings: dict[str, Any] = {
        "bots": {"helpcenter": {"type": "helpcenter", "kb": str(kb)}},
        "portal": {"public_url": PUBLIC},
    }
    settings.update(overrides)
    return parts(r, **settings)


@pytest.fixture
async def app(r: redis.Redis) -> FastAPI:
    return create_app(help_parts(r))


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as c:
        yield c
