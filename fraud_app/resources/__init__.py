"""Files shipped inside the package: the feature specs and the example config.

In a source checkout `fraud_app/resources/feature_specs` and `.../configs` are links to the
top-level `feature_specs/` and `configs/` folders; the wheel carries copies (package data),
so an installed fraud-app finds them without the repository.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def shipped_spec_dir() -> Path:
    """The feature specs that ship with the package (`features.spec_dir: null`)."""
    return (_HERE / "feature_specs").resolve()


def example_config() -> Path:
    """The annotated example config (configs/demo.yaml in a checkout)."""
    return (_HERE / "configs" / "demo.yaml").resolve()
