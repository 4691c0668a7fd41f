"""What the docs and the product's own advice tell a user, checked against the code: a
remedy that names a key names one the config has, and a mistake the config can show is
refused when the config is read, not after Spark started and the data was read."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipelines.cli import main
from tests.processes import CLI_DEADLINE_S


def _config(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(f"paths:\n  root: {tmp_path / 'work'}\n{text}")
    return str(path)


def test_a_global_batch_the_workers_cannot_share_is_refused_when_the_config_is_read(
    tmp_path, capsys
):
    # before: the config loaded, and `train` failed at its first member, after Spark, the
    # feature table and the balancing, with `training.global_batch_size (255) must be
    # divisible by num_workers (2)`: a key the config file does not have
    config = _config(
        tmp_path, "training:\n  distributed:\n    num_workers: 2\n    global_batch_size: 255\n"
    )
    for command in (["train"], ["models"], ["tune"]):
        assert main(["-c", config, *command]) == 2
        err = capsys.readouterr().err
        assert (
            "training: distributed.global_batch_size (255) must be divisible by "
            "distributed.num_workers (2) so every worker gets the same local batch (e.g. 254)"
        ) in err, err


def test_an_empty_config_points_to_what_an_installed_fraud_app_has(tmp_path, capsys):
    # before: "(see configs/demo.yaml)": a file of the repository's checkout, which a
    # project made with `fraud-app init` from the wheel (docs/DEPLOY.md) does not have
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    assert main(["-c", str(empty), "models"]) == 2
    err = capsys.readouterr().err
    assert "`fraud-app init DIR` writes an annotated config" in err, err
    assert "configs/demo.yaml" not in err
    # the advice works: init writes a config the CLI reads
    assert main(["init", str(tmp_path / "proj")]) == 0
    assert main(["-c", str(tmp_path / "proj" / "config.yaml"), "models", "--json"]) == 2
    assert "tracking store" in capsys.readouterr().err  # read; no model is registered yet


def test_a_registry_uri_with_tracking_off_is_refused_with_each_commands_way_to_give_a_dir(
    tmp_path, capsys
):
    # before: `evaluate` was told to "pass --model with an ensemble directory" (evaluate
    # takes MODEL; --model is an unrecognized argument there), and `export-onnx` read the
    # registry although tracking.enabled: false turns it off ("tracking store ... does not
    # exist ... Check paths.root / tracking.uri")
    config = _config(tmp_path, "tracking:\n  enabled: false\n")
    uri = "models:/fraud-ensemble@champion"
    for command in (
        ["evaluate", uri, "--start", "2024-02-01", "--end", "2024-02-02"],
        ["score", "--date", "2024-02-01"],
        ["export-onnx", uri, str(tmp_path / "m.onnx")],
    ):
        assert main(["-c", config, *command]) == 2
        err = capsys.readouterr().err
        assert f"model '{uri}' is a registry URI, but tracking.enabled is false" in err, err
        assert "`fraud-app evaluate DIR ...`" in err and "`fraud-app score --model DIR`" in err
        assert "tracking store" not in err
    # the advice taken literally: `evaluate --model DIR` is not a flag evaluate has
    with pytest.raises(SystemExit) as stop:
        main(["-c", config, "evaluate", "--model", str(tmp_path), "--start", "2024-02-01",
              "--end", "2024-02-02"])  # fmt: skip
    assert stop.value.code == 2


def test_a_wrong_dlcore_backend_is_one_line_naming_the_variable(tmp_path):
    env = {**os.environ, "DLCORE_BACKEND": "cuda"}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "demo-train", "--rows", "2000", "--epochs", "1"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=CLI_DEADLINE_S,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: environment variable DLCORE_BACKEND is 'cuda'; expected auto, numpy or mkl "
        "(any case). Fix or unset it"
    )


def test_a_balancing_label_column_the_feature_table_lacks_is_refused_with_the_mapping(
    tmp_path, capsys
):
    # before: read, and `train` / `tune` / `backtest` failed after Spark, the feature table
    # and the split: "balancing strategy 'unionpay_subsets' needs column(s) ['is_fraud']"
    config = _config(tmp_path, "balancing:\n  label_column: is_fraud\n")
    for command in (["train"], ["tune"], ["backtest"]):
        assert main(["-c", config, *command]) == 2
        err = capsys.readouterr().err
        assert "balancing: label_column is 'is_fraud', but the feature table" in err, err
        assert "map the export's column under etl.columns (e.g. label: is_fraud)" in err
    # the advice: the mapping is a key the config has
    from fraud_app.config import load_config

    assert load_config(None, {"etl": {"columns": {"label": "is_fraud"}}}).etl.columns == {
        "label": "is_fraud"
    }


def test_the_xgboost_remedy_names_the_install_an_installed_fraud_app_takes(tmp_path, capsys):
    # before: only "pip install -e '.[baselines]'", which needs the repository's checkout
    # (a project made from the wheel with `fraud-app init` has none)
    pytest.importorskip("pyspark")
    try:
        import xgboost  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("xgboost is installed here")
    assert main(["-c", _config(tmp_path, ""), "backtest", "--baseline", "xgboost"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'fraud-app[baselines]'" in err, err
    assert "--baseline gbt" in err


def test_init_tells_a_user_with_an_export_of_their_own_where_it_goes(tmp_path, capsys):
    # before: init's only advice was `run --generate` (synthetic data); a user with a CSV
    # export of their own had to find paths.raw / etl.input and etl.columns in a 1,500-line
    # README (session 37's new-user probe)
    from fraud_app.config import load_config

    assert main(["init", str(tmp_path / "proj")]) == 0
    lines = capsys.readouterr().out.splitlines()
    own = next((line for line in lines if line.startswith("your own data:")), None)
    assert own is not None, lines
    config = tmp_path / "proj" / "config.yaml"
    raw = load_config(config).paths.resolve("raw")
    assert f"put the export's files in {raw} (or set etl.input)" in own
    assert "etl.columns" in own and "validation.canonical.reference_time" in own
    assert own.endswith(f"then: fraud-app -c {config} run")
    assert lines[-1] == f"next: fraud-app -c {config} run --generate"
