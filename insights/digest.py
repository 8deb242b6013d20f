"""The weekly digest: the week's figures against the week before, and the topics that grew the
most, as Markdown and as e-mailable HTML (inline styles, no scripts, no external resources)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .errors import BadRange
from .reader import CubeReader
from .render import TEMPLATES
from .reports import Query, Rows, Summary, TopTopics, fastest_growing, summary, topics

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
FIGURES = (
    ("Conversations opened", "opened", "n"),
    ("Resolved", "resolved", "n"),
    ("Reopened", "reopened", "n"),
    ("Deflection rate", "deflection_rate", "%"),
    ("Handoff rate", "handoff_rate", "%"),
    ("First response p50", "frt_p50_s", "t"),
    ("First response p90", "frt_p90_s", "t"),
    ("Resolution p50", "res_p50_s", "t"),
    ("SLA compliance", "sla_compliance", "%"),
    ("CSAT average", "csat_avg", "f"),
    ("CSAT response rate", "csat_response_rate", "%"),
)


def week_range(week: str) -> tuple[date, date]:
    """ "2026-W47" -> (Monday, Sunday)."""
    match = _WEEK.match(week)
    if not match:
        raise BadRange(f"--week: {week!r} is not an ISO week like 2026-W47")
    try:
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError as exc:
        raise BadRange(f"--week: {exc}") from None
    return monday, monday + timedelta(days=6)


def show(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "%":
        return f"{100 * value:.1f}%"
    if kind == "t":
        return _duration(float(value))
    if kind == "f":
        return f"{value:.2f}"
    return f"{value:,}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


@dataclass
class Digest:
    week: str
    query: Query
    figures: list[tuple[str, str, str]]  # label, this week, previous week
    growing: Rows

    def markdown(self) -> str:
        lines = [
            f"# Helpline weekly digest · {self.week}",
            "",
            f"{self.query.start} to {self.query.end}",
            "",
            "| Figure | This week | Previous week |",
            "|---|---:|---:|",
        ]
        lines += [f"| {label} | {now} | {before} |" for label, now, before in self.figures]
        lines += ["", "## Topics that grew the most", ""]
        lines += [
            f"{i}. {_md(t['topic'])}: {t['count']} (previous week {t['previous']})"
            for i, t in enumerate(self.growing, 1)
        ] or ["No topic grew this week."]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        return TEMPLATES.get_template("digest.html").render(
            week=self.week, q=self.query, figures=self.figures, growing=self.growing
        )


def _md(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>])", r"\\\1", text)


async def weekly_digest(
    reader: CubeReader, week: str, platform: str | None = None, team: str | None = None, language: str | None = None
) -> Digest:
    start, end = week_range(week)
    q = Query(start=start, end=end, platform=platform, team=team, language=language)
    now: Summary = await summary(reader, q)
    before: Summary = await summary(reader, q.previous())
    figures = [
        (label, show(now.figures.get(key), kind), show(before.figures.get(key), kind)) for label, key, kind in FIGURES
    ]
    tops: TopTopics = await topics(reader, q, limit=200)
    return Digest(week=week, query=q, figures=figures, growing=fastest_growing(tops))
