"""Reading the pre-aggregated cells: one pipelined round trip per report, O(days x dims) keys."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text

from .buckets import day_str
from .cube import GAUGES, parse_scope, split_field

Cells = dict[str, int]


class CubeReader:
    """Reads cells of day keys. `page()` gives a reader for one page of reports: each key is read
    and decoded once, however many of the page's reports need it (they overlap: most read the
    `all` cells, two the histograms, two the labels, three the scope sets)."""

    def __init__(self, client: redis.Redis, memo: dict[str, asyncio.Future[Any]] | None = None) -> None:
        self.client = client
        self._memo = memo
        self._sums: dict[tuple[str, str, tuple[date, ...]], Cells] = {}  # a page's sums over days

    def page(self) -> CubeReader:
        return self if self._memo is not None else CubeReader(self.client, {})

    async def _read(self, names: Sequence[str], decode: Callable[[Any], Any], members: bool = False) -> list[Any]:
        """Each key's hash (a set with `members`), decoded, in one pipelined round trip."""
        memo = self._memo
        if memo is None:
            return [decode(raw) for raw in await self._fetch(names, members)]
        missing = [n for n in dict.fromkeys(names) if n not in memo]
        futures = [memo.get(n) for n in names]  # None: read below
        if missing:
            loop = asyncio.get_running_loop()
            waiting = {n: loop.create_future() for n in missing}
            memo.update(waiting)
            try:
                raw = await self._fetch(missing, members)
            except BaseException as exc:
                for n, f in waiting.items():  # a report sharing the key gets the same failure
                    del memo[n]
                    if isinstance(exc, asyncio.CancelledError):
                        f.cancel()
                    else:
                        f.set_exception(exc)
                        f.exception()  # retrieved: nobody else may be waiting
                raise
            for f, r in zip(waiting.values(), raw, strict=True):
                f.set_result(decode(r))
            futures = [f or waiting[n] for f, n in zip(futures, names, strict=True)]
        return [f.result() if f.done() else await f for f in futures if f is not None]

    async def _fetch(self, names: Sequence[str], members: bool) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for n in names:
                if members:
                    pipe.smembers(n)
                else:
                    pipe.hgetall(n)
            return list(await pipe.execute())

    async def helpful_votes(self, days: Sequence[date]) -> tuple[int, int]:
        """The help center's "Was this helpful?" answers over the days: (yes, no). Written by
        `portal.feedback` as "yes|<key>:<lang>" / "no|<key>:<lang>" fields of one hash a day."""
        yes = no = 0
        for h in await self._read([keys.portal_feedback(day_str(d)) for d in days], _cells):
            for k, v in h.items():
                answer = k.partition("|")[0]
                yes += v if answer == "yes" else 0
                no += v if answer == "no" else 0
        return yes, no

    async def helpful_by_article(self, days: Sequence[date], language: str | None = None) -> dict[str, tuple[int, int]]:
        """The help center's votes per article key over the days: key -> (yes, no); with
        `language`, only votes on that language's page."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for h in await self._read([keys.portal_feedback(day_str(d)) for d in days], _cells):
            for k, v in h.items():
                answer, _, page = k.partition("|")
                key, _, lang = page.rpartition(":")
                if key and (language is None or lang == language) and answer in ("yes", "no"):
                    out[key][0 if answer == "yes" else 1] += v
        return {k: (yes, no) for k, (yes, no) in out.items()}

    async def counters(self, days: Sequence[date], scope: str, dims: Sequence[str]) -> dict[str, list[Cells]]:
        """dim -> per day {"metric|value": count}."""
        raw = await self._read([keys.insights_counters(day_str(d), scope, dim) for dim in dims for d in days], _cells)
        return {dim: raw[i * len(days) : (i + 1) * len(days)] for i, dim in enumerate(dims)}

    async def histograms(self, days: Sequence[date], scope: str) -> list[dict[str, dict[int, int]]]:
        """Per day: metric -> bucket -> count."""
        return await self._read([keys.insights_histograms(day_str(d), scope) for d in days], _histogram)

    async def scopes(self, days: Sequence[date]) -> set[tuple[str, str, str]]:
        raw = await self._read([keys.insights_scopes(day_str(d)) for d in days], _scopes, members=True)
        return set().union(*raw)

    async def counters_by_scope(
        self, days: Sequence[date], scopes: Sequence[str], dim: str = "all"
    ) -> dict[str, Cells]:
        """scope -> summed {"metric|value": count} over the days (for breakdowns by platform...)."""
        raw = await self._read([keys.insights_counters(day_str(d), s, dim) for s in scopes for d in days], _cells)
        return {s: self._sum(s, dim, days, raw[i * len(days) : (i + 1) * len(days)]) for i, s in enumerate(scopes)}

    async def summed(self, days: Sequence[date], scope: str, dim: str) -> Cells:
        """{"metric|value": count} of one scope and dimension summed over the days (read-only:
        a page's reports share it)."""
        return self._sum(scope, dim, days, (await self.counters(days, scope, [dim]))[dim])

    def _sum(self, scope: str, dim: str, days: Sequence[date], per_day: Sequence[Cells]) -> Cells:
        if self._memo is None:
            return total(per_day)
        name = (scope, dim, tuple(days))
        found = self._sums.get(name)
        if found is None:
            found = self._sums[name] = total(per_day)
        return found

    async def backlog(self, scope: str) -> dict[str, dict[str, dict[str, int]]]:
        """gauge -> dim -> value -> count (live)."""
        raw = await self.client.hgetall(keys.insights_backlog(scope))  # type: ignore[misc]
        out: dict[str, dict[str, dict[str, int]]] = {g: defaultdict(dict) for g in GAUGES}
        for k, v in raw.items():
            dim, gauge, value = as_text(k).split("|", 2)
            if gauge in out and int(v):
                out[gauge][dim][value] = int(v)
        return out


def _cells(raw: dict[bytes, bytes]) -> Cells:
    return dict(zip(map(bytes.decode, raw), map(int, raw.values()), strict=True))


def _histogram(raw: dict[bytes, bytes]) -> dict[str, dict[int, int]]:
    day: dict[str, dict[int, int]] = defaultdict(dict)
    for k, v in raw.items():
        metric, bucket = split_field(k.decode())
        day[metric][int(bucket)] = int(v)
    return dict(day)


def _scopes(raw: set[bytes]) -> set[tuple[str, str, str]]:
    return {parse_scope(s.decode()) for s in raw}


def total(days: Sequence[Cells]) -> Cells:
    out: Cells = {}
    for h in days:
        if not out:
            out.update(h)
            continue
        get = out.get
        for k, v in h.items():
            out[k] = get(k, 0) + v
    return out


def metric_values(cells: Cells, metric: str) -> dict[str, int]:
    """{"value": n} of one metric in a dimension's cells."""
    out: dict[str, int] = {}
    for name, n in cells.items():
        m, value = split_field(name)
        if m == metric:
            out[value] = out.get(value, 0) + n
    return out
