"""What the docs and the product's own advice tell a user, checked against the code: a
remedy that names a key names one the config has, and a mistake the config can show is
refused when the config is read, not after Spark started and the data was read."""

from __future__ import annotations

from pipelines.cli import main


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
