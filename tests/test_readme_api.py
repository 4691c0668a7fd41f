"""The README's Python snippets import names that exist, and each name they import from
this project has a docstring of its own (help() is where a notebook user reads next): a
dataclass's generated `TrainerConfig(epochs: 'int' = 10, ...)` or no text at all said
nothing of what the class is for (FraudEnsemble, DistributedTrainer, Model, Trainer ...)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
OURS = ("fraud_app", "dlcore", "pipelines")


def _imported() -> list[tuple[str, str]]:
    names = []
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        for module, items in re.findall(r"^from ([\w.]+) import (.+)$", block, re.M):
            if module.split(".")[0] in OURS:
                names += [(module, item.strip()) for item in items.split(",")]
    return names


def test_the_readme_imports_exist_and_say_what_they_are():
    names = _imported()
    assert len(names) > 15
    undocumented = []
    for module, name in names:
        obj = getattr(importlib.import_module(module), name)
        doc = (
            (obj.__doc__ or "").strip()
            if "__doc__" in vars(obj) or not inspect.isclass(obj)
            else ""
        )
        if not doc or doc.startswith(f"{name}("):
            undocumented.append(f"{module}.{name}")
        if inspect.isclass(obj):
            for method in ("fit", "load", "save", "transform", "predict_proba"):
                member = vars(obj).get(method)
                if member is not None and not (inspect.getdoc(member) or "").strip():
                    undocumented.append(f"{module}.{name}.{method}")
    assert undocumented == [], f"without a docstring of their own: {undocumented}"


def test_the_readme_names_the_files_save_model_writes(tmp_path):
    # the README said `model.json + params.npz`; save_model writes state.npz too (the
    # layers' state: the input standardisation and encoding), which a copy must carry
    from dlcore.layers import Linear, Sequential
    from dlcore.model import Model
    from dlcore.serialization import save_model

    comment = re.search(r'save_model\(model, "models/mlp"\)\s*# ([^;\n]*)', README).group(1)
    save_model(Model(Sequential([Linear(1)]), in_features=2, seed=0), tmp_path / "m")
    assert set(re.findall(r"[\w.]+\.(?:json|npz)", comment)) == {
        p.name for p in (tmp_path / "m").iterdir()
    }
