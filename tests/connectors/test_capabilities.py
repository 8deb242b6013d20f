"""Each connector declares what its platform allows; the declarations are what announcements and
the console use, so they must match what the connector itself does when it sends."""

from __future__ import annotations

from helpline.connectors.base import AccountSettings
from helpline.connectors.capabilities import Capabilities
from helpline.connectors.publishing import Destination
from helpline.connectors.registry import capabilities_lookup
from helpline.connectors.x.text import split_thread

URL = "https://support.example.com/hc/en-us/articles/360041234567-How-to-withdraw"


def caps(platform: str, account: str = "acct", **options: object) -> Capabilities:
    found = capabilities_lookup([AccountSettings(platform=platform, name=account, options=options)])(platform, account)
    assert found is not None
    return found


def test_x_counts_weighted_and_threads_public_replies() -> None:
    x = caps("x")
    assert x.public.limit == 280 and x.direct.limit == 10_000
    assert x.public.count(URL) == 23  # any link counts 23
    assert x.public.count("出金") == 4 and x.public.count("ab") == 2  # CJK weighs 2
    assert x.public.count("bare domain example.com") == len("bare domain ") + 23  # X links bare domains too
    long = " ".join(f"Sentence number {i} about the withdrawal queue." for i in range(20))
    assert list(x.public.parts(long)) == split_thread(long)  # what the connector posts
    assert x.threads and not x.buttons and x.announcements == {Destination.TIMELINE}


def test_telegram_counts_utf16_units_and_has_buttons() -> None:
    t = caps("telegram")
    assert t.public.limit == t.direct.limit == 4096
    assert t.public.count("😀") == 2 and t.public.count("出金") == 2
    assert t.buttons and not t.threads and t.public.parse_mode == "HTML"
    assert t.announcements == {Destination.CHAT, Destination.SUBSCRIBER}
    assert len(t.public.parts("word " * 2000)) == 3


def test_mastodon_limit_from_options_else_its_default() -> None:
    assert caps("mastodon").public.limit == 500
    assert caps("mastodon", max_characters=2000).public.limit == 2000
    m = caps("mastodon")
    assert m.public.count("http://a.co ok") == 23 + 3  # a link counts 23 (a longer one its length: safe side)
    parts = m.public.parts("word " * 300)
    assert len(parts) == 4 and all(m.public.count(p) <= 500 for p in parts) and parts[0].endswith("(1/4)")


def test_unknown_platform_has_no_capabilities_and_null_publishes_nowhere() -> None:
    assert capabilities_lookup([])("myspace", "a") is None
    assert caps("null").announcements == frozenset()
    assert caps("x", "unconfigured").public.limit == 280  # an account not configured: platform defaults
