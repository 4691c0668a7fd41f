"""`features` recomputes only the dates from the first canonical date that changed (session 32).

Each step of a deployment's life (an ETL append of a new day, a late row on an old date,
a labels run filling older labels, a date removed) is followed by the incremental build;
a full rebuild of the same canonical table into another folder follows the last step
(the steps ordered so that none rewrites an earlier step's first recomputed date): the
two tables are equal row for row and value for value (sorted by transaction_id, compared
exactly), and so are their `_features.json` but for their own file names. Both label
modes (label_time, and the label delay alone). Real parts: the ETL, the label feed, local
Spark, files."""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from fraud_app.features.table import read_feature_table

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]
LOGGER = "fraud_app.features.pipeline"

# short windows and a 1-day label delay: 8 days of data reach past every history. One
# line per kind the build knows (each kind's own lookback: a window, a lag, a cap, a
# baseline, a novelty lookback, the label delay; the encodings over the whole history), each
# kind's longest window as before (the history read stays 3 days + the delay: the fraud
# rates and the novelty), one aggregation or window less where more adds no rule (`max`
# kept: the one aggregation on sliding frames, which the others compute on running sums): 21
# features (were 30), each one more column in every Spark plan of every build here
# (docs/PROBES.md, session 37: a full build of these 12 days ~30 % less time).
SPECS = """version: 1
features:
  - {kind: window_agg, entity: card, aggregations: [sum, max, std], windows: [6h, 1d]}
  - {kind: window_agg, entity: card, aggregations: [count], windows: [1d], lag: label_delay}
  - {kind: window_agg, entity: merchant, aggregations: [count], windows: [2d]}
  - {kind: window_agg, entity: card, same: merchant_id, aggregations: [count], windows: [2d], fill_value: -1}
  - {kind: amount_ratio, entity: card, windows: [1d]}
  - {kind: amount_zscore, entity: card, windows: [2d]}
  - {kind: time_since_previous, entity: card, cap: 2d}
  - {kind: velocity_ratio, entity: card, aggregation: sum, window: 6h, baseline: 2d}
  - {kind: fraud_rate, entity: card, windows: [2d], lag: label_delay}
  - {kind: fraud_rate, entity: merchant, window: 2d, mature_only: false}
  - {kind: novelty, entity: card, column: merchant_id, lookback: 2d, windows: [1d]}
  - {kind: frequency_encoding, columns: [mcc]}
  - {kind: target_encoding, columns: [mcc], smoothing: 5}
  - {kind: cross_border}
  - {kind: calendar, parts: [hour_of_day]}
  - {kind: column, column: amount, transform: log1p}
"""
# a merchant sum on running frames: exact DECIMAL running sums (session 52), so the
# incremental build reads its lookback, as for the other features, and gets the bits of a
# full build (with double running sums it read all history: their last bits depended on
# where the sums started)
RUNNING_FLOAT = """version: 1
features:
  - {kind: window_agg, entity: merchant, aggregations: [sum, mean], windows: [1d], frame: running}
"""
HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label,mcc,channel,country,card_country,device_id"


