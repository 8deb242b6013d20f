"""The REST API: roles, the approval flow, scheduling in a timezone, previews and refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from fastapi import FastAPI, Header, HTTPException

from helpline.announcements.api import announcements_router
from helpline.announcements.dispatch import Dispatcher
from helpline.announcements.scheduler import tick
from helpline.announcements.store import AnnouncementStore
from tests.factories import parts as make_parts

ROLES = {"marketing", "supervisor", "agent"}


def require_role(role: str) -> Callable[..., str]:
    """The console's dependency, reduced to a header: viewing is open to every known role."""

    def dependency(x_role: str = Header(), x_user: str = Header(default="someone")) -> str:
        if x_role != role and not (role == "agent" and x_role in ROLES):
            raise HTTPException(403, f"{role} only")
        return x_user

    return dependency


#: The desk's accounts: the targets below name them.
ACCOUNTS = [
    {"platform": "null", "name": "main"},
    {"platform": "x", "name": "brand"},
    {"platform": "telegram", "name": "bot"},
    {"platform": "mastodon", "name": "social"},
]


@pytest.fixture
async def api(r: redis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    p = make_parts(r, accounts=ACCOUNTS)
    app.include_router(
        announcements_router(
            require_role, client=r, conversations=p.store, accounts=p.settings.accounts, connectors=p.connectors
        )
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client


def as_(role: str, user: str = "ann") -> dict[str, str]:
    return {"x-role": role, "x-user": user}


DRAFT: dict[str, Any] = {
    "title": "Maintenance",
    "text": "Deposits pause on Saturday 02:00-04:00 UTC.",
    "targets": [
        {"kind": "x_timeline", "account": "brand"},
        {"kind": "telegram_chat", "account": "bot", "chat_id": -1001234567890},
    ],
}


async def test_marketing_composes_only_a_supervisor_approves(api: httpx.AsyncClient, r: redis.Redis) -> None:
    assert (await api.post("/api/announcements", json=DRAFT, headers=as_("agent"))).status_code == 403
    assert (await api.post("/api/announcements", json=DRAFT, headers=as_("supervisor"))).status_code == 403
    created = await api.post("/api/announcements", json=DRAFT, headers=as_("marketing", "mia"))
    assert created.status_code == 201, created.text
    a = created.json()
    assert a["state"] == "draft" and a["created_by"] == "mia" and a["requires_approval"]
    submitted = (await api.post(f"/api/announcements/{a['id']}/submit", headers=as_("marketing"))).json()
    assert submitted["state"] == "awaiting_approval"
    for role in ("marketing", "agent"):
        response = await api.post(f"/api/announcements/{a['id']}/approve", json={}, headers=as_(role))
        assert response.status_code == 403
    rejected = await api.post(
        f"/api/announcements/{a['id']}/reject", json={"comment": "say which networks"}, headers=as_("supervisor", "sam")
    )
    assert rejected.json()["state"] == "draft"
    assert rejected.json()["review"]["comment"] == "say which networks" and rejected.json()["review"]["by"] == "sam"
    await api.post(f"/api/announcements/{a['id']}/submit", headers=as_("marketing"))
    approved = await api.post(
        f"/api/announcements/{a['id']}/approve", json={"comment": "ok"}, headers=as_("supervisor", "sam")
    )
    assert approved.json()["state"] == "scheduled" and approved.json()["review"]["decision"] == "approved"
    again = await api.post(f"/api/announcements/{a['id']}/approve", json={}, headers=as_("supervisor"))
    assert again.status_code == 409 and "scheduled" in again.json()["detail"]
    assert (await AnnouncementStore(r).get(a["id"])).state.value == "scheduled"


async def test_scheduled_in_a_timezone_publishes_at_that_instant(api: httpx.AsyncClient, r: redis.Redis) -> None:
    seoul_wall = (datetime.now(UTC) + timedelta(hours=3) + timedelta(hours=9)).replace(tzinfo=None, microsecond=0)
    a = (await api.post("/api/announcements", json=DRAFT, headers=as_("marketing"))).json()
    scheduled = await api.put(
        f"/api/announcements/{a['id']}/schedule",
        json={"publish_at": seoul_wall.isoformat(), "timezone": "Asia/Seoul"},
        headers=as_("marketing"),
    )
    assert scheduled.status_code == 200, scheduled.text
    expected_utc = seoul_wall - timedelta(hours=9)
    assert scheduled.json()["publish_at"].startswith(expected_utc.isoformat())
    assert scheduled.json()["local_publish_at"].startswith(seoul_wall.isoformat())
    await api.post(f"/api/announcements/{a['id']}/submit", headers=as_("marketing"))
    await api.post(f"/api/announcements/{a['id']}/approve", json={}, headers=as_("supervisor"))
    store = AnnouncementStore(r)
    dispatcher = Dispatcher(r)
    await tick(dispatcher, now=expected_utc.replace(tzinfo=UTC) - timedelta(seconds=1))
    assert (await store.get(a["id"])).state.value == "scheduled"  # one second early: not yet
    await tick(dispatcher, now=expected_utc.replace(tzinfo=UTC) + timedelta(seconds=1))
    assert (await store.get(a["id"])).state.value == "publishing"
    assert (await store.progress(a["id"])).total == 2  # two targets, two deliveries queued


async def test_past_time_and_unknown_zone_are_refused(api: httpx.AsyncClient) -> None:
    a = (await api.post("/api/announcements", json=DRAFT, headers=as_("marketing"))).json()
    past = await api.put(
        f"/api/announcements/{a['id']}/schedule",
        json={"publish_at": "2020-01-01T09:00", "timezone": "Asia/Tokyo"},
        headers=as_("marketing"),
    )
    assert past.status_code == 422 and "past" in past.json()["detail"]
    zone = await api.put(
        f"/api/announcements/{a['id']}/schedule",
        json={"publish_at": "2030-01-01T09:00", "timezone": "Mars/Olympus"},
        headers=as_("marketing"),
    )
    assert zone.status_code == 422 and "timezone" in zone.json()["detail"]


async def test_preview_counts_and_refusal_at_compose_time(api: httpx.AsyncClient) -> None:
    text = "리스팅 안내: 신규 코인 상장. " * 20 + "https://example.com/notice/123"
    body = {**DRAFT, "text": text, "targets": [*DRAFT["targets"], {"kind": "mastodon_account", "account": "social"}]}
    preview = (await api.post("/api/announcements/preview", json=body, headers=as_("marketing"))).json()["targets"]
    x = next(t for t in preview if t["platform"] == "x")
    assert len(x["parts"]) > 1 and all(p["length"] <= 280 for p in x["parts"])
    assert x["parts"][0]["text"].startswith(f"1/{len(x['parts'])} ")
    assert next(t for t in preview if t["platform"] == "telegram")["parts"][0]["length"] == len(text.strip())
    blob = {**DRAFT, "text": "Our new deposit address: " + "0x" + "ab" * 2100}
    refused = await api.post("/api/announcements", json=blob, headers=as_("marketing"))
    assert refused.status_code == 422 and "telegram" in refused.json()["detail"]
    assert "cannot be split" in refused.json()["detail"]
    listing = (await api.get("/api/announcements", headers=as_("agent"))).json()["announcements"]
    assert listing == []  # nothing was stored


async def test_a_target_account_the_configuration_lacks_is_refused(api: httpx.AsyncClient) -> None:
    # it was stored, and could only fail when published
    typo = {**DRAFT, "targets": [DRAFT["targets"][1], {"kind": "x_timeline", "account": "brnad"}]}
    refused = await api.post("/api/announcements", json=typo, headers=as_("marketing"))
    assert refused.status_code == 422
    assert refused.json()["detail"] == ("target x:brnad: no x account 'brnad' in the configuration (x accounts: brand)")
    assert (await api.get("/api/announcements", headers=as_("agent"))).json()["announcements"] == []
    a = (await api.post("/api/announcements", json=DRAFT, headers=as_("marketing"))).json()
    mastodon = {**DRAFT, "targets": [{"kind": "mastodon_account", "account": "brand"}]}
    edited = await api.patch(f"/api/announcements/{a['id']}", json=mastodon, headers=as_("marketing"))
    assert edited.status_code == 422
    assert edited.json()["detail"] == (
        "target mastodon:brand: no mastodon account 'brand' in the configuration (mastodon accounts: social)"
    )


async def test_console_page_and_static_are_served_without_inline_script(api: httpx.AsyncClient) -> None:
    page = await api.get("/announcements", headers=as_("agent"))
    assert page.status_code == 200 and '<script src="/static/announcements/announcements.js"' in page.text
    assert "<script>" not in page.text and " style=" not in page.text and "onclick" not in page.text
    js = await api.get("/static/announcements/announcements.js")
    assert js.status_code == 200 and "text/javascript" in js.headers["content-type"]
    assert (await api.get("/static/announcements/..%2Fapi.py")).status_code == 404
