"""DLCORE_TRANSPORT / DLCORE_TOPOLOGY / DLCORE_SHM_SIGNAL set where the driver runs are the run's choice, as the
dlcore backend is: every worker uses them (executors, on a cluster, never see the driver's
environment, so the documented variables did nothing there), and a bad value is a
ConfigError on the driver before any stage (it failed inside the first stage's tasks).

The shared local session's executors inherit the environment of the JVM, fixed when the
session started, so a variable set here reaches them only through the driver's choice."""

from __future__ import annotations

import platform

import pytest

from dlcore.errors import ConfigError
from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer
from tests.fraud_app.spark.test_distributed import _df, _model

pytestmark = pytest.mark.spark


def _fit(spark, **kw):
    cfg = DistributedConfig(num_workers=2, global_batch_size=16, iterations=2, epochs=None, **kw)
    return DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.1), cfg).fit(
        _df(spark)
    )


def test_the_drivers_transport_is_every_workers(spark, monkeypatch):
    # two workers on one host: "auto" picks shared memory; the driver asks for sockets
    monkeypatch.setenv("DLCORE_TRANSPORT", "socket")
    assert _fit(spark).history[0]["transport"] == "socket"
    monkeypatch.delenv("DLCORE_TRANSPORT")
    assert _fit(spark).history[0]["transport"] == "shm"


@pytest.mark.skipif(platform.machine().lower() not in {"x86_64", "amd64"}, reason="x86-64 only")
def test_the_drivers_shm_signal_is_every_workers(spark, monkeypatch):
    assert _fit(spark).history[0]["shm_signal"] == "memory"
    monkeypatch.setenv("DLCORE_SHM_SIGNAL", "socket")
    entry = _fit(spark).history[0]
    assert (entry["transport"], entry["shm_signal"]) == ("shm", "socket")
    monkeypatch.setenv("DLCORE_TRANSPORT", "socket")
    assert _fit(spark).history[0]["shm_signal"] is None


@pytest.mark.parametrize("name", ["DLCORE_TRANSPORT", "DLCORE_TOPOLOGY", "DLCORE_SHM_SIGNAL"])
def test_a_bad_value_is_named_on_the_driver(spark, monkeypatch, name):
    monkeypatch.setenv(name, "bogus")
    with pytest.raises(ConfigError, match=rf"{name} must be one of .*Received: 'bogus'"):
        _fit(spark)
