"""dashboards: HTML pages rendered from what the workflow saved (JSON reports, Parquet
scores), opened from a file with no server and no network.

Owns: reading the saved files (sources), the data behind each plot (prep, pure and
unit-tested), drawing (pages, html) and writing pages (render). Does not own: running
any workflow step, Spark, MLflow or the app config (imports none of them; the caller
passes paths in `Sources`).

    from dashboards import Sources, render_all
    written = render_all(Sources(reports=Path("work/reports"), output=...))
"""

from dashboards.render import (
    DashboardOptions,
    render_all,
    render_backtest,
    render_index,
    render_run,
)
from dashboards.sources import Sources

__all__ = [
    "DashboardOptions",
    "Sources",
    "render_all",
    "render_backtest",
    "render_index",
    "render_run",
]
