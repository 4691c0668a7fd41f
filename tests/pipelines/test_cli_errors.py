"""User mistakes and damaged files through the real CLI: one line, a fix, a non-zero exit.

Each case runs `python -m pipelines.cli` in a process of its own (forked, tests/forked.py;
no Spark is started: every check here happens before the JVM would) and states the exact
error line and exit code. The README's "What happens to bad input" table lists the same cases.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dlcore.layers import Linear, ReLU, Sequential
from dlcore.model import Model
from dlcore.optimizers import Adam
from dlcore.params import shard_bounds
from dlcore.serialization import read_npz, save_model, seal, sha256_array, write_npz_atomic
from fraud_app.spark.checkpoint import CheckpointStore, TrainingState
from tests import forked
from tests.forked import run_forked
from tests.processes import CLI_DEADLINE_S

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path], list[str]]  # prepares tmp_path, returns the CLI arguments
    line: str  # regex of the one error line (fullmatch)
    code: int = 2
    no_jvm: bool = False  # Java made unreachable: the error must come before any JVM start


# -- setups --------------------------------------------------------------------------------
def _config(tmp: Path, text: str) -> Path:
    path = tmp / "config.yaml"
    path.write_text(text)
    return path


def _model_dir(tmp: Path) -> Path:
    model = Model(Sequential([Linear(4), ReLU(), Linear(1)]), in_features=3, seed=0)
    save_model(model, tmp / "model")
    return tmp / "model"


def _checkpoint_dir(tmp: Path) -> Path:
    model, opt = (
        Model(Sequential([Linear(4), Linear(1)]), in_features=3, seed=0),
        Adam(learning_rate=0.01),
    )
    store = CheckpointStore(tmp / "ckpt", fingerprint="fp")
    for group in (1, 2):
        opt_states = []
        for rank in range(2):
            start, stop = shard_bounds(model.params.size, 2, rank)
            opt_states.append(opt.init_state(stop - start))
        state = TrainingState(4 * group, group, model.params.data.copy(), {}, opt_states,
                              [(0, 0), (0, 0)])  # fmt: skip
        store.save(state, model, opt)
    return tmp / "ckpt"


def _edit_model_json(path: Path, edit: Callable[[dict], None]) -> None:
    meta = json.loads((path / "model.json").read_text())
    edit(meta)
    (path / "model.json").write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it


def unwritable_root(tmp: Path) -> list[str]:
    (tmp / "a-file").write_text("not a directory")
    return ["-c", str(_config(tmp, f"paths: {{root: {tmp / 'a-file' / 'work'}}}\n")), "validate"]


def colon_in_root(tmp: Path) -> list[str]:
    # a run folder named by its start time: every Spark step failed after the JVM started,
    # with a traceback of URISyntaxException "Relative path in absolute URI: 2024-01-01T00:00"
    return ["-c", str(_config(tmp, f"paths: {{root: '{tmp / '2024-01-01T00:00' / 'work'}'}}\n")),
            "etl"]  # fmt: skip


def garbage_master(tmp: Path) -> list[str]:
    return ["--master", "garbage://x", "train"]


def train_before_features(tmp: Path) -> list[str]:
    return ["-c", str(_config(tmp, f"paths: {{root: {tmp / 'work'}}}\n")), "train"]


def empty_config(tmp: Path) -> list[str]:
    return ["-c", str(_config(tmp, "# nothing but a comment\n")), "train"]


def nested_config(tmp: Path) -> list[str]:
    return ["-c", str(_config(tmp, "spark: " + "[" * 20_000 + "]" * 20_000 + "\n")), "train"]


def truncated_params(tmp: Path) -> list[str]:
    path = _model_dir(tmp)
    data = (path / "params.npz").read_bytes()
    (path / "params.npz").write_bytes(data[: len(data) // 2])
    return ["inspect", str(path)]


def truncated_checkpoint(tmp: Path) -> list[str]:
    """Both checkpoints: with only the newest one damaged, the one before it is read."""
    path = _checkpoint_dir(tmp)
    for group in ("group-000001", "group-000002"):
        npz = path / group / "model" / "params.npz"
        npz.write_bytes(npz.read_bytes()[:100])
    return ["inspect", str(path)]


def huge_units(tmp: Path) -> list[str]:
    path = _model_dir(tmp)
    _edit_model_json(path, lambda m: m["model"]["layer"]["config"]["layers"][0]["config"]
                     .update(units=10**12))  # fmt: skip
    return ["inspect", str(path)]


def nested_model_json(tmp: Path) -> list[str]:
    path = _model_dir(tmp)
    (path / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    return ["inspect", str(path)]


def nan_weights(tmp: Path) -> list[str]:
    path = _model_dir(tmp)
    arrays = read_npz(path / "params.npz")
    arrays["model/0_linear.b"][1] = np.nan
    write_npz_atomic(path / "params.npz", arrays)

    def fix_sums(meta: dict) -> None:
        for rec in meta["params"]:
            rec["sha256"] = sha256_array(arrays[rec["name"]])

    _edit_model_json(path, fix_sums)
    return ["inspect", str(path)]


def not_a_model(tmp: Path) -> list[str]:
    return ["inspect", str(tmp)]


def _root_config(tmp: Path) -> str:
    return str(_config(tmp, f"paths: {{root: {tmp / 'work'}}}\n"))


def broken_yaml(tmp: Path) -> list[str]:
    return ["-c", str(_config(tmp, "paths: {root: /tmp/x\n")), "validate"]


def config_is_a_directory(tmp: Path) -> list[str]:
    return ["-c", str(tmp), "validate"]


def run_name_outside_root(tmp: Path) -> list[str]:
    # `--run ../../x` used to write models/../../x, i.e. outside paths.root
    return ["-c", _root_config(tmp), "train", "--run", "../../escaped"]


def job_id_with_a_slash(tmp: Path) -> list[str]:
    return ["-c", _root_config(tmp), "score", "--date", "2024-01-01", "--job-id", "a/b"]


def score_empty_range(tmp: Path) -> list[str]:
    # started Spark (seconds, or minutes on a busy cluster) before refusing the range
    return ["-c", _root_config(tmp), "score", "--start", "2024-01-05", "--end", "2024-01-01"]


def evaluate_empty_window(tmp: Path) -> list[str]:
    return [
        "-c",
        _root_config(tmp),
        "evaluate",
        "m",
        "--start",
        "2024-01-05",
        "--end",
        "2024-01-01",
    ]


def evaluation_name_with_a_slash(tmp: Path) -> list[str]:
    return ["-c", _root_config(tmp), "evaluate", "m", "--start", "2024-01-01",
            "--end", "2024-01-02", "--name", "../x"]  # fmt: skip


def _report(tmp: Path, name: str) -> Path:
    reports = tmp / "work" / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / name).write_text("{}")
    return reports / name


def backtest_run_taken(tmp: Path) -> list[str]:
    # a scheduled `backtest --run weekly` replaced last week's report silently
    _report(tmp, "backtest-weekly.json")
    return ["-c", _root_config(tmp), "backtest", "--run", "weekly"]


def tune_run_taken(tmp: Path) -> list[str]:
    _report(tmp, "tune-t1-best.yaml")  # the best config alone (a report lost) is refused too
    return ["-c", _root_config(tmp), "tune", "--run", "t1"]


def tune_output_taken(tmp: Path) -> list[str]:
    return ["-c", _root_config(tmp), "tune", "--output", str(_report(tmp, "best.yaml"))]


def evaluation_name_taken(tmp: Path) -> list[str]:
    # an earlier report of the same --name was overwritten silently
    reports = tmp / "work" / "reports"
    reports.mkdir(parents=True)
    (reports / "evaluation-jan.json").write_text("{}")
    return ["-c", _root_config(tmp), "evaluate", "m", "--start", "2024-01-01",
            "--end", "2024-01-02", "--name", "jan"]  # fmt: skip


def demo_train_no_rows(tmp: Path) -> list[str]:
    # --rows 0 ended in an IndexError traceback from NumPy, --rows 1 in a NaN pos_weight
    return ["demo-train", "--rows", "0"]


CASES = [
    Case("unwritable paths.root", unwritable_root,
         r"error: paths\.root '.*a-file/work' is not a writable directory \(.+\); set paths\.root "
         r"in the config to a directory you can write"),
    Case("':' in a folder of paths.root", colon_in_root,
         r"error: Spark cannot use a local path with ':' in a folder name \(Hadoop reads it as a "
         r"URI scheme: 'Relative path in absolute URI'\):", no_jvm=True),
    Case("--master garbage://x", garbage_master,
         r"error: spark\.master 'garbage://x' is not a Spark master URL; expected local\[\*\], "
         r"local\[N\], spark://host:7077, yarn or k8s://https://host:port\. Set spark\.master in "
         r"the config or pass --master"),
    Case("train before features", train_before_features,
         r"error: feature table .*/work/features does not exist; run `fraud-app features` first"),
    Case("empty config file", empty_config,
         r"error: config file .*config\.yaml is empty; give it at least one section "
         r"\(`fraud-app init DIR` writes an annotated config; every key: docs/CONFIG\.md\), "
         r"or leave out -c/--config to run on the built-in defaults"),
    Case("deeply nested config", nested_config,
         r"error: config file .*config\.yaml is nested too deeply to read"),
    Case("truncated params.npz", truncated_params,
         r"error: .*/model/params\.npz: not an \.npz \(zip\) archive; truncated or corrupted"),
    Case("truncated checkpoint params.npz", truncated_checkpoint,
         r"error: checkpoint group-000002 \(named by .*/LATEST\.json\) is damaged: "
         r".*/group-000002/model/params\.npz: not an \.npz \(zip\) archive; truncated or "
         r"corrupted, and no intact checkpoint is left in .*/ckpt; delete the directory to start "
         r"over"),
    Case("model JSON asking for 10^12 units", huge_units,
         r"error: .*/model\.json: model\.layer\.config\.layers\[0\]\.config\.units = 1000000000000 "
         r"is over the limit of 16777216 for any size in a model config; refusing to build it "
         r"\(the file is corrupted or not meant for dlcore\)"),
    Case("deeply nested model JSON", nested_model_json,
         r"error: .*/model\.json: JSON nested too deeply to read; not a file written by dlcore"),
    Case("NaN weights", nan_weights,
         r"error: .*/params\.npz: array 'model/0_linear\.b' holds 1 non-finite values \(NaN or "
         r"inf\); refusing to load it\. Training diverged: lower the learning rate or clip "
         r"gradients, and resume from an earlier checkpoint"),
    Case("inspect a directory that holds no model", not_a_model,
         r"error: .* is neither a saved model \(no model\.json, no ensemble\.json\) nor a "
         r"training checkpoint directory \(no LATEST\.json, no group-NNNNNN/\); pass the "
         r"directory that holds them"),
    Case("YAML syntax error", broken_yaml,
         r"error: config file .*config\.yaml is not valid YAML: expected ',' or '\}', but got "
         r"'<stream end>' at line 2, column 1 \(while parsing a flow mapping\)"),
    Case("-c DIRECTORY", config_is_a_directory,
         r"error: config file .* is a directory; pass the YAML file itself"),
    # it said "config file /dev/null does not exist"
    Case("-c /dev/null", lambda tmp: ["-c", "/dev/null", "models"],
         r"error: config file /dev/null is not a regular file \(a device or socket\); pass the "
         r"YAML file itself"),
    # a data file given as -c was read whole and parsed as YAML
    Case("-c a data file", lambda tmp: ["-c", str(_config(tmp, "a: 1\n" + "x" * (17 << 20))),
                                        "models"],
         r"error: config file .*config\.yaml is larger than 16 MiB; a config is a small YAML "
         r"file \(`fraud-app init DIR` writes an annotated one\): is it a data file\?"),
    Case("--run ../../x (outside paths.root)", run_name_outside_root,
         r"error: --run '\.\./\.\./escaped' must be 1-100 letters, digits, '\.', '_' or '-', "
         r"starting with a letter or digit \(it becomes part of a file name\)"),
    Case("--job-id a/b", job_id_with_a_slash, r"error: --job-id 'a/b' must be 1-100 letters.*",
         no_jvm=True),
    Case("score --start after --end", score_empty_range,
         r"error: empty date range: end 2024-01-01 is before start 2024-01-05\. Give --date D, "
         r"or --start S --end E with E >= S \(both inclusive\)", no_jvm=True),
    Case("evaluate --name ../x", evaluation_name_with_a_slash,
         r"error: --name '\.\./x' must be 1-100 letters.*", no_jvm=True),
    Case("evaluate --name NAME that exists", evaluation_name_taken,
         r"error: evaluation 'jan' already exists \(.*/work/reports/evaluation-jan\.json\); "
         r"evaluating again would replace it\. Give a new --name \(or leave --name out: a UTC "
         r"timestamp\), or pass --replace to replace it", no_jvm=True),
    Case("backtest --run NAME that exists", backtest_run_taken,
         r"error: backtest run 'weekly' already exists \(.*/work/reports/backtest-weekly\.json\); "
         r"running it again would replace its results\. Give a new --run name \(or leave --run "
         r"out: a UTC timestamp\), or pass --replace to replace them", no_jvm=True),
    Case("tune --run NAME that exists", tune_run_taken,
         r"error: tune run 't1' already exists \(.*/work/reports/tune-t1-best\.yaml\); .*"
         r"or pass --replace to replace them", no_jvm=True),
    Case("tune --output FILE that exists", tune_output_taken,
         r"error: tune\.output .*/best\.yaml already exists \(the best config of an earlier "
         r"tune\); writing it would replace it\. Give another --output \(or leave tune\.output "
         r"out: reports/tune-<run>-best\.yaml\), or pass --replace to replace it", no_jvm=True),
    # Spark ignored it: 200 shuffle partitions, without a word
    Case("spark.conf key misspelt", lambda tmp: ["-c", str(_config(tmp, (
             f"paths: {{root: {tmp / 'work'}}}\n"
             "spark: {conf: {spark.sql.shuffle.partiton: 4, spark.hadoop.fs.s3a.endpoint: x}}\n"
         ))), "features"],
         r"error: spark\.conf: 1 key\(s\) Spark does not know, each a near miss of a setting "
         r"it reads: 'spark\.sql\.shuffle\.partiton': did you mean "
         r"'spark\.sql\.shuffle\.partitions'\? Spark ignores a key it does not know, so the job "
         r"would run with that setting's default\. Fix the spelling \(keys are case-sensitive\)",
         no_jvm=True),
    Case("evaluate --start after --end", evaluate_empty_window,
         r"error: empty window: end 2024-01-01 is before start 2024-01-05 \(both inclusive\)",
         no_jvm=True),
    Case("demo-train --rows 0", demo_train_no_rows,
         r"error: demo-train --rows must be at least 2,000 \(about 2 % of the rows are frauds; "
         r"the 15 % test split needs several\)\. Received: 0"),
    Case("demo-train --rows 10^17", lambda tmp: ["demo-train", "--rows", str(10**17)],
         r"error: demo-train --rows must be at most 10,000,000 \(a demo in memory; train on "
         r"large data with `fraud-app run`\)\. Received: 100,000,000,000,000,000"),
    Case("demo-train --seed -1", lambda tmp: ["demo-train", "--seed", "-1"],
         r"error: demo-train --seed must be >= 0\. Received: -1"),
    # it failed writing the best config after every trial had trained (the report lost)
    Case("tune --output DIRECTORY", lambda tmp: ["-c", _root_config(tmp), "tune", "--output",
                                                  str(tmp)],
         r"error: tune\.output .* is a directory; give the YAML file to write the best config "
         r"to \(e\.g\. .*/best\.yaml\)", no_jvm=True),
    # an empty --model (an unset variable in a scheduler's command) scored with scoring.model
    Case("score --model ''", lambda tmp: ["-c", _root_config(tmp), "score", "--date",
                                          "2024-01-01", "--model", ""],
         r"error: --model is empty; give a registry URI .*", no_jvm=True),
    Case("demo-train --epochs 0", lambda tmp: ["demo-train", "--epochs", "0"],
         r"error: demo-train --epochs must be at least 1\. Received: 0"),
    # `backtest --end garbage`: test_a_flag_of_the_wrong_form_names_its_config_key
]  # fmt: skip


def _cli(args: list[str], cwd: Path, no_jvm: bool = False) -> subprocess.CompletedProcess:
    """`python -m pipelines.cli ARGS` in a process of its own, forked from tests/forked.py's
    forkserver, which made the imports once (this file's tests: 161.7 -> 50.6 s side by side
    at load ~25, docs/PROBES.md session 44). test_a_config_from_a_pipe_is_read runs the
    module through a new interpreter."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    if no_jvm:
        env["JAVA_HOME"] = str(cwd / "no-java")  # pyspark runs $JAVA_HOME/bin/java
    return run_forked(forked.cli, args, cwd=cwd, env=env, timeout=CLI_DEADLINE_S)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_user_error_is_one_line_and_a_non_zero_exit(tmp_path, case):
    result = _cli(case.setup(tmp_path), tmp_path, no_jvm=case.no_jvm)
    assert result.returncode == case.code, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert re.fullmatch(case.line, errors[0]), errors[0]
    assert result.stdout == ""


