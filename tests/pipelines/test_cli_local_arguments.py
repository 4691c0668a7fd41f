"""Every CLI argument and config value that Python itself opens names a local path: a `file:`
URI is its path, a remote URI is one `error:` line (exit 2) naming the argument, the value
and what is expected. pathlib made `hdfs://nn/x` the local folder `hdfs:/nn/x` (export-onnx,
import-onnx OUT_DIR and init wrote there, exit 0) and `file:///x` a folder `file:` in the
working directory (session 44, helper uris44)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.models.ensemble import FraudEnsemble
from pipelines.cli import main
from tests.pipelines.test_cli_errors import _model_dir

REMOTE = "hdfs://nn:8020/x/"


@pytest.fixture
def ensemble_dir(tmp_path) -> Path:
    from dlcore.serialization import load_model

    member = load_model(_model_dir(tmp_path / "src"))
    return FraudEnsemble([member], ["a", "b", "c"], {}).save(tmp_path / "src" / "ensemble")


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "src" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"paths:\n  root: {tmp_path / 'src' / 'work'}\n")
    return path


# (argv with {remote}, {ensemble}, {onnx}, {config} (else `-c {config}` first: paths.root
# under tmp_path); the name the error gives; "reads" or "writes")
CASES = {
    "--config": (["-c", "{remote}config.yaml", "inspect", "{ensemble}"], "config file", "reads"),
    "export-onnx OUT": (["export-onnx", "{ensemble}", "{remote}m.onnx"],
                        "export-onnx OUT.onnx", "writes"),
    "import-onnx MODEL": (["import-onnx", "{remote}m.onnx", "out"],
                          "import-onnx MODEL.onnx", "reads"),
    "import-onnx OUT_DIR": (["import-onnx", "{onnx}", "{remote}ens"],
                            "import-onnx OUT_DIR", "writes"),
    "inspect PATH": (["inspect", "{remote}models/r1"], "inspect PATH", "reads"),
    "init DIR": (["init", "{remote}project"], "init DIR", "writes"),
    "pack-env OUT": (["pack-env", "{remote}env.tar.gz"],
                     "pack-env OUT.tar.gz", "writes"),
    "features --spec-dir": (["features", "--spec-dir", "{remote}specs"],
                            "command-line flag(s) invalid:\n  features.spec_dir:", "reads"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_remote_uri_where_python_opens_the_path_is_one_usage_error(
    case, ensemble_dir, config_file, tmp_path, monkeypatch, capsys
):
    pytest.importorskip("onnx")
    argv, name, verb = CASES[case]
    onnx_file = tmp_path / "src" / "m.onnx"
    if "{onnx}" in " ".join(argv):
        assert main(["export-onnx", str(ensemble_dir), str(onnx_file)]) == 0
    capsys.readouterr()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    fill = {"remote": REMOTE, "ensemble": ensemble_dir, "onnx": onnx_file, "config": config_file}
    argv = [a.format(**fill) for a in (argv if argv[0] == "-c" else ["-c", "{config}", *argv])]
    value = next(a for a in argv if a.startswith(REMOTE))

    assert main(argv) == 2
    err = capsys.readouterr().err
    # one line; a flag checked as its config setting: the flag errors' heading, then it
    assert err.count("\n") == 1 + name.count("\n") and err.startswith("error: "), err
    assert f"{name} '{value}' is not on this machine, but fraud-app {verb} it with Python: " in err
    assert "give a local path or a file: URI (copy it " in err
    assert list(cwd.iterdir()) == []  # no folder `hdfs:` in the working directory


def test_file_uris_are_the_local_paths_they_name(ensemble_dir, config_file, tmp_path, monkeypatch,
                                                 capsys):  # fmt: skip
    pytest.importorskip("onnx")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    config = f"file://{config_file}"
    # -c file: and inspect file: (both were "does not exist": a folder `file:` here)
    assert main(["-c", config, "inspect", f"file://{ensemble_dir}"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "ensemble"
    onnx_file = tmp_path / "out" / "m.onnx"
    assert main(["-c", config, "export-onnx", str(ensemble_dir), f"file://{onnx_file}"]) == 0
    assert json.loads(capsys.readouterr().out)["onnx"] == str(onnx_file) and onnx_file.is_file()
    imported = tmp_path / "out" / "ens"
    assert (
        main(["-c", config, "import-onnx", f"file://localhost{onnx_file}", f"file:{imported}"]) == 0
    )
    assert (imported / "ensemble.json").is_file()
    assert main(["init", f"file://{tmp_path / 'project'}"]) == 0
    assert (tmp_path / "project" / "config.yaml").is_file()
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize(
    "setting", [{"spec_dir": REMOTE + "specs"}, {"spec_files": ["a.yaml", "s3a://b/c.yaml"]}]
)
def test_remote_feature_specs_are_refused_when_the_config_is_read(setting, tmp_path, monkeypatch):
    # they were read with Python from a local folder `hdfs:/nn:8020/x/specs` ("does not exist")
    monkeypatch.chdir(tmp_path)
    key, value = next(iter(setting.items()))
    shown = value if isinstance(value, str) else value[1]
    with pytest.raises(ConfigError, match=rf"features\.{key}.*'{shown}' is not on this machine, "
                       "but fraud-app reads it with Python"):  # fmt: skip
        load_config(None, {"features": setting})


def test_a_file_uri_spec_dir_is_its_local_path(tmp_path, monkeypatch):
    from fraud_app.features.spec import spec_paths
    from fraud_app.resources import shipped_spec_dir

    monkeypatch.chdir(tmp_path)
    shipped = shipped_spec_dir()
    config = load_config(None, {"features": {"spec_dir": f"file://{shipped}"}})
    assert spec_paths(config.features.spec_dir) == spec_paths(shipped)
    first = sorted(shipped.glob("*.yaml"))[0]
    assert spec_paths(shipped, [f"file://{first}"]) == [first]
