"""Page layout: number formats for people, HTML tables, plotly figures as page sections.

Pages load plotly.js from the output's one shared copy, `../assets/plotly-<version>.min.js`
(dashboards.assets, written by dashboards.render), so they open from a file with no server
and no network.
"""

from __future__ import annotations

import hashlib
import html
import math
import numbers
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from dashboards.assets import plotly_src
from dashboards.bidi import BIDI

PAGES: dict[str, str] = {  # file stem -> title (order = navigation order)
    "training": "Training",
    "model-quality": "Model quality",
    "data-quality": "Data quality",
    "scoring": "Scoring monitoring",
}
PLOTLY_JS = "plotly.min.js"  # the per-folder copy of pages before session 32
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]

_CSS = """
*{box-sizing:border-box}
body{font-family:FONT_FAMILY;margin:0;color:#1b1b1b;background:#fafafa;line-height:1.45}
header{background:#12355b;color:#fff;padding:12px 24px}
header a{color:#fff} nav a{margin-right:16px} nav a[aria-current=page]{font-weight:700}
main{max-width:1200px;margin:0 auto;padding:8px 24px 40px}
h1{font-size:1.5rem;margin:4px 0} h2{font-size:1.2rem;margin:28px 0 6px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 16px 16px;margin:16px 0}
p.note{color:#555;margin:4px 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px;table-layout:auto}
th,td{border:1px solid #d5d5d5;padding:4px 8px;text-align:left;vertical-align:top;
      overflow-wrap:anywhere}
th{background:#eef1f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
td.words{overflow-wrap:break-word}
tr.bad{background:#fde2e2} tr.warn{background:#fff4d6} tr.good{background:#eef8ee}
tr.focus{font-weight:700;background:#e8f0fb}
.plot{width:100%;margin:8px 0}
details{margin:8px 0} summary{cursor:pointer;color:#12355b}
""".replace("FONT_FAMILY", FONT)


_AXIS = {"gridcolor": "#e5e5e5", "linecolor": "#888", "zerolinecolor": "#cfcfcf",
         "ticks": "outside", "tickcolor": "#888", "automargin": True}  # fmt: skip
# A small white template built once: plotly's stock templates are deep-copied into every
# figure (~0.04-0.3 s each), which dominated the rendering time.
TEMPLATE = go.layout.Template(
    layout={
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "xaxis": _AXIS,
        "yaxis": _AXIS,
        "hoverlabel": {"font": {"family": FONT}},
    }
)


def new_figure(*traces) -> go.Figure:
    return go.Figure(data=list(traces), layout={"template": TEMPLATE})


def subplots(**kwargs) -> go.Figure:
    fig = make_subplots(figure=new_figure(), **kwargs)
    # a secondary y axis gets its own round ticks (plotly.js 4 syncs an overlaying axis's
    # ticks to the primary grid: 0.00357, 0.00714, ... for a probability) and no grid of
    # its own, so the primary's gridlines stay the only ones
    fig.update_yaxes(tickmode="auto", showgrid=False, selector={"overlaying": "y"})
    return fig


@dataclass(frozen=True)
class Section:
    title: str
    body: str  # trusted HTML built by this package
    note: str = ""


# -- numbers for people ------------------------------------------------------------------
# A value that is not a number (a report edited by hand or written by other code) is shown
# as it is, never a TypeError that takes the whole page (or command) down.
def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)  # NumPy scalars too


def fmt_int(x) -> str:
    if _missing(x):
        return "-"
    return f"{round(x):,}" if _is_number(x) and math.isfinite(x) else str(x)


def fmt_pct(x, digits: int = 1) -> str:
    if _missing(x):
        return "-"
    return f"{x * 100:,.{digits}f}%" if _is_number(x) else str(x)


def fmt_num(x, digits: int = 3) -> str:
    if _missing(x):
        return "-"
    return f"{x:,.{digits}f}" if _is_number(x) else str(x)


def fmt_score(x) -> str:
    """A score or score threshold: 4 decimals, or 3 significant digits below 0.001 (a
    threshold of 0.00003 read 0.0000, as if every row were alerted, and 0.00041 and
    0.00038 read the same)."""
    if _missing(x) or not _is_number(x) or not math.isfinite(x) or x == 0 or abs(x) >= 0.001:
        return fmt_num(x, 4)
    if abs(x) < 1e-12:
        return f"{x:.2e}"
    return f"{x:.{2 - math.floor(math.log10(abs(x)))}f}"


def fmt_seconds(x) -> str:
    if _missing(x):
        return "-"
    if not _is_number(x):
        return str(x)
    return f"{x:,.1f} s" if x < 120 else f"{x / 60:,.1f} min"


# -- HTML pieces ---------------------------------------------------------------------------
def esc(text) -> str:
    return html.escape(str(text).translate(BIDI))


