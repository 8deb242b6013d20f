from datetime import datetime

import httpx
import redis.asyncio as redis

from helpline.connectors.emulation import serve
from helpline.connectors.mastodon.emulator import create_app
from helpline.connectors.mastodon.parse import link_params

from .conftest import TOKEN, Emulator, MakeConnector

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_notifications_paginate_like_mastodon(emulator: Emulator) -> None:
    ids = [(await emulator.customer("1", f"m{i}"))["message_id"] for i in range(5)]
    notes = [n for n, _ in emulator.state.notifications]
    http = emulator.http
    newest = await http.get("/api/v1/notifications", params={"types[]": "mention", "limit": 2}, headers=AUTH)
    assert [n["id"] for n in newest.json()] == [notes[4], notes[3]]
    assert newest.json()[0]["status"]["id"] == ids[4] and newest.json()[0]["type"] == "mention"
    link = newest.headers["link"]
    assert link_params(link, "next") == {"max_id": notes[3], "limit": "2", "types[]": "mention"}
    assert link_params(link, "prev")["min_id"] == notes[4]
    older = await http.get("/api/v1/notifications", params=link_params(link, "next"), headers=AUTH)
    assert [n["id"] for n in older.json()] == [notes[2], notes[1]]
    forward = await http.get("/api/v1/notifications", params={"min_id": notes[0], "limit": 2}, headers=AUTH)
    assert [n["id"] for n in forward.json()] == [notes[2], notes[1]]  # immediately newer, newest first
    since = await http.get("/api/v1/notifications", params={"since_id": notes[0], "limit": 2}, headers=AUTH)
    assert [n["id"] for n in since.json()] == [notes[4], notes[3]]  # the newest page above since_id
    other = await http.get("/api/v1/notifications", params={"types[]": "follow"}, headers=AUTH)
    assert other.json() == [] and "link" not in other.headers


async def test_idempotency_key_returns_the_same_status(emulator: Emulator) -> None:
    headers = {**AUTH, "Idempotency-Key": "k1"}
    first = await emulator.http.post("/api/v1/statuses", json={"status": "hello"}, headers=headers)
    again = await emulator.http.post("/api/v1/statuses", data={"status": "hello"}, headers=headers)
    other = await emulator.http.post("/api/v1/statuses", json={"status": "hello"}, headers=AUTH)
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert len(await emulator.sent()) == 2 and (await emulator.stats())["idempotent_replays"] == 1


async def test_errors_have_mastodon_bodies(emulator: Emulator) -> None:
    http = emulator.http
    bad = await http.get("/api/v1/notifications", headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()) == (401, {"error": "The access token is invalid"})
    missing = await http.get("/api/v1/statuses/123", headers=AUTH)
    assert (missing.status_code, missing.json()) == (404, {"error": "Record not found"})
    long = await http.post("/api/v1/statuses", json={"status": "x" * 501}, headers=AUTH)
    assert long.status_code == 422 and "character limit of 500" in long.json()["error"]
    url_counts_23 = await http.post(
        "/api/v1/statuses", json={"status": "x" * 470 + " https://e.com/" + "y" * 80}, headers=AUTH
    )
    assert url_counts_23.status_code == 200


async def test_rate_limit_headers_and_429(emulator: Emulator) -> None:
    await emulator.config(rate_limit=2, rate_period=60.0)
    first = await emulator.http.get("/api/v1/accounts/verify_credentials", headers=AUTH)
    assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
    assert datetime.fromisoformat(first.headers["x-ratelimit-reset"]).tzinfo is not None
    await emulator.http.get("/api/v1/accounts/verify_credentials", headers=AUTH)
    third = await emulator.http.get("/api/v1/accounts/verify_credentials", headers=AUTH)
    assert (third.status_code, third.json()) == (429, {"error": "Too many requests"})
    assert third.headers["x-ratelimit-remaining"] == "0"
    assert (await emulator.stats())["rate_limited_responses"] == 1


async def test_control_api_shapes(emulator: Emulator) -> None:
    dm = await emulator.customer("5", "psst", kind="direct", handle="pat")
    assert set(dm) == {"message_id", "thread"} and dm["thread"] == "direct:5"
    reply = await emulator.customer("6", "me too", reply_to=dm["message_id"], handle="quinn", visibility="unlisted")
    context = await emulator.http.get(f"/api/v1/statuses/{reply['message_id']}/context", headers=AUTH)
    assert [s["id"] for s in context.json()["ancestors"]] == [dm["message_id"]]
    body = {"status": "@pat hi", "visibility": "direct", "in_reply_to_id": dm["message_id"]}
    posted = await emulator.http.post("/api/v1/statuses", headers=AUTH, json=body)
    assert posted.json()["mentions"][0]["acct"] == "pat"
    assert await emulator.sent() == [
        {
            "id": posted.json()["id"],
            "kind": "status",
            "visibility": "direct",
            "text": "@pat hi",
            "in_reply_to": dm["message_id"],
        }
    ]
    instance = await emulator.http.get("/api/v2/instance", headers=AUTH)
    assert instance.json()["configuration"]["statuses"]["max_characters"] == 500
    stats = await emulator.stats()
    assert {"rate_limited_responses", "idempotent_replays", "requests"} <= set(stats)
    assert (await emulator.http.post("/_emulator/config", json={"nonsense": 1})).status_code == 422


async def test_connector_on_an_instance_under_a_path_prefix(make_connector: MakeConnector, r: redis.Redis) -> None:
    app = create_app(prefix="/social")
    async with serve(app) as base_url, httpx.AsyncClient(base_url=f"{base_url}/social") as http:
        for i in range(5):
            user = {"id": "7", "handle": "ro", "name": "Ro"}
            await http.post("/_emulator/customer-messages", json={"user": user, "text": f"m{i}", "kind": "mention"})
        connector = await make_connector(base_url=f"{base_url}/social/", page_size=2, max_pages=10)
        batch = await connector.fetch("0")
        assert [m.text for m in batch.messages] == [f"m{i}" for i in range(5)] and not batch.more
