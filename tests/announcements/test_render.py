"""Rendering per platform: X weighted threads, Telegram escaping, Mastodon limits, refusals."""

from __future__ import annotations

from dataclasses import replace

from helpline.announcements.render import render
from helpline.connectors.capabilities import TextRules
from helpline.connectors.registry import capabilities_lookup
from helpline.connectors.telegram.emulator import check_formatting, visible_text
from helpline.connectors.x.text import weighted_length


def rules(platform: str, limit: int) -> TextRules:
    """The platform's rules as its connector declares them, under `limit`."""
    caps = capabilities_lookup([])(platform, "acct")
    assert caps is not None
    return replace(caps.public, limit=limit)


URL = "https://support.example.com/hc/en-us/articles/360041234567-How-to-withdraw"


def test_short_text_is_one_unnumbered_post_everywhere() -> None:
    for platform, limit in (("x", 280), ("telegram", 4096), ("mastodon", 500)):
        r = render("Trading resumes at 10:00 UTC.", platform, rules(platform, limit))
        assert r.ok and r.texts() == ("Trading resumes at 10:00 UTC.",)


def test_x_thread_is_numbered_cut_at_sentences_and_counts_urls_as_23() -> None:
    sentences = [f"Step {i}: open the wallet page and confirm network number {i} before sending." for i in range(1, 9)]
    text = " ".join(sentences) + f" Guide: {URL}"
    r = render(text, "x", rules("x", 280))
    n = len(r.parts)
    assert r.ok and n >= 3
    for i, part in enumerate(r.parts, 1):
        assert part.text.startswith(f"{i}/{n} ") and weighted_length(part.text) == part.length <= 280
        body = part.text.split(" ", 1)[1]
        assert body.endswith((".", URL)), body  # whole sentences only (the link ends the last one)
    assert sum(URL in p.text for p in r.parts) == 1
    last = r.parts[-1]
    assert weighted_length(last.text) < len(last.text)  # the long URL weighed 23, not its length


def test_x_counts_cjk_twice() -> None:
    text = "出金メンテナンスのお知らせ。" * 12  # 14 characters x 12, each weighing 2
    r = render(text, "x", rules("x", 280))
    assert r.ok and len(r.parts) == 2 and all(p.length <= 280 for p in r.parts)
    assert "".join(p.text.split(" ", 1)[1] for p in r.parts) == text


def test_telegram_escapes_html_and_the_emulator_accepts_it() -> None:
    text = 'Beware of <fake> "support" DMs & links like <a href="http://evil">this</a>.'
    r = render(text, "telegram", rules("telegram", 4096))
    assert r.parse_mode == "HTML"
    posted = r.parts[0].text
    assert "<" not in posted and "&lt;fake&gt;" in posted and "&amp;" in posted and "&quot;support&quot;" in posted
    check_formatting(posted, "HTML")  # raises on anything Telegram would refuse
    assert visible_text(posted, "HTML") == text  # the reader sees exactly what marketing wrote


def test_telegram_splits_long_text_by_visible_length() -> None:
    paragraph = "Maintenance & upgrades <phase>. " * 150  # 4800 visible, far more once escaped
    r = render(paragraph, "telegram", rules("telegram", 4096))
    assert r.ok and len(r.parts) == 2
    assert all(visible_text(p.text, "HTML") == p.visible and len(p.visible) <= 4096 for p in r.parts)


def test_mastodon_respects_the_instance_limit() -> None:
    text = "Listing update. " * 40
    assert len(render(text, "mastodon", rules("mastodon", 500)).parts) == 2
    assert len(render(text, "mastodon", rules("mastodon", 1000)).parts) == 1
    assert all(p.length <= 500 for p in render(text, "mastodon", rules("mastodon", 500)).parts)


def test_an_unsplittable_token_is_refused_with_the_reason() -> None:
    address = "bc1q" + "x" * 4200
    r = render(f"Send only to {address}", "telegram", rules("telegram", 4096))
    assert not r.ok and r.refused is not None
    assert "telegram" in r.refused and "cannot be split" in r.refused and "4096" in r.refused
    long_url = "https://example.com/" + "a" * 600
    m = render(f"Read {long_url}", "mastodon", rules("mastodon", 500))
    assert not m.ok and "mastodon" in (m.refused or "")
    assert render(f"Read {long_url}", "x", rules("x", 280)).ok  # X counts any URL as 23: it fits


def test_images_and_empty_text_are_refused() -> None:
    assert "image" in (render("hello", "x", rules("x", 280), images=1).refused or "")
    assert "empty" in (render("   ", "telegram", rules("telegram", 4096)).refused or "")


def test_rendering_follows_whatever_rules_a_connector_declares() -> None:
    """No platform is named in rendering: a made-up platform's declared rules are applied as given."""
    shout = TextRules(
        limit=20, measure=lambda t: 2 * len(t), split=lambda t, n: t.split(), parse_mode="UP", escape=str.upper
    )
    r = render("hello world", "loud", shout)
    assert r.ok and r.texts() == ("HELLO", "WORLD") and [p.length for p in r.parts] == [10, 10]
    assert r.parse_mode == "UP" and r.warnings == ("loud: posted as 2 parts",)
    assert "cannot be published there" in (render("hello", "loud", None).refused or "")


def test_a_target_is_rendered_with_its_accounts_live_capabilities() -> None:
    from helpline.announcements.models import Announcement, Target, TargetKind
    from helpline.announcements.render import render_target
    from helpline.connectors.capabilities import Capabilities
    from helpline.connectors.mastodon.capabilities import with_limit

    live = {("mastodon", "support"): with_limit(1000)}  # as a started connector reports its instance's limit

    def lookup(platform: str, account: str) -> Capabilities | None:
        return live.get((platform, account)) or capabilities_lookup([])(platform, account)

    text = "word " * 150  # 750 characters: one status on this instance, two on a 500 one
    target = Target(kind=TargetKind.MASTODON_ACCOUNT, account="support")
    other = Target(kind=TargetKind.MASTODON_ACCOUNT, account="elsewhere")
    a = Announcement(id="a1", text=text, targets=[target, other], created_by="meg")
    assert len(render_target(a, target, lookup).parts) == 1
    assert len(render_target(a, other, lookup).parts) == 2
    assert render_target(a, target, lookup).limit == 1000