def href(name: str) -> str:
    """A file or folder name as one segment of a relative link: percent-encoded, then
    HTML-escaped. Escaping alone kept `#`, `?` and `%` as URL syntax (a run `a#b` linked to
    the folder `a`, `e%41f` to `eAf`). A name's bytes that are not UTF-8 (a file name
    Python holds as surrogate escapes) are encoded as those bytes: the link reaches the
    folder of that name (it was a UnicodeEncodeError, and no index for any run)."""
    return esc(quote(name, safe="", errors="surrogateescape"))


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    words: Sequence[int] = (),
    row_classes: Sequence[str] | None = None,
    caption: str = "",
) -> str:
    """Cells are already formatted strings (escaped here). `numeric`: right-aligned columns.
    `words`: columns whose cells break only between words (a word wider than the cell
    still breaks); the others may break anywhere, so a long unbroken value (a path, a raw
    record) never widens the table past the page, but a narrow column then shows its
    identifiers cut mid-word."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="num">{esc(c)}</td>'
            if j in numeric
            else f'<td class="words">{esc(c)}</td>'
            if j in words
            else f"<td>{esc(c)}</td>"
            for j, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def paragraph(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def unreadable_section(title: str, error: str) -> Section:
    """A section whose input could not be read: its title and the one-line error."""
    return Section(title, f'<p class="note bad">Not drawn: {esc(error)}</p>')


LEGEND_ROW_PX = 22  # one row of legend entries at font size 13
LEGEND_WIDTH_PX = 880  # the plot's width on a 1280-pixel-wide page, less some margin


def legend_rows(fig: go.Figure, width_px: int = LEGEND_WIDTH_PX) -> int:
    """Rows a horizontal legend of `fig`'s traces takes (an estimate: ~7.5 px a character
    at font size 13, plus the entry's symbol and gap)."""
    rows, used = 1, 0.0
    for trace in fig.data:
        if trace.showlegend is False or not trace.name:
            continue
        width = 50 + 7.5 * len(str(trace.name))
        if used and used + width > width_px:
            rows, used = rows + 1, 0.0
        used += width
    return rows


def style(fig: go.Figure, title: str, *, height: int = 380, legend_gap_px: int = 0) -> go.Figure:
    """House look: white template, readable font, legend always shown at the top right
    (raised by `legend_gap_px` above subplot titles), title on the figure. A legend of the
    traces already added that needs more than one row gets the room for its rows (it grew
    upwards over the title: the PR curve's eight entries)."""
    extra = LEGEND_ROW_PX * (legend_rows(fig) - 1)
    height += extra
    top = 70 + legend_gap_px + extra
    fig.update_layout(
        # at the figure's top edge, above a legend of any number of rows
        title={
            "text": title,
            "x": 0,
            "xanchor": "left",
            "yref": "container",
            "y": 1 - 12 / height,
            "yanchor": "top",
        },
        font={"family": FONT, "size": 13},
        height=height,
        margin={"l": 70, "r": 30, "t": top, "b": 60},
        showlegend=True,
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "x": 1,
            "xanchor": "right",
            "y": 1.0 + legend_gap_px / max(height - top - 60, 1),
        },
        separators=".,",  # decimal point, thousands comma
        colorway=COLORS,
    )
    return fig


# the trace attributes whose text plotly.js draws (legend, ticks, bar labels, hover)
_TRACE_TEXT = ("name", "x", "y", "text", "customdata", "labels", "legendgroup")


def plot_text(value):
    """`value` as plotly.js should draw it: `&`, `<`, `>` as entities (which it decodes back
    for display). plotly.js reads text as its own markup: `<a href="https://...">` became a
    link, `<b>`, `<br>` and `style=` were applied, and a value that is a tag it does not
    know vanished. Anything but text is returned as it is. Data put into a hover template
    goes through it too (`plain_labels` leaves templates alone)."""
    if isinstance(value, str):
        return html.escape(value.translate(BIDI), quote=False)
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        return [plot_text(v) for v in value.tolist()]
    if isinstance(value, list | tuple) and any(isinstance(v, str | list | tuple) for v in value):
        return [plot_text(v) for v in value]
    return value


def plain_labels(fig: go.Figure) -> go.Figure:
    """`fig` with every text plotly.js draws from data (trace names, category labels, bar
    and hover text, titles) escaped: a fraud_pattern, a feature or a validation column
    named `<a href=...>` is shown as written, not as a link. Hover templates are this
    package's own and keep their markup; data goes into them through %{...} fields."""
    for trace in fig.data:
        for attr in _TRACE_TEXT:
            value = getattr(trace, attr, None)
            if value is not None:
                setattr(trace, attr, plot_text(value))
    for title in _layout_titles(fig):
        if title.text:
            title.text = plot_text(title.text)
    for axis in _layout_axes(fig):  # category labels the axis lists itself (an order, ticks)
        for attr in ("categoryarray", "ticktext"):
            value = getattr(axis, attr, None)
            if value is not None:
                setattr(axis, attr, plot_text(list(value)))
    for annotation in fig.layout.annotations or ():  # subplot titles
        if annotation.text:
            annotation.text = plot_text(annotation.text)
    return fig


