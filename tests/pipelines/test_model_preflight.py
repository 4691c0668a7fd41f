"""`score` / `evaluate` name a model that cannot be there before Spark starts (a wrong
paths.root, a directory without an ensemble): they started the JVM first (about a minute
on a busy node) and then gave the same error. The real CLI in a subprocess with no Java
reachable: an error about Java would mean Spark was started."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.pipelines.test_cli_errors import REPO
from tests.processes import CLI_DEADLINE_S


def _cli(tmp_path, *args):
    (tmp_path / "c.yaml").write_text(f"paths:\n  root: {tmp_path / 'nowhere'}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING",
           "JAVA_HOME": str(tmp_path / "no-java")}  # fmt: skip
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "-c", str(tmp_path / "c.yaml"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CLI_DEADLINE_S,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    return line


@pytest.mark.parametrize(
    "args",
    [
        ["score", "--date", "2024-02-28"],  # scoring.model: models:/fraud-ensemble@champion
        ["evaluate", "models:/fraud-ensemble@champion", "--start", "2024-02-20",
         "--end", "2024-02-29"],
    ],
)  # fmt: skip
def test_a_registry_uri_of_a_store_that_does_not_exist_is_named_before_spark(tmp_path, args):
    line = _cli(tmp_path, *args)
    db = tmp_path / "nowhere" / "mlflow.db"
    assert line.startswith(f"error: tracking store sqlite:///{db} does not exist (no file {db})")


def test_a_model_directory_that_does_not_exist_is_named_before_spark(tmp_path):
    line = _cli(tmp_path, "score", "--date", "2024-02-28", "--model", str(tmp_path / "m"))
    assert line.startswith(f"error: model '{tmp_path / 'm'}' does not exist: pass an ensemble")


@pytest.mark.integration
def test_an_unknown_registered_model_or_stage_is_named_before_spark(tmp_path, mlflow_template):
    # a store that exists but does not hold what the URI names
    from fraud_app.config import load_config
    from fraud_app.tracking.client import connect

    mlflow_template.copy_to(tmp_path / "nowhere")  # a new store, not migrated again
    connect(load_config(None, {"paths.root": str(tmp_path / "nowhere")}))  # an empty store
    line = _cli(tmp_path, "score", "--date", "2024-02-28", "--model", "models:/nope@champion")
    assert line.startswith("error: registered model 'nope' does not exist in sqlite:///")
    line = _cli(tmp_path, "evaluate", "models:/nope/Production", "--start", "2024-02-20",
                "--end", "2024-02-29")  # fmt: skip
    assert "'Production' is not a version" in line or "'nope' does not exist" in line


def test_a_scores_folder_that_cannot_be_created_is_named_before_spark(tmp_path):
    # it was `cannot create the output root ...: Not a directory. Set paths.root to a
    # writable directory.` after Spark had started and the model loaded (about 4 minutes on
    # the probe's read-only mount), naming paths.root where scoring.output was at fault
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "m").mkdir()
    (tmp_path / "c.yaml").write_text(
        f"paths:\n  root: {tmp_path / 'root'}\nscoring:\n  output: {tmp_path / 'a-file' / 's'}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING",
           "JAVA_HOME": str(tmp_path / "no-java")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "-c", str(tmp_path / "c.yaml"), "score",
         "--date", "2024-02-28", "--model", str(tmp_path / "m")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CLI_DEADLINE_S,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line == (
        f"error: scoring.output {tmp_path / 'a-file' / 's'} cannot take the scores: "
        f"{tmp_path / 'a-file'} is not a directory; give scoring.output a directory this user "
        "can write"
    )


def test_dates_the_canonical_table_does_not_hold_are_named_before_spark(tmp_path):
    table = tmp_path / "nowhere" / "canonical"
    for day in ("2024-01-01", "2024-01-03"):
        (table / f"event_date={day}").mkdir(parents=True)
        (table / f"event_date={day}" / "part-0.parquet").write_bytes(b"PAR1")
    (table / "_SUCCESS").touch()
    line = _cli(tmp_path, "score", "--date", "2030-01-01")
    assert line == (
        f"error: no transactions dated 2030-01-01..2030-01-01 in the canonical table {table} "
        "(it holds 2024-01-01..2024-01-03): pick dates inside that range, or run `fraud-app "
        "etl` on new files"
    )
    # a range that holds one published date goes on to the next check (the model)
    line = _cli(tmp_path, "score", "--start", "2024-01-02", "--end", "2024-01-05")
    assert line.startswith("error: tracking store sqlite:///")


def test_a_window_the_feature_table_does_not_hold_is_named_before_spark(tmp_path):
    # probe53a: `evaluate` of a window past the data said the same after the JVM had started
    # and the model had loaded (75 s on a loaded 2-core host); `score` checked its dates first
    table = tmp_path / "nowhere" / "features"
    for day in ("2024-01-01", "2024-01-03"):
        (table / f"event_date={day}").mkdir(parents=True)
        (table / f"event_date={day}" / "part-0.parquet").write_bytes(b"PAR1")
    (table / "_SUCCESS").touch()
    uri = "models:/fraud-ensemble@champion"
    line = _cli(tmp_path, "evaluate", uri, "--start", "2030-01-01", "--end", "2030-01-02")
    assert line == (
        f"error: no rows dated 2030-01-01..2030-01-02 in the feature table {table} (it holds "
        "2024-01-01..2024-01-03): pick a window inside it, or run `fraud-app features` if the "
        "canonical table has received those dates since"
    )
    # a window that holds one published date goes on to the next check (the model)
    line = _cli(tmp_path, "evaluate", uri, "--start", "2023-12-30", "--end", "2024-01-02")
    assert line.startswith("error: tracking store sqlite:///")
