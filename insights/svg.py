"""Server-rendered SVG charts: no JavaScript, every text escaped, an accessible title and
description on each chart (`role="img"`, `aria-labelledby`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from html import escape

# The console's colours first (console/static/console.css: accent, bad, ok, warn), so charts match.
PALETTE = ("#3557d4", "#c23a3a", "#1f8a5b", "#b86e00", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
_ids = itertools.count(1)


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2f}"


def nice_ticks(peak: float, count: int = 4) -> list[float]:
    """0 and `count` evenly spaced ticks up to at least `peak`, on a 1-2-5 step, so no two
    labels read the same (0.005 and 0.01 would both print as 0.01)."""
    raw = max(peak, 1e-9) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [round(step * k, 10) for k in range(count + 1)]


def _tick(value: float, step: float) -> str:
    """A tick label with as many decimals as the step needs."""
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def _open(width: int, height: int, title: str, desc: str, kind: str) -> str:
    n = next(_ids)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="chart{n}-t chart{n}-d">'
        f'<title id="chart{n}-t">{_e(title)}</title><desc id="chart{n}-d">{_e(desc)}</desc>'
    )


def _legend_x(names: Sequence[str], left: int) -> list[int]:
    """Where each legend label starts: after the previous one (about 6 px a character at 11 px)."""
    out, x = [], left + 8
    for name in names:
        out.append(x)
        x += 6 * len(name) + 18
    return out


def heatmap(grid: Sequence[Sequence[float]], rows: Sequence[str], cols: Sequence[str], title: str) -> str:
    cell, left, top = 22, 44, 22
    width, height = left + cell * len(cols) + 8, top + cell * len(rows) + 8
    peak = max((v for row in grid for v in row), default=0) or 1
    total = sum(v for row in grid for v in row)
    out = [_open(width, height, title, f"{len(rows)} by {len(cols)} grid, total {_fmt(total)}", "heatmap")]
    for j, label in enumerate(cols):
        if j % 3 == 0:
            out.append(
                f'<text x="{left + j * cell + cell / 2}" y="{top - 6}" font-size="10" '
                f'text-anchor="middle">{_e(label)}</text>'
            )
    for i, label in enumerate(rows):
        y = top + i * cell
        out.append(f'<text x="{left - 6}" y="{y + cell * 0.65}" font-size="11" text-anchor="end">{_e(label)}</text>')
        for j, value in enumerate(grid[i]):
            alpha = 0.06 + 0.94 * (value / peak)
            out.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="{PALETTE[0]}" fill-opacity="{alpha:.3f}"><title>{_e(label)} {_e(cols[j])}: '
                f"{_fmt(value)}</title></rect>"
            )
    return "".join(out) + "</svg>"


def line_chart(
    x_labels: Sequence[str], series: Mapping[str, Sequence[float | None]], title: str, unit: str = ""
) -> str:
    width, height, left, bottom, top = 640, 240, 56, 40, 16
    plot_w, plot_h = width - left - 16, height - top - bottom
    values = [v for s in series.values() for v in s if v is not None]
    ticks = nice_ticks(max(values, default=0) or 1)
    peak = ticks[-1]
    out = [
        _open(
            width,
            height,
            title,
            f"{len(series)} series over {len(x_labels)} points; max {_fmt(max(values, default=0))} {unit}",
            "line",
        )
    ]
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#c9ced8"/>')
    for tick in ticks:
        y = top + plot_h - plot_h * tick / peak
        out.append(
            f'<text x="{left - 6}" y="{y + 4}" font-size="10" text-anchor="end">{_e(_tick(tick, ticks[1]))}</text>'
        )
    # One point sits in the middle; several spread over the width.
    step = plot_w / max(1, len(x_labels) - 1)
    x0 = left + (plot_w / 2 if len(x_labels) == 1 else 0)
    for i, label in enumerate(x_labels):
        if i % max(1, len(x_labels) // 6) == 0:
            out.append(
                f'<text x="{x0 + i * step:.1f}" y="{height - bottom + 16}" font-size="10" '
                f'text-anchor="middle">{_e(label)}</text>'
            )
    legend = _legend_x(list(series), left)
    for n, (name, points) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        coords = [(x0 + i * step, top + plot_h - plot_h * v / peak, v) for i, v in enumerate(points) if v is not None]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in coords)
            out.append(
                f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{path}">'
                f"<title>{_e(name)}</title></polyline>"
            )
        # A marker on every point, so a single day still shows (a one-point line draws nothing).
        out.extend(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
            f"<title>{_e(name)}: {_e(_fmt(v))}</title></circle>"
            for x, y, v in coords
        )
        out.append(f'<text x="{legend[n]}" y="{height - 6}" font-size="11" fill="{color}">{_e(name)}</text>')
    return "".join(out) + "</svg>"


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str) -> str:
    bar, left, width = 20, 150, 640
    height = 16 + bar * len(labels) + 8
    peak = max(values, default=0) or 1
    out = [_open(width, height, title, f"{len(labels)} bars; largest {_fmt(peak)}", "bar")]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 12 + i * bar
        w = (width - left - 70) * value / peak
        out.append(
            f'<text x="{left - 6}" y="{y + bar * 0.65}" font-size="11" text-anchor="end">{_e(label)}</text>'
            f'<rect class="bar" x="{left}" y="{y}" width="{w:.1f}" height="{bar - 4}" fill="{PALETTE[0]}">'
            f"<title>{_e(label)}: {_fmt(value)}</title></rect>"
            f'<text x="{left + w + 4:.1f}" y="{y + bar * 0.65}" font-size="11">{_e(_fmt(value))}</text>'
        )
    return "".join(out) + "</svg>"


def stacked_bars(x_labels: Sequence[str], stacks: Mapping[str, Sequence[float]], title: str) -> str:
    width, height, left, bottom, top = 640, 240, 48, 40, 16
    plot_w, plot_h = width - left - 16, height - top - bottom
    totals = [sum(s[i] for s in stacks.values()) for i in range(len(x_labels))]
    peak = max(totals, default=0) or 1
    out = [_open(width, height, title, f"{len(stacks)} stacked series over {len(x_labels)} columns", "stacked")]
    slot = plot_w / max(1, len(x_labels))
    for i, label in enumerate(x_labels):
        y = float(top + plot_h)
        for n, (name, values) in enumerate(stacks.items()):
            h = plot_h * values[i] / peak
            y -= h
            out.append(
                f'<rect class="bar" x="{left + i * slot + 1:.1f}" y="{y:.1f}" width="{max(1.0, slot - 2):.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[n % len(PALETTE)]}"><title>{_e(label)} {_e(name)}: '
                f"{_fmt(values[i])}</title></rect>"
            )
        if i % max(1, len(x_labels) // 6) == 0:
            out.append(
                f'<text x="{left + i * slot + slot / 2:.1f}" y="{height - bottom + 16}" font-size="10" '
                f'text-anchor="middle">{_e(label)}</text>'
            )
    for n, (name, x) in enumerate(zip(stacks, _legend_x(list(stacks), left), strict=True)):
        out.append(
            f'<text x="{x}" y="{height - 6}" font-size="11" fill="{PALETTE[n % len(PALETTE)]}">{_e(name)}</text>'
        )
    return "".join(out) + "</svg>"