def _layout_axes(fig: go.Figure):
    for name in dir(fig.layout):
        if name.startswith(("xaxis", "yaxis")) and fig.layout[name] is not None:
            yield fig.layout[name]


def _layout_titles(fig: go.Figure):
    yield fig.layout.title
    for axis in _layout_axes(fig):
        yield axis.title


def figure(fig: go.Figure, label: str) -> str:
    """One figure as a div (plotly.js comes from the page's script tag); its text from
    data escaped for plotly.js (`plain_labels`)."""
    plain_labels(fig)
    draft = uuid.uuid4().hex  # no text of the data holds it
    div = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=draft,
        default_width="100%",
        default_height=f"{fig.layout.height or 380}px",
        config={"responsive": True, "displaylogo": False},
        validate=False,  # the figure objects were validated when they were built
    )
    # the div's id from what it draws, not plotly's random one: the same inputs give the
    # same page bytes (a re-render that changed nothing showed as changed in every diff)
    stable = (
        "plot-" + hashlib.sha256(f"{label}\0{div.replace(draft, '')}".encode()).hexdigest()[:16]
    )
    div = div.replace(draft, stable)
    return f'<figure class="plot" role="group" aria-label="{esc(label)}">{div}</figure>'


_PLOT = re.compile(r'<figure class="plot" .*?</figure>', re.S)  # no text of the data holds it
_PLOT_ID = re.compile(r'id="(plot-[0-9a-f]{16})"')


def _sections_html(sections: list[Section]) -> str:
    """The sections of one page. Two plots drawing the same data under the same label
    have the same id (`figure`): the second is given `-2` (`-3`, ...), else plotly.js drew
    both into the first div (`getElementById`) and left the second empty."""
    body = "".join(
        f"<section><h2>{esc(s.title)}</h2>{paragraph(s.note) if s.note else ''}{s.body}</section>"
        for s in sections
    )
    seen: dict[str, int] = {}

    def distinct(match: re.Match) -> str:
        found = _PLOT_ID.search(match.group(0))
        if found is None:
            return match.group(0)
        plot_id = found.group(1)
        seen[plot_id] = seen.get(plot_id, 0) + 1
        n = seen[plot_id]
        return match.group(0) if n == 1 else match.group(0).replace(plot_id, f"{plot_id}-{n}")

    return _PLOT.sub(distinct, body)


def plotly_script(inline: bool) -> str:
    """plotly.js for a page one folder below the output: a tag loading the output's shared
    copy (dashboards.assets), or the whole bundle inline (a self-contained ~5 MB page; the
    benchmark's peer)."""
    return (
        f"<script>{get_plotlyjs()}</script>"
        if inline
        else f'<script src="{plotly_src()}"></script>'
    )


def page(
    title: str, run: str, current: str, sections: list[Section], empty_hint: str, *,
    inline_js: bool = False,
) -> str:  # fmt: skip
    """A complete run page: header with navigation, one <section> per input found."""
    nav = " ".join(
        f'<a href="{stem}.html"{" aria-current=page" if stem == current else ""}>{esc(t)}</a>'
        for stem, t in PAGES.items()
    )
    body = _sections_html(sections) or f"<section>{paragraph(empty_hint)}</section>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · {esc(run)}</title><style>{_CSS}</style>"
        f"{plotly_script(inline_js)}</head><body>"
        f'<header><a href="../index.html">All runs</a> · <a href="index.html">Run {esc(run)}</a>'
        f"<h1>{esc(title)}: run {esc(run)}</h1><nav>{nav}</nav></header>"
        f"<main>{body}</main></body></html>\n"
    )


def report_page(title: str, sections: list[Section], *, up: str, inline_js: bool = False) -> str:
    """A page with plots outside a run's navigation (a backtest report)."""
    body = _sections_html(sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style>{plotly_script(inline_js)}</head>"
        f'<body><header><a href="{esc(up)}">All runs</a><h1>{esc(title)}</h1></header>'
        f"<main>{body}</main></body></html>\n"
    )


def plain_page(title: str, body: str, *, up: str | None = None) -> str:
    """A page without plots (the indexes)."""
    link = f'<a href="{up}">All runs</a>' if up else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header>{link}<h1>{esc(title)}</h1></header><main>{body}</main></body></html>\n"
    )
