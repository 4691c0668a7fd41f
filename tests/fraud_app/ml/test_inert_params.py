"""A param set that another param makes do nothing is named in one WARNING per fit
(probe55g): Spark ML fitted it without a word, and a CrossValidator grid over it fitted the
same model at every point."""

from __future__ import annotations

import logging

import pytest

from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier
from fraud_app.ml.params_section import inert_params

from .conftest import FAST


def _inert_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "fraud_app.ml.estimator"
            and r.levelno == logging.WARNING and "but has no effect" in r.getMessage()]  # fmt: skip


def test_a_grid_over_an_inert_param_warns_once_per_fit(vector_df, caplog):
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    caplog.set_level(logging.WARNING)
    clf = DlcoreClassifier(**FAST)  # inputEncoding 'none': encodingBins does nothing
    grid = ParamGridBuilder().addGrid(clf.encodingBins, [4, 16]).build()
    cv = CrossValidator(estimator=clf, estimatorParamMaps=grid, numFolds=2, parallelism=1,
                        evaluator=BinaryClassificationEvaluator(metricName="areaUnderPR"),
                        seed=3)  # fmt: skip
    model = cv.fit(vector_df)
    # the silent wrong result: both grid points fitted the same model
    assert model.avgMetrics[0] == pytest.approx(model.avgMetrics[1], rel=1e-12, abs=0)
    lines = _inert_warnings(caplog)
    # 2 folds x 2 points + the refit of the best point on every row: one line per fit
    assert len(lines) == 5, lines
    assert all(line.startswith("DlcoreClassifier: encodingBins is set (") and
               "inputEncoding is 'none'; set inputEncoding='piecewise_linear'" in line
               for line in lines)  # fmt: skip


@pytest.mark.parametrize(
    "params, name, because",
    [
        (dict(earlyStoppingPatience=5), "earlyStoppingPatience", "no validation rows"),
        (dict(averageBest=3), "averageBest", "no validation rows"),
        (dict(refitPasses=5.0), "refitPasses", "refit is False"),
        (dict(refitMethod="fresh"), "refitMethod", "refit is False"),
        (dict(refit=True, validationFraction=0.2, refitMethod="fresh", refitPasses=5.0),
         "refitPasses", "refitMethod is 'fresh'"),
        (dict(encodingBins=16), "encodingBins", "inputEncoding is 'none'"),
        (dict(lossType="focal", posWeight=3.0), "posWeight", "lossType is 'focal'"),
        (dict(focalGamma=3.0), "focalGamma", "lossType is 'bce'"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("estimator", [DlcoreClassifier, BalancedBaggingClassifier])
def test_each_inert_param_is_named_with_the_param_that_makes_it_so(estimator, params, name,
                                                                   because):  # fmt: skip
    lines = inert_params(estimator(**params))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{estimator.__name__}: {name} is set (") and because in lines[0]


def test_params_in_use_and_defaults_are_not_named():
    assert inert_params(DlcoreClassifier(earlyStoppingPatience=5, validationFraction=0.2,
                                         refit=True, refitPasses=2.0, encodingBins=16,
                                         inputEncoding="piecewise_linear", posWeight=3.0,
                                         lossType="bce")) == []  # fmt: skip
    # set to its default: as a config's default written out, nothing to say
    assert inert_params(DlcoreClassifier(lossType="focal", posWeight=1.0)) == []
