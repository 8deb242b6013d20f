"""User records change atomically: edits of different fields at the same moment all stay, in the
record and in the routing roster's copy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from helpline.console.users import Preferences, UserError
from helpline.routing import keys
from helpline.routing.models import Presence

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


async def _after(seconds: float, call: Awaitable[object]) -> None:
    """`call` a moment later, so that over the rounds it lands before, inside and after the other
    operation's round trips."""
    await asyncio.sleep(seconds)
    await call


async def test_a_presence_set_while_the_roster_copy_is_written_stays(desk: Desk) -> None:
    """The console writes a user's edit into the roster; an agent going online or away at that
    moment keeps the presence they chose."""
    users, assignments = desk.svc.users, desk.parts.assignments
    for i in range(ROUNDS):
        chosen = (Presence.ONLINE, Presence.AWAY)[i % 2]
        await asyncio.gather(
            users.update("amy", capacity=1 + i % 5),
            _after((i % 20) * 0.0002, assignments.set_presence("amy", chosen)),
        )
        agent = {a.agent.id: a.agent for a in await assignments.roster()}["amy"]
        assert agent.presence is chosen, i


async def test_a_presence_set_racing_a_removal_leaves_no_half_record(desk: Desk) -> None:
    assignments = desk.parts.assignments
    amy = {a.agent.id: a.agent for a in await assignments.roster()}["amy"]
    for i in range(50):
        results = await asyncio.gather(
            assignments.set_presence("amy", Presence.ONLINE),
            _after((i % 10) * 0.0001, assignments.remove_agent("amy")),
            return_exceptions=True,
        )
        if isinstance(results[0], BaseException):
            assert isinstance(results[0], KeyError), results[0]
        assert not await desk.parts.client.exists(keys.agent("amy")), i  # no hash holding only a presence
        assert "amy" not in {a.agent.id for a in await assignments.roster()}
        await assignments.upsert_agent(amy)
