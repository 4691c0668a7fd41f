"""Model evaluation over time: rolling backtest folds, ranking metrics an investigations
team uses (recall at a daily alert budget, card precision@k), and baselines.

    config.py    BacktestSection (the `backtest` config section)
    folds.py     plan_folds(...) -> [Fold]: train / validation / gap / test windows per fold
    ranking.py   daily_alert_recall, card_precision_at_k, fold_metrics (NumPy / pandas)
    baseline.py  gradient-boosted trees on the same features (Spark GBT or XGBoost)
    spark_ranking.py, spark_cards.py, spark_window.py, spark_folds.py, spark_scores.py,
    spark_train.py
                 the same figures computed on the executors (`evaluate`, backtest folds,
                 `train`'s test window and baselines, past `fits_on_driver`):
                 the driver receives per-day and per-partition sums, not the rows
"""
