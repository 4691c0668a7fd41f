"""A shared cluster's spark-defaults.conf reaches every job (session 38 probes).

The settings the app's results depend on (cluster_defaults.PINNED) are set back on every
step's session with a WARNING; the config may not set another value; and the file's own
settings win over the app's laptop defaults, as they do under spark-submit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.etl.pipeline import run_etl
from fraud_app.spark.cluster_defaults import file_defaults
from fraud_app.spark.session import DEFAULT_CONF, merged_conf, with_local_java_options

POLICY = "spark.sql.legacy.timeParserPolicy"
HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label"
# what LEGACY (SimpleDateFormat) read with 'yyyy-MM-dd HH:mm:ss' and CORRECTED does not:
# trailing text, a fraction of a second, a two-digit year (the year 24)
ODD = ("2024-01-05 10:00:00junk", "2024-01-05 10:00:00.123", "24-01-05 10:00:00")


@pytest.mark.spark
@pytest.mark.parametrize("policy", ["LEGACY", "EXCEPTION"])
def test_a_cluster_time_parser_policy_changes_nothing_the_etl_publishes(
    spark, tmp_path, caplog, policy
):
    # LEGACY parsed the three odd values (10:00:00 twice, 0024-01-05), where CORRECTED gives
    # null and the ETL quarantines them as unparseable; EXCEPTION (Spark 3's default) stopped
    # the ETL with `INCONSISTENT_BEHAVIOR_CROSS_VERSION.PARSE_DATETIME_BY_NEW_PARSER`
    src = tmp_path / "in.csv"
    rows = [f"t{i},c1,m1,{ts},5,0" for i, ts in enumerate(("2024-01-05 09:00:00", *ODD))]
    src.write_text("\n".join([HEADER, *rows]) + "\n")
    cfg = load_config(None, {
        "paths.root": str(tmp_path / "w"), "etl.input": str(src),
        "etl.timestamp_format": "yyyy-MM-dd HH:mm:ss",
    })  # fmt: skip
    spark.conf.set(POLICY, policy)  # as a cluster's spark-defaults.conf sets it
    try:
        with caplog.at_level("WARNING", logger="fraud_app.spark.cluster_defaults"):
            run_etl(spark, cfg)
        assert spark.conf.get(POLICY) == "CORRECTED"
    finally:
        spark.conf.unset(POLICY)
    assert f"{POLICY}={policy} -> CORRECTED" in caplog.text
    canonical, quarantine = (spark.read.parquet(t) for t in cfg.etl_tables())
    assert [r.transaction_id for r in canonical.collect()] == ["t0"]
    assert sorted(r.raw_transaction_id for r in quarantine.collect()) == ["t1", "t2", "t3"]


def test_the_config_may_not_set_another_time_parser_policy():
    with pytest.raises(ConfigError, match=rf"'{POLICY}' must be CORRECTED \(received 'LEGACY'\)"):
        load_config(None, {"spark.conf": {POLICY: "LEGACY"}})
    assert load_config(None, {"spark.conf": {POLICY: "corrected"}}).spark.conf


def test_the_cluster_file_wins_over_the_app_defaults_and_the_config_over_both(tmp_path):
    # fraud-app's laptop defaults (4g, 8 partitions, its GC option) replaced a cluster's
    # spark-defaults.conf values without a word; under spark-submit the file won
    path = tmp_path / "spark-defaults.conf"
    path.write_text(
        textwrap.dedent("""\
        # platform team
        spark.driver.memory        16g
        spark.sql.shuffle.partitions=2000
        spark.driver.extraJavaOptions: -Dhttp.proxyHost=proxy
        ! another comment
        spark.sql.session.timeZone America/New_York
        fs.s3a.endpoint http://x
        """)
    )
    cluster = file_defaults(path)
    assert cluster == {
        "spark.driver.memory": "16g", "spark.sql.shuffle.partitions": "2000",
        "spark.driver.extraJavaOptions": "-Dhttp.proxyHost=proxy",
        "spark.sql.session.timeZone": "America/New_York",
    }  # fmt: skip
    conf = merged_conf({"spark.sql.shuffle.partitions": "4"}, None, cluster)
    assert "spark.driver.memory" not in conf  # the file's 16g is what the launcher sets
    assert "spark.sql.session.timeZone" not in conf  # set back to UTC by ensure_utc
    assert conf["spark.sql.shuffle.partitions"] == "4"  # the config's own
    assert conf["spark.ui.enabled"] == DEFAULT_CONF["spark.ui.enabled"]
    assert "spark.driver.extraJavaOptions" not in with_local_java_options(
        "local[2]", conf, None, cluster
    )


@pytest.mark.slow
def test_a_session_started_under_a_cluster_defaults_file(tmp_path):
    # the real launcher: a JVM started by get_spark with SPARK_CONF_DIR set
    (tmp_path / "spark-defaults.conf").write_text(
        "spark.driver.memory 1200m\nspark.sql.shuffle.partitions 7\n"
        f"spark.sql.session.timeZone Asia/Kolkata\n{POLICY} LEGACY\n"
    )
    script = textwrap.dedent(f"""\
        import json, logging
        logging.basicConfig(level=logging.WARNING)
        from fraud_app.spark.session import get_spark
        s = get_spark("local[1]", "t")
        print(json.dumps({{k: s.conf.get(k) for k in ("spark.driver.memory",
            "spark.sql.shuffle.partitions", "spark.sql.session.timeZone", "{POLICY}")}}))
        """)  # fmt: skip
    env = {**os.environ, "SPARK_CONF_DIR": str(tmp_path), "FRAUD_APP_PROGRESS_S": "0"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "spark.driver.memory": "1200m", "spark.sql.shuffle.partitions": "7",
        "spark.sql.session.timeZone": "UTC", POLICY: "CORRECTED",
    }  # fmt: skip
    assert "time zone Asia/Kolkata -> UTC" in done.stderr
    assert f"{POLICY}=LEGACY -> CORRECTED" in done.stderr
