"""The example notebooks: stripped of outputs in git, and executed with a real kernel.

nbclient runs every cell in a fresh IPython kernel (the interpreter running pytest); a
cell that raises fails the test with the cell's traceback. Each notebook starts its own
local[2] SparkSession, so these are slow-marked (`make test-slow`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ULB_CSV = ROOT / "work" / "data" / "ulb" / "creditcard.csv"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_the_three_notebooks_exist():
    assert ALL == ["01-quickstart.ipynb", "02-train-and-evaluate.ipynb", "03-real-data.ipynb"]


@pytest.mark.parametrize("name", ALL)
def test_outputs_are_stripped(name):
    nbstripout = shutil.which("nbstripout") or str(Path(sys.executable).parent / "nbstripout")
    if not Path(nbstripout).exists():
        pytest.skip("nbstripout is not installed (it is in the dev extra)")
    proc = subprocess.run(
        [nbstripout, "--verify", str(NOTEBOOKS / name)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"{name} has outputs; run `nbstripout notebooks/*.ipynb`"


def _execute(name: str, workdir: Path, timeout_s: int) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    env_before = os.environ.get("NOTEBOOK_WORKDIR")
    os.environ["NOTEBOOK_WORKDIR"] = str(workdir)  # the kernel inherits it
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    try:
        client = nbclient.NotebookClient(
            nb,
            timeout=timeout_s,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("NOTEBOOK_WORKDIR", None)
        else:
            os.environ["NOTEBOOK_WORKDIR"] = env_before


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01-quickstart.ipynb", "02-train-and-evaluate.ipynb"])
def test_generated_data_notebooks_execute(name, tmp_path):
    _execute(name, tmp_path, timeout_s=900)


@pytest.mark.slow
@pytest.mark.skipif(
    not ULB_CSV.is_file(),
    reason=f"ULB data absent: run `python bench/data/get_ulb.py` to fetch {ULB_CSV}",
)
def test_real_data_notebook_executes(tmp_path):
    _execute("03-real-data.ipynb", tmp_path, timeout_s=1800)
