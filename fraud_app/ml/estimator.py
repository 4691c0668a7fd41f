"""What the dlcore estimators share: input checks, the training call, the fitted model.

`fit(df)` (Spark's template: `Estimator.fit` copies the params, then calls `_fit`):

1. the params become the `training` config section (validated like the YAML);
2. the features column (vector or array) becomes array<float>, the label double;
3. a subclass picks the training DataFrames (the whole data, or balanced subsets);
4. `fraud_app.models.train.train_ensemble` trains one network per DataFrame with the
   distributed trainer (one barrier task per worker): the same function
   `fraud-app train` runs, so the estimator adds no maths of its own. With
   validationIndicatorCol or validationFraction, the held-out rows drive the trainer's
   early stopping (C7: validation AP at group boundaries, patience, best weights kept);
   with `refit` (off by default, on in `fraud-app train`), the networks are then trained
   again on the training + validation rows (refitMethod: "warm_start" from their
   early-stopped best weights, or "fresh" for their best iteration counts), and the
   model's `validation_ap` keeps the validation AP of the ensemble before the refit.

The input checks (width, null and NaN features, null and non-binary labels, each error
naming its column) and the feature moments of the Standardize layer come from the
summary of the trainer's own data pass (fraud_app.spark.summary), so DlcoreClassifier
runs no Spark job of its own. An estimator that standardises with the WHOLE data's
moments before splitting it (`whole_data_statistics`, BalancedBaggingClassifier, like
`fraud-app train`) makes one checking pass first.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
from pyspark.ml import Estimator
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from dlcore.metrics import average_precision
from fraud_app.balancing.base import unit_uniform
from fraud_app.errors import EmptyInputError, SchemaError
from fraud_app.etl.config import BUILTIN_LABELS
from fraud_app.ml import params_section
from fraud_app.ml.data import (
    check_summary,
    feature_names,
    features_array,
    inspect_training_data,
    label_column,
    named_as,
    require_columns,
    require_dataframe,
    require_distinct,
    require_numeric,
    unread_label_text,
    validation_flag,
)
from fraud_app.ml.model import EnsembleClassificationModel, probabilities_and_logits
from fraud_app.ml.params import DlcoreParams
from fraud_app.ml.persistence import ParamsReader, ParamsWriter
from fraud_app.models.config import TrainingSection
from fraud_app.models.train import (
    Checkpoints,
    Columns,
    EncodingRows,
    MemberPlan,
    TrainingInputs,
    refit_plan,
    train_ensemble,
)
from fraud_app.scoring.tasks import task_errors
from fraud_app.spark.connect import BARRIER, require_classic
from fraud_app.spark.data import PartitionData
from fraud_app.spark.session import check_barrier_slots
from fraud_app.spark.summary import DataSummary, label_text
from fraud_app.spark.validation_rows import collect_validation

logger = logging.getLogger(__name__)

ROW_ID = "__dlcore_row_id"
HELD_OUT = "__dlcore_validation"


class EnsembleEstimator(Estimator, DlcoreParams, DefaultParamsReadable, DefaultParamsWritable):
    """Template for estimators whose model is a FraudEnsemble of dlcore networks."""

    model_class: type[EnsembleClassificationModel]
    # True: standardise every member with the whole training data's moments (one pass
    # before `_subsets`); False: with its own data's, from the trainer's pass.
    whole_data_statistics = False

    def write(self) -> ParamsWriter:
        return ParamsWriter(self)

    @classmethod
    def read(cls) -> ParamsReader:
        return ParamsReader(cls)

    def _input_columns(self) -> dict[str, str | None]:
        return {
            "featuresCol": self.getFeaturesCol(),
            "labelCol": self.getLabelCol(),
            "weightCol": self._opt(self.weightCol) or None,
            "validationIndicatorCol": self._opt(self.validationIndicatorCol) or None,
        }

    def _prepare(self, dataset: DataFrame, what: str) -> tuple[DataFrame, DataFrame | None]:
        fcol, lcol = self.getFeaturesCol(), self.getLabelCol()
        wcol = self._opt(self.weightCol) or None
        vcol = self._opt(self.validationIndicatorCol) or None
        require_columns(dataset, [fcol, lcol, wcol, vcol], what)
        require_distinct(
            {
                "featuresCol": fcol,
                "labelCol": lcol,
                "weightCol": wcol,
                "validationIndicatorCol": vcol,
            },
            what,
        )
        if wcol:
            require_numeric(dataset, wcol, what)
        cols = [
            features_array(dataset, fcol, what).alias(fcol),
            label_column(dataset, lcol, what).alias(lcol),
        ]
        if wcol:
            cols.append(F.col(wcol).cast("double").alias(wcol))
        if not self.has_validation():
            return dataset.select(*cols), None
        keep = [fcol, lcol, *([wcol] if wcol else [])]
        if vcol:
            df = dataset.select(*cols, validation_flag(dataset, vcol, what).alias(HELD_OUT))
        else:
            held_out = unit_uniform(ROW_ID, self.getSeed(), salt=7) < F.lit(
                self.getOrDefault(self.validationFraction)
            )
            df = dataset.select(*cols).withColumn(ROW_ID, F.xxhash64(*keep))
            df = df.withColumn(HELD_OUT, held_out)
        flag = F.coalesce(F.col(HELD_OUT), F.lit(False))
        return df.where(~flag).select(*keep), df.where(flag).select(*keep)

    def _no_training_rows(self) -> str:
        vcol = self._opt(self.validationIndicatorCol)
        if vcol:
            why = f"validationIndicatorCol {vcol!r} is true for every row"
            fix = "the column must be true for validation rows only (text such as 'yes' is true)"
        else:
            why = f"validationFraction {self.getOrDefault(self.validationFraction)} took them all"
            fix = "give fit more rows or a smaller validationFraction"
        return f"no training rows are left once the validation rows are taken out ({why}); {fix}"

    def _check_validation(self, y, what: str, w=None) -> None:
        """Early stopping ranks the validation rows by AP: it needs rows of both classes.
        Named in the estimator's params (the trainer's error spoke of the config file's
        training.distributed.early_stopping), e.g. a CrossValidator fold without frauds."""
        vcol = self._opt(self.validationIndicatorCol)
        source = (
            f"validationIndicatorCol {vcol!r}"
            if vcol
            else f"validationFraction {self.getOrDefault(self.validationFraction)}"
        )
        positives = int((y > 0.5).sum())
        if len(y) and 0 < positives < len(y):
            return
        found = "no rows" if not len(y) else f"only label {int(positives > 0)} in {len(y)} rows"
        if w is not None:  # the rows of weight 0 were left out
            found += f" of weight > 0 (weightCol {self._opt(self.weightCol)!r})"
        raise EmptyInputError(
            f"{what}: the validation rows ({source}) hold {found}: early stopping needs frauds "
            "and normals among them. Hold out more rows or rows of both classes, or unset "
            "validationFraction / validationIndicatorCol to train without early stopping"
        )

    def _subsets(self, train: DataFrame, summary: DataSummary | None) -> list[DataFrame]:
        return [train]

    def _member_data_hint(self, summary: DataSummary | None) -> str:
        """What to add to a member's no-rows / one-class error when a member trains on a
        part of the data (the whole data passed its own checks): '' when it is the data."""
        return ""

    def _member_seeds(self, seed: int, members: int) -> list[int]:
        return [seed + k for k in range(members)]

    def _train(self, train: DataFrame, cfg: TrainingSection, names, what: str, *,
               checkpoint_root: str | None, validation=None,
               plan: MemberPlan | None = None):  # fmt: skip
        """train_ensemble over this estimator's subsets of `train` (validation: early
        stopping; plan: a refit's iterations or warm start; checkpoint_root)."""
        fcol, lcol = self.getFeaturesCol(), self.getLabelCol()
        wcol = self._opt(self.weightCol) or None
        summary, stats = None, None
        no_rows = self._no_training_rows() if self.has_validation() else None
        plan = plan or MemberPlan()
        if self.whole_data_statistics and plan.warm_start is None:
            summary = inspect_training_data(train, fcol, lcol, what, no_rows, wcol)
            stats = summary.moments()

        def inspect(part: DataSummary) -> None:
            width = len(names) if names else None
            try:
                check_summary(part, fcol, lcol, what, width, wcol, no_rows)
            except EmptyInputError as exc:
                hint = self._member_data_hint(summary)
                if not hint:
                    raise
                raise EmptyInputError(f"{exc}. {hint}") from None

        subsets = self._subsets(train, summary)
        # the input encoding's bins are fitted on the rows that count (weight > 0), as the
        # moments are weighted: rows weighed out do not set the quantiles
        counted = train.where(F.col(wcol) > 0) if wcol else train
        inputs = TrainingInputs(names, stats, Columns(fcol, lcol, wcol), validation=validation,
                                encoding=EncodingRows(counted), inspect=inspect)  # fmt: skip
        plan = dataclasses.replace(plan, seeds=self._member_seeds(cfg.seed, len(subsets)))
        # checkpointDir is shared by every fit of this estimator (a CrossValidator's folds
        # and param maps): each training setup keeps its checkpoints apart
        per_setup = Checkpoints(checkpoint_root, per_setup=True)
        return train_ensemble(subsets, cfg, inputs, plan=plan, checkpoints=per_setup)

    def _fit(self, dataset: DataFrame) -> EnsembleClassificationModel:
        # fit's actions run the dataset's plan: an error a fraud_app scorer raised in it
        # (stacking on a model's transform) comes back as itself, not a PythonException
        with task_errors():
            try:
                return self._fit_checked(dataset)
            except SchemaError as exc:
                named = self._label_text_error(dataset, exc)
                if named is None:
                    raise
                raise named from exc

    def _label_text_error(self, dataset: DataFrame, exc: SchemaError) -> SchemaError | None:
        """A non-binary label error with the text that was read as no label, when the
        label column is text (one look at the data, only when the fit has failed)."""
        lcol = self.getLabelCol()
        if "must hold only 0 and 1" not in str(exc) or not isinstance(dataset, DataFrame):
            return None
        text = unread_label_text(dataset, lcol, f"{type(self).__name__}.fit")
        if text is None:
            return None
        spellings = ", ".join(sorted(BUILTIN_LABELS))
        return SchemaError(
            f"{exc}. Label column {lcol!r} is text, and text such as {text!r} is neither a "
            f"number nor a spelling read as 1 / 0 ({spellings}, any case): give fraud rows "
            f"1 and the others 0 first, e.g. (F.col({lcol!r}) == '<fraud text>').cast('double')"
        )

    def _fit_checked(self, dataset: DataFrame) -> EnsembleClassificationModel:
        started = time.perf_counter()
        what = f"{type(self).__name__}.fit"
        require_dataframe(dataset, what)
        require_classic(dataset, what, BARRIER)
        cfg: TrainingSection = self.training_section()
        for line in params_section.inert_params(self):  # once per fit (probe55g)
            logger.warning("%s", line)
        # before any pass over the data (bagging's whole-data pass, the validation rows,
        # the trainer's own): too many numWorkers was refused only once they had run
        check_barrier_slots(dataset.sparkSession.sparkContext, cfg.distributed.num_workers)
        # the columns as Spark resolves the params (featuresCol="Features" reads `features`
        # in a case-insensitive session, as Spark's estimators do), renamed to the params
        dataset = named_as(dataset, self._input_columns(), what)
        train, validation = self._prepare(dataset, what)
        names = feature_names(dataset, self.getFeaturesCol())
        held_out = self._held_out(validation, cfg, what)
        root = self._opt(self.checkpointDir) or None
        fitted = self._train(train, cfg, names, what, validation=held_out, checkpoint_root=root)
        history = [_member_history(r) for r in fitted.results]
        validation_ap, seconds = None, fitted.seconds
        plan = refit_plan(fitted, cfg.refit) if held_out is not None else None
        if plan is not None:  # refit on, and early stopping chose the iterations
            validation_ap = _average_precision(fitted.ensemble, held_out)
            fitted = self._refit(train.unionByName(validation), cfg, names, what, plan, root)
            for entry, result in zip(history, fitted.results, strict=True):
                entry.update(refit_iterations=result.iterations, refit_rows=result.rows)
            seconds += fitted.seconds
        model = self.model_class(fitted.ensemble, history)
        model.validation_ap = validation_ap
        # Where fit's time went: the training function vs the estimator's own plumbing.
        model.fit_seconds = {"total": time.perf_counter() - started, "training": seconds}
        self._copyValues(model)
        model._resetUid(self.uid)  # as in Spark, a model shares its estimator's uid
        logger.info("%s: %d network(s) in %.1f s", what, len(fitted.results), seconds)
        return model

    def _held_out(self, validation: DataFrame | None, cfg: TrainingSection, what: str):
        """The validation rows collected once, for early stopping and validation_ap (None
        without validation rows)."""
        if validation is None:
            return None
        stopping = cfg.distributed.early_stopping
        wcol = self._opt(self.weightCol) or None
        # weighted as the training rows are (a row of weight 0 ranked in the validation AP
        # that chose the iterations and the best weights; Spark's GBT weighs its validation
        # rows too)
        held_out = collect_validation(
            validation,
            features_col=self.getFeaturesCol(),
            label_col=self.getLabelCol(),
            max_rows=stopping.max_rows if stopping is not None else None,
            seed=cfg.seed,
            weight_col=wcol,
        )
        # checked as the training rows are (trainer's pass): an infinite feature was scored
        # and ranked, a label 2.0 or null was an error from dlcore's AP naming no column
        _check_validation_rows(held_out, self.getFeaturesCol(), self.getLabelCol(), what)
        if wcol:
            _check_validation_weights(held_out.w, wcol, what)
            counted = held_out.w > 0  # the AP's weights must be > 0: rows of 0 left out
            if not counted.all():
                X, y, w = held_out.X[counted], held_out.y[counted], held_out.w[counted]
                held_out = PartitionData(np.ascontiguousarray(X), y, w)
        self._check_validation(held_out.y, what, held_out.w if wcol else None)
        return held_out

    def _refit(self, data: DataFrame, cfg: TrainingSection, names, what: str, plan,
               root: str | None):  # fmt: skip
        """The ensemble trained again on training + validation rows for the refit `plan`'s
        (iterations, warm start); its checkpoints under `<root>/refit`."""
        iterations, warm = plan
        logger.info("%s: refit (%s) on training + validation rows", what, cfg.refit.method)
        return self._train(
            data,
            cfg,
            names,
            what,
            plan=MemberPlan(iterations=iterations, warm_start=warm),
            checkpoint_root=f"{root}/refit" if root else None,
        )


