"""The config is not interpolated (session 21 probe): `paths.root: ${DATA_DIR}/fraud` and
`~/fraud` were accepted as written, and every step wrote under a folder literally named
`${DATA_DIR}` or `~` in the working directory (a later `rm -rf ~...` in that folder is a
hazard of its own). Such values are refused, naming the key and the way to interpolate."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from pipelines.cli import main


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("paths:\n  root: ${DATA_DIR}/fraud\n",
         r"paths\.root: '\$\{DATA_DIR\}/fraud' refers to the environment variable DATA_DIR, "
         r"but the config is read as written.*envsubst"),
        ("paths:\n  root: $HOME/fraud\n", r"paths\.root: .*environment variable HOME"),
        ("paths:\n  scores: /data/$RUN_DATE\n", r"paths\.scores: .*environment variable RUN_DATE"),
        ("etl:\n  input: ${INPUT}/*.csv\n", r"etl\.input: .*INPUT"),
        ("features:\n  spec_dir: '${SPECS:-feature_specs}'\n", r"features\.spec_dir: .*SPECS"),
        ("tracking:\n  uri: ${MLFLOW_URI}\n", r"tracking\.uri: .*MLFLOW_URI"),
        ("scoring:\n  output: /data/${RUN}/scores\n", r"scoring\.output: .*RUN"),
        ("features:\n  spec_files: [a.yaml, '$EXTRA']\n", r"features\.spec_files\[1\]: .*EXTRA"),
        ("paths:\n  root: ~/fraud\n",
         r"paths\.root: '~/fraud' starts with '~', which is not expanded.*absolute path"),
        ("paths:\n  root: ~ops/fraud\n", r"paths\.root: '~ops/fraud' starts with '~'"),
    ],
)  # fmt: skip
def test_an_environment_reference_or_tilde_is_refused(tmp_path, body, match) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(body)
    with pytest.raises(ConfigError, match=match):
        load_config(config)


def test_a_cli_flag_with_a_tilde_is_refused_too() -> None:
    # bash leaves `--output=~/x` as written (no tilde expansion after `=`)
    with pytest.raises(ConfigError, match=r"scoring\.output: '~/scores' starts with '~'"):
        load_config(None, {"scoring.output": "~/scores"})


def test_a_command_flag_with_a_tilde_is_refused() -> None:
    from pipelines.commands._overrides import with_flags

    section = load_config(None).features
    with pytest.raises(ConfigError, match=r"features\.spec_dir: '~/specs' starts with '~'"):
        with_flags(section, "features", spec_dir="~/specs")
    assert with_flags(section, "features", spec_dir="/abs/specs").spec_dir == "/abs/specs"


def test_dollars_that_are_not_references_and_spark_conf_are_kept(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    # Spark substitutes ${env:X} / ${spark.x} in its own settings itself; a '$' in a name
    # that is no variable reference stays; a '~' inside a path is a character
    config.write_text(
        "spark:\n  conf:\n    spark.executor.extraJavaOptions: '-Dhome=${env:HOME}'\n"
        "paths:\n  root: /data/price$5/a~b\n"
        "etl:\n  csv_delimiter: '~'\n  columns: {amount: amount$usd}\n"
    )
    loaded = load_config(config)
    assert loaded.paths.root == "/data/price$5/a~b"
    assert loaded.etl.csv_delimiter == "~"
    assert loaded.etl.columns == {"amount": "amount$usd"}  # a column name, not a place
    assert loaded.spark.conf["spark.executor.extraJavaOptions"] == "-Dhome=${env:HOME}"


def test_the_cli_says_it_in_one_line(tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("paths:\n  root: ${DATA_DIR}/fraud\n")
    assert main(["-c", str(config), "models"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("error: config file") for line in err)
    assert (
        "paths.root: '${DATA_DIR}/fraud' refers to the environment variable DATA_DIR"
        in "\n".join(err)
    )
    assert not (tmp_path / "${DATA_DIR}").exists()
