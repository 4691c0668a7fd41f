"""Daily deliveries of a tiny table for the Spark-jobs counts (the test of a features build's
jobs and bench/spark_jobs.py): 30 rows a day of 2024-03-<day>, 15 cards, 6 merchants,
every optional column, labels known 1-3 days later (the shape of
tests/fraud_app/features/test_incremental_build.py)."""

from __future__ import annotations

import random
from pathlib import Path

HEADER = (
    "transaction_id,card_id,merchant_id,timestamp,amount,label,mcc,channel,country,"
    "card_country,label_time\n"
)


def day_rows(day: int, n: int = 30) -> str:
    """`n` CSV lines of 2024-03-<day>, the same for the same day."""
    rnd, lines = random.Random(day), []
    for i in range(n):
        sec = rnd.randrange(86_400)
        ts = f"2024-03-{day:02d} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
        known = f"2024-03-{day + 1 + rnd.randrange(3):02d} {ts[11:]}"
        lines.append(
            f"t{day:02d}{i:03d},c{rnd.randrange(15)},m{rnd.randrange(6)},{ts},"
            f"{rnd.uniform(1, 300):.2f},{int(rnd.random() < 0.08)},{5411 + rnd.randrange(4)},"
            f"{rnd.choice(['POS', 'ECOM'])},{rnd.choice(['DE', 'FR'])},DE,{known}\n"
        )
    return "".join(lines)


def deliver(spark, root: Path, folder: Path, days, mode: str) -> None:
    """Write `days` as one CSV under `folder` and run the ETL (`mode`) into `root`."""
    from fraud_app.config import load_config
    from fraud_app.etl.pipeline import run_etl

    folder.mkdir(parents=True)
    (folder / "d.csv").write_text(HEADER + "".join(day_rows(d) for d in days))
    run_etl(spark, load_config(None, {"paths.root": str(root), "etl": {"input": str(folder),
                                                                        "mode": mode}}))  # fmt: skip
