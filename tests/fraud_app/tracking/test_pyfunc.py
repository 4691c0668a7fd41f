"""The ensemble as an MLflow pyfunc model: same scores as Spark, nothing pickled, servable."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest

from dlcore.layers import Linear, ReLU, Sequential, Standardize
from dlcore.model import Model
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import score_dataframe
from fraud_app.tracking.logged_model import input_frame
from fraud_app.tracking.runs import start_training_run
from tests.fraud_app.tracking import helpers as h

pytestmark = [pytest.mark.spark, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[3]


def _mlp_ensemble() -> FraudEnsemble:
    members = []
    for k in range(3):
        m = Model(Sequential([Standardize(clip=10.0), Linear(8), ReLU(), Linear(1)]),
                  in_features=h.D, seed=k)  # fmt: skip
        m.layer.layers[0].set_statistics(np.full(h.D, 0.1), np.full(h.D, 1.5))
        members.append(m)
    return FraudEnsemble(members, list(h.NAMES), {})


def log_mlp_ensemble(root: Path, mlflow_template, X, run: str, registered_name):
    """_mlp_ensemble saved under `root` and logged (input example X[:5]) in a training run
    `run` of a new store at `root`: (config, ensemble, model info)."""
    mlflow_template.copy_to(root)  # a new store, not migrated again
    cfg = h.config(root, **{"tracking.uri": f"sqlite:///{root}/mlflow.db"})
    ensemble = _mlp_ensemble()
    model_dir = ensemble.save(root / "models" / "m")
    with start_training_run(cfg, run) as tracker:
        info = tracker.log_model(model_dir, h.NAMES, X[:5].astype(np.float64),
                                 registered_name=registered_name)  # fmt: skip
    return cfg, ensemble, info


@pytest.fixture(scope="module")
def logged(spark, tmp_path_factory, mlflow_template):
    root = tmp_path_factory.mktemp("pyfunc")
    X, y = h.rows(500, seed=11)
    cfg, ensemble, info = log_mlp_ensemble(root, mlflow_template, X, "pyfunc", "fraud-ensemble")
    df = h.frame(spark, X, y)
    spark_scores = np.array(
        [
            r["fraud_score"]
            for r in score_dataframe(df, ensemble).orderBy("transaction_id").collect()
        ]
    )
    order = np.argsort([f"t{i}" for i in range(len(y))], kind="stable")
    return {"root": root, "cfg": cfg, "info": info, "X": X[order], "expected": spark_scores,
            "uri": cfg.tracking.uri}  # fmt: skip


def _env(logged) -> dict[str, str]:
    # The server runs `uvicorn` from PATH: put this interpreter's bin directory first.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "MLFLOW_TRACKING_URI": logged["uri"], "PYTHONPATH": str(REPO),
            "PATH": path}  # fmt: skip


def test_pyfunc_in_fresh_process_matches_spark_scores(logged):
    np.save(logged["root"] / "X.npy", logged["X"])
    script = textwrap.dedent(f"""
        import sys, numpy as np, mlflow
        from fraud_app.tracking.logged_model import input_frame
        NAMES = {h.NAMES!r}
        model = mlflow.pyfunc.load_model("models:/fraud-ensemble/1")
        X = np.load({str(logged["root"] / "X.npy")!r})
        out = np.asarray(model.predict(input_frame(X, NAMES)), dtype=np.float64)
        np.save({str(logged["root"] / "out.npy")!r}, out)
        # mlflow.pyfunc imports the pyspark package when installed; no Spark may START.
        ctx = sys.modules.get("pyspark") and sys.modules["pyspark"].SparkContext._active_spark_context
        print("SPARK_STARTED", bool(ctx))
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=_env(logged), cwd=logged["root"],
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SPARK_STARTED False" in proc.stdout
    # the model's code file declares its input type: MLflow has nothing to warn about
    assert "type hint" not in proc.stderr, proc.stderr[-3000:]
    got = np.load(logged["root"] / "out.npy")
    assert got.dtype == np.float64 and got.shape == logged["expected"].shape
    np.testing.assert_array_equal(got, logged["expected"])  # the same bits


