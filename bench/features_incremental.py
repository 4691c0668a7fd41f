"""Benchmark: one `features` run, incremental vs full, on a project `daily_cycle.py` left.

Marks the recorded state of one canonical date (`--back` dates before the last) as changed
in the feature table's `_features.json` (and reseals its `_files.json`), so the next
incremental run recomputes the dates from there, as after an append or a labels run that
touched that date; then times, in one warm Spark session, a full rebuild and the
incremental run alternately (`--repeats` pairs). INFO lines with the process's ms: the
prelude (value counts, plan), and the write + commit seconds of each build.

    .venv/bin/python bench/features_incremental.py --cycle /tmp/feat32b_cycle200 --days 203
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from daily_cycle import _base_overrides, _config


def _mark(spark, table: str, back: int) -> str:
    from fraud_app.etl.fs import HadoopFs
    from fraud_app.etl.manifest import record

    path = Path(table) / "_features.json"
    meta = json.loads(path.read_text())
    parts = meta["incremental"]["partitions"]
    day = sorted(parts)[-1 - back]
    parts[day] = "changed"
    # its rows' digest too: a change of more than labels (else the run finds the date's
    # labels as they were and recomputes nothing, fraud_app.features.label_changes)
    meta["incremental"].get("digests", {})[day] = "changed"
    path.write_text(json.dumps(meta, indent=2))
    path.with_name("._features.json.crc").unlink(missing_ok=True)
    record(HadoopFs(spark), table, ("_features.json",))
    return day


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycle", type=Path, required=True, help="daily_cycle.py's --out")
    p.add_argument("--days", type=int, required=True, help="its --history + --days")
    p.add_argument("--rows-per-day", type=int, default=100)
    p.add_argument("--back", type=int, nargs="+", default=[0],
                   help="dates before the last marked changed (each in turn)")  # fmt: skip
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(relativeCreated)8.0f ms %(message)s")
    logging.getLogger("fraud_app.features").setLevel(logging.INFO)

    from fraud_app.spark.session import spark_session

    shape = argparse.Namespace(rows_per_day=args.rows_per_day, tracking=False)
    config = _config(args.cycle / "proj", _base_overrides(shape, args.days))
    full = config.model_copy(
        update={"features": config.features.model_copy(update={"incremental": False})}
    )
    spark = spark_session(config)
    out = []
    for back in args.back:
        for _ in range(args.repeats):
            for mode, cfg in (("full", full), ("incremental", config)):
                out.append(_timed(spark, cfg, mode, _mark(spark, config.feature_table(), back)))
                print(json.dumps(out[-1]), flush=True)


def _timed(spark, cfg, mode: str, day: str) -> dict:
    from fraud_app.features.pipeline import build_feature_table

    started = time.monotonic()
    summary = build_feature_table(spark, cfg)
    return {"mode": mode, "from": day, "seconds": round(time.monotonic() - started, 1),
            "write_commit_s": summary.seconds}  # fmt: skip


if __name__ == "__main__":
    main()
