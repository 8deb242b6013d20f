"""Reading the pre-aggregated cells: one pipelined round trip per report, O(days x dims) keys."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text

from .buckets import day_str
from .cube import GAUGES, parse_scope, split_field

Cells = dict[str, int]


class CubeReader:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    async def helpful_votes(self, days: Sequence[date]) -> tuple[int, int]:
        """The help center's "Was this helpful?" answers over the days: (yes, no). Written by
        `portal.feedback` as "yes|<key>:<lang>" / "no|<key>:<lang>" fields of one hash a day."""
        async with self.client.pipeline(transaction=False) as pipe:
            for d in days:
                pipe.hgetall(keys.portal_feedback(day_str(d)))
            raw = await pipe.execute()
        yes = no = 0
        for h in raw:
            for k, v in h.items():
                answer = as_text(k).partition("|")[0]
                yes += int(v) if answer == "yes" else 0
                no += int(v) if answer == "no" else 0
        return yes, no

    async def helpful_by_article(self, days: Sequence[date], language: str | None = None
                                 ) -> dict[str, tuple[int, int]]:
        """The help center's votes per article key over the days: key -> (yes, no); with
        `language`, only votes on that language's page."""
        async with self.client.pipeline(transaction=False) as pipe:
            for d in days:
                pipe.hgetall(keys.portal_feedback(day_str(d)))
            raw = await pipe.execute()
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for h in raw:
            for k, v in h.items():
                answer, _, page = as_text(k).partition("|")
                key, _, lang = page.rpartition(":")
                if key and (language is None or lang == language) and answer in ("yes", "no"):
                    out[key][0 if answer == "yes" else 1] += int(v)
        return {k: (yes, no) for k, (yes, no) in out.items()}

    async def counters(self, days: Sequence[date], scope: str, dims: Sequence[str]) -> dict[str, list[Cells]]:
        """dim -> per day {"metric|value": count}."""
        async with self.client.pipeline(transaction=False) as pipe:
            for dim in dims:
                for d in days:
                    pipe.hgetall(keys.insights_counters(day_str(d), scope, dim))
            raw = await pipe.execute()
        out: dict[str, list[Cells]] = {}
        for i, dim in enumerate(dims):
            out[dim] = [{as_text(k): int(v) for k, v in h.items()} for h in raw[i * len(days):(i + 1) * len(days)]]
        return out

    async def histograms(self, days: Sequence[date], scope: str) -> list[dict[str, dict[int, int]]]:
        """Per day: metric -> bucket -> count."""
        async with self.client.pipeline(transaction=False) as pipe:
            for d in days:
                pipe.hgetall(keys.insights_histograms(day_str(d), scope))
            raw = await pipe.execute()
        out = []
        for h in raw:
            day: dict[str, dict[int, int]] = defaultdict(dict)
            for k, v in h.items():
                metric, bucket = split_field(as_text(k))
                day[metric][int(bucket)] = int(v)
            out.append(dict(day))
        return out

    async def scopes(self, days: Sequence[date]) -> set[tuple[str, str, str]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for d in days:
                pipe.smembers(keys.insights_scopes(day_str(d)))
            raw = await pipe.execute()
        return {parse_scope(as_text(s)) for members in raw for s in members}

    async def counters_by_scope(self, days: Sequence[date], scopes: Sequence[str], dim: str = "all"
                                ) -> dict[str, Cells]:
        """scope -> summed {"metric|value": count} over the days (for breakdowns by platform...)."""
        async with self.client.pipeline(transaction=False) as pipe:
            for s in scopes:
                for d in days:
                    pipe.hgetall(keys.insights_counters(day_str(d), s, dim))
            raw = await pipe.execute()
        out: dict[str, Cells] = {}
        for i, s in enumerate(scopes):
            out[s] = total(raw[i * len(days):(i + 1) * len(days)])
        return out

    async def backlog(self, scope: str) -> dict[str, dict[str, dict[str, int]]]:
        """gauge -> dim -> value -> count (live)."""
        raw = await self.client.hgetall(keys.insights_backlog(scope))  # type: ignore[misc]
        out: dict[str, dict[str, dict[str, int]]] = {g: defaultdict(dict) for g in GAUGES}
        for k, v in raw.items():
            dim, gauge, value = as_text(k).split("|", 2)
            if gauge in out and int(v):
                out[gauge][dim][value] = int(v)
        return out


def total(days: Sequence[dict[bytes, bytes]] | Sequence[Cells]) -> Cells:
    out: Cells = defaultdict(int)
    for h in days:
        for k, v in h.items():
            out[as_text(k)] += int(v)
    return dict(out)


def metric_values(cells: Cells, metric: str) -> dict[str, int]:
    """{"value": n} of one metric in a dimension's cells."""
    out: dict[str, int] = {}
    for name, n in cells.items():
        m, value = split_field(name)
        if m == metric:
            out[value] = out.get(value, 0) + n
    return out
