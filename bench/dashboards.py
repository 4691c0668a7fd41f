"""Benchmark: render every dashboard page of one run (5 members, 60 scored days).

Inputs are synthetic files that follow the contracts (dashboards.synthetic: training
report with per-group history, evaluation JSON, scoring summaries, test scores Parquet
with member and baseline columns, validation, ETL, quarantine, canonical per-day files).

Ours: pages that load the output's one shared `assets/plotly-<version>.min.js`.
Peer (same run, same figures): plotly's self-contained pages, plotly.js inline in every
page (`include_plotlyjs=True`), the usual way to get offline plotly HTML.

Figures: `dashboards_seconds` (median of --repeat cold renders into a fresh directory,
rounds interleaved with the peer's;
target <= 10 s), `largest_page_bytes` (target <= 5 MB), the peer's, and the ratios.
Prints ONE JSON line at the end.

    python bench/dashboards.py [--members 5] [--days 60] [--test-rows 20000] [--repeat 3]

With `--year DAYS [DAYS ...]` it measures instead every run of a deployment DAYS days into
production, ours (a report index per render) against the code path before it (every run
parsing every report), in the same run (bench/_dashboards_year.py):

    python bench/dashboards.py --year 30 182 365 --repeat 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

# Run as a script, this file's folder is sys.path[0] and its name would shadow the
# `dashboards` package it measures.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from dashboards import DashboardOptions, render_run  # noqa: E402
from dashboards.synthetic import SyntheticRun, write_run  # noqa: E402

MB = 1_000_000


def _once(sources, run: str, options: DashboardOptions, out: Path) -> tuple[float, int, int]:
    """One cold render into a fresh directory: (seconds, largest page, bytes written)."""
    src = replace(sources, output=out)
    t0 = time.perf_counter()
    written = render_run(src, run, options)
    seconds = time.perf_counter() - t0
    largest = max(p.stat().st_size for p in written if p.suffix == ".html")
    total = sum(p.stat().st_size for p in written)
    shutil.rmtree(out)
    return seconds, largest, total


def _measure(sources, run: str, repeat: int) -> tuple[dict, dict]:
    """Interleaved rounds (ours, then the peer) so machine noise hits both sides."""
    sides = {"ours": DashboardOptions(), "peer": DashboardOptions(inline_plotlyjs=True)}
    runs: dict[str, list] = {k: [] for k in sides}
    for i in range(repeat):
        for name, options in sides.items():
            runs[name].append(_once(sources, run, options, sources.output.parent / f"{name}-{i}"))
    out = []
    for name in sides:
        times = [r[0] for r in runs[name]]
        out.append({"seconds": statistics.median(times), "all_seconds": [round(t, 2) for t in times],
                    "largest_page_bytes": runs[name][-1][1], "written_bytes": runs[name][-1][2]})  # fmt: skip
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--test-rows", type=int, default=20_000)
    ap.add_argument("--features", type=int, default=35)
    ap.add_argument("--groups", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--year", type=int, nargs="+", metavar="DAYS",
                    help="every run after DAYS days in production, ours vs the pre-index path")  # fmt: skip
    args = ap.parse_args()
    if args.year:
        return _main_year(args.year, args.repeat)
    spec = SyntheticRun(run="bench", members=args.members, groups=args.groups,
                        scored_days=args.days, test_rows=args.test_rows, features=args.features)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        sources = write_run(Path(tmp), spec)
        render_run(replace(sources, output=Path(tmp) / "warm"), "bench")  # imports, caches
        ours, peer = _measure(sources, "bench", args.repeat)
    print(f"ours (shared assets/plotly-<version>.min.js): {ours}")
    print(f"peer (plotly.js inline per page): {peer}")
    print(json.dumps({
        "bench": "dashboards", "members": args.members, "scored_days": args.days,
        "test_rows": args.test_rows, "features": args.features, "groups": args.groups,
        "dashboards_seconds": round(ours["seconds"], 2),
        "largest_page_bytes": ours["largest_page_bytes"],
        "run_dir_bytes": ours["written_bytes"],
        "peer": "plotly include_plotlyjs=True (inline)",
        "peer_seconds": round(peer["seconds"], 2),
        "peer_largest_page_bytes": peer["largest_page_bytes"],
        "peer_run_dir_bytes": peer["written_bytes"],
        "seconds_ratio_peer_over_ours": round(peer["seconds"] / ours["seconds"], 2),
        "largest_page_ratio_peer_over_ours": round(peer["largest_page_bytes"] / ours["largest_page_bytes"], 1),
        "target_seconds_met": ours["seconds"] <= 10,
        "target_page_met": ours["largest_page_bytes"] <= 5 * MB,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "load_1m": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


def _main_year(days: list[int], repeat: int) -> None:
    # by path: this folder is off sys.path (see the top), so a plain import cannot find it
    spec = importlib.util.spec_from_file_location("_dashboards_year", _HERE / "_dashboards_year.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    measure_year = module.measure_year
    with tempfile.TemporaryDirectory() as tmp:
        sizes = []
        for d in days:
            sizes.append(measure_year(Path(tmp), d, repeat))
            print(f"{d} days: {sizes[-1]}")
    year = sizes[-1]
    print(json.dumps({
        "bench": "dashboards_year", "repeat": repeat, "sizes": sizes,
        "render_all_seconds": year["render_all_seconds"],
        "peer": "UncachedIndex (every run parses every report: the code before the index)",
        "peer_render_all_seconds": year["peer_render_all_seconds"],
        "seconds_ratio_peer_over_ours": year["seconds_ratio_peer_over_ours"],
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "load_1m": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
