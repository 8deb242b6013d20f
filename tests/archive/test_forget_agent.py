"""A removed user is nobody's last agent, in Redis and in the record (through the change stream),
including the customers whose Redis copy expired after their conversations were evicted."""

from datetime import UTC, datetime

import redis.asyncio as redis
from sqlalchemy import select

from helpline.archive.database import Database
from helpline.archive.reader import AgentMemory
from helpline.archive.schema import contacts
from helpline.archive.search import Access, Query, search
from helpline.console import assigning
from helpline.console.roles import Principal, Role
from helpline.routing import keys
from helpline.routing.store import Effects, contact_id_of
from tests.archive.helpers import Desk
from tests.factories import message, services

SAM = Principal(username="sam", role=Role.SUPERVISOR, name="Sam", teams=("support",))


async def last_agents(db: Database) -> dict[str, str | None]:
    async with db.engine.connect() as conn:
        return {
            row.id.rsplit(":", 1)[-1]: row.last_agent
            for row in await conn.execute(select(contacts.c.id, contacts.c.last_agent))
        }


async def test_a_removed_agent_is_forgotten_by_every_contact_in_redis_and_the_record(
    r: redis.Redis, db: Database, database_url: str
) -> None:
    desk = Desk(r, db)
    await desk.ingest([message("hello", thread=user, user=user) for user in ("kim", "lee", "park")])
    people = {user: contact_id_of("null", "main", user) for user in ("kim", "lee", "park")}
    for user, agent in (("kim", "ana"), ("lee", "ana"), ("park", "bea")):
        await desk.parts.store.remember_agent(people[user], agent)
    threads = {user: await desk.parts.store.find_thread("null", "main", user) for user in people}
    await desk.parts.store.commit(
        [Effects(cid).set(assignee="ana" if user == "lee" else None).touch() for user, cid in threads.items() if cid],
        datetime.now(UTC),
    )
    await desk.archive()
    assert await last_agents(db) == {"kim": "ana", "lee": "ana", "park": "bea"}
    ana = Access(username="ana")
    assert len((await search(db, ana, Query())).hits) == 1
    # lee's conversation was evicted and the Redis copy of lee expired: only the record has them
    await r.delete(keys.contact(people["lee"]), keys.conversation(str(threads["lee"])))

    svc = services(desk.parts)
    await assigning.withdraw_agent(svc, SAM, "ana", "ana was deleted")
    await svc.record.close()
    assert await r.hget(keys.contact(people["kim"]), "last_agent") is None  # type: ignore[misc]
    assert await r.hget(keys.contact(people["park"]), "last_agent") == b"bea"  # type: ignore[misc]
    await desk.archive()
    assert await last_agents(db) == {"kim": None, "lee": None, "park": "bea"}
    assert (await search(db, ana, Query())).hits == []  # a new "ana" sees nothing of the old one's
    memory = AgentMemory(database_url)
    try:
        assert await memory(people["lee"]) is None  # a returning customer is not routed to a new "ana"
        assert await memory(people["park"]) == "bea"
    finally:
        await memory.close()
