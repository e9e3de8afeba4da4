"""Charts as inline SVG: drawn here, so the HTML report needs no script, no library and no network.

Every chart is a `<figure class="chart" data-chart=NAME>`; bars carry a `<title>` with their exact value,
which a browser shows on hover.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

WIDTH = 760
LABEL_WIDTH = 210
ROW = 22
PALETTE = ("#3b6ea5", "#d9822b", "#6a9f4b", "#a34d7a")


def figure(name: str, caption: str, svg: str) -> str:
    return f'<figure class="chart" data-chart="{escape(name)}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def bar_chart(
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
) -> str:
    """Horizontal bars, one row per label, one bar per series (side by side within the row)."""
    largest = max((v for _, values in rows for v in values), default=0) or 1
    per_row = ROW * max(len(series), 1) // (2 if len(series) > 1 else 1)
    legend = ROW if len(series) > 1 else 0
    height = legend + per_row * len(rows) + 8
    span = WIDTH - LABEL_WIDTH - 90
    parts = [_svg_open(height), _legend(series) if legend else ""]
    for r, (label, values) in enumerate(rows):
        top = legend + r * per_row
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{top + per_row / 2 + 4:.1f}" text-anchor="end">{escape(_clip(label))}'
            f"<title>{escape(label)}</title></text>"
        )
        bar = (per_row - 4) / max(len(values), 1)
        for s, value in enumerate(values):
            y = top + 2 + s * bar
            w = max(span * value / largest, 1 if value else 0)
            name = f"{series[s]}: " if len(series) > 1 else ""
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{y:.1f}" width="{w:.1f}" height="{bar - 1:.1f}" fill="{PALETTE[s % 4]}">'
                f"<title>{escape(label)}: {escape(name)}{escape(fmt(value))}</title></rect>"
                f'<text x="{LABEL_WIDTH + w + 4:.1f}" y="{y + bar / 2 + 3:.1f}" class="value">'
                f"{escape(fmt(value))}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], fmt: Callable[[float], str]
) -> str:
    """Vertical bars per bin (a histogram), series side by side within each bin."""
    height, bottom, left = 280, 60, 56
    plot = height - bottom - ROW
    largest = max((v for _, values in series for v in values), default=0) or 1
    slot = (WIDTH - left - 10) / max(len(labels), 1)
    bar = (slot - 4) / max(len(series), 1)
    parts = [_svg_open(height), _legend([name for name, _ in series])]
    parts.append(f'<line x1="{left}" y1="{ROW + plot}" x2="{WIDTH - 10}" y2="{ROW + plot}" class="axis"/>')
    parts.append(f'<text x="{left - 4}" y="{ROW + 10}" text-anchor="end" class="value">{escape(fmt(largest))}</text>')
    for i, label in enumerate(labels):
        x = left + i * slot
        parts.append(
            f'<text transform="translate({x + slot / 2 + 4:.1f},{ROW + plot + 8}) rotate(-40)" text-anchor="end" '
            f'class="tick">{escape(label)}</text>'
        )
        for s, (name, values) in enumerate(series):
            h = plot * values[i] / largest
            parts.append(
                f'<rect x="{x + 2 + s * bar:.1f}" y="{ROW + plot - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[s % 4]}"><title>{escape(name)}, {escape(label)}: '
                f"{escape(fmt(values[i]))}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], x_label: str, y_label: str) -> str:
    """One line per series of (x, y) points, on shared axes labelled with their ranges."""
    height, bottom, left = 300, 40, 64
    plot_w, plot_h = WIDTH - left - 16, height - bottom - ROW
    points = [p for _, line in series for p in line]
    if not points:
        return _svg_open(height) + "</svg>"
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    x_span, y_span = (x1 - x0) or 1, (y1 - y0) or 1

    def at(x: float, y: float) -> str:
        return f"{left + plot_w * (x - x0) / x_span:.1f},{ROW + plot_h * (1 - (y - y0) / y_span):.1f}"

    parts = [_svg_open(height), _legend([name for name, _ in series])]
    parts.append(f'<line x1="{left}" y1="{ROW + plot_h}" x2="{left + plot_w}" y2="{ROW + plot_h}" class="axis"/>')
    parts.append(f'<line x1="{left}" y1="{ROW}" x2="{left}" y2="{ROW + plot_h}" class="axis"/>')
    for value, y in ((y1, ROW + 10), (y0, ROW + plot_h)):
        parts.append(f'<text x="{left - 4}" y="{y}" text-anchor="end" class="tick">{value:.3g}</text>')
    for value, anchor, x in ((x0, "start", left), (x1, "end", left + plot_w)):
        parts.append(f'<text x="{x}" y="{ROW + plot_h + 14}" text-anchor="{anchor}" class="tick">{value:,.0f}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="12" y="{ROW + plot_h / 2:.0f}" transform="rotate(-90 12 {ROW + plot_h / 2:.0f})" '
                 f'text-anchor="middle">{escape(y_label)}</text>')  # fmt: skip
    for i, (name, line) in enumerate(series):
        path = " ".join(at(x, y) for x, y in line)
        parts.append(f'<polyline fill="none" stroke="{PALETTE[i % 4]}" stroke-width="1.5" points="{path}">'
                     f"<title>{escape(name)}</title></polyline>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img">'
    )


def _legend(names: Sequence[str]) -> str:
    items = []
    for i, name in enumerate(names):
        x = LABEL_WIDTH + i * 190
        items.append(
            f'<rect x="{x}" y="4" width="12" height="12" fill="{PALETTE[i % 4]}"/>'
            f'<text x="{x + 18}" y="14">{escape(name)}</text>'
        )
    return "".join(items)


def _clip(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