def test_a_damaged_newest_checkpoint_is_named_and_the_one_before_it_read(tmp_path):
    path = _checkpoint_dir(tmp_path)
    npz = path / "group-000002" / "model" / "params.npz"
    npz.write_bytes(npz.read_bytes()[:100])
    result = _cli(["inspect", str(path)], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert (summary["kind"], summary["group"], summary["iteration"]) == ("checkpoint", 1, 4)
    assert re.search(
        r"WARNING fraud_app\.spark\.checkpoint: checkpoint group-000002 \(named by "
        r".*LATEST\.json\) is damaged: .*group-000002/model/params\.npz: not an \.npz \(zip\) "
        r"archive; truncated or corrupted; resuming from the newest intact checkpoint "
        r".*group-000001",
        result.stderr,
    ), result.stderr


def test_malformed_latest_json_falls_back_with_a_warning(tmp_path):
    path = _checkpoint_dir(tmp_path)
    (path / "LATEST.json").write_text("{truncated")
    result = _cli(["inspect", str(path)], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert (summary["kind"], summary["group"], summary["iteration"]) == ("checkpoint", 2, 8)
    assert re.search(
        r"WARNING fraud_app\.spark\.checkpoint: checkpoint pointer .*LATEST\.json is malformed: "
        r".*; resuming from the newest intact checkpoint .*group-000002",
        result.stderr,
    ), result.stderr


def test_a_flag_of_the_wrong_form_names_its_config_key(tmp_path):
    # argparse printed its usage and `argument --end: invalid fromisoformat value: 'garbage'`
    # (it was also a case of CASES running the same command: its checks are these)
    result = _cli(["-c", _root_config(tmp_path), "backtest", "--end", "garbage"], tmp_path,
                  no_jvm=True)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: command-line flag(s) invalid:"), (
        result.stderr
    )
    assert result.stdout == ""
    assert (
        "  backtest.end: Input should be a valid date or datetime, input is too short "
        "(received 'garbage')" in result.stderr
    ), result.stderr


def test_a_config_from_a_pipe_is_read(tmp_path):
    """`fraud-app -c <(envsubst < template.yaml) ...` (a scheduler filling in a template):
    /dev/fd/N is a pipe, refused before as 'config file /dev/fd/63 does not exist'."""
    read, write = os.pipe()
    os.write(write, f"paths: {{root: {tmp_path / 'from-pipe'}}}\n".encode())
    os.close(write)
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "-c", f"/dev/fd/{read}", "models"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CLI_DEADLINE_S,
            pass_fds=(read,),
        )  # fmt: skip
    finally:
        os.close(read)
    # the config was read: its paths.root is the store the error names
    assert re.fullmatch(r"error: tracking store sqlite:///.*/from-pipe/mlflow\.db does not "
                        r"exist .*\n", result.stderr), result.stderr  # fmt: skip


def test_an_etl_input_that_is_not_there_is_named_before_spark_starts(tmp_path):
    # walk55: a typo in --input was named only after the Spark session had started (50 s
    # on a loaded host); the session's own checks (master, paths, Java) still come first
    args = ["-c", _root_config(tmp_path), "etl", "--input", str(tmp_path / "no-such-export")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "INFO"}
    result = run_forked(forked.cli, args, cwd=tmp_path, env=env, timeout=CLI_DEADLINE_S)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.fullmatch(
        r"error: ETL input .*/no-such-export does not exist\. Generate data first .*", errors[0]
    ), result.stderr[-2000:]
    assert "fraud_app.spark.session: Spark" not in result.stderr, "a Spark session started"
