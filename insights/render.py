"""Figures for a page or a digest: every report of a range, and their charts as SVG strings."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from . import svg
from .reader import CubeReader
from .reports import (
    REPORTS,
    WEEKDAYS,
    ChannelMix,
    CsatTrend,
    Heatmap,
    Query,
    Report,
    ResponseTimes,
    Rows,
    SlaCompliance,
    TopTopics,
)

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


async def all_reports(reader: CubeReader, q: Query) -> dict[str, Report]:
    """Every report of the range, reading each key once (`CubeReader.page`)."""
    names = list(REPORTS)
    page = reader.page()
    done = await asyncio.gather(*(REPORTS[n](page, q) for n in names))
    return dict(zip(names, done, strict=True))


def _short(day: str) -> str:
    return date.fromisoformat(day).strftime("%m-%d")


def charts(reports: dict[str, Report]) -> dict[str, Markup]:
    """SVG strings built by `svg` (which escapes every text), marked safe for the templates."""
    out: dict[str, str] = {}
    hm = reports["heatmap"]
    assert isinstance(hm, Heatmap)
    out["heatmap"] = svg.heatmap(
        hm.cells, WEEKDAYS, [f"{h:02d}" for h in range(24)], "Conversations opened by weekday and hour"
    )
    rt = reports["response_times"]
    assert isinstance(rt, ResponseTimes)
    days = [_short(r["day"]) for r in rt.rows]
    out["response_times"] = svg.line_chart(
        days,
        {
            "first response p50 (min)": [_minutes(r["frt_p50_s"]) for r in rt.rows],
            "first response p90 (min)": [_minutes(r["frt_p90_s"]) for r in rt.rows],
            "next response p50 (min)": [_minutes(r["nrt_p50_s"]) for r in rt.rows],
        },
        "Response time percentiles per day",
        "minutes",
    )
    sla = reports["sla"]
    assert isinstance(sla, SlaCompliance)
    out["sla"] = svg.stacked_bars(
        [_short(r["day"]) for r in sla.by_day],
        {
            "met": [float(r["met"]) for r in sla.by_day],
            "breached": [float(r["breached"]) for r in sla.by_day],
        },
        "SLA targets met and breached per day",
    )
    cs = reports["csat"]
    assert isinstance(cs, CsatTrend)
    out["csat"] = svg.line_chart(
        [_short(r["day"]) for r in cs.by_day],
        {"average": [r["average"] for r in cs.by_day]},
        "Average satisfaction (1-5) per day",
    )
    out["csat_distribution"] = svg.bar_chart(
        [f"{r['score']}" for r in cs.distribution], [float(r["count"]) for r in cs.distribution], "Satisfaction ratings"
    )
    tp = reports["topics"]
    assert isinstance(tp, TopTopics)
    out["topics"] = svg.bar_chart(
        [r["topic"] for r in tp.topics[:12]], [float(r["count"]) for r in tp.topics[:12]], "Top topics"
    )
    ch = reports["channels"]
    assert isinstance(ch, ChannelMix)
    out["channels"] = svg.bar_chart(
        [r["platform"] for r in ch.platforms], [float(r["opened"]) for r in ch.platforms], "Conversations by channel"
    )
    return {k: Markup(v) for k, v in out.items()}  # noqa: S704 - built by svg.py, which escapes all text


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 2)


def to_csv(report: Report, table: str | None = None) -> str:
    """One table as plain CSV (a spreadsheet reads one table per file): `table`, or the report's first."""
    tables = report.tables()
    rows = tables[table] if table else next(iter(tables.values()))
    buf = io.StringIO()
    _rows(csv.writer(buf, lineterminator="\n"), rows)
    return buf.getvalue()


def _rows(writer: Any, rows: Rows) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in columns])


def _cell(value: Any) -> str:
    text = str(value)
    # A cell starting with = + - @ (or a tab or carriage return before one) is a formula to
    # spreadsheets: quote it (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
