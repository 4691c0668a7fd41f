"""Pure logic of scoring and evaluation: threshold, bins, card precision@k, batch checks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from dlcore.daily_ranking import alert_budget, card_precision_at_k
from dlcore.layers import Linear, Sequential, Standardize
from dlcore.model import Model
from fraud_app.errors import ScoringInputError
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import ScoringOptions, score_arrow_column
from fraud_app.scoring.dates import dates_without_rows
from fraud_app.scoring.evaluation import pattern_recall
from fraud_app.scoring.reference import alert_threshold, bin_counts, decile_edges, reference_block


def test_alert_threshold_raises_the_budget_share_of_alerts():
    scores = np.arange(1000) / 1000.0
    t = alert_threshold(scores, 0.01)
    assert (scores >= t).sum() == 10
    assert t == pytest.approx(0.990)
    assert alert_threshold([0.3], 0.001) == 0.3  # at least one alert


def test_bins_are_right_closed_and_collapse_on_ties():
    edges = decile_edges(np.r_[np.zeros(80), np.arange(1, 21)])
    assert edges[1] == 0.0 and len(edges) < 9  # most values tie at zero
    # the minimum is a cut point: a cut just below it gives values below the range a bin
    assert edges[0] == np.nextafter(0.0, -np.inf)
    assert bin_counts([0.0, 0.0, 1e9, -1.0], edges)[:2].tolist() == [1, 2]  # right-closed
    assert bin_counts([0.0], edges).sum() == 1 and len(bin_counts([0.0], edges)) == len(edges) + 1
    ref = reference_block(np.c_[np.arange(100.0), np.ones(100)], np.linspace(0, 1, 100))
    assert np.allclose([sum(p) for p in ref["feature_props"]], 1.0)
    assert ref["feature_edges"][1] == [np.nextafter(1.0, -np.inf), 1.0]
    assert ref["feature_props"][1] == [0.0, 1.0, 0.0]
    assert decile_edges(np.arange(100.0))[0] > 0  # a spread minimum: the deciles alone


def test_alert_threshold_rounds_up_as_the_daily_budget_does():
    # 0.025 * 100 = 2.5: ceil 3, as the daily budget counts (round() gave 2)
    scores = np.arange(100) / 100.0
    assert (scores >= alert_threshold(scores, 0.025)).sum() == 3
    assert (scores >= alert_threshold(scores, 0.07)).sum() == 7  # 7.000000000000001


def test_budget_metrics_alert_the_top_share_of_each_day():
    labels = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05])
    days = np.array(["d1"] * 5 + ["d2"] * 5)
    m = alert_budget(labels, scores, days, 0.2)
    # one alert a day: d1's 0.9 (fraud); d2's cut-off 0.1 is shared by 4 normals, all in
    # (session 50: it was the earliest of them, so the row order chose the alert)
    assert m["alerts"] == 5 and m["precision"] == 0.2 and m["recall"] == pytest.approx(1 / 3)
    assert m["threshold"] == 0.1 and m["alerts_per_day"] == 2.5 and m["scope"] == "day"
    assert m["daily_thresholds"] == {"min": 0.1, "median": pytest.approx(0.5), "max": 0.9}


def test_card_precision_at_k_excludes_cards_caught_on_earlier_days():
    days = np.array(["d1", "d1", "d1", "d2", "d2", "d2", "d2"])
    cards = np.array(["a", "b", "c", "a", "b", "c", "c"])
    labels = np.array([1, 0, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.1, 0.99, 0.5, 0.2, 0.6])
    out = card_precision_at_k(days, cards, labels, scores, k=2)
    # day 1: top-2 cards a (fraud), b (not) -> 0.5; a is caught and blocked.
    # day 2: a left out; c (max 0.6, compromised) and b (0.5) -> 0.5.
    assert [d["precision"] for d in out["per_day"]] == [0.5, 0.5]
    assert out["per_day"][1]["cards"] == 2 and out["mean"] == 0.5
    # without the exclusion day 2 would rank a first and give 1.0 for k=2 (a and c)
    single = card_precision_at_k(days[3:], cards[3:], labels[3:], scores[3:], k=2)
    assert single["per_day"][0]["precision"] == 1.0


def test_card_precision_divides_by_k_and_shows_a_small_days_cards():
    # Le Borgne et al.'s definition (session 20): one compromised card of one, k = 100
    out = card_precision_at_k(
        np.array(["d"]), np.array(["x"]), np.array([1]), np.array([0.3]), k=100
    )
    assert out["per_day"] == [{"date": "d", "precision": 0.01, "cards": 1}]


def test_pattern_recall_per_pattern_within_the_daily_alerts():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2])
    patterns = np.array(["p", "p", "q", None, None, None, None, None, None, None], dtype=object)
    days = np.array(["d1"] * 10)
    assert pattern_recall(labels, scores, patterns, 0.2, days) == {"p": 0.5, "q": 1.0}
    # one alert a day over two days: d1's 0.9 (p) and d2's first 0.2; q's 0.8 missed
    days = np.array(["d1"] * 3 + ["d2"] * 7)
    assert pattern_recall(labels, scores, patterns, 0.1, days) == {"p": 0.5, "q": 0.0}


def test_the_models_threshold_on_the_window_beside_the_daily_budget():
    from fraud_app.scoring.evaluation import evaluation_report

    labels = np.array([1, 0, 0, 0, 0, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.95, 0.9, 0.85, 0.6])
    days = np.array(["d1"] * 4 + ["d2"] * 4)
    report = evaluation_report(labels=labels, scores=scores, days=days, cards=None,
                               patterns=None, budgets=(0.25,), card_k=1, pattern_budget=0.25,
                               threshold=0.8)  # fmt: skip
    # a fixed score: d1 raises 2 alerts, d2 3 (its daily budget: 1 each)
    assert report["model_threshold"] == {
        "threshold": 0.8, "alerts": 5, "alerts_per_day": 2.5, "alerts_per_day_min": 2,
        "alerts_per_day_max": 3, "precision": 0.4, "recall": 1.0,
    }  # fmt: skip
    assert report["alert_budgets"][0]["alerts"] == 2
    no_threshold = evaluation_report(labels=labels, scores=scores, days=days, cards=None,
                                     patterns=None, budgets=(0.25,), card_k=1,
                                     pattern_budget=0.25)  # fmt: skip
    assert "model_threshold" not in no_threshold


# -- one Arrow batch through the scoring function, no Spark ---------------------------
D = 3


def _ensemble():
    members = []
    for seed in (0, 1):
        m = Model(
            Sequential([Standardize(name="standardize"), Linear(1)]), in_features=D, seed=seed
        )
        m.layer.layers[0].set_statistics(np.zeros(D), np.ones(D))
        members.append(m)
    return FraudEnsemble(members, ["a", "b", "c"], {"scoring": {"feature_means": [0.0] * D}})


def _column(rows):
    return pa.array(rows, pa.list_(pa.float32()))


def test_every_row_length_is_checked_not_only_the_batch_total():
    # 2 + 4 = 2 * 3 values: a batch-total check would pass and shift the features
    with pytest.raises(
        ScoringInputError, match=r"2 of 2 rows do not hold 3 .* lengths seen: \[2, 4\]"
    ):
        score_arrow_column(_column([[1, 2], [3, 4, 5, 6]]), _ensemble(), ScoringOptions())
    with pytest.raises(ScoringInputError, match="null vectors: 1"):
        score_arrow_column(_column([[1, 2, 3], None]), _ensemble(), ScoringOptions())


def test_nonfinite_features_fail_naming_rows_and_features():
    rows = [[1, 2, 3], [np.nan, 0, 0], [0, np.inf, 0], [0, 0, 0]]
    with pytest.raises(
        ScoringInputError, match=r"2 of 4 rows have NaN or infinite features \['a', 'b'\]"
    ):
        score_arrow_column(_column(rows), _ensemble(), ScoringOptions())


def test_a_double_beyond_float32_is_named_as_such():
    # the feature table's double column holds 1e39, a number; the model's float32 input
    # holds inf: the error said "NaN or infinite ... fix the feature table" and no more
    rows = pa.array([[1.0, 2.0, 3.0], [0.0, 1e39, 0.0]], pa.list_(pa.float64()))
    with pytest.raises(
        ScoringInputError,
        match=r"1 of 2 rows have NaN or infinite features \['b'\] \(b: the model reads float32 "
        r"features, where a value beyond \+-3\.4e\+38, such as an amount sum of 1e39 that a "
        r"raised etl\.bounds\.max_amount admitted, is infinite\): fix the feature table",
    ):
        score_arrow_column(rows, _ensemble(), ScoringOptions())


def test_finite_features_whose_sum_overflows_float32_are_scored():
    # the batch check sums the features first: 3e38 + 3e38 is inf in float32, yet every
    # value is finite, so every row is scored
    rows = [[3e38, 3e38, 1.0], [3e38, 0.0, 3e38], [-3e38, -3e38, -3e38]]
    (score,) = score_arrow_column(_column(rows), _ensemble(), ScoringOptions())
    assert score.null_count == 0
    np.testing.assert_allclose(
        score.to_numpy(), _ensemble().predict_proba(np.array(rows, dtype=np.float32)), rtol=1e-6
    )


def test_nonfinite_null_policy_gives_null_score_and_flag():
    rows = [[1, 2, 3], [np.nan, 0, 0], [0, 0, 0]]
    opts = ScoringOptions(nonfinite="null", members=True, threshold=0.5, reasons=2)
    ens = _ensemble()
    score, m0, _m1, alert, r1, _r2, flag = score_arrow_column(
        _column(rows), ens, opts, baseline=np.zeros(D)
    )
    assert (
        score.null_count == 1 and not score[1].is_valid and flag.to_pylist() == [False, True, False]
    )
    expected = ens.predict_proba(np.array([rows[0], rows[2]], dtype=np.float32))
    np.testing.assert_allclose([score[0].as_py(), score[2].as_py()], expected, rtol=1e-6)
    assert r1[1].as_py() is None and r1[0].as_py() in {"a", "b", "c"}
    assert alert[1].as_py() is None and m0.null_count == 1


@pytest.mark.parametrize("uri", ["models:/fraud-ensemble@champion", "runs:/abc/ensemble"])
def test_a_registry_uri_with_tracking_off_says_so(tmp_path, uri):
    """`fraud-app score` with tracking.enabled: false and the default scoring.model looked
    the name up in an empty embedded store: 'registered model ... does not exist; see
    `fraud-app models`' (which refuses to run with tracking off)."""
    from fraud_app.config import load_config
    from fraud_app.errors import ModelLoadError
    from fraud_app.scoring.model_source import load_scoring_model

    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    with pytest.raises(ModelLoadError, match=rf"^model '{uri}' is a registry URI, but tracking.enabled is false .*: give an ensemble directory \(paths.models/<run>\) instead"):  # fmt: skip
        load_scoring_model(uri, config)
    assert not (tmp_path / "mlflow.db").exists()  # no store created


