import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpline.connectors.errors import AuthFailed, Permanent, RateLimited, Transient
from helpline.connectors.mastodon.compose import idempotency_key, measure, split_reply, with_mention
from helpline.connectors.mastodon.errors import DEFAULT_RETRY_AFTER, error_for
from helpline.connectors.mastodon.parse import (
    MAccount,
    MNotification,
    MStatus,
    OwnAccount,
    id_key,
    inbound,
    kind_of,
    link_params,
    skip_reason,
)
from helpline.routing.models import MessageKind

PAYLOADS = Path(__file__).parent / "payloads"
TRWNH = OwnAccount(id="14715", username="trwnh", acct="trwnh", url="https://mastodon.social/@trwnh")


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def test_documented_notifications_page_parses() -> None:
    mention, favourite = (MNotification.model_validate(n) for n in load("notifications_page.json"))
    assert skip_reason(mention, TRWNH) is None
    assert skip_reason(favourite, TRWNH) == "not a mention"
    assert mention.status is not None
    message = inbound(mention.status, TRWNH, "mastodon", "support", "status:103186038209478945")
    assert message.text == "sup!"  # our leading @trwnh is dropped
    assert message.author.user_id == "971724" and message.author.handle == "zsc"
    assert message.in_reply_to == "103186038209478945"
    assert message.platform_time == datetime(2019, 11, 23, 7, 49, 1, 940000, tzinfo=UTC)
    # The documented sample elides `visibility`: an unknown visibility is answered privately.
    assert message.kind is MessageKind.DIRECT


def test_documented_status_parses_with_its_malformed_link_markup() -> None:
    status = MStatus.model_validate(load("status.json"))
    assert kind_of(status) is MessageKind.MENTION
    message = inbound(status, TRWNH, "mastodon", "support", "status:103270115826048975")
    assert message.text.startswith('"I lost my inheritance with one wrong digit on my sort code"\n\n')
    assert "https://www.theguardian.com/money/2019/dec/07/i-lost-my-193000" in message.text
    assert message.language == "en" and message.author.display_name == "Eugen"


def test_documented_media_attachment_becomes_attachment_metadata() -> None:
    status = MStatus.model_validate(load("status_with_media.json"))
    (attachment,) = inbound(status, TRWNH, "mastodon", "support", "status:x").attachments
    assert attachment.kind == "photo" and attachment.platform_file_id == "22345792"
    assert attachment.url is not None and attachment.url.endswith("57859aede991da25.jpeg")


def test_documented_account_parses() -> None:
    account = MAccount.model_validate(load("account.json"))
    assert (account.id, account.acct, account.bot) == ("23634", "noiob@awoo.space", False)


def test_own_statuses_and_bots_are_skipped() -> None:
    raw = load("notifications_page.json")[0]
    own = json.loads(json.dumps(raw))
    own["status"]["account"]["id"] = own["account"]["id"] = TRWNH.id
    bot = json.loads(json.dumps(raw))
    bot["account"]["bot"] = bot["status"]["account"]["bot"] = True
    assert skip_reason(MNotification.model_validate(own), TRWNH) == "our own status"
    assert skip_reason(MNotification.model_validate(bot), TRWNH) == "a bot account"


def test_link_header_as_documented() -> None:
    header = (
        '<https://mastodon.example/api/v1/notifications?max_id=34975535>; rel="next", '
        '<https://mastodon.example/api/v1/notifications?min_id=34975861&types%5B%5D=mention>; rel="prev"'
    )
    assert link_params(header, "next") == {"max_id": "34975535"}
    assert link_params(header, "prev") == {"min_id": "34975861", "types[]": "mention"}
    assert link_params(None, "prev") == {} and link_params(header, "last") == {}


def test_ids_order_numerically() -> None:
    assert sorted(["100", "99", "1000"], key=id_key) == ["99", "100", "1000"]


def _response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://m.example/api/v1/statuses")
    return httpx.Response(status, json=body, headers=headers, request=request)


def test_rate_limited_retry_after_comes_from_the_iso_reset() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    reset = (now + timedelta(seconds=42.5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    error = error_for(_response(429, {"error": "Too many requests"}, {"X-RateLimit-Reset": reset}), "support", now)
    assert isinstance(error, RateLimited) and error.retry_after == pytest.approx(42.5)
    missing = error_for(_response(429, {"error": "Too many requests"}), "support", now)
    assert isinstance(missing, RateLimited) and missing.retry_after == DEFAULT_RETRY_AFTER


def test_status_codes_map_to_connector_errors() -> None:
    errors = load("errors.json")
    assert error_for(_response(200, {}), "support") is None
    unauthorized = error_for(_response(401, errors["unauthorized"]), "support")
    assert isinstance(unauthorized, AuthFailed) and "secrets.access_token" in str(unauthorized)
    assert isinstance(error_for(_response(403, {}), "support"), AuthFailed)
    for status, body in ((404, errors["not_found"]), (422, errors["unprocessable"]), (410, {})):
        assert isinstance(error_for(_response(status, body), "support"), Permanent)
    assert isinstance(error_for(_response(502, None), "support"), Transient)
    assert "Record not found" in str(error_for(_response(404, errors["not_found"]), "support"))


def test_split_fits_the_limit_numbers_parts_and_addresses_each() -> None:
    text = " ".join(f"word{i}" for i in range(300))
    parts = split_reply(text, 500, "alice@other.social")
    assert len(parts) == 5
    assert all(measure(p) <= 500 for p in parts)
    assert all(p.startswith("@alice@other.social ") for p in parts)
    assert [p.rsplit(" ", 1)[1] for p in parts] == [f"({i}/5)" for i in range(1, 6)]
    rebuilt = " ".join(p.removeprefix("@alice@other.social ").rsplit(" ", 1)[0] for p in parts)
    assert rebuilt == text


def test_split_short_text_and_existing_mention() -> None:
    assert split_reply("hello", 500, "bob") == ["@bob hello"]
    assert split_reply("@bob hello", 500, "bob") == ["@bob hello"]
    assert split_reply("@bobby hello", 500, "bob") == ["@bob @bobby hello"]
    assert with_mention("hi", None) == "hi"


def test_urls_count_as_at_least_23() -> None:
    assert measure("http://a.co") == 23
    assert measure("x" * 10) == 10


def test_idempotency_keys_are_the_reply_id_then_numbered() -> None:
    assert idempotency_key("r1", 1) == "r1" and idempotency_key("r1", 3) == "r1:3"