def _rows(day: int, n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        sec = rnd.randrange(86_400)
        ts = f"2024-03-{day:02d} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
        fraud = rnd.random() < 0.08
        out.append({
            "transaction_id": f"t{day:02d}{i:03d}", "card_id": f"c{rnd.randrange(15)}",
            "merchant_id": f"m{rnd.randrange(6)}", "timestamp": ts,
            "amount": f"{rnd.uniform(1, 300):.2f}", "label": str(int(fraud)),
            "mcc": str(5411 + rnd.randrange(4)), "channel": rnd.choice(["POS", "ECOM"]),
            "country": rnd.choice(["DE", "FR"]), "card_country": "DE",
            "device_id": rnd.choice(["", "d1", "d2"]),
            # known 1-3 days later
            "label_time": f"2024-03-{day + 1 + rnd.randrange(3):02d} {ts[11:]}",
        })  # fmt: skip
    return out


def _csv(rows: list[dict], label_time: bool, known_by: int | None = None) -> str:
    """The rows as a delivery; labels not known by the end of day `known_by` left blank."""
    cols = HEADER + (",label_time" if label_time else "")
    lines = [cols]
    for r in rows:
        r = dict(r)
        if known_by is not None and r["label_time"] >= f"2024-03-{known_by + 1:02d}":
            r["label"] = r["label_time"] = ""
        lines.append(",".join(r[c] for c in cols.split(",")))
    return "\n".join(lines) + "\n"


def _project(tmp_path: Path, label_time: bool, extra_specs: str = ""):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(SPECS)
    if extra_specs:
        (specs / "b.yaml").write_text(extra_specs)
    overrides = {"paths.root": str(tmp_path / "root"), "features.spec_dir": str(specs),
                 "features.label_delay_days": 1}  # fmt: skip
    return lambda **more: load_config(None, {**overrides, **more})


def _deliver(spark, cfg, tmp_path: Path, name: str, text: str, mode: str) -> None:
    folder = tmp_path / "deliveries" / name
    folder.mkdir(parents=True)
    (folder / "d.csv").write_text(text)
    run_etl(spark, cfg(**{"etl.input": str(folder), "etl.mode": mode}))


def _table(spark, path: str):
    df, _ = read_feature_table(spark, path)
    return df.toPandas().sort_values("transaction_id").reset_index(drop=True)


def _meta(path: str) -> dict:
    meta = json.loads((Path(path) / "_features.json").read_text())
    meta["data_files"].pop("digest")  # the part files' names: unique to every write
    return meta


def _same_as_full(spark, cfg, tmp_path: Path, step: str) -> dict:
    """The incremental table equals a full rebuild of the same input (exact). The rebuild is
    asked for (`features.incremental: false`): a full build saying so, which the plan decides
    before it looks at any table (test_incremental_rebuilds' changed-setting test relies on
    this check: its own build of that setting was one more full build of its table)."""
    full = str(tmp_path / f"full-{step}")
    summary = build_feature_table(
        spark, cfg(**{"features.output": full, "features.incremental": False})
    )
    build = summary.extra["build"]
    assert build["mode"] == "full" and "features.incremental: false" in build["reason"], build
    config = cfg()
    mine, theirs = _table(spark, config.feature_table()), _table(spark, full)
    assert list(mine.columns) == list(theirs.columns)
    assert len(mine) == len(theirs) and len(mine) > 0
    for column in mine.columns:
        a, b = mine[column].tolist(), theirs[column].tolist()
        if column == "features":
            a, b = [list(v) for v in a], [list(v) for v in b]
        assert a == b or (str(a) == str(b)), f"{step}: column {column} differs"
    meta_mine, meta_full = _meta(config.feature_table()), _meta(full)
    assert meta_mine == meta_full, step
    return meta_mine


def _part_files(table: str) -> dict[str, list[str]]:
    """The feature table's Parquet part files by date (a date written again gets new names)."""
    return {d.name.split("=", 1)[1]: sorted(f.name for f in d.glob("*.parquet"))
            for d in Path(table).glob("event_date=*")}  # fmt: skip


def _build(spark, config, caplog) -> tuple[dict, str]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        summary = build_feature_table(spark, config)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("features: ")]
    return summary.extra["build"], "\n".join(lines)