def test_dates_without_rows_lists_the_range_minus_the_scored_dates():
    d = dt.date
    scored = ["2024-03-02", dt.date(2024, 3, 4)]
    assert dates_without_rows(d(2024, 3, 1), d(2024, 3, 4), scored) == ["2024-03-01", "2024-03-03"]
    assert dates_without_rows(d(2024, 3, 2), d(2024, 3, 2), scored) == []


def _fused_ensemble():
    from dlcore.layers import ReLU

    members = []
    for seed in (0, 1):
        layers = [Standardize(clip=3.0, name="standardize"), Linear(6), ReLU(), Linear(1)]
        m = Model(Sequential(layers), in_features=D, seed=seed)
        m.layer.layers[0].set_statistics(np.zeros(D), np.ones(D))
        members.append(m)
    return FraudEnsemble(members, ["a", "b", "c"], {"scoring": {"feature_means": [0.0] * D}})


@pytest.mark.parametrize("make", [_ensemble, _fused_ensemble])
def test_a_feature_beyond_the_clip_is_a_reason_and_scores_are_predict_probas(make):
    """Session 19 probe: a clipped input got no attribution, so no reason named it. The
    score column stays predict_proba's bits (the pyfunc model's numbers)."""
    ens = make()
    assert (ens.fused() is not None) == (make is _fused_ensemble)
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((40, D)).astype(np.float32) * 0.3
    rows[::4, 0] = 9e9  # far beyond the clip (training: mean 0, sd 1)
    score, r1, _r2, _r3 = score_arrow_column(
        _column(rows.tolist()), ens, ScoringOptions(reasons=3), baseline=np.zeros(D)
    )
    np.testing.assert_array_equal(score.to_numpy(), ens.predict_proba(rows))
    first = np.array(r1.to_pylist())
    assert (first[::4] == "a").all()  # the clipped feature leads its rows' reasons
    assert ens.predict_proba(rows[:1])[0] == score[0].as_py()


def test_training_range_is_where_the_standardisation_clips():
    from fraud_app.scoring.reference import training_range

    low, high = training_range(_fused_ensemble())
    np.testing.assert_array_equal(low, [-3.0] * D)
    np.testing.assert_array_equal(high, [3.0] * D)
    no_clip = Model(Sequential([Standardize(clip=None), Linear(1)]), in_features=D, seed=0)
    assert training_range(FraudEnsemble([no_clip], ["a", "b", "c"], {})) is None
