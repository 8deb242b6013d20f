"""The shape of the pre-aggregated data (pure): increments, scopes and field names.

An increment adds `delta` to one field of one (day, scope, dimension) cell:

- the *scope* is the conversation's filterable attributes `platform|team|language`. Each
  increment is written to all 8 combinations of those values and the wildcard `*`, so a report
  with any mix of filters reads one key per day;
- the *dimension* is a breakdown inside a scope: `all`, `hour` (0-23 in the reporting zone),
  `agent`, `label`, `account`; the field is `<metric>|<value>`;
- latency histograms live in their own hash per (day, scope), dimension `#`, field
  `<metric>|<bucket>`;
- backlog gauges have no day (`day == ""`): they are live counts, moved up and down.

Each day's cells are also summed into its week's rollup (`week_of`: "W" + the Monday's
"YYYYMMDD", weeks of the reporting zone's days), in the same script call, so a report over a long
range reads whole weeks plus the days at its edges (`reader.cover`). In a week's `hour` cells the
field carries the weekday: "<metric>|<hour>|<weekday 0=Mon>". `keys.insights_units()` lists the
days and weeks that have cells, so the reader skips the empty ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from itertools import product

from helpline.routing import keys

from .buckets import day_str, parse_day

WILDCARD = "*"
NONE = "-"  # a missing team or language
HIST = "#"
DIMS = ("all", "hour", "agent", "label", "account")
BACKLOG_DIMS = ("all", "agent", "label", "account")
LATENCIES = ("frt", "frt_bh", "nrt", "nrt_bh", "res", "res_bh")
GAUGES = ("open", "unassigned", "pending")


@dataclass(frozen=True, slots=True)
class Increment:
    day: str  # "YYYYMMDD" in the reporting zone; "" for a backlog gauge
    platform: str
    team: str
    language: str
    dim: str
    field: str
    delta: int


def scope(platform: str, team: str, language: str) -> str:
    return f"{platform}|{team}|{language}"


def parse_scope(value: str) -> tuple[str, str, str]:
    platform, team, language = value.split("|")
    return platform, team, language


def scopes_of(platform: str, team: str, language: str) -> list[str]:
    """The 8 scopes an increment is counted in (every mix of value and wildcard)."""
    return [scope(p, t, lang) for p, t, lang in product((platform, WILDCARD), (team, WILDCARD), (language, WILDCARD))]


def filter_scope(platform: str | None, team: str | None, language: str | None) -> str:
    """The one scope that answers a report with these filters (None: no filter)."""
    return scope(platform or WILDCARD, team or WILDCARD, language or WILDCARD)


def field(metric: str, value: str = "") -> str:
    return f"{metric}|{value}"


def split_field(name: str) -> tuple[str, str]:
    metric, _, value = name.partition("|")
    return metric, value


def redis_key(day: str, scope_: str, dim: str) -> str:
    """Where an increment lands (mirrors the Lua in `recorder.py`)."""
    if day == "":
        return keys.insights_backlog(scope_)
    if dim == HIST:
        return keys.insights_histograms(day, scope_)
    return keys.insights_counters(day, scope_, dim)


WEEK = keys.INSIGHTS_WEEK


@cache
def week_of(day: str) -> tuple[str, int]:
    """The week rollup a day ("YYYYMMDD") is summed into, and the day's weekday (0 = Monday)."""
    d = parse_day(day)
    return WEEK + day_str(d - timedelta(days=d.weekday())), d.weekday()


def week_field(dim: str, field_: str, weekday: int) -> str:
    """A field of a week's rollup: the day's field, with the weekday in the `hour` dimension."""
    return f"{field_}|{weekday}" if dim == "hour" else field_


def backlog_field(dim: str, field_: str) -> str:
    """A backlog hash field: `<dim>|<gauge>|<value>` (one hash holds every dimension)."""
    return f"{dim}|{field_}"


@dataclass
class Cells:
    """Redis hashes and scope sets, as the recorder's script would leave them."""

    hashes: dict[str, dict[str, int]]
    sets: dict[str, set[str]]


def fan_out(increments: Iterable[Increment]) -> Cells:
    """Apply increments in memory exactly as the recorder's script does in Redis; used to build
    benchmark data directly and to check the recorder against it."""
    hashes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sets: dict[str, set[str]] = defaultdict(set)
    for inc in increments:
        for s in scopes_of(inc.platform, inc.team, inc.language):
            if inc.day == "":
                hashes[keys.insights_backlog(s)][backlog_field(inc.dim, inc.field)] += inc.delta
                sets[keys.insights_backlog_scopes()].add(s)
            else:
                week, weekday = week_of(inc.day)
                hashes[redis_key(inc.day, s, inc.dim)][inc.field] += inc.delta
                hashes[redis_key(week, s, inc.dim)][week_field(inc.dim, inc.field, weekday)] += inc.delta
                sets[keys.insights_scopes(inc.day)].add(s)
                sets[keys.insights_scopes(week)].add(s)
                hashes[keys.insights_units()][inc.day] = 1
                hashes[keys.insights_units()][week] = 1
    return Cells(hashes, sets)
