"""`tracking` and `registry` config sections (MLflow; see fraud_app.tracking)."""

from __future__ import annotations

from pydantic import Field, field_validator

from fraud_app.config_base import Section
from fraud_app.naming import registered_name_problem


class TrackingSection(Section):
    """Where runs are recorded.

    uri: None -> env MLFLOW_TRACKING_URI -> embedded `sqlite:///<paths.root>/mlflow.db`
    with artifacts under `<paths.root>/mlartifacts` (an absolute artifact location).
    """

    enabled: bool = True
    uri: str | None = None
    experiment: str = Field("fraud-app", min_length=1)
    # This project's name on a tracking store several projects share: the registered model
    # (registry.model_name) is tagged with it at its first registration, and another
    # project's train, gate, promote, score and evaluate of that name are refused. None:
    # paths.root as a URI (a local root's resolved file: URI, a remote root as written). See README "One tracking server, several
    # projects".
    project: str | None = Field(None, min_length=1)
    artifact_location: str | None = None  # None: <paths.root>/mlartifacts (embedded store only)
    connect_timeout_s: float = Field(10.0, gt=0)  # deadline to reach a tracking server
    # The total time one request to a tracking server may take (its per-request timeout,
    # connect_timeout_s, bounds each socket read only: a server trickling its answer kept a
    # command waiting for hours). None: (MLFLOW_HTTP_REQUEST_MAX_RETRIES + 2) x the
    # per-request timeout, 30 s by default. See fraud_app.tracking.http_deadline.
    request_deadline_s: float | None = Field(None, gt=0)
    # MLflow calls run on a background thread beside training; the run waits this long at
    # its end (and for results it needs, e.g. the model version) before it is an error.
    flush_timeout_s: float = Field(300.0, gt=0)
    # The background thread's nice value (Linux, per thread): 19 = lowest CPU priority, so
    # tracking takes only the CPU training leaves; 0 = the process's own priority.
    thread_nice: int = Field(19, ge=0, le=19)


class RegistrySection(Section):
    """Model registry and promotion gate (needs tracking.enabled)."""

    enabled: bool = True
    # The registered model's name: not blank, no '/', ':', '?' or control characters (MLflow
    # refuses '/' and ':'; a models:/ URI is cut at '?').
    model_name: str = Field("fraud-ensemble", min_length=1)
    # `champion` moves to a new version only if its validation AP beats the champion's by this:
    # a difference of average precision, 0..1 (0.02 = two points; 1: the gate never replaces
    # a champion). Above 1 it was taken as written: `2` meant as 2 % kept every champion for
    # good, each run's reason "does not beat ... by 2" (session 50).
    promotion_margin: float = Field(0.0, ge=0, le=1)
    # A first version (no champion yet) whose validation AP is undefined (no frauds in the
    # validation window: nothing shows it ranks frauds). true (default, the gate's rule: the
    # champion always moves when there is none): it is promoted, with a WARNING and the tag
    # gate.validation_ap_undefined. false: it gets `challenger` (same tag); `fraud-app
    # promote VERSION` promotes it by hand.
    promote_undefined_ap: bool = True

    @field_validator("model_name")
    @classmethod
    def _model_name_in_a_uri(cls, value: str) -> str:
        # before any Spark starts: MLflow refused `fraud/eu` only at registration, after the
        # whole training run, and read `models:/fraud?eu@champion` as the model `fraud`
        problem = registered_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value
