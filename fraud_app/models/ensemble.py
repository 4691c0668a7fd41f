"""FraudEnsemble: K dlcore models, one per balanced subset; score = mean member probability.

Owns: the ensemble's directory contract (ensemble.json + one dlcore model
directory per member; JSON and .npz only, so loading never unpickles), its
in-memory scoring, and a plain-data form (`to_payload` / `from_payload`) that
Spark ships to executors for batch scoring.

ensemble.json is sealed and records each member's model.json seal (`member_seals`), which
covers the member's architecture and the sha256 of every array: a member directory
replaced by another one (a member of another run copied in, members swapped, a partial
sync of a retrained model) is refused naming the member. An ensemble saved before
`member_seals` existed loads as before. The seals have no key, so `load` first refuses a
directory another local user could have written (fraud_app.file_trust; `trusted=False`
for a read-only look such as `fraud-app inspect`).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.blocked_inference import BlockedModel, blocked_attribution
from dlcore.errors import SerializationError
from dlcore.inference import FusedEnsemble, compile_ensemble, mean_sigmoid
from dlcore.model import Model
from dlcore.serialization import (
    MODEL_JSON,
    SEAL,
    check_seal,
    load_model,
    save_model,
    write_json_atomic,
)
from dlcore.serialization.files import read_json
from fraud_app import file_trust
from fraud_app.errors import ModelLoadError, OutputPathError, UntrustedModelError
from fraud_app.uris import local_path, redacted

# /2 adds member_seals; /1 (saved before it) still loads. A version that reads /1 only
# refuses a /2 file (member_seals is an unknown key to its seal check).
FORMAT = "fraud_app.ensemble/2"
FORMATS = ("fraud_app.ensemble/1", FORMAT)
SPEC_KEYS = frozenset({"format", "members", "feature_names", "combine", "metadata", "member_seals"})
COMBINE = "mean_probability"  # how members' scores combine: the only way predict_proba has
_UNSET: Any = object()


@dataclass
class FraudEnsemble:
    """The fraud model `fraud-app train` saves: one dlcore network per balanced subset
    (`members`, each outputting a logit), the ordered `feature_names` they read, and
    `metadata` (training window, alert threshold, feature definitions, ...). The score is
    the mean of the members' sigmoids (`predict_proba`). `save(path)` / `load(path)`: an
    ensemble directory, ensemble.json + member-XX/ model directories, sealed (sha256)."""

    members: list[Model]
    feature_names: list[str]
    metadata: dict[str, Any]
    _scorers: list[BlockedModel] | None = field(default=None, init=False, repr=False, compare=False)
    _fused: Any = field(default=_UNSET, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.members:
            raise ModelLoadError("an ensemble needs at least one member model")
        _check_feature_names(self.feature_names)
        widths = {m.in_features for m in self.members}
        if widths != {len(self.feature_names)}:
            raise ModelLoadError(
                f"ensemble members expect {sorted(widths)} features but {len(self.feature_names)} feature names were given"
            )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Mean of the members' fraud probabilities, shape (n,).

        Inputs are rounded to float32 (the feature table's type). Same-shaped MLP members
        are scored together in their own dtype (float32 for trained models) by the fused
        plan of dlcore.inference: fixed 256-row GEMM blocks in aligned buffers through
        NumPy's BLAS, rows only at the block positions the BLAS computes alike, so a row's
        score is the same bits in any batch and any process (Spark executors, the MLflow
        pyfunc model, a server); sigmoid and mean in float64.
        Other members are scored by float64 twins, one member at a time, in fixed row
        blocks (dlcore.blocked_inference): the same guarantee, a row's bits independent of
        its batch and process.
        """
        return mean_sigmoid(self.member_logits(X))

    def member_logits(self, X: np.ndarray) -> np.ndarray:
        """(n, K) float64 logits of every member, from X rounded to float32."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        fused = self.fused()
        if fused is not None:
            return fused.member_logits(X)
        X = X.astype(np.float64)
        out = np.empty((len(X), len(self.members)))
        for k, m in enumerate(self._blocked_members()):
            out[:, k] = m.predict(X).reshape(-1)
        return out

    def proba_and_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(predict_proba(X), its gradient (n, d)) from the fused plan; None without one."""
        fused = self.fused()
        if fused is None:
            return None
        return fused.proba_and_gradient(np.ascontiguousarray(X, dtype=np.float32))

    def proba_and_attribution(
        self, X: np.ndarray, baseline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(predict_proba(X), bit for bit; (n, d) attribution against `baseline` in the
        standardised and clipped input space (or its piecewise-linear encoding),
        dlcore.attribution's definition, so a feature clipped at the standardisation's bound
        keeps its share). The fused plan gives both at once; other members: the float64
        twins predict_proba scores with."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        fused = self.fused()
        if fused is not None:
            return fused.proba_and_attribution(X, baseline)
        # the baseline as a float32 row, as the fused plan takes it: a feature at the
        # training mean is attributed exactly 0 in both (a float64 mean of 0.1 against the
        # row's float32 0.1 gave it 1e-9, so a reason where the fused plan named none)
        b32 = np.asarray(baseline, dtype=np.float32).astype(np.float64)
        attr = blocked_attribution(self._blocked_members(), X.astype(np.float64), b32)
        return self.predict_proba(X), attr

    def fused(self) -> FusedEnsemble | None:
        """The members compiled for joint scoring (dlcore.inference), or None (built once)."""
        if self._fused is _UNSET:
            self._fused = compile_ensemble(self.members)
        return self._fused

    def _blocked_members(self) -> list[BlockedModel]:
        """The members' float64 twins, scored in fixed row blocks (built once)."""
        if self._scorers is None:
            self._scorers = [BlockedModel(m, np.float64) for m in self.members]
        return self._scorers

    def _float64_members(self) -> list[Model]:
        return [b.model for b in self._blocked_members()]

    # -- directory contract --------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the ensemble directory at `path`, replacing an earlier ensemble there; never
        a file or a directory of other files (it was deleted with everything in it)."""
        path = Path(path)
        _check_replaceable(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        except OSError as exc:  # a directory that cannot be created or written
            raise OutputPathError(
                f"cannot write the ensemble to {path}: {exc.strerror or exc} ({path.parent}); "
                "give a directory this user can write"
            ) from exc
        try:
            names, seals = [], {}
            for i, m in enumerate(self.members):
                name = f"member-{i:02d}"
                save_model(m, staging / name)
                names.append(name)
                seals[name] = read_json(staging / name / MODEL_JSON)[SEAL]
            write_json_atomic(
                staging / "ensemble.json",
                {
                    "format": FORMAT,
                    "members": names,
                    "feature_names": self.feature_names,
                    "combine": COMBINE,
                    "metadata": self.metadata,
                    "member_seals": seals,
                },
                sealed=True,  # a flipped digit in the alert threshold loaded silently
            )
            if path.exists():
                shutil.rmtree(path)
            staging.rename(path)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str | Path, *, trusted: bool = True) -> FraudEnsemble:
        """The ensemble saved in directory `path` (models/<run>/, what `save` wrote);
        ModelLoadError naming the file when it is missing, damaged or edited, and
        UntrustedModelError when another local user could have replaced it (`trusted`:
        scored with; False for a look that only shows it)."""
        path = Path(path)
        spec_path = path / "ensemble.json"
        if not spec_path.is_file():
            raise ModelLoadError(f"{path} is not a saved ensemble: {spec_path.name} is missing")
        if trusted:
            file_trust.check_private(path, MODEL)
        try:  # UTF-8, a JSON object, nesting a parser can read (dlcore's reader), its seal
            spec = read_json(spec_path)
            check_seal(spec, spec_path, SPEC_KEYS)
        except SerializationError as exc:
            raise ModelLoadError(str(exc)) from exc
        if spec.get("format") not in FORMATS:
            raise ModelLoadError(
                f"{spec_path}: format is {spec.get('format')!r}; expected one of {FORMATS}"
            )
        # check_seal reads a file without a seal as one written before seals; a /2 file was
        # always written with its seal and member_seals: feature names swapped and the seal
        # deleted loaded, and the pyfunc model read each column as another feature
        lacking = [k for k in (SEAL, "member_seals") if k not in spec]
        if spec["format"] == FORMAT and lacking:
            raise ModelLoadError(
                f"{spec_path}: lacks {lacking}, which every {FORMAT} file is written with: the "
                "file was edited or damaged. Restore it from a good copy, or save the ensemble "
                "again"
            )
        for key, kind in (("members", list), ("feature_names", list)):
            if not isinstance(spec.get(key), kind) or not spec[key]:
                raise ModelLoadError(f"{spec_path}: {key!r} must be a non-empty list")
        if spec.get("combine", COMBINE) != COMBINE:  # scored as the mean without a word
            raise ModelLoadError(
                f"{spec_path}: combine is {spec['combine']!r}; this version scores ensembles "
                f"by {COMBINE!r} only (a model written by another version, or an edited file)"
            )
        metadata = spec.get("metadata", {})
        _check_metadata(metadata, spec_path)
        members = []
        for name in spec["members"]:
            if not isinstance(name, str) or "/" in name or name.startswith("."):
                raise ModelLoadError(
                    f"{spec_path}: member name {name!r} is not a plain directory name"
                )
            members.append(load_model(path / name))
        _check_member_seals(spec, path, spec_path)
        try:
            return cls(members, list(spec["feature_names"]), dict(metadata))
        except ModelLoadError as exc:
            raise ModelLoadError(f"{spec_path}: {exc}") from None

    # -- plain data for Spark executors ------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        return {
            "feature_names": self.feature_names,
            "members": [
                {"config": m.get_config(), "params": m.params.data.copy(), "state": m.layer.state()}
                for m in self.members
            ],
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> FraudEnsemble:
        members = []
        for spec in payload["members"]:
            m = Model.from_config(spec["config"])
            m.load_weights(spec["params"], spec["state"])
            members.append(m)
        return cls(members, list(payload["feature_names"]), {})


MODEL = file_trust.Trust(
    kind="model",
    why=(
        "another local user could have replaced the model this process would score with "
        "(its seals catch damage, not a forger)"
    ),
    yours="paths.models; a save path only you can write",
    fresh="save or download the model again into a directory of your own",
    error=UntrustedModelError,
)


def local_model_path(uri: str, instead: str) -> Path:
    """A model given as a path or `file:` URI, as the local path Python loads it from (pathlib
    made `file:///m` a folder `file:/m`); a remote one (hdfs://, s3a://) refused naming
    `instead`, the other way to give it."""
    path = local_path(uri)
    if path is None:
        raise ModelLoadError(
            f"model {redacted(uri)!r} is on remote storage, but the ensemble is loaded with "
            f"Python on this machine: copy it here (e.g. `hdfs dfs -get`) and give that "
            f"directory, or {instead}"
        )
    return path


def local_ensemble_dir(path: str | Path) -> Path | None:
    """The ensemble directory a local model path names: the path itself (holding
    ensemble.json) or, for a fraud_app.ml model saved with `write().save(path)`, its
    `data/ensemble/`; None when it names neither (export-onnx and score refused a saved
    Spark ML model as "no ensemble.json" though `inspect` read it)."""
    path = Path(path)
    if (path / "ensemble.json").is_file():
        return path
    inner = path / "data" / "ensemble"
    if (path / "metadata").is_dir() and (inner / "ensemble.json").is_file():
        return inner
    return None


def _check_replaceable(path: Path) -> None:
    if path.is_file() or (path.exists() and not path.is_dir()):
        raise OutputPathError(
            f"{path} is a file; an ensemble is saved as a directory: give a new directory name"
        )
    if path.is_dir() and not (path / "ensemble.json").is_file() and any(path.iterdir()):
        raise OutputPathError(
            f"{path} is a directory of other files (no ensemble.json), which saving the "
            "ensemble there would delete; give a new or empty directory, or an earlier ensemble's"
        )


def _check_feature_names(names: list[Any]) -> None:
    """Names the scorer looks features up by: non-empty, unique strings (an export of other
    names wrote an ONNX file that import-onnx refuses)."""
    bad = [n for n in names if not isinstance(n, str) or not n]
    repeated = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    if bad or repeated:
        what = f"not non-empty strings: {bad[:5]}" if bad else f"repeated: {repeated[:5]}"
        raise ModelLoadError(f"feature names must be non-empty, unique strings; {what}")


def _check_metadata(metadata: Any, spec_path: Path) -> None:
    """`metadata` is an object, and the alert threshold in it, when there is one, a number."""
    if not isinstance(metadata, dict):
        raise ModelLoadError(
            f"{spec_path}: 'metadata' must be a JSON object. Received {type(metadata).__name__}"
        )
    scoring = metadata.get("scoring")
    if scoring is not None and not isinstance(scoring, dict):
        raise ModelLoadError(f"{spec_path}: metadata.scoring must be a JSON object")
    threshold = (scoring or {}).get("threshold")
    number = isinstance(threshold, int | float) and not isinstance(threshold, bool)
    if threshold is not None and not (number and math.isfinite(threshold)):
        raise ModelLoadError(
            f"{spec_path}: metadata.scoring.threshold must be a finite number (the alert "
            f"cut-off). Received {threshold!r}; the file is damaged: save or export it again"
        )


def _check_member_seals(spec: dict[str, Any], path: Path, spec_path: Path) -> None:
    """Each member's model.json seal is the one ensemble.json recorded when it was saved
    (each member's own seal and checksums passed: a whole member directory from another
    save was loaded as this ensemble's without a word)."""
    seals = spec.get("member_seals")
    if seals is None:  # saved before member_seals existed
        return
    if not isinstance(seals, dict) or set(seals) != set(spec["members"]):
        raise ModelLoadError(
            f"{spec_path}: member_seals must name each member ({spec['members']}); the file "
            "is damaged: save or export the ensemble again"
        )
    for name in spec["members"]:
        found = read_json(path / name / MODEL_JSON).get(SEAL)
        if found != seals[name]:
            raise ModelLoadError(
                f"{path / name}: this member is not the model {spec_path.name} was saved with "
                f"(its model.json seal {str(found)[:12]}..., recorded {str(seals[name])[:12]}...): "
                "a member directory of another save or run was copied in, or members were "
                "swapped. Restore the ensemble directory from one save (copy it whole), or "
                "train it again"
            )
