"""Benchmark: our batch scoring (fraud_app.scoring.batch) vs mlflow.pyfunc.spark_udf, same
model, same rows, same Spark session, alternating rounds.

The model is a FraudEnsemble shaped like the demo's (K members, an MLP per member,
D features, by default the demo's piecewise-linear input encoding with its quantile bins
fitted on rows drawn like the benchmark's, as training fits them; `--encoding none` for
the plain MLP), saved as its directory (ensemble.json + .npz). The peer is the SAME
directory logged as an MLflow pyfunc model built from code (a model file that loads
the directory with FraudEnsemble.load: no pickle), served to Spark with
`mlflow.pyfunc.spark_udf(..., env_manager="local")` on one column per feature (the
layout a pyfunc signature takes). Ours reads the feature vector column (the layout of
the feature table) and scores with a broadcast of the ensemble in a scalar Arrow UDF.
Both sides compute the same numbers with the same code: FraudEnsemble.predict_proba
(the fused float32 plan of dlcore.inference on fixed 256-row blocks), so their scores
agree bit for bit.

Each round writes every score to Spark's `noop` sink, so the scoring of every row is
measured and nothing else; rows are cached in memory first. Rounds alternate (ours,
peer, ours, ...) so machine noise hits both; the first round of each is a warm-up.
Also measured: ours with alert + top-3 reasons (attribution), and its ratio to the
plain spark_udf score (`with_reasons_rows_per_s_ratio_vs_spark_udf`: ours does MORE
work there than the peer, which computes the score only).

Each round also records the CPU seconds of the driver, the JVM and its Python workers
(/proc): on a shared machine the wall times follow the other users' load, the CPU
seconds much less (`cpu_ratio_spark_udf_over_ours`: the peer's over ours, medians), split
by process (`cpu_seconds_by_process`: driver, JVM, Python workers). The model's arithmetic
alone (predict_proba in this process, on as many rows) is the part of both sides' CPU
that no data path removes: `cpu_ratio_bound_spark_udf_over_arithmetic` (the peer's CPU
over it) is the CPU ratio ours would reach if it spent nothing but the model.

Last line: one JSON object with scoring_rows_per_s_ratio_vs_spark_udf (target >= 3).

    .venv/bin/python bench/scoring.py --rows 200000 --rounds 3     # quick
    .venv/bin/python bench/scoring.py --rows 1000000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _spark_common import machine, spark_session

MODEL_CODE = """
import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel


class EnsembleModel(PythonModel):
    def load_context(self, context):
        from fraud_app.models.ensemble import FraudEnsemble

        self.ensemble = FraudEnsemble.load(context.artifacts["ensemble"])

    def predict(self, context, model_input, params=None):
        X = model_input[self.ensemble.feature_names].to_numpy(dtype=np.float32)
        return self.ensemble.predict_proba(X)


mlflow.models.set_model(EnsembleModel())
"""


def feature_rows(n: int, d: int, seed: int) -> np.ndarray:
    """Rows drawn like make_rows's (feature j: 2 * N(0, 1) + j % 3), in NumPy."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * 2 + np.arange(d) % 3).astype(np.float32)


def build_ensemble(
    d: int, members: int, hidden: tuple[int, ...], path: Path, encoding: str = "piecewise_linear"
):
    from fraud_app.models.builders import build_model
    from fraud_app.models.config import ModelSection
    from fraud_app.models.ensemble import FraudEnsemble
    from fraud_app.models.train import encoding_state, set_encoding

    rng = np.random.default_rng(0)
    # one set of feature statistics and one encoding for every member, as training sets
    # them (the whole training window's, pipelines/training/nodes.py): without fitted
    # bins every ramp would be 0, a model no training produces
    stats = rng.standard_normal(d), rng.random(d) + 0.5
    sample = feature_rows(20_000, d, seed=1)
    models = []
    for k in range(members):
        cfg = ModelSection(hidden=hidden, dropout=0.0, encoding=encoding)
        m = build_model(cfg, d, seed=k)
        m.layer.layers[0].set_statistics(*stats)
        set_encoding(m, encoding_state(m, sample))
        models.append(m)
    names = [f"f{j:02d}" for j in range(d)]
    meta = {"scoring": {"threshold": 0.5, "feature_means": [0.0] * d}}
    ensemble = FraudEnsemble(models, names, meta)
    ensemble.save(path)
    return ensemble


