"""Finding archived contacts to link: `reader.find_contacts` on both engines, and the console's
linking search that adds them to the contacts found in Redis."""

import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as redis
from alembic import command
from sqlalchemy import create_engine, select

from helpline.archive import reader
from helpline.archive.archiver import Archiver
from helpline.archive.contact_terms import terms, upper_bound
from helpline.archive.database import Database, alembic_config, migrate
from helpline.archive.erasure import erase_contact
from helpline.archive.evict import Evictor
from helpline.archive.record import Record
from helpline.archive.schema import contact_terms, contacts
from helpline.archive.search import Access
from helpline.console import linking
from helpline.console.roles import Principal, Role
from helpline.routing import keys
from helpline.routing.store import Effects
from tests.console.helpers import Desk, make_desk

SUPPORT = Access(username="amy", teams=("support",))
EVERYTHING = Access(everything=True)


def test_terms_and_bounds() -> None:
    row = {
        "id": "telegram:main:4242",
        "handle": "@Kim_S",
        "display_name": "Min-jun  KIM",
        "email": "MinJun@Example.com",
        "user_id": "4242",
    }
    assert terms(row) == {
        "kim_s",
        "min-jun kim",
        "min-jun",
        "min",
        "jun",
        "kim",
        "minjun@example.com",
        "4242",
    }
    assert upper_bound("kim") == "kin"
    assert upper_bound("a\U0010ffff") == "b"
    assert upper_bound("\ud7ff") == "\ue000"  # never a surrogate (PostgreSQL refuses them)
    assert upper_bound("\U0010ffff") is None


async def _archived_desk(r: redis.Redis, database_url: str) -> tuple[Desk, dict[str, str]]:
    """Three customers whose conversations were archived and evicted and whose Redis contacts
    expired; kim's and lee's conversations are the support team's, whale's the vip team's."""
    desk = await make_desk(r, database={"url": database_url})
    convs = {
        "kim": await desk.conversation("출금이 안돼요", thread="k", user="kim", language="ko"),
        "lee": await desk.conversation("account locked", thread="l", user="lee"),
        "whale": await desk.conversation("vip withdrawal", thread="w", user="whale"),
    }
    await r.hset(keys.contact("null:main:kim"), mapping={"display_name": "Min-jun Kim", "email": "mj@example.com"})  # type: ignore[misc]
    now = datetime.now(UTC)
    await desk.parts.store.commit([Effects(cid).set(status="resolved") for cid in convs.values()], now)
    partitions = desk.parts.settings.redis.partitions
    await Archiver(r, Record(desk.svc.record), partitions, "contact-search").catch_up()
    assert await Evictor(r, desk.svc.record, partitions, 0).round(int(time.time() * 1000) + 1000) == 3
    for user in convs:
        await r.delete(keys.contact(f"null:main:{user}"))
    return desk, convs


async def test_find_contacts_by_each_term_and_access(r: redis.Redis, db: Database, database_url: str) -> None:
    desk, _ = await _archived_desk(r, database_url)
    db = desk.svc.record

    async def ids(query: str, access: Access = SUPPORT, **kw: object) -> list[str]:
        return [row["id"] for row in await reader.find_contacts(db, query, access, **kw)]  # type: ignore[arg-type]

    assert await ids("@KIM") == ["null:main:kim"]  # the handle, any case, @ or not
    assert await ids("min-j") == ["null:main:kim"]  # the name from its start
    assert await ids("Kim") == ["null:main:kim"]  # a word of the name
    assert await ids("MJ@exam") == ["null:main:kim"]  # the e-mail address
    assert await ids(" null:main:lee ") == ["null:main:lee"]  # the contact id, whole
    assert await ids("null:main:l") == []
    assert await ids("le") == ["null:main:lee"]  # user id "lee", handle "@lee", name "LEE": one contact
    assert await ids("whale") == []  # only in a vip conversation: amy cannot find it
    assert await ids("whale", EVERYTHING) == ["null:main:whale"]
    assert await ids("e", EVERYTHING) == []  # no term starts with "e"
    assert await ids("l", EVERYTHING, limit=1) == ["null:main:lee"]
    assert await ids("null:main:whale", EVERYTHING) == ["null:main:whale"]
    assert await ids("null:main:whale") == []  # by id neither: not amy's to see
    assert await ids("kim", EVERYTHING, exclude=["null:main:kim"]) == []
    assert await ids("", EVERYTHING) == []
    assert await ids("x") == [] and await ids("  ") == [] and await ids("im") == []  # a prefix, not a substring
    kim = (await reader.find_contacts(db, "kim", SUPPORT))[0]
    assert (kim["display_name"], kim["email"], kim["platform"]) == ("Min-jun Kim", "mj@example.com", "null")
    # Erased, the contact is found by nothing any more.
    await erase_contact(r, db, desk.parts.settings.redis.partitions, "null:main:lee", operator="dpo", reason="request")
    assert await ids("lee", EVERYTHING) == []
    async with db.engine.connect() as conn:
        left = (await conn.execute(select(contact_terms.c.contact_id).distinct())).scalars().all()
    assert sorted(left) == ["null:main:kim", "null:main:whale"]
    await db.close()