def _check_validation_rows(held_out: PartitionData, fcol: str, lcol: str, what: str) -> None:
    """The validation rows' features and labels, as check_content checks the training rows'
    (the validation rows were not read by the trainer's pass)."""
    X, y, n = held_out.X, held_out.y, len(held_out.y)
    bad_rows = ~np.isfinite(X).all(axis=1)
    if bad_rows.any():
        raise SchemaError(
            f"{what}: features column {fcol!r} holds null, NaN or infinite values in "
            f"{int(bad_rows.sum())} of the {n} validation rows (features are float32: a "
            "number beyond +-3.4e38 is infinite too); impute them (e.g. "
            "pyspark.ml.feature.Imputer) or drop those rows: early stopping scores them"
        )
    bad = (y != 0) & (y != 1)  # NaN (a null label) too
    if bad.any():
        raise SchemaError(
            f"{what}: label column {lcol!r} must hold only 0 and 1 (binary); {int(bad.sum())} "
            f"of the {n} validation rows do not (e.g. {label_text(float(y[bad][0]))})"
        )


def _check_validation_weights(w, wcol: str, what: str) -> None:
    """The validation rows' weights, as the trainer checks the training rows' (only those
    were checked: the validation rows' weights were not read)."""
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise SchemaError(
            f"{what}: weightCol {wcol!r} must hold finite weights >= 0; {int(bad.sum())} of "
            f"the {len(w)} validation rows do not (null, NaN, infinite or negative; e.g. "
            f"{float(w[bad][0])}); they weigh the validation average precision of early "
            "stopping"
        )


def _member_history(result) -> dict:
    return {
        "history": result.history,
        "iterations": result.iterations,
        "rows": result.rows,
        "best_iteration": result.best_iteration,
        "validation": result.validation,
        "stopped_early": result.stopped_early,
    }


def _average_precision(ensemble, held_out) -> float:
    """The ensemble's average precision on the collected validation rows (driver side;
    weighted when they are a sample of a larger window, fraud_app.spark.validation_sample)."""
    p = probabilities_and_logits(ensemble, held_out.X)[0]
    return float(average_precision(held_out.y, p, sample_weight=held_out.w))