def log_pyfunc(tmp: Path, ensemble_dir: Path, names: list[str]) -> str:
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    exp = mlflow.create_experiment("bench-scoring", artifact_location=str(tmp / "artifacts"))
    code = tmp / "model_code.py"
    code.write_text(MODEL_CODE)
    example = pd.DataFrame(np.zeros((2, len(names)), dtype=np.float64), columns=names)
    with mlflow.start_run(experiment_id=exp):
        info = mlflow.pyfunc.log_model(
            name="ensemble",
            python_model=str(code),
            artifacts={"ensemble": str(ensemble_dir)},
            signature=infer_signature(example, np.zeros(2)),
            pip_requirements=["numpy"],
        )
    return info.model_uri


def make_rows(spark, n: int, d: int):
    from pyspark.sql import functions as F

    base = spark.range(n, numPartitions=2)
    cols = [(F.randn(seed=j) * 2 + j % 3).cast("float").alias(f"f{j:02d}") for j in range(d)]
    df = base.select("id", *cols)
    df = df.select("*", F.array(*[F.col(f"f{j:02d}") for j in range(d)]).alias("features"))
    df = df.cache()
    assert df.count() == n
    return df


def tree_cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system, with reaped children's) of this process and every
    descendant, by kind: "driver" (this process), "jvm" (the Spark JVM) and "python"
    (its Python workers). Linux /proc; NaN elsewhere."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
                exe = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:  # exited meanwhile
                continue
            fields = text[text.rindex(")") + 2 :].split()
            cpu = sum(int(f) for f in fields[11:15]) / tick
            stats[int(entry.name)] = (int(fields[1]), cpu, b"java" in exe)
    if not stats:
        return {k: float("nan") for k in KINDS}
    tree, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [c for c, (ppid, _, _) in stats.items() if ppid == pid and c not in tree]
    out = dict.fromkeys(KINDS, 0.0)
    for pid in tree & stats.keys():
        _, cpu, java = stats[pid]
        out["driver" if pid == os.getpid() else "jvm" if java else "python"] += cpu
    return out


KINDS = ("driver", "jvm", "python")


def timed(frame) -> tuple[float, dict[str, float]]:
    """(wall seconds, CPU seconds by kind, see tree_cpu_seconds) of one round."""
    c0, t0 = tree_cpu_seconds(), time.perf_counter()
    frame.write.format("noop").mode("overwrite").save()
    wall, c1 = time.perf_counter() - t0, tree_cpu_seconds()
    return wall, {k: c1[k] - c0[k] for k in KINDS}


