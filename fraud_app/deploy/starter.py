"""`fraud-app init DIR`: a starter config and an editable copy of the shipped feature specs."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import yaml

from fraud_app.errors import ConfigError
from fraud_app.resources import example_config, shipped_spec_dir


def init_project(directory: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write DIR/config.yaml and DIR/feature_specs/*.yaml; return what was written.

    The config is the annotated example with absolute paths (so a scheduler may run it
    from any working directory): data under DIR/work, specs from DIR/feature_specs.
    Existing files are never overwritten unless `force`.
    """
    root = Path(directory).resolve()
    config_path = root / "config.yaml"
    specs = root / "feature_specs"
    if not force:
        taken = [str(p) for p in (config_path, specs) if p.exists()]
        if taken:
            raise ConfigError(
                f"fraud-app init: {', '.join(taken)} already exist(s); "
                "choose an empty directory or pass --force to overwrite"
            )
    if root.exists() and not root.is_dir():  # it said "cannot write into DIR: File exists"
        raise ConfigError(f"fraud-app init: {root} is a file; pass a new or empty directory")
    config_text = _starter_config(root, specs)  # before anything is written
    try:
        root.mkdir(parents=True, exist_ok=True)
        specs.mkdir(exist_ok=True)
        for spec in sorted(shipped_spec_dir().glob("*.yaml")):
            shutil.copyfile(spec, specs / spec.name)
        config_path.write_text(config_text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"fraud-app init: cannot write into {root}: {exc.strerror}") from exc
    return {"config": config_path, "feature_specs": specs}


def _quoted(path: str) -> str:
    """A YAML double-quoted scalar of `path` (JSON's string syntax): non-ASCII letters as
    themselves (`ü`, not the escape `\\u00fc`), unless a character is not printable (YAML
    refuses C1 controls; a lone surrogate cannot be written as UTF-8): then all escaped."""
    text = json.dumps(path, ensure_ascii=False)
    return text if text.isprintable() else json.dumps(path)


def _starter_config(root: Path, specs: Path) -> str:
    """The example config's text with paths.root and features.spec_dir pointed at DIR."""
    text = example_config().read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    old_root = str(data["paths"]["root"])
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        # quoted (a JSON string is a YAML double-quoted scalar): a directory named with
        # ': ' or ' #' broke the file (ScannerError) or cut the path at the '#'
        if stripped.startswith("#"):
            # the header's commands named configs/demo.yaml, a file a user of this config
            # does not have (and "demo configuration"): they name this file
            line = line.replace("configs/demo.yaml", shlex.quote(str(root / "config.yaml")))
            line = line.replace("fraud-app demo configuration", "fraud-app configuration "
                                "(written by `fraud-app init`, from the demo's)")  # fmt: skip
        elif stripped.startswith("root:") and old_root in stripped:
            line = line.replace(old_root, _quoted(str(root / "work")), 1)
        elif stripped.startswith("spec_dir:"):
            indent = line[: len(line) - len(line.lstrip())]
            line = (
                f"{indent}spec_dir: {_quoted(str(specs))}   # edit these specs, or null "
                "for the shipped ones"
            )
        lines.append(line)
    out = "\n".join(lines) + "\n"
    check = yaml.safe_load(out)
    if check["paths"]["root"] != str(root / "work") or check["features"]["spec_dir"] != str(specs):
        raise ConfigError("fraud-app init: the example config's layout is not the expected one")
    return out
