"""`fraud-app pack-env`: this virtualenv, with fraud-app in it, as one archive for executors.

venv-pack does the packing (relocatable scripts, pyvenv.cfg). One trap it does not
catch: a project installed in editable mode (`pip install -e .`, what `make` does) is a
finder file pointing at the checkout, so a plain `venv-pack` archive silently lacks the
project's code. We drop the editable finder and add the packages' files themselves: their
`.py` files and package data, as a wheel carries them (no other file of the checkout).

The archive's `bin/python` links to the base interpreter's absolute path (as every
venv does), so executors need that Python at the same path: use the same base image on
the cluster, or the conda-pack route (docs/DEPLOY.md) when they cannot.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import logging
import os
import re
import shutil
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
# what an editable checkout's package folders add besides their `.py` files: the package
# data a wheel carries (pyproject's package-data), per package. Any other file there (a
# `configs/prod.yaml` with a token in its tracking URI, an `.env`, notes) was packed and
# shipped to every executor (session 46)
PACKAGE_DATA = {"fraud_app": ("resources/feature_specs/*.yaml", "resources/configs/demo.yaml")}
# venv-pack's temporary archive goes into a folder of this prefix beside the output
STAGING_PREFIX = ".pack-env-"
# the names pack-env gives what it creates beside the output: its staging folders and
# _check_writable's probe file (tempfile's 8 random letters after the prefix)
_OWN_NAME = re.compile(re.escape(STAGING_PREFIX) + r"(write-test-)?[a-z0-9_]{8}")


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
    env.files = _without_own_outputs(
        _with_project_code(list(env.files), prefix, venv_pack.File), output
    )
    for pattern in excludes:
        env = env.exclude(pattern)
    _warn_leftovers(output.parent)
    logger.info("packing %d files of %s into %s", len(env.files), prefix, output)
    # venv-pack writes the archive to a temporary file, then moves it to `output`; that
    # file goes beside the output (one file system: the move is a rename), not into $TMPDIR,
    # where a move that failed left the whole archive (~800 MB) behind. It goes into a
    # folder of its own, removed whatever happens: venv-pack removes its temporary file on
    # an Exception only, and a Ctrl-C or SIGTERM (BaseExceptions) left the half-written
    # archive (`tmpXXXXXXXX`, 135 MB after 25 s) beside the output (session 46)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=output.parent)
    previous = tempfile.tempdir
    tempfile.tempdir = staging
    try:
        env.pack(output=str(output), force=True, compress_level=compress_level)
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(staging, ignore_errors=True)
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


def _without_own_outputs(files: list, output: Path) -> list:
    """`files` less pack-env's own output and staging folders, when the archive is written
    inside the environment it packs (`python -m venv .` in the project, then `pack-env
    env.tar.gz`): each `--force` re-pack put the previous archive into the new one (1.1,
    2.1, 3.2 MB for a 1 MB environment: every executor unpacked all the old ones), and a
    killed pack's partial archive went in too (session 48)."""

    def own(source: str) -> bool:
        if os.path.basename(source) != output.name and STAGING_PREFIX not in source:
            return False  # the cheap test first: a venv has tens of thousands of files
        path = Path(source).resolve()
        if path == output:
            return True
        if not path.is_relative_to(output.parent):
            return False
        top = path.relative_to(output.parent).parts[:1]
        # only names pack-env makes (mkdtemp's 8 random letters): a file or folder of the
        # user's own that starts so (`.pack-env-notes/`) was left out too (review48b)
        return bool(top) and _OWN_NAME.fullmatch(top[0]) is not None

    return [f for f in files if not own(f.source)]


def _warn_leftovers(directory: Path) -> None:
    """A WARNING naming the staging folders a pack killed outright (SIGKILL, a power cut)
    left in `directory`: each may hold a partial archive. Not removed: another pack-env
    into the same directory may be writing one now."""
    if not directory.is_dir():
        return
    for folder in sorted(directory.glob(STAGING_PREFIX + "*")):
        if not folder.is_dir():  # _check_writable's probe file (same prefix), no archive
            continue
        logger.warning("pack-env: %s holds a partial archive of a pack-env that was killed "
                       "(or of one running now); delete it when no pack-env runs",
                       folder)  # fmt: skip


def _package_files(root: Path):
    """The files of the package folder `root` that a wheel carries: its `.py` files and
    its package data (PACKAGE_DATA), nothing else of the checkout."""
    data = PACKAGE_DATA.get(root.name, ())
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for fn in filenames:
            path = Path(dirpath) / fn
            if not path.exists():  # a link to nothing (Emacs' `.#x.py` lock while x.py is
                continue  # edited): venv-pack failed on it with a traceback (review46a)
            if fn.endswith(".py") or any(_data_match(path.relative_to(root), g) for g in data):
                yield path


def _data_match(relative: Path, pattern: str) -> bool:
    """Whether `relative` matches a package-data glob as setuptools reads it: `*` within
    one folder level. fnmatch's `*` also matched `/`: `resources/feature_specs/*.yaml`
    took `feature_specs/drafts/x.yaml`, which no wheel carries (review46a)."""
    parts, globs = relative.parts, pattern.split("/")
    return len(parts) == len(globs) and all(map(fnmatch.fnmatchcase, parts, globs))


def _site_packages(prefix: Path) -> str:
    hits = sorted(prefix.glob("lib/python*/site-packages"))
    if not hits:
        raise ConfigError(f"pack-env: no lib/python*/site-packages under {prefix}")
    return str(hits[0].relative_to(prefix))
