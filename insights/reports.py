"""Report queries: pydantic results computed from the cells of a date range (see `reader`).

Every report has `tables()` (name -> rows) so JSON, CSV, rich tables and the HTML page all show
the same figures.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel

from .buckets import days_between, percentile
from .cube import WILDCARD, filter_scope, scope
from .errors import BadRange, UnknownReport
from .fold import KB_PREFIX
from .reader import Cells, CubeReader, metric_values
from .settings import Target

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Rows = list[dict[str, Any]]
MAX_DAYS = 366


class Query(BaseModel):
    start: date
    end: date
    platform: str | None = None
    team: str | None = None
    language: str | None = None

    def model_post_init(self, _context: Any) -> None:
        if self.end < self.start:
            raise BadRange(f"end: {self.end} is before start {self.start}")
        if (self.end - self.start).days >= MAX_DAYS:
            raise BadRange(f"start..end: at most {MAX_DAYS} days")

    @property
    def days(self) -> list[date]:
        return days_between(self.start, self.end)

    @property
    def scope(self) -> str:
        return filter_scope(self.platform, self.team, self.language)

    def previous(self) -> Query:
        length = (self.end - self.start).days + 1
        return self.model_copy(
            update={"start": self.start - timedelta(days=length), "end": self.start - timedelta(days=1)}
        )


class Report(BaseModel, ABC):
    name: str
    query: Query

    @abstractmethod
    def tables(self) -> dict[str, Rows]:
        """Table name -> rows: what JSON, CSV, the CLI and the page show."""


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def _avg_seconds(total_ms: float, n: float) -> float | None:
    """Latency sums are kept in milliseconds (see fold), so an average is exact to the sample."""
    return round(total_ms / 1000 / n, 1) if n else None


def _avg(cells: Cells, metric: str) -> float | None:
    return _avg_seconds(cells.get(f"{metric}_ms|", 0), cells.get(f"{metric}_n|", 0))


_LATENCY_NAMES = {
    "frt": "First response (human)",
    "nrt": "Next response (human)",
    "res": "Resolution",
    "frt_bh": "First response (human), business hours",
    "res_bh": "Resolution, business hours",
    "bot_rt": "Bot answer",
}
_STATS = {"avg_s": "average (s)", "p50_s": "median (s)", "p90_s": "90th percentile (s)"}

# What each summary figure is called on the page and in the CSV (the key stays the JSON name).
FIGURE_LABELS: dict[str, str] = {
    "opened": "Conversations opened",
    "resolved": "Conversations resolved",
    "reopened": "Reopened",
    "deflected": "Resolved by a bot alone",
    "deflection_rate": "Deflection rate (of resolved)",
    "handoff_rate": "Bot handoff rate",
    "messages": "Customer messages",
    "messages_per_conversation": "Messages per conversation",
    "replies": "Replies by agents",
    "bot_replies": "Replies by bots and automations",
    "articles_helpful": "Help-center articles: “helpful” answers",
    "articles_not_helpful": "Help-center articles: “not helpful” answers",
    "articles_helpful_rate": "Help-center articles: helpful rate",
    **{f"{m}_{stat}": f"{name}: {what}" for m, name in _LATENCY_NAMES.items() for stat, what in _STATS.items()},
    "csat_avg": "Satisfaction average (1-5)",
    "csat_responses": "Satisfaction responses",
    "csat_response_rate": "Satisfaction response rate",
    "sla_compliance": "SLA compliance",
}


# --- summary ------------------------------------------------------------------------------------
class Summary(Report):
    figures: dict[str, float | int | None]

    def tables(self) -> dict[str, Rows]:
        return {
            "summary": [{"figure": k, "label": FIGURE_LABELS.get(k, k), "value": v} for k, v in self.figures.items()]
        }


async def summary(reader: CubeReader, q: Query) -> Summary:
    cells = await reader.summed(q.days, q.scope, "all")
    hist = await reader.summed_histograms(q.days, q.scope)

    def c(metric: str) -> int:
        return cells.get(f"{metric}|", 0)

    figures: dict[str, float | int | None] = {
        "opened": c("opened"),
        "resolved": c("resolved"),
        "reopened": c("reopened"),
        "deflected": c("deflected"),
        "deflection_rate": _rate(c("deflected"), c("resolved")),
        "handoff_rate": _rate(c("handoff"), c("bot_handled")),
        "messages": c("messages"),
        "messages_per_conversation": _rate(c("messages"), c("opened")),
        "replies": c("replies"),
        "bot_replies": c("bot_replies"),
    }
    yes, no = await reader.helpful_votes(q.days)  # the help center's votes, next to the bot's results
    figures.update(articles_helpful=yes, articles_not_helpful=no, articles_helpful_rate=_rate(yes, yes + no))
    for metric in _LATENCY_NAMES:
        figures[f"{metric}_avg_s"] = _avg(cells, metric)
        for p in (50, 90):
            v = percentile(hist.get(metric, {}), p)
            figures[f"{metric}_p{p}_s"] = None if v is None else round(v, 1)
    figures["csat_avg"] = _rate(c("csat_sum"), c("csat_n"))
    figures["csat_responses"] = c("csat_n")
    figures["csat_response_rate"] = _rate(c("csat_n"), c("resolved"))
    met = sum(c(f"sla_{t.value}_met") for t in Target)
    figures["sla_compliance"] = _rate(met, met + sum(c(f"sla_{t.value}_breached") for t in Target))
    return Summary(name="summary", query=q, figures=figures)


# --- heatmap ------------------------------------------------------------------------------------
class Heatmap(Report):
    metric: str
    cells: list[list[int]]  # [weekday 0=Mon][hour]

    def tables(self) -> dict[str, Rows]:
        return {
            "heatmap": [
                {"weekday": WEEKDAYS[w], **{f"{h:02d}": row[h] for h in range(24)}} for w, row in enumerate(self.cells)
            ]
        }


async def heatmap(reader: CubeReader, q: Query, metric: str = "opened") -> Heatmap:
    grid = [[0] * 24 for _ in range(7)]
    names = [f"{metric}|{h}" for h in range(24)]  # hours are counted as "0".."23" (fold)
    week_names = {f"{metric}|{h}|{w}": (w, h) for w in range(7) for h in range(24)}  # a week's rollup
    for weekday, cells in await reader.hours(q.days, q.scope):
        if weekday is None:
            for name, n in cells.items():
                at = week_names.get(name)
                if at is not None:
                    grid[at[0]][at[1]] += n
            continue
        row = grid[weekday]
        for h, name in enumerate(names):
            row[h] += cells.get(name, 0)
    return Heatmap(name="heatmap", query=q, metric=metric, cells=grid)


# --- response times -----------------------------------------------------------------------------
class ResponseTimes(Report):
    business_hours: bool
    rows: Rows  # per day: count and p50/p90 of frt, nrt, res (seconds)

    def tables(self) -> dict[str, Rows]:
        return {"response_times": self.rows}


async def response_times(reader: CubeReader, q: Query, business_hours: bool = False) -> ResponseTimes:
    suffix = "_bh" if business_hours else ""
    rows = []
    for d, hist in zip(q.days, await reader.histograms(q.days, q.scope), strict=True):
        row: dict[str, Any] = {"day": d.isoformat()}
        for metric in ("frt", "nrt", "res"):
            buckets = hist.get(metric + suffix, {})
            row[f"{metric}_n"] = sum(buckets.values())
            for p in (50, 90, 99):
                v = percentile(buckets, p)
                row[f"{metric}_p{p}_s"] = None if v is None else round(v, 1)
        rows.append(row)
    return ResponseTimes(name="response_times", query=q, business_hours=business_hours, rows=rows)


# --- SLA ----------------------------------------------------------------------------------------
class SlaCompliance(Report):
    targets: Rows
    by_day: Rows
    by_team: Rows

    def tables(self) -> dict[str, Rows]:
        return {"sla_targets": self.targets, "sla_by_day": self.by_day, "sla_by_team": self.by_team}


def _sla_row(cells: Cells, target: str) -> dict[str, Any]:
    met, breached = cells.get(f"sla_{target}_met|", 0), cells.get(f"sla_{target}_breached|", 0)
    return {
        "met": met,
        "breached": breached,
        "warned": cells.get(f"sla_{target}_warned|", 0),
        "compliance": _rate(met, met + breached),
    }


async def sla_compliance(reader: CubeReader, q: Query) -> SlaCompliance:
    per_day = (await reader.counters(q.days, q.scope, ["all"]))["all"]
    cells = await reader.summed(q.days, q.scope, "all")
    targets = [{"target": t.value, **_sla_row(cells, t.value)} for t in Target]
    by_day = []
    for d, day_cells in zip(q.days, per_day, strict=True):
        met = sum(day_cells.get(f"sla_{t.value}_met|", 0) for t in Target)
        breached = sum(day_cells.get(f"sla_{t.value}_breached|", 0) for t in Target)
        by_day.append(
            {"day": d.isoformat(), "met": met, "breached": breached, "compliance": _rate(met, met + breached)}
        )
    teams = sorted({t for _, t, _ in await reader.scopes(q.days) if t != WILDCARD and q.team in (None, t)})
    team_scopes = [scope(q.platform or WILDCARD, t, q.language or WILDCARD) for t in teams]
    by_scope = await reader.counters_by_scope(q.days, team_scopes)
    by_team = []
    for team, s in zip(teams, team_scopes, strict=True):
        for t in Target:
            by_team.append({"team": team, "target": t.value, **_sla_row(by_scope[s], t.value)})
    return SlaCompliance(name="sla", query=q, targets=targets, by_day=by_day, by_team=by_team)


# --- CSAT ---------------------------------------------------------------------------------------
class CsatTrend(Report):
    by_day: Rows
    distribution: Rows
    average: float | None
    response_rate: float | None

    def tables(self) -> dict[str, Rows]:
        return {
            "csat_by_day": self.by_day,
            "csat_distribution": self.distribution,
            "csat_overall": [{"average": self.average, "response_rate": self.response_rate}],
        }


async def csat(reader: CubeReader, q: Query) -> CsatTrend:
    per_day = (await reader.counters(q.days, q.scope, ["all"]))["all"]
    by_day = [
        {
            "day": d.isoformat(),
            "responses": c.get("csat_n|", 0),
            "average": _rate(c.get("csat_sum|", 0), c.get("csat_n|", 0)),
        }
        for d, c in zip(q.days, per_day, strict=True)
    ]
    cells = await reader.summed(q.days, q.scope, "all")
    n = cells.get("csat_n|", 0)
    distribution = [
        {"score": s, "count": cells.get(f"csat_{s}|", 0), "share": _rate(cells.get(f"csat_{s}|", 0), n)}
        for s in range(1, 6)
    ]
    return CsatTrend(
        name="csat",
        query=q,
        by_day=by_day,
        distribution=distribution,
        average=_rate(cells.get("csat_sum|", 0), n),
        response_rate=_rate(n, cells.get("resolved|", 0)),
    )


# --- topics -------------------------------------------------------------------------------------
class TopTopics(Report):
    topics: Rows  # topic, kind (label / article), count, previous, growth

    def tables(self) -> dict[str, Rows]:
        return {"topics": self.topics}


async def topics(reader: CubeReader, q: Query, limit: int = 20) -> TopTopics:
    now = metric_values(await reader.summed(q.days, q.scope, "label"), "tagged")
    before = metric_values(await reader.summed(q.previous().days, q.scope, "label"), "tagged")
    rows: Rows = [
        {
            "topic": t,
            "kind": "article" if t.startswith(KB_PREFIX) else "label",
            "count": n,
            "previous": before.get(t, 0),
            "growth": _rate(n - before.get(t, 0), before.get(t, 0)),
        }
        for t, n in now.items()
        if n > 0
    ]
    rows.sort(key=lambda r: (-r["count"], r["topic"]))
    return TopTopics(name="topics", query=q, topics=rows[:limit])


def fastest_growing(report: TopTopics, limit: int = 5) -> Rows:
    """Topics that grew the most in absolute terms (new topics included)."""
    rows = [r for r in report.topics if r["count"] > r["previous"]]
    return sorted(rows, key=lambda r: (-(r["count"] - r["previous"]), r["topic"]))[:limit]


# --- channels -----------------------------------------------------------------------------------
class ChannelMix(Report):
    platforms: Rows
    accounts: Rows

    def tables(self) -> dict[str, Rows]:
        return {"platforms": self.platforms, "accounts": self.accounts}


async def channels(reader: CubeReader, q: Query) -> ChannelMix:
    platforms = sorted({p for p, _, _ in await reader.scopes(q.days) if p != WILDCARD and q.platform in (None, p)})
    scopes = [scope(p, q.team or WILDCARD, q.language or WILDCARD) for p in platforms]
    by_scope = await reader.counters_by_scope(q.days, [*scopes, q.scope], "all")
    by_account = await reader.summed(q.days, q.scope, "account")
    grand = by_scope[q.scope].get("opened|", 0)
    rows = [
        {
            "platform": p,
            "opened": by_scope[s].get("opened|", 0),
            "messages": by_scope[s].get("messages|", 0),
            "share": _rate(by_scope[s].get("opened|", 0), grand),
        }
        for p, s in zip(platforms, scopes, strict=True)
    ]
    accounts = [
        {"account": a, "opened": n, "messages": metric_values(by_account, "messages").get(a, 0)}
        for a, n in sorted(metric_values(by_account, "opened").items())
    ]
    return ChannelMix(name="channels", query=q, platforms=rows, accounts=accounts)


# --- agents and backlog -------------------------------------------------------------------------
class Agents(Report):
    agents: Rows

    def tables(self) -> dict[str, Rows]:
        return {"agents": self.agents}


async def agents(reader: CubeReader, q: Query) -> Agents:
    cells = await reader.summed(q.days, q.scope, "agent")
    values = {name.split("|", 1)[1] for name in cells}
    rows = []
    for who in sorted(values):
        g = {
            m: cells.get(f"{m}|{who}", 0)
            for m in ("replies", "bot_replies", "resolved", "frt_ms", "frt_n", "nrt_ms", "nrt_n", "csat_sum", "csat_n")
        }
        rows.append(
            {
                "agent": who,
                "replies": g["replies"] + g["bot_replies"],
                "resolved": g["resolved"],
                "frt_avg_s": _avg_seconds(g["frt_ms"], g["frt_n"]),
                "nrt_avg_s": _avg_seconds(g["nrt_ms"], g["nrt_n"]),
                "csat_avg": _rate(g["csat_sum"], g["csat_n"]),
                "csat_responses": g["csat_n"],
            }
        )
    return Agents(name="agents", query=q, agents=rows)


class Backlog(Report):
    gauges: Rows  # gauge, dimension, value, count

    def tables(self) -> dict[str, Rows]:
        return {"backlog": self.gauges}


async def backlog(reader: CubeReader, q: Query) -> Backlog:
    live = await reader.backlog(q.scope)
    rows = [
        {"gauge": g, "dimension": dim, "value": v, "count": n}
        for g, dims in live.items()
        for dim, values in sorted(dims.items())
        for v, n in sorted(values.items())
    ]
    return Backlog(name="backlog", query=q, gauges=rows)


# --- help-center articles -----------------------------------------------------------------------
class ArticleResults(Report):
    articles: Rows  # article, answered, helpful, not_helpful, helpful_rate, help center yes / no / rate

    def tables(self) -> dict[str, Rows]:
        return {"articles": self.articles}


async def articles(reader: CubeReader, q: Query) -> ArticleResults:
    """Per article: conversations it answered (a bot's or an agent's reply naming it), the
    customers' answers to the bot's "Did this solve it?", and the help center's "Was this
    helpful?" votes on its page. Worst first: most "not helpful", then least answered."""
    cells = await reader.summed(q.days, q.scope, "label")
    answered = metric_values(cells, "tagged")
    yes, no = metric_values(cells, "article_helpful"), metric_values(cells, "article_not_helpful")
    votes = await reader.helpful_by_article(q.days, q.language)
    keys_ = {t.removeprefix(KB_PREFIX) for t in (*answered, *yes, *no) if t.startswith(KB_PREFIX)} | set(votes)
    rows: Rows = []
    for key in keys_:
        topic = KB_PREFIX + key
        y, n = yes.get(topic, 0), no.get(topic, 0)
        vy, vn = votes.get(key, (0, 0))
        rows.append(
            {
                "article": key,
                "answered": answered.get(topic, 0),
                "helpful": y,
                "not_helpful": n,
                "helpful_rate": _rate(y, y + n),
                "page_helpful": vy,
                "page_not_helpful": vn,
                "page_helpful_rate": _rate(vy, vy + vn),
            }
        )
    rows.sort(key=lambda r: (-(r["not_helpful"] + r["page_not_helpful"]), -r["answered"], r["article"]))
    return ArticleResults(name="articles", query=q, articles=rows)


REPORTS: dict[str, Callable[[CubeReader, Query], Awaitable[Report]]] = {
    "summary": summary,
    "heatmap": heatmap,
    "response_times": response_times,
    "sla": sla_compliance,
    "csat": csat,
    "topics": topics,
    "channels": channels,
    "agents": agents,
    "backlog": backlog,
    "articles": articles,
}


async def run_report(reader: CubeReader, name: str, q: Query) -> Report:
    try:
        fn = REPORTS[name]
    except KeyError:
        raise UnknownReport(name) from None
    return await fn(reader, q)
