"""The KB gaps report: questions the real help-center bot handed off for lack of an article,
archived to the record (SQLite and PostgreSQL), grouped by meaning per language, on the command
line and the console's /reports page."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as redis

from helpline.archive.archiver import Archiver
from helpline.archive.database import Database
from helpline.archive.gaps import unanswered_questions
from helpline.archive.record import Record
from helpline.kb_gaps import gap_report
from helpline.runtime import build_router
from tests.factories import message, parts, route_all
from tests.redis_server import RedisServer

KB = str(Path(__file__).resolve().parents[2] / "kb")
HELPCENTER = {"helpcenter": {"type": "helpcenter", "kb": KB}}
ALL_TO_BOT = [{"name": "everything to the help center", "set": {"bot": "helpcenter"}}]
STAKING = ["how do i stake sol for rewards here", "can I stake my ETH and earn rewards?",
           "staking rewards for solana, do you offer it"]
OTHER = ["hows the weather in seoul today"]
KOREAN = ["이더 예치하면 보상 주나요"]
ANSWERED = "I lost my phone with google authenticator, how do I reset 2FA?"
HUMAN = "let me talk to a human please"


async def _desk_with_history(r: redis.Redis, db: Database) -> list[str]:
    p = parts(r, rules=ALL_TO_BOT, bots=HELPCENTER)
    router = build_router(p)
    texts = [*STAKING, *OTHER, ANSWERED, HUMAN]
    for i, text in enumerate(texts):
        await p.bus.ingest([message(text, thread=f"en{i}")])
    await p.bus.ingest([message(KOREAN[0], thread="ko0", language="ko")])
    await route_all(p, router)
    archiver = Archiver(r, Record(db), p.settings.redis.partitions, "gaps-archiver", claim_idle_ms=60_000)
    await archiver.catch_up()
    return texts


async def test_unanswered_questions_are_grouped_by_meaning_per_language(r: redis.Redis, db: Database) -> None:
    await _desk_with_history(r, db)
    now = int(datetime.now(UTC).timestamp() * 1000)
    found = await unanswered_questions(db, now - 3_600_000, now + 60_000)
    assert sorted(q.text for q in found) == sorted([*STAKING, *OTHER, *KOREAN])  # not the answer, not the human
    assert {q.language for q in found} == {"en", "ko"} and all(q.conversation_id for q in found)
    assert [q.text for q in await unanswered_questions(db, now - 3_600_000, now + 60_000, language="ko")] == KOREAN
    settings = parts(r, rules=ALL_TO_BOT, bots=HELPCENTER).settings
    today = datetime.now(UTC).date()
    gaps = await gap_report(settings, db, today, today)
    assert [(g.language, g.count) for g in gaps] == [("en", 3), ("en", 1), ("ko", 1)]
    assert sorted(gaps[0].samples) == sorted(STAKING) and len(gaps[0].conversations) == 3
    assert gaps[1].samples == OTHER and gaps[2].samples == KOREAN
    assert await gap_report(settings, db, today.replace(year=today.year - 1), today.replace(year=today.year - 1)) == []


async def test_helpline_kb_gaps_json_and_text(r: redis.Redis, db: Database, redis_server: RedisServer,
                                              tmp_path: Path) -> None:
    await _desk_with_history(r, db)
    cfg = tmp_path / "helpline.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_server.url}"\n[database]\nurl = "{db.url}"\n'
                   f'[bots.helpcenter]\ntype = "helpcenter"\nkb = "{KB}"\n')
    run = [sys.executable, "-m", "helpline", "kb", "gaps", "-c", str(cfg)]
    out = subprocess.run([*run, "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["questions"] == 5 and report["groups"] == 3
    assert report["gaps"][0]["count"] == 3 and report["gaps"][0]["language"] == "en"
    out = subprocess.run([*run, "--language", "ko"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "1 unanswered questions in 1 groups" in out.stdout and KOREAN[0] in out.stdout


async def test_the_reports_page_shows_the_gaps(r: redis.Redis, db: Database) -> None:
    from tests.console.helpers import make_desk

    await _desk_with_history(r, db)
    desk = await make_desk(r, database={"url": db.url}, rules=ALL_TO_BOT, bots=HELPCENTER)
    try:
        sue, _ = await desk.login("sue")
        page = await sue.get("/reports")
        assert page.status_code == 200
        section = page.text.split('id="kb-gaps"', 1)[1].split("</section>", 1)[0]
        assert all(q in section for q in STAKING) and KOREAN[0] in section
        assert section.index(STAKING[0]) < section.index(OTHER[0])  # the biggest group first
        amy, _ = await desk.login("amy")
        assert (await amy.get("/reports")).status_code == 403
    finally:
        for c in desk.clients:
            await c.aclose()
        await desk.svc.record.close()


async def test_the_reports_page_does_not_wait_long_for_the_grouping(
        r: redis.Redis, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from helpline.console import app as console_app
    from tests.console.helpers import make_desk

    await _desk_with_history(r, db)
    monkeypatch.setattr(console_app, "KB_GAPS_WAIT_S", 0.0)
    desk = await make_desk(r, database={"url": db.url}, rules=ALL_TO_BOT, bots=HELPCENTER)
    try:
        sue, _ = await desk.login("sue")
        page = await sue.get("/reports")
        assert page.status_code == 200 and "Not available just now" in page.text.split('id="kb-gaps"', 1)[1]
        while console_app._gap_tasks:  # the grouping goes on and finishes
            await asyncio.sleep(0.05)
    finally:
        for c in desk.clients:
            await c.aclose()
        await desk.svc.record.close()
