"""Charts over time for the load report: inline SVG, nothing fetched, nothing run (it prints).

One chart is a few lines over the run's seconds (requests/s, latency percentiles, users, errors/s),
with a 0-based y axis rounded up to a readable top, the x axis in seconds from the start, and a legend.
"""

from __future__ import annotations

import html
import math

COLOURS = ("#0969da", "#bf8700", "#cf222e", "#1a7f37")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 500, 180, 52, 12, 26, 28


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above `value` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _label(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def line_chart(title: str, unit: str, lines: dict[str, list[tuple[float, float | None]]], span: float) -> str:
    """An SVG chart of `lines` (label -> points (seconds, value); None leaves a gap) over 0..span s."""
    values = [v for points in lines.values() for _, v in points if v is not None]
    top = nice_top(max(values, default=0.0))
    span = max(span, 1.0)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + inner_w * min(max(t / span, 0.0), 1.0)

    def y(v: float) -> float:
        return TOP + inner_h * (1 - v / top)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui,sans-serif" font-size="11">',
        f"<title>{html.escape(title)}</title>",
        f'<text x="{LEFT}" y="14" font-size="12" font-weight="600">{html.escape(title)}'
        f'<tspan font-weight="400" fill="#57606a"> ({html.escape(unit)})</tspan></text>',
    ]
    for i in range(5):  # grid and y labels
        value = top * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#d0d7de" stroke-width="{1 if i == 0 else 0.5}"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#57606a">'
            f"{_label(value)}</text>"
        )
    for i in range(5):  # x labels: seconds since the start
        t = span * i / 4
        parts.append(
            f'<text x="{x(t):.1f}" y="{HEIGHT - 10}" text-anchor="middle" fill="#57606a">{t:.0f} s</text>'
        )
    legend_x = WIDTH - RIGHT
    coloured = list(zip(lines.items(), COLOURS, strict=False))
    for (label, points), colour in reversed(coloured):
        segments: list[list[str]] = []
        current: list[str] = []
        for t, v in points:
            if v is None:
                segments, current = segments + ([current] if current else []), []
            else:
                current.append(f"{x(t):.1f},{y(v):.1f}")
        segments += [current] if current else []
        for segment in segments:
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            else:
                shown = " ".join(segment)
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{shown}"/>')
        parts.append(
            f'<text x="{legend_x}" y="14" text-anchor="end" fill="{colour}">{html.escape(label)}</text>'
        )
        legend_x -= 7 * len(label) + 14
    parts.append("</svg>")
    return "".join(parts)
