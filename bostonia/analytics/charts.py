"""Charts drawn on the server as SVG: no chart library, no script, readable without JavaScript.

Each bar or point carries its label and value (`data-label`, `data-value`, and a `<title>` tooltip), so
a screen reader, a test or a curious user can read the numbers a chart shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 200
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 44, 28, 12
PALETTE = ("#4f6bed", "#e8743b", "#19a979", "#945ecf", "#ed4a7b", "#13a4b4")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _axis(top: float, unit: str) -> list[str]:
    parts = []
    for n in range(5):
        value = top * n / 4
        y = HEIGHT - PAD_BOTTOM - (HEIGHT - PAD_BOTTOM - PAD_TOP) * n / 4
        parts.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(value) + unit)}</text>')
    return parts


def _x_labels(labels: Sequence[str], x_of: list[float]) -> list[str]:
    every = max(1, len(labels) // 8)
    return [
        f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(label)}</text>'
        for n, (label, x) in enumerate(zip(labels, x_of, strict=True))
        if n % every == 0 or (n == len(labels) - 1 and n % every > every // 2)  # the last, unless crowded
    ]


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = "", chart_id: str = ""
) -> Markup:
    """One series as bars (counts per day, per minute...)."""
    top = _nice_max(max(values, default=0))
    plot_w = WIDTH - PAD_LEFT
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(len(values), 1)
    parts = _axis(top, unit)
    centres = []
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        x = PAD_LEFT + n * slot + slot * 0.15
        centres.append(x + slot * 0.35)
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM - h:.1f}" width="{slot * 0.7:.1f}"'
            f' height="{h:.1f}" fill="{PALETTE[0]}" data-label="{escape(label)}" data-value="{_fmt(value)}">'
            f"<title>{escape(label)}: {escape(_fmt(value) + unit)}</title></rect>"
        )
    parts += _x_labels(labels, centres)
    return _svg(title, parts, chart_id)


def line_chart(
    title: str, labels: Sequence[str], series: dict[str, Sequence[float]], *, unit: str = "", chart_id: str = ""
) -> Markup:
    """Several series (one per character, say) as lines with a point per label, and a legend."""
    top = _nice_max(max((max(v, default=0) for v in series.values()), default=0))
    plot_w = WIDTH - PAD_LEFT - 10
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(labels) - 1, 1)
    xs = [PAD_LEFT + 5 + n * step for n in range(len(labels))]
    parts = _axis(top, unit)
    legend = []
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = [(x, HEIGHT - PAD_BOTTOM - plot_h * v / top) for x, v in zip(xs, values, strict=True)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (x, y), label, value in zip(points, labels, values, strict=True):
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}" data-series="{escape(name)}"'
                f' data-label="{escape(label)}" data-value="{_fmt(value)}">'
                f"<title>{escape(name)}, {escape(label)}: {escape(_fmt(value) + unit)}</title></circle>"
            )
        legend.append(
            f'<text x="{PAD_LEFT + 8 + 150 * index}" y="{PAD_TOP}" fill="{colour}" class="legend">{escape(name)}</text>'
        )
    parts += _x_labels(labels, xs) + legend
    return _svg(title, parts, chart_id)


def _svg(title: str, parts: list[str], chart_id: str) -> Markup:
    ident = f' id="{escape(chart_id)}"' if chart_id else ""
    body = "".join(parts)
    return Markup(
        f'<svg class="chart"{ident} viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )
