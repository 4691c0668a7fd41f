"""`evaluate` of ROWS generated rows from a driver whose results are capped at 1 MiB
(`spark.driver.maxResultSize: 1m`): run by test_evaluate_small_driver.py in its own
process, as the cap is fixed when the JVM starts. argv: root rows. Prints the report's rows."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from pyspark.sql import functions as F

from dlcore.layers import Linear, Sequential
from dlcore.model import Model
from fraud_app.config import load_config
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.evaluate import run_evaluation
from fraud_app.spark.session import get_spark

NAMES = ["card_seconds_since_prev", "amount_log1p"]
ROOT = Path(__file__).resolve().parents[3]


def main(root: Path, rows: int) -> None:
    spark = get_spark("local[2]", "small-driver", {
        "spark.driver.maxResultSize": "1m", "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
    })  # fmt: skip
    config = load_config(None, {"paths.root": str(root), "tracking.enabled": False,
                                "features.spec_dir": str(ROOT / "feature_specs")})  # fmt: skip
    defs = definitions(feature_set_from_config(config.features), NAMES)
    model = Model(Sequential([Linear(1)]), in_features=2, seed=0)
    FraudEnsemble([model], NAMES, {"features": {"definitions": defs}}).save(root / "m")
    table = root / "features"
    spark.range(rows).select(
        F.format_string("card-%08d", F.col("id") % 5000).alias("card_id"),
        F.date_add(F.lit(dt.date(2024, 1, 1)), (F.col("id") % 10).cast("int")).alias("event_date"),
        (F.rand(1) < 0.05).cast("double").alias("label"),
        F.rand(2).alias(NAMES[0]),
        F.rand(3).alias(NAMES[1]),
        F.lit("card_testing").alias("fraud_pattern"),
    ).write.parquet(str(table))
    entries = [{"name": n, "fill": 0.0, **defs[n]} for n in NAMES]
    meta = {"feature_names": NAMES, "label_delay_days": 7.0, "features": entries}
    (table / "_features.json").write_text(json.dumps(meta))
    report, _ = run_evaluation(spark, config, model_uri=str(root / "m"),
                               start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 10))  # fmt: skip
    print(json.dumps({"rows": report["rows"], "days": report["days"]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
