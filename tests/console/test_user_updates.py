"""User records change atomically: edits of different fields at the same moment all stay, in the
record and in the routing roster's copy."""

from __future__ import annotations

import asyncio

import pytest

from helpline.console.users import Preferences, UserError

from .helpers import Desk

ROUNDS = 200
ZONES = ("Europe/Berlin", "Asia/Seoul")


async def test_concurrent_edits_of_different_fields_lose_nothing(desk: Desk) -> None:
    users = desk.svc.users
    for i in range(ROUNDS):
        await asyncio.gather(
            users.update("amy", capacity=i),
            users.update("amy", name=f"Amy {i}"),
            users.prefer("amy", Preferences(zone=ZONES[i % 2])),
            users.update("amy", languages=("en", "ko", f"x{i % 7}")[: 2 + i % 2]),
        )
        amy = await users.get("amy")
        assert amy is not None
        assert (amy.capacity, amy.name, amy.preferences.zone) == (i, f"Amy {i}", ZONES[i % 2]), i
        assert amy.languages == ("en", "ko", f"x{i % 7}")[: 2 + i % 2], i
        agent = {a.agent.id: a.agent for a in await desk.parts.assignments.roster()}["amy"]
        assert (agent.capacity, agent.name, agent.languages) == (i, f"Amy {i}", amy.languages), i


async def test_an_edit_racing_a_delete_finds_no_user(desk: Desk) -> None:
    users = desk.svc.users
    results = await asyncio.gather(users.delete("amy"), users.update("amy", capacity=3), return_exceptions=True)
    assert results[0] is True
    assert await users.get("amy") is None  # the edit did not bring back half a record
    if isinstance(results[1], BaseException):
        assert isinstance(results[1], UserError)
    with pytest.raises(UserError, match="no user"):
        await users.update("amy", capacity=4)
