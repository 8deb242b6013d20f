"""The demo's canned responses: four languages each, seeded once, an agent's edits kept."""

from __future__ import annotations

import redis.asyncio as redis

from helpline.console.canned import CannedStore, render
from helpline.demo_canned import DEMO_CANNED, seed_canned


async def test_seeded_once_in_four_languages_and_edits_survive_a_restart(r: redis.Redis) -> None:
    assert all(set(c.texts) == {"en", "ko", "zh", "ja"} for c in DEMO_CANNED)
    assert await seed_canned(r) == 3
    store = CannedStore(r)
    assert [c.title for c in await store.list()] == ["Greeting", "Phishing: secure the account", "Withdrawal delayed"]
    greeting = await store.get("demo-greeting")
    assert greeting is not None
    _, text = render(greeting, "ko", {"contact.name": "김민지", "agent.name": "Mina"})
    assert text.startswith("김민지님, 안녕하세요. 고객지원팀 Mina입니다.")
    await store.delete("demo-phishing")  # what an agent did in the demo
    assert await seed_canned(r) == 0  # the demo started again
    assert await store.get("demo-phishing") is None
