"""Reading the pre-aggregated cells: one pipelined round trip per read.

A sum over a range reads whole weeks' rollups plus the days at the edges (`cover`); a table with a
row per day reads only the days that have cells. Both skip what `keys.insights_units()` says is
empty. Before its "from" day (cells written before the index existed) every day is read.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any

import redis.asyncio as redis

from helpline.routing import keys
from helpline.routing.decode import as_text

from .buckets import day_str, parse_day
from .cube import GAUGES, WEEK, parse_scope, split_field

Cells = dict[str, int]
_SIX_DAYS = timedelta(days=6)


@dataclass(frozen=True, slots=True)
class Units:
    """What `keys.insights_units()` says: since `first` ("YYYYMMDD"; None: no index yet) every
    day with cells is in `days`, and `weeks` are the week rollups that are whole."""

    first: str | None
    days: frozenset[str]
    weeks: frozenset[str]

    def has(self, day: str) -> bool:
        return self.first is None or day < self.first or day in self.days

    def cover(self, days: Sequence[date]) -> list[str]:
        """Day and week names whose cells sum to the cells of `days` (ascending, no gaps):
        whole weeks by their rollup, other days one by one, days without cells left out."""
        out: list[str] = []
        i, n = 0, len(days)
        while i < n:
            d = days[i]
            name = day_str(d)
            week = WEEK + name
            if (
                self.first is not None
                and i + 6 < n
                and d.weekday() == 0
                and days[i + 6] - d == _SIX_DAYS
                and name >= self.first
                and week in self.weeks
            ):
                out.append(week)
                i += 7
                continue
            if self.has(name):
                out.append(name)
            i += 1
        return out


def _units(raw: dict[bytes, bytes]) -> Units:
    first = raw.get(b"from")
    days, weeks = set(), set()
    for k, v in raw.items():
        name = k.decode()
        if name.startswith(WEEK):
            if v == b"1":
                weeks.add(name)
        elif name != "from":
            days.add(name)
    return Units(None if first is None else first.decode(), frozenset(days), frozenset(weeks))


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

    async def units(self) -> Units:
        units: Units = (await self._read([keys.insights_units()], _units))[0]
        return units

    async def _per_day(
        self, days: Sequence[date], key: Callable[[str], str], decode: Callable[[Any], Any]
    ) -> list[Any]:
        """Each day's decoded hash (empty for a day without cells, not read)."""
        units = await self.units()
        names = [day_str(d) for d in days]
        present = [n for n in names if units.has(n)]
        found = dict(zip(present, await self._read([key(n) for n in present], decode), strict=True))
        empty = decode({})
        return [found.get(n, empty) for n in names]

    async def counters(self, days: Sequence[date], scope: str, dims: Sequence[str]) -> dict[str, list[Cells]]:
        """dim -> per day {"metric|value": count}."""
        out: dict[str, list[Cells]] = {}
        for dim in dims:
            out[dim] = await self._per_day(days, partial(_counters_key, scope=scope, dim=dim), _cells)
        return out

    async def histograms(self, days: Sequence[date], scope: str) -> list[dict[str, dict[int, int]]]:
        """Per day: metric -> bucket -> count."""
        return await self._per_day(days, lambda day: keys.insights_histograms(day, scope), _histogram)

    async def summed_histograms(self, days: Sequence[date], scope: str) -> dict[str, dict[int, int]]:
        """metric -> bucket -> count over the days (weeks' rollups and edge days)."""
        cover = (await self.units()).cover(days)
        out: dict[str, dict[int, int]] = {}
        for unit in await self._read([keys.insights_histograms(u, scope) for u in cover], _histogram):
            for metric, buckets in unit.items():
                into = out.setdefault(metric, {})
                for b, n in buckets.items():
                    into[b] = into.get(b, 0) + n
        return out

    async def hours(self, days: Sequence[date], scope: str) -> list[tuple[int | None, Cells]]:
        """The `hour` cells over the days: (weekday, cells) of each day read alone and
        (None, cells) of each week's rollup, whose fields carry the weekday ("metric|hour|weekday")."""
        cover = (await self.units()).cover(days)
        raw = await self._read([keys.insights_counters(u, scope, "hour") for u in cover], _cells)
        return [
            (None if u.startswith(WEEK) else parse_day(u).weekday(), cells) for u, cells in zip(cover, raw, strict=True)
        ]

    async def scopes(self, days: Sequence[date]) -> set[tuple[str, str, str]]:
        cover = (await self.units()).cover(days)
        raw = await self._read([keys.insights_scopes(u) for u in cover], _scopes, members=True)
        return set().union(*raw)

    async def counters_by_scope(
        self, days: Sequence[date], scopes: Sequence[str], dim: str = "all"
    ) -> dict[str, Cells]:
        """scope -> summed {"metric|value": count} over the days (for breakdowns by platform...)."""
        cover = (await self.units()).cover(days)
        raw = await self._read([keys.insights_counters(u, s, dim) for s in scopes for u in cover], _cells)
        return {s: self._sum(s, dim, days, raw[i * len(cover) : (i + 1) * len(cover)]) for i, s in enumerate(scopes)}

    async def summed(self, days: Sequence[date], scope: str, dim: str) -> Cells:
        """{"metric|value": count} of one scope and dimension summed over the days (read-only:
        a page's reports share it). Not for `hour`, whose weeks' fields differ (see `hours`)."""
        return (await self.counters_by_scope(days, [scope], dim))[scope]

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


def _counters_key(day: str, scope: str, dim: str) -> str:
    return keys.insights_counters(day, scope, dim)


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
