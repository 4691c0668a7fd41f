"""`fraud-app inspect` on what the workflow writes: an ensemble directory (models/<run>/)
and a run's checkpoint directory (checkpoints/<run>/, one directory per member). Both
were refused as 'neither a saved model nor a training checkpoint directory'."""

from __future__ import annotations

import json

from fraud_app.models.ensemble import FraudEnsemble
from pipelines.cli import main
from tests.pipelines.test_cli_errors import _checkpoint_dir, _model_dir


def _ensemble_dir(tmp_path):
    from dlcore.serialization import load_model

    members = [load_model(_model_dir(tmp_path / f"m{k}")) for k in range(2)]
    rows = {"window": "test_gap", "start": "2024-02-18T00:00:00+00:00",
            "end": "2024-02-25T00:00:00+00:00", "rows": 900, "trained_on": False,
            "estimator": "pooled"}  # fmt: skip
    meta = {"scoring": {"threshold": 0.25, "alert_budget": 0.01, "threshold_rows": rows}}
    return FraudEnsemble(members, ["a", "b", "c"], meta).save(tmp_path / "models" / "run-1")


def test_an_ensemble_directory_is_checked_and_summarised(tmp_path, capsys):
    path = _ensemble_dir(tmp_path)
    assert main(["inspect", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["kind"], summary["features"], summary["threshold"]) == ("ensemble", 3, 0.25)
    assert [m["parameters"] for m in summary["members"]] == [21, 21]
    # which budget and rows set the threshold (it was the threshold alone)
    assert summary["alert_budget"] == 0.01
    assert summary["threshold_rows"]["window"] == "test_gap"
    assert summary["threshold_rows"]["trained_on"] is False
    assert summary["threshold_rows"]["estimator"] == "pooled"  # how (session 36)


def test_a_damaged_member_of_an_ensemble_is_named(tmp_path, capsys):
    path = _ensemble_dir(tmp_path)
    npz = path / "member-01" / "params.npz"
    npz.write_bytes(npz.read_bytes()[:50])
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "member-01/params.npz: not an .npz (zip) archive" in err


def test_a_runs_checkpoint_directory_lists_each_member(tmp_path, capsys):
    run = tmp_path / "checkpoints" / "run-1"
    run.mkdir(parents=True)
    for member in ("member-00", "member-01"):
        _checkpoint_dir(tmp_path / member).rename(run / member)
    assert main(["inspect", str(run)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "run checkpoints"
    assert {k: (v["group"], v["iteration"]) for k, v in summary["checkpoints"].items()} == {
        "member-00": (2, 8),
        "member-01": (2, 8),
    }


def test_a_spark_ml_model_directory_is_summarised_by_its_ensemble(tmp_path, capsys):
    # a fraud_app.ml model's save(path): metadata/ + data/ensemble/; it was refused as
    # 'neither a saved model nor a training checkpoint directory'
    saved = tmp_path / "spark-model"
    (saved / "data").mkdir(parents=True)
    _ensemble_dir(tmp_path).rename(saved / "data" / "ensemble")
    (saved / "metadata").mkdir()
    assert main(["inspect", str(saved)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["kind"], summary["features"]) == ("ensemble", 3)


def test_a_missing_path_is_named_as_missing(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path / 'nope'} does not exist; pass a model or checkpoint directory\n"
    )


def test_a_checkpoint_of_an_older_release_says_it_does_not_resume(tmp_path, capsys):
    """Session 29 (upgrades): a checkpoint written before session 23 (meta.json without the
    training setup, as _checkpoint_dir's store writes it) was shown like any other, while
    `train` refuses to resume it."""
    old = _checkpoint_dir(tmp_path / "old")
    assert main(["inspect", str(old)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["resumable"] is False
    assert summary["why"].startswith(
        f"checkpoint {old / 'group-000002'} belongs to a different training setup: it was "
        "written by an older fraud-app release"
    )
    meta = old / "group-000002" / "meta.json"  # this release's: the setup recorded
    record = json.loads(meta.read_text())
    record["setup"] = {"num_workers": 2}
    record.pop("sha256")  # an unsealed meta.json reads as before seals
    meta.write_text(json.dumps(record))
    assert main(["inspect", str(old)]) == 0
    assert "resumable" not in json.loads(capsys.readouterr().out)
