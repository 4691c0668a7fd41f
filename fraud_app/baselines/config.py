"""`baselines` config section: Spark MLlib models trained beside the ensemble for comparison."""

from __future__ import annotations

from pydantic import Field

from fraud_app.config_base import Section


class LogRegSection(Section):
    """Spark MLlib LogisticRegression: `max_iter`, `reg_param`, `elastic_net_param`."""

    enabled: bool = True
    max_iter: int = Field(50, ge=1)
    reg_param: float = Field(0.01, ge=0)
    elastic_net_param: float = Field(0.0, ge=0, le=1)


class GbtSection(Section):
    """Spark MLlib GBTClassifier: `max_iter` trees of `max_depth`, `step_size`."""

    enabled: bool = True
    max_iter: int = Field(20, ge=1)
    max_depth: int = Field(4, ge=1, le=30)
    step_size: float = Field(0.1, gt=0, le=1)


class BaselinesSection(Section):
    """Both models see every fraud of the training window and `normal_fraction` of its normals."""

    enabled: bool = True
    normal_fraction: float = Field(0.2, gt=0, le=1)
    seed: int = 0
    logreg: LogRegSection = Field(default_factory=LogRegSection)
    gbt: GbtSection = Field(default_factory=GbtSection)