async def test_the_terms_follow_a_changed_contact(r: redis.Redis, db: Database, database_url: str) -> None:
    desk, convs = await _archived_desk(r, database_url)
    db = desk.svc.record
    await desk.conversation("me again", thread="k2", user="kim")  # kim is back, renamed on the platform
    await r.hset(keys.contact("null:main:kim"), mapping={"display_name": "Jun Park", "handle": "@jpark"})  # type: ignore[misc]
    await Archiver(r, Record(db), desk.parts.settings.redis.partitions, "contact-search").catch_up()
    assert [c["id"] for c in await reader.find_contacts(db, "park", SUPPORT)] == ["null:main:kim"]
    assert await reader.find_contacts(db, "min-jun", SUPPORT) == []  # the old name is gone
    assert [c["id"] for c in await reader.find_contacts(db, "mj@", SUPPORT)] == ["null:main:kim"]  # kept e-mail
    assert convs
    await db.close()


async def test_linking_search_adds_the_record_and_survives_its_outage(
    r: redis.Redis, db: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    desk, _ = await _archived_desk(r, database_url)
    await desk.conversation("new question", thread="n", user="kimchi")  # in Redis, matches "kim" too
    await r.hset(keys.contact("null:main:kimchi"), "email", "kc@example.com")  # type: ignore[misc]
    amy = Principal("amy", Role.AGENT, "Amy Agent", ("support",))
    found = await linking.search(desk.svc, amy, "kim", exclude=[])
    assert [c.id for c in found] == ["null:main:kimchi", "null:main:kim"]  # Redis first, then the record
    assert found[1].display_name == "Min-jun Kim"
    assert [c.id for c in await linking.search(desk.svc, amy, "kim", exclude=["null:main:kimchi"])] == ["null:main:kim"]
    # A contact in both: shown once, from Redis (the fresher copy).
    await r.hset(
        keys.contact("null:main:kim"),
        mapping={
            "id": "null:main:kim",
            "platform": "null",
            "account": "main",
            "user_id": "kim",
            "handle": "@kim",
            "display_name": "Kim Renamed",
        },
    )  # type: ignore[misc]
    both = await linking.search(desk.svc, amy, "kim", exclude=[])
    assert [(c.id, c.display_name) for c in both] == [("null:main:kimchi", "KIMCHI"), ("null:main:kim", "Kim Renamed")]
    # The record down: the Redis matches, and a warning.
    await desk.svc.record.close()
    desk.svc.record.engine = Database("postgresql://nobody@127.0.0.1:1/none").engine
    with caplog.at_level(logging.WARNING):
        assert [c.id for c in await linking.search(desk.svc, amy, "kim", exclude=[])] == ["null:main:kimchi"]
    assert any(re.search(r"contact search: the record is unavailable", m) for m in caplog.messages)


async def test_an_agent_links_an_archived_contact_through_the_api(
    r: redis.Redis, db: Database, database_url: str
) -> None:
    desk, convs = await _archived_desk(r, database_url)
    fresh = await desk.conversation("new question", thread="n", user="kimchi")
    c = desk.client()
    amy = await desk.token("amy")
    linked = await c.post("/api/v1/contacts/null:main:kimchi/links", json={"other": "null:main:kim"}, headers=amy)
    assert linked.status_code == 200, linked.text
    body = linked.json()
    assert [x["id"] for x in body["linked"]] == ["null:main:kim"]
    assert body["linked"][0]["display_name"] == "Min-jun Kim"  # from the record
    assert {s["conversation"]["id"] for s in body["conversations"]} == {fresh, convs["kim"]}
    detail = (await c.get(f"/api/v1/conversations/{fresh}", headers=amy)).json()
    assert [x["id"] for x in detail["linked_contacts"]] == ["null:main:kim"]
    bob = await desk.token("bob")  # team vip: kim's conversations are not his to see
    refused = await c.post("/api/v1/contacts/null:main:whale/links", json={"other": "null:main:kim"}, headers=bob)
    assert refused.status_code == 404
    await desk.svc.record.close()


def test_the_migration_gives_the_contacts_already_archived_their_terms(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    config = alembic_config(url)
    command.upgrade(config, "0005")  # a record from before the terms
    engine = create_engine(f"sqlite:///{tmp_path}/old.db")
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [
                {
                    "id": "x:main:1",
                    "platform": "x",
                    "account": "main",
                    "user_id": "1",
                    "handle": "@Ana",
                    "display_name": "Ana Lima",
                },
                {
                    "id": "x:main:2",
                    "platform": "x",
                    "account": "main",
                    "user_id": "2",
                    "handle": "@bo",
                    "display_name": "",
                },
            ],
        )
    migrate(url)
    with engine.connect() as conn:
        held = sorted(conn.execute(select(contact_terms.c.term, contact_terms.c.contact_id)).all())
        # the lookup is a range of the primary key, not a scan
        plan = " ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT term, contact_id FROM contact_terms WHERE term >= 'li' AND term < 'lj' "
                "ORDER BY term, contact_id LIMIT 40"
            )
        )
    engine.dispose()
    assert held == [
        ("1", "x:main:1"),
        ("2", "x:main:2"),
        ("ana", "x:main:1"),
        ("ana lima", "x:main:1"),
        ("bo", "x:main:2"),
        ("lima", "x:main:1"),
    ]
    assert re.search(
        r"SEARCH contact_terms USING (COVERING )?INDEX sqlite_autoindex_contact_terms_1 \(term>\? AND term<\?\)", plan
    ), plan