@pytest.mark.parametrize("label_time", [True, False], ids=["label_time", "delay_only"])
def test_the_incremental_build_equals_a_full_rebuild(spark, tmp_path, caplog, label_time):
    """8 days (were 12): the fewest that put every history read past the data's first date
    (the append's, from 2024-03-08: back to 2024-03-05 00:00, 3 days). One full rebuild
    (were four, then two; session 52): the steps run in the order of their first recomputed
    date after the late row's (from 2024-03-02: the removal from 2024-03-04, the labels
    from >= 2024-03-06 (delay-only: a fraud's label reaches from its next day), the new
    day appended last, from 2024-03-08), so no later step rewrites an earlier step's start
    date, and the one comparison at the end sees every step's start date as that step
    wrote it; a history read short shows on the start date itself. Dates a step
    recomputed and a later one rewrote are checked by their part files (the removal's)."""
    cfg = _project(tmp_path, label_time, "" if label_time else RUNNING_FLOAT)
    days = {d: _rows(d, 30, d) for d in range(1, 9)}
    history = [r for d in range(1, 7) for r in days[d]]
    _deliver(spark, cfg, tmp_path, "history", _csv(history, label_time, 6), "replace")
    build, log = _build(spark, cfg(), caplog)
    assert build == {"mode": "full", "reason": "no feature table yet"}
    assert "full build" in log and "no feature table yet" in log

    # a late row on an old date (and the next day): from that date on
    late = dict(days[2][0], transaction_id="late1", timestamp="2024-03-02 23:59:00",
                label_time="2024-03-03 10:00:00")  # fmt: skip
    _deliver(spark, cfg, tmp_path, "late", _csv([late, *days[7]], label_time, 7), "append")
    build, _ = _build(spark, cfg(), caplog)
    assert build["from"] == "2024-03-02" and "2024-03-07" in build["changed_dates"], build

    # nothing changed: nothing recomputed
    build, _ = _build(spark, cfg(), caplog)
    assert build == {"mode": "incremental", "from": None, "changed_dates": [], "removed_dates": []}

    # a date removed from the canonical table (a retention script), the record accepted
    canonical = Path(cfg().canonical_table())
    shutil.rmtree(canonical / "event_date=2024-03-04")
    (canonical / "_files.json").unlink()
    files = _part_files(cfg().feature_table())
    build, log = _build(spark, cfg(), caplog)
    assert build["from"] == "2024-03-04" and build["removed_dates"] == ["2024-03-04"], build
    assert "recomputing the dates from 2024-03-04" in log
    # every later date rewritten, the earlier ones kept: the labels' step recomputes from
    # >= 03-06, so the compare cannot see a removal that left 03-06.. as they were (their
    # windows still counting 03-04's rows); each write names its files anew
    now = _part_files(cfg().feature_table())
    assert sorted(now) == sorted(set(files) - {"2024-03-04"}), (files, now)
    for day in now:
        kept = now[day] == files[day]
        assert kept == (day < "2024-03-04") and (kept or not set(now[day]) & set(files[day])), day

    # labels filled on older dates (known since; delay-only: no label_time column)
    blank = [r for d in range(5, 8) for r in days[d] if r["label_time"] >= f"2024-03-{d + 1:02d}"]
    feed = tmp_path / "feed.csv"
    feed.write_text("transaction_id,label" + (",label_time" if label_time else "") + "\n" + "".join(
        f"{r['transaction_id']},{r['label']}" + (f",{r['label_time']}" if label_time else "") + "\n"
        for r in blank
    ))  # fmt: skip
    assert run_labels(spark, cfg(), [str(feed)]).labels_filled > 0
    build, _ = _build(spark, cfg(), caplog)
    assert build["mode"] == "incremental" and "2024-03-06" <= build["from"] < "2024-03-08", build

    # a new day appended: only that date recomputed
    _deliver(spark, cfg, tmp_path, "d8", _csv(days[8], label_time, 8), "append")
    build, log = _build(spark, cfg(), caplog)
    assert build["mode"] == "incremental" and build["from"] == "2024-03-08", build
    assert build["changed_dates"] == ["2024-03-08"]
    meta = _same_as_full(spark, cfg, tmp_path, "all")
    assert not (Path(cfg().feature_table()) / "event_date=2024-03-04").exists()
    assert "2024-03-04" not in meta["incremental"]["partitions"]
