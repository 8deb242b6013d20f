"""Every connector's options are typed: a misspelt key or an out-of-range value is refused with its
name, never ignored or clamped."""

from __future__ import annotations

from typing import Any

import pytest

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.options import OptionsInvalid
from helpline.connectors.registry import build_connector, connector_class

SECRETS = {
    "telegram": {"token": "OPT_TG_TOKEN"},
    "x": {"bearer_token": "OPT_X_BEARER"},
    "mastodon": {"access_token": "OPT_MASTODON_TOKEN"},
    "null": {},
}


async def _no_ingest(_: object) -> list[bool]:
    return []


def build(platform: str, **options: Any) -> Any:
    account = AccountSettings(
        platform=platform, name="acct", base_url="http://127.0.0.1:9", secrets=SECRETS[platform], options=options
    )
    return build_connector(account, ConnectorContext(ingest=_no_ingest))


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("OPT_TG_TOKEN", "OPT_X_BEARER", "OPT_MASTODON_TOKEN"):
        monkeypatch.setenv(env, "123:secret")


@pytest.mark.parametrize(
    ("platform", "options", "named"),
    [
        ("x", {"page_size": 1000}, "page_size: Input should be less than or equal to 100"),
        ("x", {"page_size": 1}, "page_size: Input should be greater than or equal to 5"),
        ("x", {"tweets_per_15min": 0}, "tweets_per_15min: Input should be greater than or equal to 1"),
        ("x", {"ignore_user_ids": ["@bot"]}, "ignore_user_ids: '@bot' is not an X user id (digits)"),
        ("x", {"mentions": "yes"}, "mentions: Input should be a valid boolean"),
        ("telegram", {"long_poll_timeout": 99}, "long_poll_timeout: Input should be less than or equal to 10"),
        ("telegram", {"private_per_second": 0}, "private_per_second: Input should be greater than 0"),
        ("telegram", {"bot_per_second": "30"}, "bot_per_second: Input should be a valid number"),
        ("mastodon", {"page_size": 81}, "page_size: Input should be less than or equal to 80"),
        ("mastodon", {"max_characters": 50}, "max_characters: Input should be greater than or equal to 100"),
        ("mastodon", {"max_pages": True}, "max_pages: Input should be a valid integer"),
    ],
)
def test_an_out_of_range_option_is_refused_not_clamped(platform: str, options: dict[str, Any], named: str) -> None:
    with pytest.raises(OptionsInvalid) as caught:
        build(platform, **options)
    assert caught.value.problems == [f"accounts.acct.options.{named}"]


@pytest.mark.parametrize(
    ("platform", "typo"),
    [
        ("telegram", "long_poll_timeot"),
        ("x", "page_sise"),
        ("mastodon", "max_charaters"),
        ("null", "anything"),
    ],
)
def test_a_misspelt_option_is_named_with_the_known_ones(platform: str, typo: str) -> None:
    with pytest.raises(OptionsInvalid) as caught:
        build(platform, **{typo: 5})
    [problem] = caught.value.problems
    assert problem.startswith(f"accounts.acct.options.{typo}: not an option of the {platform} connector")
    for known in connector_class(platform).options_model.model_fields:
        assert known in problem


def test_every_wrong_option_is_listed_at_once() -> None:
    with pytest.raises(OptionsInvalid) as caught:
        build("mastodon", page_size=0, api_rate=-1, pagesize=3)
    assert sorted(p.split(":")[0] for p in caught.value.problems) == [
        "accounts.acct.options.api_rate",
        "accounts.acct.options.page_size",
        "accounts.acct.options.pagesize",
    ]


def test_valid_options_are_read_typed() -> None:
    x = build("x", user_id=1234567890, handle="@Brand", ignore_user_ids=[42, "43"], page_size=5, mentions=False)
    assert x.options.user_id == "1234567890" and x.own_user_id == "1234567890"
    assert x.options.ignore_user_ids == ("42", "43") and x.options.page_size == 5 and not x.options.mentions
    telegram = build("telegram", long_poll_timeout=10, bot_per_second=10)
    assert telegram.options.long_poll_timeout == 10 and telegram.options.bot_per_second == 10.0
    mastodon = build("mastodon", max_characters=1000)
    assert mastodon.max_characters == 1000 and mastodon.page_size == 40  # default kept
    assert build("mastodon").options.max_characters is None  # the instance's limit, read at start
