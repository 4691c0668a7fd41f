"""The year-scale part of bench/dashboards.py (`--year DAYS ...`): every run of a deployment
after DAYS days in production (dashboards.synthetic_year: a training run a week, a scoring
summary and two validation reports a day), rendered by `render_all` as `fraud-app
dashboards` does.

Ours: one ReportIndex per render (each report parsed once for the index, then in full only
by the run it is about). Peer (same run, same files, rounds interleaved): UncachedIndex,
the code path before the index, where every run parsed every report (runs x reports).
Also: the render a scoring job does at its end (pipelines.reporting.render_dashboards with
that job's summary), and the peak Python memory (tracemalloc) of loading every run's
data, one run at a time, with each index.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

from dashboards import render_all
from dashboards.report_index import ReportIndex, UncachedIndex
from dashboards.sources import list_runs, load_run
from dashboards.synthetic_year import SyntheticYear, write_year

MIB = 1 << 20
SIDES = {"ours": ReportIndex, "peer": UncachedIndex}


def _render(sources, index_class, out: Path) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    index = index_class(sources.reports)
    written = render_all(replace(sources, output=out), index=index)
    seconds = time.perf_counter() - t0
    shutil.rmtree(out)
    return seconds, index.parses, len(written)


def _load_peak_mib(sources, index_class) -> float:
    index = index_class(sources.reports)
    tracemalloc.start()
    for run in list_runs(sources):
        load_run(sources, run, index=index)  # dropped before the next, as render_all does
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / MIB, 1)


def _score_render_seconds(root: Path) -> float:
    """What `fraud-app score` adds at its end: the pages of the newest summary's run."""
    from fraud_app.config import load_config
    from pipelines.reporting import render_dashboards

    config = load_config(None, {"paths.root": str(root)})
    summary = json.loads(max((root / "reports").glob("scoring-*.json")).read_text())
    t0 = time.perf_counter()
    render_dashboards(config, scoring_summary=summary)
    return round(time.perf_counter() - t0, 2)


def measure_year(tmp: Path, days: int, repeat: int) -> dict:
    root = tmp / f"year-{days}"
    sources = write_year(root, SyntheticYear(days=days))
    _render(sources, ReportIndex, tmp / f"warm-{days}")  # imports, plotly's caches
    rounds: dict[str, list] = {name: [] for name in SIDES}
    for i in range(repeat):
        for name, index_class in SIDES.items():
            rounds[name].append(_render(sources, index_class, tmp / f"{name}-{days}-{i}"))
    ours, peer = (statistics.median(r[0] for r in rounds[n]) for n in SIDES)
    reports = sum(1 for p in sources.reports.iterdir() if p.suffix == ".json")
    return {
        "days": days, "runs": len(list_runs(sources)), "report_files": reports,
        "pages_written": rounds["ours"][-1][2],
        "render_all_seconds": round(ours, 2), "peer_render_all_seconds": round(peer, 2),
        "all_seconds": [round(r[0], 2) for r in rounds["ours"]],
        "peer_all_seconds": [round(r[0], 2) for r in rounds["peer"]],
        "seconds_ratio_peer_over_ours": round(peer / ours, 2),
        "report_parses": rounds["ours"][-1][1], "peer_report_parses": rounds["peer"][-1][1],
        "load_peak_mib": _load_peak_mib(sources, ReportIndex),
        "peer_load_peak_mib": _load_peak_mib(sources, UncachedIndex),
        "score_render_seconds": _score_render_seconds(root),
    }  # fmt: skip