def arithmetic_cpu_seconds(ensemble, rows: int, d: int, rounds: int) -> float:
    """Median CPU seconds of the model's arithmetic alone (FraudEnsemble.predict_proba, the
    fused plan both sides run) on `rows` rows in this process: the share of either side's
    CPU that no data path can remove."""
    X = feature_rows(min(rows, 200_000), d, seed=7)
    reps = max(1, rows // len(X))
    out = []
    for _ in range(rounds + 1):
        c0 = time.process_time()
        for _ in range(reps):
            ensemble.predict_proba(X)
        out.append((time.process_time() - c0) * rows / (reps * len(X)))
    return statistics.median(out[1:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--features", type=int, default=35)
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--encoding", choices=["piecewise_linear", "none"], default="piecewise_linear")
    args = ap.parse_args()

    import mlflow
    from pyspark.sql import functions as F

    from fraud_app.scoring.batch import ScoringOptions, score_dataframe

    info = machine()
    spark = spark_session("bench-scoring")
    tmp = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    ens = build_ensemble(args.features, args.members, (128, 64), tmp / "ensemble", args.encoding)
    uri = log_pyfunc(tmp, tmp / "ensemble", ens.feature_names)
    df = make_rows(spark, args.rows, args.features)

    udf = mlflow.pyfunc.spark_udf(spark, uri, env_manager="local", result_type="double")
    peer = df.select(udf(F.struct(*[F.col(n) for n in ens.feature_names])).alias("s"))
    ours = score_dataframe(df.select("id", "features"), ens).select("id", "fraud_score")
    full = score_dataframe(
        df.select("id", "features"), ens, options=ScoringOptions(threshold=0.5, reasons=3)
    )
    # same scores (float32 inputs both ways, the same fixed-block arithmetic)
    a = ours.orderBy("id").limit(1000).toPandas()["fraud_score"].to_numpy()
    b = df.select("id", udf(F.struct(*[F.col(n) for n in ens.feature_names])).alias("s"))
    b = b.orderBy("id").limit(1000).toPandas()["s"].to_numpy()
    max_diff = float(np.max(np.abs(a - b)))

    times = {"ours": [], "spark_udf": [], "ours_with_reasons": []}
    cpu = {k: [] for k in times}
    split = {k: {kind: [] for kind in KINDS} for k in times}
    for r in range(args.rounds + 1):
        for name, frame in (("ours", ours), ("spark_udf", peer), ("ours_with_reasons", full)):
            t, c = timed(frame)
            if r > 0:
                times[name].append(t)
                cpu[name].append(sum(c.values()))
                for kind in KINDS:
                    split[name][kind].append(c[kind])
            parts = ", ".join(f"{k} {v:.2f}" for k, v in c.items())
            print(
                f"round {r} {name}: {t:.2f}s, {sum(c.values()):.2f} CPU s ({parts})",
                file=sys.stderr,
            )
    rate = {k: args.rows / statistics.median(v) for k, v in times.items()}
    arithmetic = arithmetic_cpu_seconds(ens, args.rows, args.features, args.rounds)
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    out = {
        **info,
        "rows": args.rows,
        "features": args.features,
        "members": args.members,
        "encoding": args.encoding,
        "rounds": args.rounds,
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "scoring_rows_per_s": round(rate["ours"]),
        "spark_udf_rows_per_s": round(rate["spark_udf"]),
        "scoring_with_reasons_rows_per_s": round(rate["ours_with_reasons"]),
        "max_abs_score_diff_vs_spark_udf": max_diff,
        "scoring_rows_per_s_ratio_vs_spark_udf": round(rate["ours"] / rate["spark_udf"], 2),
        "with_reasons_rows_per_s_ratio_vs_spark_udf": round(
            rate["ours_with_reasons"] / rate["spark_udf"], 2
        ),
        # CPU seconds per round of the driver, the JVM and the Python workers (less
        # sensitive to other users of a shared machine than the wall times above)
        "cpu_seconds": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
        "cpu_ratio_spark_udf_over_ours": round(cpu_med["spark_udf"] / cpu_med["ours"], 2),
        # where each side's CPU goes (medians per round): the driver, the JVM (reading the
        # cached rows, Arrow to and from Python, the noop sink) and the Python workers
        # (Arrow -> NumPy, the model, NumPy -> Arrow)
        "cpu_seconds_by_process": {
            k: {kind: round(statistics.median(v), 2) for kind, v in s.items()}
            for k, s in split.items()
        },
        # the model's arithmetic alone, in this process (the same fused plan both sides run):
        # the peer's CPU over it is the CPU ratio ours would reach with no cost but the model
        "model_arithmetic_cpu_seconds": round(arithmetic, 2),
        "cpu_ratio_bound_spark_udf_over_arithmetic": round(cpu_med["spark_udf"] / arithmetic, 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }
    spark.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
