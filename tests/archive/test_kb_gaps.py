"""The KB gaps report: questions the real help-center bot handed off for lack of an article,
archived to the record (SQLite and PostgreSQL), grouped by meaning per language, on the command
line and the console's /reports page."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as redis
from alembic import command
from sqlalchemy import create_engine, event, inspect

from helpline.archive.archiver import Archiver
from helpline.archive.database import Database, alembic_config, engine_url, migrate
from helpline.archive.gaps import unanswered_questions
from helpline.archive.record import Record
from helpline.archive.schema import events
from helpline.kb_gaps import gap_report
from tests.archive.conftest import ADMIN_URL
from tests.factories import build_router, message, parts, route_all
from tests.redis_server import RedisServer

KB = str(Path(__file__).resolve().parents[2] / "kb")
HELPCENTER = {"helpcenter": {"type": "helpcenter", "kb": KB}}
ALL_TO_BOT = [{"name": "everything to the help center", "set": {"bot": "helpcenter"}}]
STAKING = [
    "how do i stake sol for rewards here",
    "can I stake my ETH and earn rewards?",
    "staking rewards for solana, do you offer it",
]
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


async def test_helpline_kb_gaps_json_and_text(
    r: redis.Redis, db: Database, redis_server: RedisServer, tmp_path: Path
) -> None:
    await _desk_with_history(r, db)
    cfg = tmp_path / "helpline.toml"
    cfg.write_text(
        f'[redis]\nurl = "{redis_server.url}"\n[database]\nurl = "{db.url}"\n'
        f'[bots.helpcenter]\ntype = "helpcenter"\nkb = "{KB}"\n'
    )
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
    r: redis.Redis, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
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


async def _handoff(db: Database, conversation_id: str, at: datetime, question: str) -> None:
    raw = json.dumps(
        {"type": "handoff", "data": {"question": question, "language": "en", "unanswered": True}}, separators=(",", ":")
    )  # as the events are written
    async with db.engine.begin() as conn:
        await conn.execute(
            events.insert().values(
                conversation_id=conversation_id,
                seq=1,
                type="handoff",
                actor="bot:helpcenter",
                at=int(at.timestamp() * 1000),
                raw=raw,
            )
        )


async def test_gap_days_are_the_desks_days(r: redis.Redis, db: Database) -> None:
    # 20:00 UTC on 1 March is 05:00 on 2 March in Seoul; 16:00 UTC on 2 March is already 3 March there
    await _handoff(db, "early", datetime(2026, 3, 1, 20, tzinfo=UTC), "can i stake sol")
    await _handoff(db, "late", datetime(2026, 3, 2, 16, tzinfo=UTC), "do you list pepe")
    settings = parts(r, insights={"timezone": "Asia/Seoul"}).settings
    day = date(2026, 3, 2)
    assert [g.samples for g in await gap_report(settings, db, day, day)] == [["can i stake sol"]]
    assert [g.samples for g in await gap_report(settings, db, day + timedelta(days=1), day + timedelta(days=1))] == [
        ["do you list pepe"]
    ]


async def test_the_gaps_query_reads_the_events_of_its_range_by_index(r: redis.Redis, db: Database) -> None:
    await _handoff(db, "one", datetime(2026, 3, 1, 20, tzinfo=UTC), "can i stake sol")
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "FROM events" in statement:
            statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        assert len(await unanswered_questions(db, 0, 2**53)) == 1
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = statements[0]
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            plan = " / ".join(
                row[3] for row in (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all()
            )
        else:  # a tiny table is scanned by choice: ask whether the index can serve it at all
            await conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " / ".join(row[0] for row in (await conn.exec_driver_sql("EXPLAIN " + statement, parameters)).all())
    assert "events_type_at" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan  # newest first straight from the index


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty record of its own (migrations are taken down and up), on each engine."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    name = f"helpline_migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_events_index_migrates_up_and_down(fresh_url: str) -> None:
    def indexes() -> set[str]:
        engine = create_engine(engine_url(fresh_url, asynchronous=False))
        try:
            return {i["name"] for i in inspect(engine).get_indexes("events") if i["name"]}
        finally:
            engine.dispose()

    migrate(fresh_url)
    assert "events_type_at" in indexes()
    command.downgrade(alembic_config(fresh_url), "0004")
    assert "events_type_at" not in indexes()
    migrate(fresh_url)
    assert "events_type_at" in indexes()


def test_helpline_kb_gaps_of_a_record_that_is_not_there_is_one_line_and_makes_none(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    cfg = tmp_path / "helpline.toml"
    cfg.write_text(
        f'[redis]\nurl = "{redis_server.url}"\n[database]\nurl = "sqlite:///{tmp_path}/no/such/folder/record.db"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "helpline", "kb", "gaps", "-c", str(cfg)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(
        f"helpline: database.url: no record at {tmp_path}/no/such/folder/record.db "
        f"(sqlite:///{tmp_path}/no/such/folder/record.db), and reading or editing the record does not create one: "
    )
    assert "-c/--config (its [database] url)" in out.stderr and not (tmp_path / "no").exists()
