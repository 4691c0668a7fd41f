"""What `fraud-app` imports before it runs a command.

`build_parser` imports every command's module (each adds its flags); `dashboards`'
imported `dashboards.errors`, whose package imported `dashboards.render` and with it
pandas and plotly: 4.3 s of CPU in every `fraud-app` process (a one-line config error
included) where 1.5 s is the rest of the start. The CLI tests run ~150 such processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.pipelines.test_cli_errors import REPO
from tests.processes import CLI_DEADLINE_S

HEAVY = ("pandas", "plotly", "pyspark", "mlflow", "great_expectations")


def test_the_parser_imports_no_pandas_plotly_spark_or_mlflow():
    probe = (
        "import json, sys\n"
        "from pipelines.cli import build_parser\n"
        "build_parser().parse_args(['dashboards'])\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=CLI_DEADLINE_S)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


def test_the_dashboards_names_are_imported_on_first_use():
    import dashboards
    from dashboards.render import render_all
    from dashboards.sources import Sources

    assert dashboards.render_all is render_all and dashboards.Sources is Sources
    assert sorted(dashboards.__all__) == sorted(
        ["DashboardOptions", "Sources", "render_all", "render_backtest", "render_index",
         "render_run"]
    )  # fmt: skip
    assert all(getattr(dashboards, name) is not None for name in dashboards.__all__)
    try:
        dashboards.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("dashboards.no_such_name did not raise AttributeError")
