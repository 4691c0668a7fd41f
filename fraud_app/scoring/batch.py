"""Batch scoring: add a fraud score column (and optionally more) to a DataFrame with a
feature-vector column.

The ensemble travels to executors once per job as a broadcast of plain arrays
and JSON configs with the driver's dlcore backend name, is rebuilt once per Python worker
(cached by a digest of everything it is rebuilt from) on that backend, and scores Arrow
batches with vectorised NumPy. No per-row Python. A scalar Arrow
UDF carries only the feature column to Python and only the new columns back (one
struct, split into columns in the JVM); the scores come from the fused plan
(dlcore.inference), the same arithmetic as FraudEnsemble.predict_proba.

What it refuses (never a silent number): a row whose vector does not hold exactly the
model's number of features (checked per row, not per batch), a null vector, and NaN or
infinite features. Non-finite features follow `ScoringOptions.nonfinite`: "error"
(default) fails the job naming how many rows and which features; "null" gives those
rows a null score and `invalid_features = true`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from dlcore.attribution import top_features
from dlcore.backends import get_ops, use_backend
from dlcore.errors import ShapeError
from dlcore.inference import mean_sigmoid
from dlcore.layers.embedding import relocate_id_error
from dlcore.losses import sigmoid
from fraud_app.errors import ArgumentKindError, ModelLoadError, SchemaError, ScoringInputError
from fraud_app.etl.reader import quoted
from fraud_app.features.moments import FLOAT32_MAX
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.spark.arguments import is_a, kind_of, require_dataframe
from fraud_app.spark.broadcasts import share

_ENSEMBLES: dict[str, FraudEnsemble] = {}
INVALID_COL = "invalid_features"


@dataclass(frozen=True)
class ScoringOptions:
    """What to add besides the score. Defaults: the score only, non-finite rows fail.

    members: one `member_XX` probability column per ensemble member.
    threshold: add `alert` (score >= threshold). reasons: add `reason_1..reason_n`, the
    features with the largest positive gradient x (input - training mean's) attribution
    (those that pushed the score up; null where fewer did), in the standardised and
    clipped input z or its encoding [z, ramps(z)] (dlcore.attribution; needs the model's
    metadata["scoring"]["feature_means"]).
    """

    nonfinite: Literal["error", "null"] = "error"
    members: bool = False
    threshold: float | None = None
    reasons: int = 0


def _payload_key(payload) -> str:
    """Digest of everything FraudEnsemble.from_payload rebuilds the ensemble from (backend,
    feature names, every member's config, weights and state: standardisation, encoding
    bins), so a worker's cache never serves a model that differs in any of them. The
    weights alone (the key until 2026-12-02) let a model with other statistics, bins or
    feature names be scored as the one a worker had rebuilt before."""
    head = {
        "backend": payload["backend"],
        "feature_names": list(payload["feature_names"]),
        "configs": [m["config"] for m in payload["members"]],
    }
    h = hashlib.sha256(json.dumps(head, sort_keys=True, default=repr).encode())
    for m in payload["members"]:
        _digest_array(h, m["params"])
        for name in sorted(m["state"]):
            h.update(name.encode())
            _digest_array(h, m["state"][name])
    return h.hexdigest()


def _digest_array(h, a) -> None:
    a = np.ascontiguousarray(a)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())


def scoring_payload(ensemble: FraudEnsemble) -> dict[str, Any]:
    """The ensemble as plain data for executors, with the driver's dlcore backend: the
    members that the fused plan does not score (a single member's logit in Spark ML,
    other layers) compute through the backend, and a worker's own timed choice can be
    the other BLAS library on a loaded machine (other last bits than the driver's)."""
    return {**ensemble.to_payload(), "backend": get_ops().name}


def broadcast_ensemble(spark, ensemble: FraudEnsemble):
    """(content key, broadcast of plain arrays + JSON configs) for executor-side scoring
    (on a Spark Connect session the payload travels inside the UDF: `share`)."""
    payload = scoring_payload(ensemble)
    return _payload_key(payload), share(spark, payload)


def executor_ensemble(key: str, bc) -> FraudEnsemble:
    """The broadcast ensemble, rebuilt once per Python worker (cached by its content key,
    which holds the backend) with the driver's backend."""
    model = _ENSEMBLES.get(key)
    if model is None:
        _ENSEMBLES.clear()
        payload = bc.value
        use_backend(payload["backend"])  # before the members bind their ops
        model = _ENSEMBLES[key] = FraudEnsemble.from_payload(payload)
    return model


def _output_fields(ensemble: FraudEnsemble, score_col: str, opts: ScoringOptions) -> list:
    from pyspark.sql import types as T

    fields = [T.StructField(score_col, T.DoubleType())]
    if opts.members:
        fields += [
            T.StructField(f"member_{k:02d}", T.DoubleType()) for k in range(len(ensemble.members))
        ]
    if opts.threshold is not None:
        fields.append(T.StructField("alert", T.BooleanType()))
    fields += [T.StructField(f"reason_{i + 1}", T.StringType()) for i in range(opts.reasons)]
    if opts.nonfinite == "null":
        fields.append(T.StructField(INVALID_COL, T.BooleanType()))
    return fields


def feature_means(ensemble: FraudEnsemble) -> np.ndarray:
    means = ensemble.metadata.get("scoring", {}).get("feature_means")
    if not isinstance(means, list) or len(means) != len(ensemble.feature_names):
        raise ModelLoadError(
            "the model has no training feature means (metadata.scoring.feature_means), "
            "which attribution needs: retrain it with this version, or score with reasons: 0"
        )
    return np.asarray(means, dtype=np.float64)


def column_key(spark):
    """How the session compares column names: as written under spark.sql.caseSensitive=true,
    else ignoring case (Spark's default)."""
    sensitive = str(spark.conf.get("spark.sql.caseSensitive", "false")).lower() == "true"
    return (lambda name: name) if sensitive else str.lower


def taken_columns(df, names) -> list[str]:
    """The columns of `df` that new columns named `names` would replace or duplicate, as
    `df` spells them: the same names, and, under Spark's default
    spark.sql.caseSensitive=false, names that differ in case only (withColumn replaced a
    `Prediction` column by `prediction` without a word; a select kept both)."""
    key = column_key(df.sparkSession)
    wanted = {key(n) for n in names if n}
    return [c for c in df.columns if key(c) in wanted]


def score_dataframe(
    df,
    ensemble: FraudEnsemble,
    *,
    features_col: str = "features",
    score_col: str = "fraud_score",
    options: ScoringOptions | None = None,
):
    """df + `score_col` (double, the ensemble's mean fraud probability) + what `options` asks."""
    from pyspark.sql import types as T

    require_dataframe(df, "score_dataframe")
    if not is_a(ensemble, FraudEnsemble):
        raise ArgumentKindError(
            f"score_dataframe: `ensemble` must be a FraudEnsemble; received {kind_of(ensemble)}"
            ": load a saved one with FraudEnsemble.load(path)"
        )
    opts = options or ScoringOptions()
    if features_col not in df.columns:
        raise SchemaError(
            f"cannot score: column {features_col!r} is missing. Available: {df.columns}"
        )
    if not isinstance(df.schema[features_col].dataType, T.ArrayType):
        raise SchemaError(f"cannot score: column {features_col!r} must be array<float|double>")
    payload = scoring_payload(ensemble)
    if opts.reasons:
        payload["baseline"] = feature_means(ensemble)
    key = _payload_key(payload)
    bc = share(df.sparkSession, payload)
    fields = _output_fields(ensemble, score_col, opts)
    names = [f.name for f in fields]
    taken = taken_columns(df, names)
    if taken:  # the select below kept both: two columns of one name, the next read ambiguous
        raise SchemaError(
            f"cannot score: the DataFrame already has column(s) {taken}, which scoring adds "
            f"({names}); drop or rename them first (score_col names the score column)"
        )
    single = len(fields) == 1  # the score alone: a double column, no struct to split

    def score(columns: Iterator[pa.Array]) -> Iterator[pa.Array]:
        model = executor_ensemble(key, bc)
        baseline = bc.value.get("baseline")
        for column in columns:
            cols = score_arrow_column(column, model, opts, baseline=baseline)
            yield cols[0] if single else pa.StructArray.from_arrays(cols, names=names)

    # A scalar Arrow UDF: only the feature column travels to Python and only the new
    # columns come back (mapInArrow would send every column there and back).
    from fraud_app.spark.arrow_udfs import arrow_udf

    returns = fields[0].dataType if single else T.StructType(fields)
    out = arrow_udf(score, returns, iterator=True)(df[features_col])
    new = [out.alias(score_col)] if single else [out.getField(n).alias(n) for n in names]
    # quoted: df['channel_is_a.b'] read the dot as a struct field (UNRESOLVED_COLUMN)
    return df.select(*[df[quoted(c)] for c in df.columns], *new)


def feature_matrix(column, width: int, names: list[str]) -> np.ndarray:
    """(rows, width) float32 of an Arrow list column, every row's length checked."""
    import pyarrow.compute as pc

    n = len(column)
    lengths = pc.fill_null(pc.list_value_length(column), -1).to_numpy(zero_copy_only=False)
    bad = lengths != width
    if bad.any():
        seen = sorted({int(x) for x in lengths[bad]})
        nulls = int((lengths == -1).sum())
        raise ScoringInputError(
            f"{int(bad.sum())} of {n} rows do not hold {width} feature values (the model's "
            f"features); lengths seen: {[s for s in seen if s >= 0]}, null vectors: {nulls}. "
            "Rebuild the features with the specs the model was trained on"
        )
    flat = column.flatten().to_numpy(zero_copy_only=False)  # null values -> NaN
    with np.errstate(over="ignore"):  # a double beyond float32: inf, named by _nonfinite_rows
        return flat.astype(np.float32, copy=False).reshape(n, width)


def _nonfinite_rows(X: np.ndarray, names: list[str], policy: str) -> np.ndarray:
    # NaN and inf carry through a sum: a finite sum (one pass, no mask) clears the batch;
    # a non-finite one (a bad value, or finite values whose sum overflows) is checked whole
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(X.sum()):
            return np.zeros(len(X), dtype=bool)
    bad = ~np.isfinite(X)
    rows = bad.any(axis=1)
    if rows.any() and policy == "error":
        cols = [names[j] for j in np.flatnonzero(bad.any(axis=0))]
        infinite = [names[j] for j in np.flatnonzero(np.isinf(X).any(axis=0))]
        # a finite double beyond the float32 range is infinite here, while the feature
        # table's double column shows a number: say so, or "fix the table" finds nothing
        why = (
            f" ({', '.join(infinite)}: the model reads float32 features, where a value beyond "
            f"+-{FLOAT32_MAX:.3g}, such as an amount sum of 1e39 that a raised "
            "etl.bounds.max_amount admitted, is infinite)"
            if infinite
            else ""
        )
        raise ScoringInputError(
            f"{int(rows.sum())} of {len(X)} rows have NaN or infinite features {cols}{why}: "
            "fix the feature table, or set scoring.nonfinite: null to give such rows a null score"
        )
    return rows


def score_arrow_column(
    column, model: FraudEnsemble, opts: ScoringOptions, *, baseline=None
) -> list[Any]:
    """The output Arrow arrays for one batch's feature column (same order as the schema)."""

    names = model.feature_names
    X = feature_matrix(column, len(names), names)
    invalid = _nonfinite_rows(X, names, opts.nonfinite)
    good = ~invalid
    Xg = X[good] if invalid.any() else X
    try:
        scores_g, probs, attr = _scores(model, Xg, opts, baseline)
    except ShapeError as exc:  # an id error names rows of Xg: the batch's rows
        if not invalid.any():
            raise
        raise relocate_id_error(exc, np.flatnonzero(good), len(X)) from None
    mask = invalid if invalid.any() else None
    out = [pa.array(_spread(scores_g, good), pa.float64(), mask=mask)]
    out += [pa.array(_spread(p, good), pa.float64(), mask=mask) for p in probs]
    if opts.threshold is not None:
        out.append(pa.array(_spread(scores_g, good) >= opts.threshold, pa.bool_(), mask=mask))
    if opts.reasons:
        out += _reason_arrays(attr, good, names, opts.reasons)
    if opts.nonfinite == "null":
        out.append(pa.array(invalid, pa.bool_()))
    return out


def _scores(model: FraudEnsemble, Xg: np.ndarray, opts: ScoringOptions, baseline) -> tuple:
    """(scores, member probabilities, attribution or None) of the rows scored."""
    attr, probs = None, []
    if opts.members:
        logits = model.member_logits(Xg) if len(Xg) else np.zeros((0, len(model.members)))
        probs = [np.ascontiguousarray(p) for p in sigmoid(logits).T]
    if opts.reasons and len(Xg):
        scores_g, attr = _attribution(model, Xg, baseline)
    elif opts.members:
        scores_g = mean_sigmoid(logits)
    else:
        scores_g = model.predict_proba(Xg) if len(Xg) else np.zeros(0)
    return scores_g, probs, attr


def _attribution(model: FraudEnsemble, X: np.ndarray, baseline) -> tuple[np.ndarray, np.ndarray]:
    """(score, exactly predict_proba's; gradient x (z - z(baseline)) in the standardised
    and clipped input z, so an input beyond the clip is credited: dlcore.attribution)."""
    return model.proba_and_attribution(X, baseline)


def _spread(values: np.ndarray, good: np.ndarray) -> np.ndarray:
    if len(values) == len(good):
        return values
    full = np.zeros(len(good), dtype=values.dtype)
    full[good] = values
    return full


def _reason_arrays(attr, good: np.ndarray, names: list[str], n: int) -> list[Any]:
    """reason_1..n: per row the features whose attribution is positive (they pushed the
    score up), largest first, ties by feature order (top_features); null where fewer than
    i features did. Before session 36 every row named n features, also features whose
    attribution was 0 or negative (a row at the training mean named features 0, 1, 2; a
    feature that lowered the score was given as a reason for the alert)."""
    import pyarrow.compute as pc

    top = top_features(attr, n) if attr is not None else np.zeros((0, n), dtype=np.int64)
    pushed_up = (
        np.take_along_axis(attr, top, axis=1) > 0 if attr is not None else np.zeros(top.shape, bool)
    )
    lookup = pa.array(names, pa.string())
    out = []
    for i in range(n):
        idx = np.zeros(len(good), dtype=np.int64)
        valid = np.zeros(len(good), dtype=bool)
        if i < top.shape[1]:
            idx[good] = top[:, i]
            valid[good] = pushed_up[:, i]
        out.append(pc.take(lookup, pa.array(idx, mask=~valid)))
    return out
