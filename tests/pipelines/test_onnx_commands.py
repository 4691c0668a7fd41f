"""`fraud-app export-onnx` / `import-onnx`, batch scoring of an imported model, and the core
working without the optional onnx packages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

import onnx

from fraud_app.interop.onnx_import import load_onnx
from fraud_app.models.ensemble import FraudEnsemble
from pipelines.cli import main
from tests.fraud_app.interop.onnx_cases import ATOL, RTOL, inputs, make_ensemble, ort_run
from tests.fraud_app.interop.test_onnx_import import torch_style

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def ensemble_dir(tmp_path) -> Path:
    return make_ensemble(3).save(tmp_path / "ensemble")


def test_export_onnx_writes_a_checked_graph_of_the_ensemble(ensemble_dir, tmp_path, capsys):
    out = tmp_path / "out" / "fraud.onnx"
    assert main(["export-onnx", str(ensemble_dir), str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["onnx"] == str(out) and summary["members"] == 3
    proto = onnx.load_model(str(out))
    onnx.checker.check_model(proto, full_check=True)
    ensemble = FraudEnsemble.load(ensemble_dir)
    X = inputs("fraud_mlp", rows=100)
    prob = ort_run(proto, X, "fraud_probability")
    np.testing.assert_allclose(prob, ensemble.predict_proba(X), rtol=RTOL, atol=ATOL)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["model_version"].startswith("sha256:") and meta["model_uri"] == str(ensemble_dir)
    assert json.loads(meta["feature_names"]) == ensemble.feature_names

    assert (
        main(["export-onnx", str(ensemble_dir), str(out), "--model-version", "9", "--replace"]) == 0
    )
    assert load_onnx(out).model_version == 9


def test_export_onnx_names_a_bad_model_uri(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["export-onnx", str(missing), str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nowhere does not exist; expected an ensemble" in err
    assert not (tmp_path / "x.onnx").exists()
    assert main(["export-onnx", str(tmp_path), str(tmp_path / "x.onnx")]) == 2
    assert "is neither an ensemble directory" in capsys.readouterr().err  # there, but no model


def test_import_onnx_writes_an_ensemble_directory(tmp_path, capsys):
    src = tmp_path / "torch.onnx"
    proto = torch_style()
    src.write_bytes(proto.SerializeToString())
    out = tmp_path / "imported"
    # spaces after the commas, as people type lists, are not part of the names
    assert main(["import-onnx", str(src), str(out), "--feature-names", "a, b,c , d"]) == 0
    assert json.loads(capsys.readouterr().out)["members"] == 1
    ensemble = FraudEnsemble.load(out)
    assert ensemble.feature_names == ["a", "b", "c", "d"]
    X = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    expected = ort_run(proto, X)[0].ravel()
    np.testing.assert_allclose(ensemble.predict_proba(X), expected, rtol=RTOL, atol=ATOL)


def test_onnx_commands_name_bad_files_and_paths_in_one_line(ensemble_dir, tmp_path, capsys):
    """Each was a traceback (IsADirectoryError, NotADirectoryError) or an unclear line; an
    OUT_DIR of other files was deleted with them."""
    good = tmp_path / "good.onnx"
    assert main(["export-onnx", str(ensemble_dir), str(good)]) == 0
    capsys.readouterr()
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("keep me")
    cases = [
        (["export-onnx", str(ensemble_dir), str(tmp_path)], rf"{tmp_path} is a directory; give "),
        (
            ["import-onnx", str(empty), str(tmp_path / "o1")],
            r"not an ONNX model \(the file is empty",
        ),
        (["import-onnx", str(truncated), str(tmp_path / "o2")], r"not a readable ONNX model"),
        (["import-onnx", str(good), str(good)], rf"{good} is a file; an ensemble is saved as a "),
        (["import-onnx", str(good), str(victim)], r"is a directory of other files \(no ensemble"),
        (
            ["import-onnx", str(good), str(tmp_path / "o3"), "--feature-names", "a,,b,c,d"],
            r"feature names must be non-empty and unique; .*\(an empty name\)",
        ),
        (
            ["import-onnx", str(good), str(tmp_path / "o4"), "--feature-names", "a,b,a,c,d"],
            r"feature names must be non-empty and unique; .*\(repeated: \['a'\]\)",
        ),
        (  # a member's output of our own file: it imported the whole ensemble silently
            ["import-onnx", str(good), str(tmp_path / "o5"), "--output", "member_probabilities"],
            r"output 'member_probabilities': this file was written by export-onnx and imports whole",
        ),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and re.search(message, err[0]), err
    assert (victim / "notes.txt").read_text() == "keep me"
    assert main(["import-onnx", str(good), str(tmp_path / "imported")]) == 0
    capsys.readouterr()
    # an existing output is kept unless --replace (as train / tune / evaluate do)
    assert main(["import-onnx", str(good), str(tmp_path / "imported")]) == 2
    assert "already holds an ensemble; give another OUT_DIR, or pass --replace" in (
        capsys.readouterr().err
    )
    assert main(["import-onnx", str(good), str(tmp_path / "imported"), "--replace"]) == 0
    before = good.read_bytes()
    good.touch()
    assert main(["export-onnx", str(ensemble_dir), str(good)]) == 2
    assert f"export-onnx: {good} exists; give another OUT.onnx, or pass --replace" in (
        capsys.readouterr().err
    )
    assert good.read_bytes() == before
    assert main(["export-onnx", str(ensemble_dir), str(good), "--replace"]) == 0
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob(".victim-*"))


@pytest.mark.spark
def test_batch_job_scores_an_imported_model(spark, tmp_path):
    from fraud_app.interop.onnx_import import ensemble_from_onnx
    from fraud_app.scoring.batch import score_dataframe

    proto = torch_style()
    ensemble = FraudEnsemble.load(ensemble_from_onnx(proto).save(tmp_path / "imported"))
    X = np.random.default_rng(5).normal(size=(40, 4)).astype(np.float32)
    df = spark.createDataFrame(
        [(i, X[i].tolist()) for i in range(len(X))], "id long, features array<float>"
    )
    rows = sorted(score_dataframe(df, ensemble).select("id", "fraud_score").collect())
    scores = np.array([r["fraud_score"] for r in rows])
    np.testing.assert_allclose(scores, ort_run(proto, X)[0].ravel(), rtol=RTOL, atol=ATOL)


def test_core_and_cli_work_without_the_onnx_packages(ensemble_dir, tmp_path):
    """With onnx and onnxruntime unimportable, everything imports and export-onnx says what to install."""
    script = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("onnx", "onnxruntime"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import dlcore.model, fraud_app.models.ensemble, fraud_app.scoring.batch
        import fraud_app.interop.onnx_export, fraud_app.interop.onnx_import
        from pipelines.cli import main, build_parser
        build_parser()
        rc = main(["export-onnx", {str(ensemble_dir)!r}, {str(tmp_path / "x.onnx")!r}])
        assert "onnx" not in sys.modules
        sys.exit(rc)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'fraud-app[onnx]'" in proc.stderr


def test_a_spark_ml_model_directory_exports_and_resolves_to_its_ensemble(ensemble_dir, tmp_path):
    # a fraud_app.ml model's save(path): metadata/ + data/ensemble/. export-onnx and
    # score --model refused it ("neither an ensemble directory") though inspect read it
    from fraud_app.scoring.model_source import check_source
    from fraud_app.tracking.models import resolve_model_dir

    saved = tmp_path / "spark-model"
    (saved / "data").mkdir(parents=True)
    ensemble_dir.rename(saved / "data" / "ensemble")
    (saved / "metadata").mkdir()
    assert resolve_model_dir(str(saved)) == saved / "data" / "ensemble"
    check_source(str(saved), None)  # score / evaluate --model
    out = tmp_path / "m.onnx"
    assert main(["export-onnx", str(saved), str(out)]) == 0
    X = inputs("fraud_mlp", rows=32)
    expected = FraudEnsemble.load(saved / "data" / "ensemble").predict_proba(X)
    got = ort_run(load_onnx(str(out)), X, "fraud_probability")
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
