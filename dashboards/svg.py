"""Static charts as SVG text: lines and overlaid bars on linear or log axes, a title,
axis labels and a legend. No JavaScript and no dependencies, so a chart shows wherever an
image does: MLflow's artifact viewer (which draws HTML artifacts from a `blob:` URL where
the pages' plotly.js cannot load), a code review, an e-mail.

Owns the drawing only; the figures come from dashboards.prep. Every text is XML-escaped
(a fraud pattern or a baseline name from the data is drawn as written, never as markup;
its bidi controls as code points: dashboards.bidi).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from dashboards.bidi import BIDI

WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 60  # plot margins in px
LEGEND_ROW = 16
COLORS = ("#12355b", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
DASHES = {"solid": None, "dash": "6 4", "dot": "2 3"}


@dataclass
class _Series:
    kind: str  # "line" or "bars"
    name: str
    x: list[float]
    y: list[float]
    color: str
    width: float = 2.0
    dash: str = "solid"
    bar_width: float = 0.0  # bars: in x units
    opacity: float = 1.0


@dataclass
class Chart:
    """One chart. `y_log`: a log10 y axis (values <= 0 are left out, as no log axis can
    place them). `percent`: tick labels of the axes (x, y) as percentages of 1."""

    title: str
    x_label: str
    y_label: str
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    y_log: bool = False
    percent: tuple[bool, bool] = (False, False)
    series: list[_Series] = field(default_factory=list)

    def line(self, x: Sequence[float], y: Sequence[float], name: str, *, width: float = 2.0,
             dash: str = "solid", color: str | None = None) -> Chart:  # fmt: skip
        self.series.append(
            _Series("line", name, _floats(x), _floats(y), color or self._next_color(), width, dash)
        )
        return self

    def bars(self, mids: Sequence[float], heights: Sequence[float], name: str, *,
             bar_width: float, color: str | None = None, opacity: float = 0.6) -> Chart:  # fmt: skip
        color = color or self._next_color()
        x, y = _floats(mids), _floats(heights)
        self.series.append(_Series("bars", name, x, y, color, bar_width=bar_width, opacity=opacity))
        return self

    def _next_color(self) -> str:
        return COLORS[len(self.series) % len(COLORS)]

    def to_svg(self) -> str:
        legend_h = LEGEND_ROW * len(self.series)
        height = HEIGHT + legend_h
        x0, x1 = self.x_range or _span([v for s in self.series for v in s.x])
        ys = [self._y(v) for s in self.series for v in s.y]
        y0, y1 = self.y_range or _span([v for v in ys if v is not None])
        if self.y_log and self.y_range:
            y0, y1 = math.log10(self.y_range[0]), math.log10(self.y_range[1])
        pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

        def px(v: float) -> float:
            return LEFT + (v - x0) / (x1 - x0) * pw

        def py(v: float) -> float:
            return TOP + ph - (v - y0) / (y1 - y0) * ph

        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
            f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
            f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">'
            f"{_text(self.title)}</text>",
        ]
        out += self._axes(x0, x1, y0, y1, px, py)
        out.append(f'<clipPath id="plot"><rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/>'
                   "</clipPath>")  # fmt: skip
        out.append('<g clip-path="url(#plot)">')
        for s in self.series:
            out += self._draw(s, px, py, y0)
        out.append("</g>")
        out += self._legend()
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def _legend(self) -> list[str]:
        """One row per series below the plot: its mark (a bar or the line's stroke) and name."""
        out = []
        for i, s in enumerate(self.series):
            ly = HEIGHT + i * LEGEND_ROW
            dash = DASHES.get(s.dash)
            mark = (
                f'<rect x="{LEFT}" y="{ly - 9}" width="24" height="10" fill="{s.color}" '
                f'fill-opacity="{s.opacity}"/>'
                if s.kind == "bars"
                else f'<line x1="{LEFT}" y1="{ly - 4}" x2="{LEFT + 24}" y2="{ly - 4}" '
                f'stroke="{s.color}" stroke-width="{s.width}"'
                + (f' stroke-dasharray="{dash}"' if dash else "")
                + "/>"
            )
            out.append(mark)
            out.append(f'<text x="{LEFT + 32}" y="{ly}">{_text(s.name)}</text>')
        return out

    def _y(self, v: float) -> float | None:
        if not math.isfinite(v):
            return None
        if self.y_log:
            return math.log10(v) if v > 0 else None
        return v

    def _draw(self, s: _Series, px, py, y0: float) -> list[str]:
        if s.kind == "bars":
            out = []
            for x, y in zip(s.x, s.y, strict=True):
                yv = self._y(y)
                if yv is None or not math.isfinite(x):
                    continue
                left, right = px(x - s.bar_width / 2), px(x + s.bar_width / 2)
                top, bottom = py(yv), py(y0)
                out.append(
                    f'<rect x="{left:.2f}" y="{min(top, bottom):.2f}" width="{right - left:.2f}" '
                    f'height="{abs(bottom - top):.2f}" fill="{s.color}" fill-opacity="{s.opacity}"/>'
                )
            return out
        points, runs = [], []
        for x, y in zip(s.x, s.y, strict=True):
            yv = self._y(y)
            if yv is None or not math.isfinite(x):  # a gap: the line breaks there
                if points:
                    runs.append(points)
                points = []
                continue
            points.append(f"{px(x):.2f},{py(yv):.2f}")
        if points:
            runs.append(points)
        dash = DASHES.get(s.dash)
        style = f'fill="none" stroke="{s.color}" stroke-width="{s.width}"' + (
            f' stroke-dasharray="{dash}"' if dash else ""
        )
        return [f'<polyline {style} points="{" ".join(run)}"/>' for run in runs]

    def _axes(self, x0, x1, y0, y1, px, py) -> list[str]:
        out = [
            f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
            f'height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="#444"/>'
        ]
        for v in _ticks(x0, x1):
            x = px(v)
            out.append(f'<line x1="{x:.2f}" y1="{TOP}" x2="{x:.2f}" y2="{HEIGHT - BOTTOM}" '
                       'stroke="#ddd"/>')  # fmt: skip
            out.append(f'<text x="{x:.2f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                       f"{_text(_label(v, self.percent[0]))}</text>")  # fmt: skip
        for v in _ticks(y0, y1, integers=self.y_log):
            y = py(v)
            text = _label(10**v if self.y_log else v, self.percent[1])
            out.append(f'<line x1="{LEFT}" y1="{y:.2f}" x2="{WIDTH - RIGHT}" y2="{y:.2f}" '
                       'stroke="#ddd"/>')  # fmt: skip
            out.append(f'<text x="{LEFT - 6}" y="{y + 4:.2f}" text-anchor="end">'
                       f"{_text(text)}</text>")  # fmt: skip
        out.append(f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{HEIGHT - BOTTOM + 36}" '
                   f'text-anchor="middle">{_text(self.x_label)}</text>')  # fmt: skip
        cy = TOP + (HEIGHT - TOP - BOTTOM) / 2
        out.append(f'<text x="16" y="{cy}" text-anchor="middle" transform="rotate(-90 16 {cy})">'
                   f"{_text(self.y_label)}</text>")  # fmt: skip
        return out


def _floats(values: Sequence[float]) -> list[float]:
    out = []
    for v in values:
        try:
            out.append(float(v) if v is not None else math.nan)
        except (TypeError, ValueError):
            out.append(math.nan)
    return out


def _span(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi == lo:
        pad = abs(lo) * 0.05 or 0.5
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.03
    return lo - pad, hi + pad


def _ticks(lo: float, hi: float, *, integers: bool = False, target: int = 6) -> list[float]:
    """Round values between lo and hi, about `target` of them (whole numbers on a log axis:
    the powers of ten)."""
    raw = (hi - lo) / target
    if integers:
        first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
        step = max(1, math.ceil((last - first + 1) / target))
        return [float(v) for v in range(first, last + 1, step)]
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out, v = [], first
    while v <= hi + step * 1e-9 and len(out) < 50:
        out.append(round(v, 12))
        v += step
    return out


def _label(v: float, percent: bool) -> str:
    if percent:
        return f"{v * 100:.3g}%"
    return f"{v:.4g}"


def _text(value) -> str:
    """Text of the data as SVG text: XML-escaped, bidi controls as code points."""
    return escape(str(value).translate(BIDI))
