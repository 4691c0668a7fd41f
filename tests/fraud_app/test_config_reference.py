"""docs/CONFIG.md lists every config key with its default: it is generated from the section
models, and this test fails when a key, a default or a bound changed without regenerating
it (`python -m fraud_app.config_reference > docs/CONFIG.md`). The README's Configuration
section names every key too (what it means)."""

from __future__ import annotations

import re
from pathlib import Path

from fraud_app.config_reference import render, rows

ROOT = Path(__file__).resolve().parents[2]


def test_docs_config_md_is_the_generated_reference():
    assert (ROOT / "docs" / "CONFIG.md").read_text() == render(), (
        "docs/CONFIG.md is stale: run `python -m fraud_app.config_reference > docs/CONFIG.md`"
    )


def test_the_reference_has_every_key_and_its_default():
    keys = {key: default for key, default, _ in rows()}
    assert keys["training.distributed.num_workers"] == "2"
    assert keys["scoring.model"] == "'models:/<registry.model_name>@champion'"  # derived
    assert keys["validation.features.columns.<name>.nullable"] == "false"
    assert keys["splits.train.start"] == "(required)"
    assert len(keys) > 200


def test_the_readme_configuration_section_names_every_key():
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1]
    section = section.split("\n## ", 1)[0]
    missing = [
        key
        for key, _, _ in rows()
        if not re.search(rf"(?<![\w-]){re.escape(key.rsplit('.', 1)[-1])}\b", section)
    ]
    assert missing == [], f"keys the README's Configuration section does not name: {missing}"


def test_every_section_model_says_what_its_keys_do():
    # docs/CONFIG.md sends the reader to "the docstring of the section's model"; spark,
    # validation, balancing, training.loss / optimizer and the baselines' had none
    import typing

    from pydantic import BaseModel

    from fraud_app.config import AppConfig

    missing, todo, seen = [], [("", AppConfig)], set()
    while todo:
        prefix, model = todo.pop()
        for name, field in model.model_fields.items():
            for kind in typing.get_args(field.annotation) or (field.annotation,):
                if isinstance(kind, type) and issubclass(kind, BaseModel) and kind not in seen:
                    seen.add(kind)
                    if not (vars(kind).get("__doc__") or "").strip():
                        missing.append(f"{prefix}{name} ({kind.__name__})")
                    todo.append((f"{prefix}{name}.", kind))
    assert len(seen) > 20
    assert missing == [], f"section models without a docstring: {missing}"


def test_the_readme_names_every_canonical_column_required_or_optional():
    # `fraud_pattern` was missing from the optional columns, while `fraud-app init`'s config
    # maps it (`fraud_pattern: scenario`): a new user could not tell what it was for
    from fraud_app.schema import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1]
    found = re.search(r"Required: (.*?); the others \((.*?)\) are\s+optional", section, re.S)
    assert found, "the README's sentence `Required: ...; the others (...) are optional`"
    assert set(re.findall(r"`(\w+)`", found.group(1))) == set(REQUIRED_COLUMNS)
    assert set(re.findall(r"`(\w+)`", found.group(2))) == set(OPTIONAL_COLUMNS)
