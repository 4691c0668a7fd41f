"""The wheel stands alone: built, installed into a fresh venv, run away from the checkout.

The fresh venv borrows the third-party packages of the running one through a .pth line
(installing pyspark, MLflow and MKL again would take minutes and the network); fraud-app
itself comes only from the wheel: the borrowed site-packages' editable finder is not run
(a .pth line that names a directory adds it to sys.path without reading its .pth files),
and the test asserts where fraud_app is imported from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
TINY = {
    "generate": {"n_transactions": 8000, "n_cards": 1000, "n_merchants": 200, "fraud_rate": 0.01},
    "balancing": {"unionpay_subsets": {"n_subsets": 2}},
}


def _run(cmd, *, cwd, env, timeout=900, stderr=False):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (
        f"{cmd} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    )
    return (out.stdout, out.stderr) if stderr else out.stdout


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(root / "dist"), str(REPO)],
        cwd=root,
        env=dict(os.environ),
        timeout=600,
    )
    wheel = next((root / "dist").glob("fraud_app-*.whl"))
    # Nothing of the checkout may be visible: PYTHONPATH (and the egg-info that the build
    # leaves in the checkout) would make pip think fraud-app is installed already.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "PYTHONPATH"))}
    venv.create(root / "venv", with_pip=True)
    py = root / "venv" / "bin" / "python"
    site = Path(
        _run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=root,
            env=env,
        ).strip()
    )
    _run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        cwd=root,
        env=env,
    )
    # after the install: pip would take the borrowed editable fraud-app for this one
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env.update(PATH=f"{root / 'venv' / 'bin'}{os.pathsep}{env['PATH']}", SPARK_LOCAL_IP="127.0.0.1")
    return root, py, env


def test_wheel_has_the_specs_and_imports_from_the_venv(wheel_venv):
    root, py, env = wheel_venv
    where = _run(
        [
            str(py),
            "-c",
            "import fraud_app, fraud_app.resources as r; "
            "print(fraud_app.__file__); print(len(list(r.shipped_spec_dir().glob('*.yaml'))))",
        ],
        cwd=root,
        env=env,
    ).split()
    assert where[0].startswith(str(root / "venv")), where
    assert int(where[1]) >= 5


def test_installed_cli_inits_and_runs_the_workflow_outside_the_checkout(wheel_venv):
    root, _py, env = wheel_venv
    cli = str(root / "venv" / "bin" / "fraud-app")
    assert "pack-env" in _run([cli, "--help"], cwd=root, env=env)
    assert _run([cli, "--version"], cwd=root, env=env) == "fraud-app 0.1.0\n"
    _run([cli, "init", "proj"], cwd=root, env=env)
    config = root / "proj" / "config.yaml"
    data = yaml.safe_load(config.read_text())
    for section, values in TINY.items():
        data[section] = {**data.get(section, {}), **values}
    data["training"]["distributed"]["epochs"] = 3
    config.write_text(yaml.safe_dump(data))
    # stdout is the run's JSON document; the line for a person goes to stderr
    out, err = _run([cli, "-c", str(config), "run", "--generate"], cwd=root, env=env, stderr=True)
    assert set(json.loads(out)["steps"]) >= {"etl", "features", "train", "score"}
    assert "fraud-app: trained an ensemble" in err
    assert any((root / "proj" / "work" / "models").iterdir())
