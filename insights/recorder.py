"""The recorder: counts what happened to conversations into the pre-aggregated cells.

Per conversation it keeps a cursor (events counted, last message score counted) and the fold's
state in `keys.insights_state`. `process()` reads what is past the cursor, folds it, and commits
increments + new cursor + state in one Lua call that first checks the cursor did not move.

Idempotent: processing the same conversation again (a redelivered notification, two recorders,
a crash after the commit) counts nothing twice, because the cursor and the counters change in
the same script. A crash before the commit loses nothing: the cursor did not move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text
from helpline.routing.hours import BusinessHours
from helpline.routing.models import ConversationEvent
from helpline.routing.pipelined import execute

from . import scripts
from .buckets import day_str
from .cube import Increment
from .fold import Context, State, event_item, fold, merge, message_item
from .settings import InsightsSettings, SlaPolicy
from .sla import next_check_ms

BATCH = 200
MAX_ATTEMPTS = 5


def flatten(increments: Sequence[Increment]) -> list[str | int]:
    out: list[str | int] = []
    for i in increments:
        out += [i.day, i.platform, i.team, i.language, i.dim, i.field, i.delta]
    return out


@dataclass
class _Unit:
    cid: str
    expected: tuple[str, str]
    cursor: tuple[str, str]
    state: State
    due: int | None
    increments: list[Increment]


class InsightsRecorder:
    def __init__(
        self,
        client: redis.Redis,
        settings: InsightsSettings | None = None,
        policies: Sequence[SlaPolicy] = (),
        hours: Mapping[str, BusinessHours] | None = None,
    ) -> None:
        self.client = client
        self.settings = settings or InsightsSettings()
        self.zone = ZoneInfo(self.settings.timezone)
        self.policies = tuple(policies)
        self.hours = dict(hours or {})
        self._commit = client.register_script(scripts.COMMIT)
        self._scores = client.register_script(scripts.MESSAGE_SCORES)
        self.counted = 0  # conversations with new items committed (for metrics and tests)
        self._indexed = False

    async def _index_from_tomorrow(self) -> None:
        """The reader trusts the index of days and weeks (`keys.insights_units()`) from the day
        after the first recorder of this version started: earlier days may hold cells written
        before the index existed, which it reads one by one. Set once (HSETNX)."""
        tomorrow = datetime.now(self.zone).date() + timedelta(days=1)
        await self.client.hsetnx(keys.insights_units(), "from", day_str(tomorrow))  # type: ignore[misc]
        self._indexed = True

    async def process(self, conversation_ids: Sequence[str]) -> int:
        """Count the new events and messages of these conversations. Idempotent (see module).
        Returns how many conversations had something new."""
        if not self._indexed:
            await self._index_from_tomorrow()
        done = 0
        ids = list(dict.fromkeys(conversation_ids))
        for start in range(0, len(ids), BATCH):
            pending = ids[start : start + BATCH]
            for _ in range(MAX_ATTEMPTS):
                if not pending:
                    break
                units = await self._prepare(pending)
                lost = await self._write(units)
                done += len(units) - len(lost)
                pending = lost  # another recorder moved these cursors: read again
        self.counted += done
        return done

    async def _prepare(self, cids: Sequence[str]) -> list[_Unit]:
        async with self.client.pipeline(transaction=False) as pipe:
            for cid in cids:
                pipe.hmget(keys.insights_state(cid), ["ev", "msg", "st"])
                pipe.hmget(keys.conversation(cid), ["platform", "account", "language"])
            raw = await pipe.execute()
        heads = [(raw[2 * i], raw[2 * i + 1]) for i in range(len(cids))]
        async with self.client.pipeline(transaction=False) as pipe:
            for cid, (state, _) in zip(cids, heads, strict=True):
                pipe.lrange(keys.events(cid), int(state[0] or 0), -1)
                await self._scores(keys=[keys.messages(cid)], args=[as_text(state[1] or b"0")], client=pipe)
            news = await execute(self.client, pipe)
        units = []
        for i, cid in enumerate(cids):
            (ev, msg, st), conv = heads[i]
            events, scores = news[2 * i], news[2 * i + 1]
            if conv[0] is None or (not events and not scores):
                continue  # unknown conversation, or nothing new
            unit = self._fold(cid, (as_text(ev or b"0"), as_text(msg or b"0")), st, conv, events, scores)
            units.append(unit)
        return units

    def _fold(
        self,
        cid: str,
        expected: tuple[str, str],
        raw_state: bytes | None,
        conv: list[Any],
        events: list[bytes],
        scores: list[bytes],
    ) -> _Unit:
        state = State.loads(raw_state)
        ctx = Context(
            platform=as_text(conv[0]),
            account=as_text(conv[1] or b"-"),
            language=as_text(conv[2] or b""),
            zone=self.zone,
            policies=self.policies,
            hours=self.hours,
        )
        items = merge(
            [message_item(float(s)) for s in scores],
            [event_item(ConversationEvent.model_validate_json(e)) for e in events],
        )
        increments = fold(state, items, ctx)
        cursor = (str(int(expected[0]) + len(events)), as_text(scores[-1]) if scores else expected[1])
        due = next_check_ms(state, self.policies, self.hours)
        return _Unit(cid, expected, cursor, state, due, increments)

    async def _write(self, units: Sequence[_Unit]) -> list[str]:
        if not units:
            return []
        args: list[str | int] = [len(units)]
        for u in units:
            args += [
                u.cid,
                *u.expected,
                *u.cursor,
                u.state.dumps(),
                "" if u.due is None else u.due,
                len(u.increments),
                *flatten(u.increments),
            ]
        results = await self._commit(keys=[keys.insights_prefix()], args=args)
        return [u.cid for u, ok in zip(units, results, strict=True) if not int(ok)]

    async def state(self, conversation_id: str) -> tuple[int, State]:
        """The events cursor and fold state of one conversation (for the SLA engine)."""
        ev, st = await self.client.hmget(keys.insights_state(conversation_id), ["ev", "st"])  # type: ignore[misc]
        return int(ev or 0), State.loads(st)
