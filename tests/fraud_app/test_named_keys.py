"""Every config key a message or docstring of fraud_app / pipelines names exists in the
config (docs/CONFIG.md's list): a user told to set `training.global_batch_size` looks for
a key that is not there (it is `training.distributed.global_batch_size`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from fraud_app.config_reference import rows

ROOT = Path(__file__).resolve().parents[2]
KEYS = [key for key, _, _ in rows()]
MAPPINGS = {key for key, _, kind in rows() if kind.startswith("mapping")}  # etl.columns.label
# spark.* names Spark's own settings (spark.sql.shuffle.partitions) beside the section's keys
SECTIONS = sorted({key.split(".")[0] for key in KEYS} - {"spark"})
NAMED = re.compile(
    rf"(?<![\w./<-])((?:{'|'.join(SECTIONS)})(?:\.[a-z_]+)+)(?![\w(-]|\.[a-z]|\.\w+\()"
)
# dotted names of modules, files and functions that begin like a section
NOT_KEYS = {"backtest.json", "registry.json", "registry.register_decided", "splits.py",
            "balancing.config", "etl.config", "features.config"}  # fmt: skip


def _valid(name: str) -> bool:
    """`name` is a key, a section, or a key inside a mapping key (etl.columns.label)."""
    parts = name.split(".")
    if any(name.startswith(f"{key}.") for key in MAPPINGS):
        return True
    for key in KEYS:
        pattern = [p if not p.startswith("<") else None for p in key.split(".")]
        if len(parts) > len(pattern):
            if key.endswith(".<name>") or key.endswith(">"):
                parts_ = parts[: len(pattern)]
            else:
                continue
        else:
            parts_ = parts
        if all(want is None or want == got for want, got in zip(pattern, parts_, strict=False)):
            return True
    return False


def _strings(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_every_config_key_named_in_the_code_exists():
    wrong = []
    for folder in ("fraud_app", "pipelines"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, text in _strings(path):
                for name in NAMED.findall(text):
                    name = name.rstrip(".")
                    if name not in NOT_KEYS and not _valid(name):
                        wrong.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert wrong == [], "config keys that do not exist:\n" + "\n".join(wrong)


def test_every_config_key_the_docs_name_exists():
    examples = {  # the README's examples of mistyped and misplaced keys; a host name
        "training.distributed.num_worker", "training.num_workers", "training.distributed.epoch",
        "registry.example.com"}  # fmt: skip
    wrong = []
    for doc in ("README.md", "docs/DEPLOY.md", "docs/TESTING.md", "docs/CONFIG.md"):
        for line, text in enumerate((ROOT / doc).read_text().splitlines(), 1):
            for name in NAMED.findall(text):
                name = name.rstrip(".")
                if name not in NOT_KEYS | examples and not _valid(name):
                    wrong.append(f"{doc}:{line}: {name}")
    assert wrong == [], "config keys that do not exist:\n" + "\n".join(wrong)
