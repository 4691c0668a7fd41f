"""What the strategies draw by: the row id and the label (session 55, probe55b).

The subsets are "deterministic for a seed, independent of partitioning and row order"
(fraud_app.balancing.base). Two inputs broke that, or the draw itself, without a word:
- a capped UnionPay selection over an id held by two rows of different content: the
  copies tied on (hash, id) and row_number took them in the order they reached the sort,
  so another partitioning gave other subsets;
- normals with a null id: xxhash64 skips a null, so all of them hashed alike and fell
  into ONE subset (undersample kept or dropped all of them together).
A boolean or text label failed inside Spark (DATATYPE_MISMATCH / CAST_INVALID_INPUT).
"""

from __future__ import annotations

import pytest

from fraud_app.balancing.undersample import Undersample
from fraud_app.balancing.unionpay import UnionPaySubsets
from fraud_app.balancing.weights import ClassWeights
from fraud_app.errors import SchemaError

pytestmark = pytest.mark.spark


def _rows(subset) -> list[tuple]:
    return sorted(tuple(r) for r in subset.select("transaction_id", "v").collect())


def test_a_capped_selection_of_repeated_ids_does_not_depend_on_the_partitioning(spark):
    # 400 normals under 50 ids (8 rows each, different `v`); the cap keeps 30 per subset.
    # On the base, local[2] input in 1, 2, 7 or 13 partitions gave other rows.
    rows = [(f"f{i}", 1, i, {"k": i}) for i in range(10)]
    rows += [(f"n{i % 50}", 0, i, {"k": i}) for i in range(400)]
    df = spark.createDataFrame(
        rows, "transaction_id string, label int, v int, `m.x` map<string,int>"
    )
    strategy = UnionPaySubsets(n_subsets=2, normal_ratio=3.0, seed=1)
    first = [_rows(s) for s in strategy.balance(df.repartition(1, "v")).subsets]
    assert [len(s) for s in first] == [40, 40]  # 10 frauds + the cap of 30 normals
    for parts in (2, 7, 13):
        again = strategy.balance(df.repartition(parts, "v"))
        assert [_rows(s) for s in again.subsets] == first, parts


@pytest.mark.parametrize(
    "strategy",
    [UnionPaySubsets(n_subsets=4, seed=1), Undersample(normal_ratio=5.0, seed=3)],
    ids=["unionpay_subsets", "undersample"],
)
def test_normals_without_an_id_are_refused(spark, strategy):
    rows = [(f"f{i}", 1) for i in range(10)] + [(f"n{i}", 0) for i in range(200)]
    rows += [(None, 0)] * 40 + [(None, 1)] * 2 + [(None, None)]
    df = spark.createDataFrame(rows, "transaction_id string, label int")
    with pytest.raises(
        SchemaError,
        match=rf"balancing strategy '{strategy.name}': 40 normal \(label = 0\) row\(s\) have a "
        r"null 'transaction_id'; normals are drawn by a hash of their id, .* Expected a "
        r"non-null id per row",
    ):
        strategy.balance(df)


def test_class_weights_read_no_id(spark):
    df = spark.createDataFrame(
        [(None, 1), (None, 0), ("n1", 0)], "transaction_id string, label int"
    )
    assert ClassWeights().balance(df).summary["normals"] == 2


@pytest.mark.parametrize("kind, value", [("boolean", "true"), ("string", "'1'")])
def test_a_label_that_is_not_numeric_is_named(spark, kind, value):
    df = spark.range(3).selectExpr(
        "cast(id as string) transaction_id", f"cast({value} as {kind}) label"
    )
    for strategy in (UnionPaySubsets(), Undersample(), ClassWeights()):
        with pytest.raises(
            SchemaError,
            match=rf"label column 'label' is {kind}; expected a numeric column holding 1 "
            r"\(fraud\), 0 \(normal\) or null",
        ):
            strategy.balance(df)


@pytest.mark.parametrize(
    "values, shown",
    [([2.0, 2.0], "from 2.0 to 2.0"), ([-1.0, 0.5], "from -1.0 to 0.5"), ([float("nan")], "nan")],
)
def test_a_label_other_than_0_1_or_null_is_refused(spark, values, shown):
    # on the base these rows were counted as unlabeled_rows_dropped and left out unseen
    rows = [(f"f{i}", 1.0) for i in range(5)] + [(f"n{i}", 0.0) for i in range(50)]
    rows += [(f"x{i}", v) for i, v in enumerate(values)] + [("u", None)]
    df = spark.createDataFrame(rows, "transaction_id string, label double")
    for strategy in (UnionPaySubsets(n_subsets=2), Undersample(), ClassWeights()):
        with pytest.raises(
            SchemaError,
            match=rf"{len(values)} row\(s\) of label column 'label' hold a value other than 1 "
            rf"\(fraud\), 0 \(normal\) or null \(unknown\): .*{shown}",
        ):
            strategy.balance(df)


@pytest.mark.parametrize(
    "k, advice",
    [
        # the shares are large (~100 normals each): only the ratio caps them, and the advice
        # was "set balancing.unionpay_subsets.n_subsets to at most 20", which changed nothing
        (2, "raise balancing.unionpay_subsets.normal_ratio to at least 1 (0.01 keeps "
            "ceil(normal_ratio x frauds) = 1 normal(s) per subset), or balancing.strategy: "
            "class_weights"),
        # shares too small AND the ratio caps: both settings
        (40, "raise balancing.unionpay_subsets.normal_ratio to at least 1 (0.01 keeps "
             "ceil(normal_ratio x frauds) = 1 normal(s) per subset) and set "
             "balancing.unionpay_subsets.n_subsets to at most 20 (normals // frauds)"),
    ],
)  # fmt: skip
def test_the_fraud_majority_advice_names_a_normal_ratio_that_caps_the_subsets(
    spark, caplog, k, advice
):
    rows = [(f"f{i}", 1) for i in range(10)] + [(f"n{i}", 0) for i in range(200)]
    df = spark.createDataFrame(rows, "transaction_id string, label int")
    with caplog.at_level("WARNING", logger="fraud_app.balancing.unionpay"):
        UnionPaySubsets(n_subsets=k, normal_ratio=0.01, seed=1).balance(df)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and advice in warned[0], warned


def test_the_advice_names_fewer_subsets_when_the_count_is_already_within_the_bound():
    """probe55a's note (lead, session 55): 3 subsets with normals // frauds = 3, one hash
    share short of the frauds: the advice was "set numSubsets to at most 3"."""
    from fraud_app.balancing.unionpay import majority_fix

    keys = ("numSubsets", "normalRatio")
    said = majority_fix(keys, 3, None, 3, None)
    assert said.startswith("set numSubsets to at most 2 (normals // frauds is 3, and 3 shares")
    assert majority_fix(keys, 5, None, 3, None) == (
        "set numSubsets to at most 3 (normals // frauds)"
    )
    assert majority_fix(keys, 2, None, 9, None).startswith("set numSubsets to at most 1 ")
