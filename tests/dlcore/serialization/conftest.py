"""The `saved` fixture: a small model (two Linear layers and layer state) saved to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlcore.serialization import save_model
from tests.dlcore.serialization.helpers import make_model


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    model = make_model()
    model.layer.layers[1].shift[...] = np.arange(8, dtype=np.float32)
    save_model(model, tmp_path / "model")
    return tmp_path / "model"
