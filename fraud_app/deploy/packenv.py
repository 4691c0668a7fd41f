"""`fraud-app pack-env`: this virtualenv, with fraud-app in it, as one archive for executors.

venv-pack does the packing (relocatable scripts, pyvenv.cfg). One trap it does not
catch: a project installed in editable mode (`pip install -e .`, what `make` does) is a
finder file pointing at the checkout, so a plain `venv-pack` archive silently lacks the
project's code. We drop the editable finder and add the packages' files themselves.

The archive's `bin/python` links to the base interpreter's absolute path (as every
venv does), so executors need that Python at the same path: use the same base image on
the cluster, or the conda-pack route (docs/DEPLOY.md) when they cannot.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import logging
import os
import sys
import tempfile
from pathlib import Path

from fraud_app.errors import ConfigError
from fraud_app.uris import unwritable

logger = logging.getLogger(__name__)

PROJECT_PACKAGES = ("dlcore", "fraud_app", "pipelines", "dashboards")
# Executors get pyspark from the cluster's Spark (its pyspark.zip is first on their
# PYTHONPATH), so the archive does not need the 0.5 GB copy in the venv.
DEFAULT_EXCLUDES = ("lib/python*/site-packages/pyspark/*",)


def pack_environment(
    output: str | Path,
    *,
    prefix: str | Path | None = None,
    excludes: tuple[str, ...] = DEFAULT_EXCLUDES,
    force: bool = False,
    compress_level: int = 1,
) -> Path:
    """Pack the virtualenv at `prefix` (default: the running one) into `output` (.tar.gz)."""
    try:
        import venv_pack
    except ImportError as exc:
        raise ConfigError(
            "fraud-app pack-env needs venv-pack: pip install 'fraud-app[deploy]'"
        ) from exc
    prefix = Path(prefix or sys.prefix).resolve()
    output = Path(output).resolve()
    if output.is_dir():  # venv-pack left its 800 MB temp file inside and reported success
        raise ConfigError(f"pack-env: {output} is a directory; give the archive file to write")
    if output.parent.exists() and not output.parent.is_dir():
        raise ConfigError(f"pack-env: {output.parent} is a file, not a directory to write into")
    if output.exists() and not force:
        raise ConfigError(f"pack-env: {output} already exists; pass --force to overwrite it")
    if not str(output).endswith((".tar.gz", ".tgz")):
        raise ConfigError(
            f"pack-env: the output must end in .tar.gz (Spark unpacks it). Received: {output}"
        )
    _check_writable(output.parent)  # before a minute of packing, not after it
    try:
        env = venv_pack.Env(str(prefix))
    except venv_pack.VenvPackException as exc:
        raise ConfigError(
            f"pack-env: {prefix} is not a packable virtualenv ({exc}). For conda environments "
            "use conda-pack (docs/DEPLOY.md)."
        ) from exc
    env.files = _with_project_code(list(env.files), prefix, venv_pack.File)
    for pattern in excludes:
        env = env.exclude(pattern)
    logger.info("packing %d files of %s into %s", len(env.files), prefix, output)
    # venv-pack writes the archive to a temporary file, then moves it to `output`; that
    # file goes beside the output (one file system: the move is a rename), not into $TMPDIR,
    # where a move that failed left the whole archive (~800 MB) behind
    previous = tempfile.tempdir
    tempfile.tempdir = str(output.parent)
    try:
        env.pack(output=str(output), force=True, compress_level=compress_level)
    finally:
        tempfile.tempdir = previous
    logger.info("packed %s (%.0f MB)", output, output.stat().st_size / 1e6)
    return output


def _check_writable(directory: Path) -> None:
    """ConfigError unless `directory` can be created and written by this user."""
    exc = unwritable(directory, ".pack-env-write-test-")
    if exc is not None:
        raise ConfigError(
            f"pack-env: cannot write the archive into {directory} "
            f"({exc.strerror or type(exc).__name__}); give an output path this user can write"
        ) from None


def _with_project_code(files: list, prefix: Path, file_type) -> list:
    """Drop editable-install finders; add the project's packages where they live outside."""
    site = _site_packages(prefix)
    kept = [
        f
        for f in files
        if not fnmatch.fnmatch(os.path.basename(f.target), "__editable__*fraud_app*")
    ]
    have = {f.target for f in kept}
    for name in PROJECT_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        src = Path(next(iter(spec.submodule_search_locations))).resolve()
        if src.is_relative_to(prefix):
            continue  # a normal install: already in the venv's files
        for path in _package_files(src):
            target = f"{site}/{name}/{path.relative_to(src)}"
            if target not in have:
                kept.append(file_type(str(path.resolve()), target))
    return kept


def _package_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for fn in filenames:
            if not fn.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / fn


def _site_packages(prefix: Path) -> str:
    hits = sorted(prefix.glob("lib/python*/site-packages"))
    if not hits:
        raise ConfigError(f"pack-env: no lib/python*/site-packages under {prefix}")
    return str(hits[0].relative_to(prefix))