def test_spark_udf_reads_columns_by_name_only_without_arguments_or_through_a_struct(spark, logged):
    """README's contract for `mlflow.pyfunc.spark_udf`: `udf()` and `udf(struct(...))` read the
    feature columns by name (any order, extra fields ignored) and give the Spark scoring path's
    scores to the bit. Columns given as separate arguments are read by POSITION in the
    signature's order (MLflow names them): another order scores each column as another
    feature without an error, which the README warns of; this pins that MLflow behaviour."""
    from pyspark.sql import functions as F

    mlflow.set_tracking_uri(logged["uri"])
    rows = [(i, *map(float, x)) for i, x in enumerate(logged["X"])]
    df = spark.createDataFrame(rows, ["row", *h.NAMES]).withColumn("noise", F.lit(7.0))
    udf = mlflow.pyfunc.spark_udf(spark, "models:/fraud-ensemble/1", env_manager="local",
                                  result_type="double")  # fmt: skip
    reordered = F.struct("noise", *h.NAMES[::-1])

    def scores(column) -> np.ndarray:
        out = df.select("row", column.alias("s")).orderBy("row").collect()
        return np.array([r["s"] for r in out], dtype=np.float64)

    np.testing.assert_array_equal(scores(udf()), logged["expected"])
    np.testing.assert_array_equal(scores(udf(reordered)), logged["expected"])
    by_position = scores(udf(*h.NAMES[::-1]))
    assert not np.allclose(by_position, logged["expected"]), "MLflow now reads names: update README"


def test_logged_model_holds_no_pickle(logged):
    path = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=logged["info"].model_uri, dst_path=str(logged["root"] / "dl")))  # fmt: skip
    files = [p for p in path.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"MLmodel", "pyfunc_model.py", "ensemble.json"} <= names
    assert not [p for p in files if p.suffix in (".pkl", ".pickle", ".joblib", ".cloudpickle")]
    assert not [p for p in files if p.read_bytes()[:1] == b"\x80"], "a file starts like a pickle"
    mlmodel = (path / "MLmodel").read_text()
    assert "mlflow.pyfunc.loaders.code_model" in mlmodel and "python_model.pkl" not in mlmodel
    assert "signature" in mlmodel and (path / "input_example.json").is_file()
    spec = json.loads((path / "artifacts" / "ensemble" / "ensemble.json").read_text())
    assert spec["feature_names"] == h.NAMES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ping(port: int, proc, log: Path, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, f"mlflow models serve exited early:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"server on port {port} did not answer /ping within {deadline_s}s")


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_the_same_scores(logged):
    port = _free_port()
    log = logged["root"] / "serve.log"
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    proc = subprocess.Popen(
        [mlflow_bin, "models", "serve", "-m", "models:/fraud-ensemble/1", "--env-manager",
         "local", "-h", "127.0.0.1", "-p", str(port)],
        env=_env(logged), cwd=logged["root"], stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_ping(port, proc, log, deadline_s=120)
        frame = input_frame(logged["X"], h.NAMES)
        np.testing.assert_array_equal(_post(port, frame), logged["expected"])  # the same bits
        # columns by name: the same rows with the columns in another order
        np.testing.assert_array_equal(_post(port, frame[h.NAMES[::-1]]), logged["expected"])
    finally:
        _stop(proc)


def _post(port: int, frame) -> np.ndarray:
    """The server's fraud scores for `frame`, sent as `dataframe_split`."""
    body = {"dataframe_split": frame.to_dict(orient="split")}
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as r:
        answer = json.loads(r.read())
    return np.array([p if not isinstance(p, dict) else p["fraud_score"]
                     for p in answer["predictions"]], dtype=np.float64)  # fmt: skip


def _stop(proc) -> None:
    """SIGTERM to the server's process group (mlflow + its uvicorn child), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
