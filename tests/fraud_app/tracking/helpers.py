"""Small deterministic ensembles and data for the tracking tests (no training needed)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from types import SimpleNamespace

import numpy as np

from dlcore.layers import Linear, Sequential
from dlcore.model import Model
from fraud_app.config import load_config
from fraud_app.models.ensemble import FraudEnsemble

D = 4
NAMES = [f"f{i}" for i in range(D)]


def rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.standard_normal(n) > 1.0).astype(np.float64)
    return X, y


def linear_ensemble(weight0: float, *, members: int = 2) -> FraudEnsemble:
    """Members score w * x0 (+ a little of x1): weight0 > 0 ranks frauds first, < 0 last."""
    out = []
    for k in range(members):
        m = Model(Sequential([Linear(1)]), in_features=D, seed=k)
        w = np.zeros(D + 1, dtype=np.float32)
        w[0], w[1] = weight0, 0.1 * (k + 1)
        m.params.set_data(w)
        out.append(m)
    return FraudEnsemble(out, list(NAMES), {"test": True})


def frame(spark, X: np.ndarray, y: np.ndarray):
    schema = "transaction_id string, features array<float>, label double"
    data = [(f"t{i}", X[i].tolist(), float(y[i])) for i in range(len(y))]
    return spark.createDataFrame(data, schema).coalesce(1)


def config(tmp_path, **overrides):
    return load_config(None, {"paths.root": str(tmp_path), **overrides})


def splits(validation_df) -> SimpleNamespace:
    """What lifecycle.register_and_gate reads of a SplitResult."""
    w = SimpleNamespace(start=dt.datetime(2024, 2, 1), end=dt.datetime(2024, 2, 6))
    return SimpleNamespace(validation=validation_df, windows=(None, w, None))


def gate_on_rows(cfg, tmp_path, ensemble: FraudEnsemble, run: str, rows):
    """(outcome, tracker): `ensemble` saved, logged and registered as run `run` through the
    promotion gate on collected validation rows (X, labels), as `fraud-app train` does when
    training collected the window: no Spark job. test_registry checks that this gate decides
    as the one scoring with Spark does."""
    from fraud_app.models.train import evaluate_scores
    from fraud_app.tracking.runs import start_training_run
    from pipelines.training import gate, lifecycle

    model_dir = ensemble.save(tmp_path / "models" / run)
    X, y = rows
    new_ap = evaluate_scores(y, ensemble.predict_proba(X))["average_precision"]
    with start_training_run(cfg, run) as tracker:
        ctx = gate.GateContext(cfg, NAMES, splits(None), new_ap, "features", rows=rows)
        out = lifecycle.register_and_gate(
            tracker, lifecycle.start_model_logging(tracker, model_dir, ctx)
        )
    return out, tracker


def champion_and_challenger(cfg, tmp_path, validation):
    """v1 (an ensemble that ranks the frauds) gated to champion, then v2 (its reverse) to
    challenger, both on `validation`; returns v2's tracker (the promote tests' start)."""
    gate_on_rows(cfg, tmp_path, linear_ensemble(2.0), "r1", validation)
    return gate_on_rows(cfg, tmp_path, linear_ensemble(-2.0), "r2", validation)[1]


def two_gated_versions(tmp_path):
    """(client, model name, experiment id, the version that is not the champion) of a
    sqlite store under `tmp_path` holding two versions registered through the gate."""
    import mlflow

    from fraud_app.tracking.registry import alias_version

    cfg = config(tmp_path)
    data = rows(400, seed=3)
    _, tracker = gate_on_rows(cfg, tmp_path, linear_ensemble(-2.0), "champ", data)
    gate_on_rows(cfg, tmp_path / "b", linear_ensemble(-1.0), "w2", data)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_run(tracker.run_id).info.experiment_id
    name = cfg.registry.model_name
    other = "1" if alias_version(client, name, "champion") == "2" else "2"
    return client, name, experiment, other


@contextlib.contextmanager
def serving(httpd):
    """Serve `httpd` (a real HTTP server on 127.0.0.1) on a thread while the block runs."""
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
