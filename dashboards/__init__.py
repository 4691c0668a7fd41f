"""dashboards: HTML pages rendered from what the workflow saved (JSON reports, Parquet
scores), opened from a file with no server and no network.

Owns: reading the saved files (sources), the data behind each plot (prep, pure and
unit-tested), drawing (pages, html) and writing pages (render). Does not own: running
any workflow step, Spark, MLflow or the app config (imports none of them; the caller
passes paths in `Sources`).

    from dashboards import Sources, render_all
    written = render_all(Sources(reports=Path("work/reports"), output=...))

The names below are imported on first use (PEP 562): `dashboards.render` brings pandas and
plotly (about 2 s of CPU), and every `fraud-app` command imports `dashboards.errors`
(through its parser), which imports this package first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashboards.render import (
        DashboardOptions,
        render_all,
        render_backtest,
        render_index,
        render_run,
    )
    from dashboards.sources import Sources

_HOMES = {
    "DashboardOptions": "dashboards.render",
    "Sources": "dashboards.sources",
    "render_all": "dashboards.render",
    "render_backtest": "dashboards.render",
    "render_index": "dashboards.render",
    "render_run": "dashboards.render",
}
__all__ = [
    "DashboardOptions",
    "Sources",
    "render_all",
    "render_backtest",
    "render_index",
    "render_run",
]


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dashboards' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
