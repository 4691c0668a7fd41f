"""The value counts' pass numbers a column's ids to find its hot ids and counts its groups
of ids in several spellings in one query (fraud_app.features.value_counts._collected): the
count must not buffer a column's whole id set in one task (10^7 cards), which the hot ids'
own window never did (its rows cut to the first few as they left the sort). Measured as
the Window operators' spill with a small buffer: 2,000 distinct cards spilled 8 MiB when
the groups were counted over the ids' partition (session 44 review)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from fraud_app.features.hot_keys import find_hot_keys
from fraud_app.features.id_spellings import find_spellings
from fraud_app.features.spec import parse_spec
from fraud_app.features.value_counts import value_counts

pytestmark = pytest.mark.spark

SPEC = """
version: 1
features:
  - {kind: window_agg, entity: card, aggregations: [count], windows: [1d]}
"""
BUFFER = {  # rows a window holds in memory, then spills (Spark's defaults: 4096, 2^31 - 1)
    "spark.sql.windowExec.buffer.in.memory.threshold": "100",
    "spark.sql.windowExec.buffer.spill.threshold": "1000",
}


def _window_spill(spark, call) -> int:
    """How many spill sizes > 0 the Window operators of the queries `call` ran show."""
    store = spark._jsparkSession.sharedState().statusStore()
    before = store.executionsCount()
    call()
    spilled, runs = 0, store.executionsList(before, 1000).iterator()
    while runs.hasNext():
        run = runs.next().executionId()
        values, nodes = store.executionMetrics(run), store.planGraph(run).allNodes().iterator()
        while nodes.hasNext():
            node = nodes.next()
            metrics = node.metrics().iterator()
            while metrics.hasNext():
                m = metrics.next()
                value = values.get(m.accumulatorId())
                if "Window" in node.name() and m.name() == "spill size" and value.isDefined():
                    sizes = re.findall(r"([0-9.]+) (?:B|KiB|MiB|GiB)", value.get())
                    spilled += sum(float(x) > 0 for x in sizes)
    return spilled


def test_the_groups_count_does_not_buffer_a_columns_ids(spark):
    features = tuple(s.feature for s in parse_spec(SPEC, source="t"))
    t, d = dt.datetime(2024, 3, 1, 10), dt.date(2024, 3, 1)
    cards = [f"c{i}" for i in range(2000)] + ["C7", "c7", "007", "7"]
    rows = [(f"t{i}", c, t, 1.0, d) for i, c in enumerate(cards)]
    df = spark.createDataFrame(
        rows, "transaction_id string, card_id string, timestamp timestamp, amount double, "
        "event_date date",
    )  # fmt: skip
    found = {}

    def run():
        with value_counts(df, features) as counts:
            found.update(hot=find_hot_keys(counts, features), spellings=find_spellings(counts))

    old = {k: spark.conf.get(k, None) for k in BUFFER}
    for k, v in BUFFER.items():
        spark.conf.set(k, v)
    try:
        spilled = _window_spill(spark, run)
    finally:
        for k, v in old.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)
    assert spilled == 0  # ed504662: the groups' count spilled (8 MiB at these thresholds)
    assert found["hot"] == []
    assert found["spellings"] == {
        "card_id": {"case": {"groups": 1, "examples": [["C7", "c7"]]},
                    "leading zeros": {"groups": 1, "examples": [["007", "7"]]}}
    }  # fmt: skip
