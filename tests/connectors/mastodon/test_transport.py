import json
from pathlib import Path

import httpx

from helpline.connectors.base import ConnectorContext
from helpline.connectors.mastodon.connector import MastodonConnector

from .conftest import TOKEN, settings

PAYLOADS = Path(__file__).parent / "payloads"


async def _never_ingest(messages: object) -> list[bool]:
    raise AssertionError("fetch must not ingest")


async def test_injected_transport_bearer_token_and_an_unreadable_notification() -> None:
    """Through `context.http_transport`: the token goes in the Authorization header, and a
    notification that does not parse is skipped without stalling the cursor."""
    page = json.loads((PAYLOADS / "notifications_page.json").read_text())
    page[0]["status"]["visibility"] = "public"
    broken = {"id": "34975900", "type": "mention", "account": {"id": "1"}, "status": {"id": "x"}}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/prefix/api/v1/accounts/verify_credentials":
            return httpx.Response(
                200, json={"id": "14715", "username": "trwnh", "acct": "trwnh", "url": "https://mastodon.social/@trwnh"}
            )
        if request.url.path == "/prefix/api/v2/instance":
            return httpx.Response(404, json={"error": "Record not found"})
        if request.url.path == "/prefix/api/v1/notifications":
            body = [broken, page[0]] if request.url.params.get("min_id") == "1" else []
            return httpx.Response(200, json=body, headers={"X-RateLimit-Remaining": "123"})
        return httpx.Response(404, json={"error": "Record not found"})

    connector = MastodonConnector(
        settings("https://mastodon.example/prefix"),
        ConnectorContext(ingest=_never_ingest, http_transport=httpx.MockTransport(handler)),
    )
    async with connector:
        assert connector.max_characters == 500  # no v2 instance: Mastodon's default
        batch = await connector.fetch("1")
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in seen)
    polls = [r for r in seen if r.url.path.endswith("/notifications")]
    assert all(r.url.params.get_list("types[]") == ["mention"] for r in polls)
    assert [m.text for m in batch.messages] == ["sup!"] and batch.skipped == 1
    # The parent's context is gone (404): the parent is taken as the thread root.
    assert batch.messages[0].thread_key == "status:103186038209478945"
    assert batch.cursor == "34975900"
    assert connector.health().rate_limit_remaining == 123
