"""The estimators read a text label with ETL's built-in spellings: the one list,
fraud_app.etl.config.BUILTIN_LABELS (fraud_app.ml.data held a copy of its own)."""

from __future__ import annotations

import pytest

from fraud_app.etl.config import BUILTIN_LABELS
from fraud_app.ml.data import label_column

pytestmark = pytest.mark.spark


def _read(spark, texts):
    df = spark.createDataFrame([(t,) for t in texts], "label string")
    return [r[0] for r in df.select(label_column(df, "label", "fit")).collect()]


def test_every_builtin_spelling_reads_as_etl_reads_it(spark):
    texts = [*BUILTIN_LABELS, *(f" {k.upper()} " for k in BUILTIN_LABELS)]
    expected = [float(BUILTIN_LABELS[t.strip().lower()]) for t in texts]
    assert _read(spark, texts) == expected
    # other text: a number when it is one, else null (the binary-label check names it)
    assert _read(spark, ["1.0", "0.0", "2", "fraud", "", None]) == [1.0, 0.0, 2.0, None, None,
                                                                    None]  # fmt: skip


def test_a_spelling_added_to_the_one_list_is_read_by_the_estimators(spark, monkeypatch):
    # one source: a spelling ETL learns, the estimators learn too (a copy did not)
    monkeypatch.setitem(BUILTIN_LABELS, "oui", 1)
    monkeypatch.setitem(BUILTIN_LABELS, "non", 0)
    assert _read(spark, ["oui", "NON", "yes"]) == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("estimator", ["DlcoreClassifier", "BalancedBaggingClassifier"])
def test_text_that_is_no_label_is_named_by_fit(spark, estimator):
    """ "fraud" / "legit" were read as null labels and named "a null or NaN label", which
    the analyst's column does not hold."""
    import fraud_app.ml as ml
    from fraud_app.errors import SchemaError

    rows = [([float(i), 1.0], "fraud" if i % 3 == 0 else "legit") for i in range(30)]
    df = spark.createDataFrame(rows, "features array<float>, kind string")
    clf = getattr(ml, estimator)(labelCol="kind", hiddenLayers=[2], epochs=1.0, batchSize=8,
                                 numWorkers=1)  # fmt: skip
    with pytest.raises(
        SchemaError,
        match=r"label column 'kind' must hold only 0 and 1 .*Label column 'kind' is text, and "
        r"text such as '(fraud|legit)' is neither a number nor a spelling read as 1 / 0 "
        r"\(0, 1, f, false, n, no",
    ):
        clf.fit(df)
