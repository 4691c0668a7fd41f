"""training.distributed.ring_interface: the interface whose address every worker gives its
ring neighbours (hosts with several networks; docs/DEPLOY.md). Config -> DistributedConfig
-> each barrier task's CommConfig.advertise_interface; a bad name is refused when the config
is read, and a name a worker's host lacks fails the fit naming it and the host's interfaces.

Between real hosts (namespaces): tests/integration/test_netns_addresses.py."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError, TrainingError
from fraud_app.spark.config import DistributedConfig
from tests.dlcore.collective.test_addresses import needs_ipv6


def test_ring_interface_reaches_the_distributed_config():
    cfg = load_config(None, {"training.distributed.ring_interface": "eth1"})
    assert cfg.training.distributed.to_config(seed=0, checkpoint_dir=None).ring_interface == "eth1"
    default = load_config(None).training.distributed.to_config(seed=0, checkpoint_dir=None)
    assert default.ring_interface is None


@pytest.mark.parametrize("bad", ["", "eth 1", "10.0.0.0/8", "averylonginterfacename"])
def test_a_ring_interface_that_cannot_be_an_interface_name_is_refused(bad):
    with pytest.raises(ConfigError, match="ring_interface"):
        load_config(None, {"training.distributed.ring_interface": bad})
    with pytest.raises(ConfigError, match=r"ring_interface must be null or a network interface"):
        DistributedConfig(ring_interface=bad)


@pytest.mark.spark
def test_the_workers_advertise_the_ring_interfaces_address(spark):
    from tests.fraud_app.spark.test_comm_choice import _fit

    entry = _fit(spark, ring_interface="lo", max_retries=0).history[0]
    assert entry["transport"] == "shm"  # trained; one host: shared memory over the lo ring


@pytest.mark.spark
def test_an_interface_a_workers_host_lacks_fails_the_fit_naming_it(spark):
    from tests.fraud_app.spark.test_comm_choice import _fit

    message = r"a retry cannot fix: .*interface 'nosuch0' does not exist on .*: .*\blo\b"
    with pytest.raises(TrainingError, match=message):
        _fit(spark, ring_interface="nosuch0", max_retries=0)


@needs_ipv6
@pytest.mark.parametrize("bind", ["::1", "::", "[::1]"])
def test_an_ipv6_driver_address_of_this_machine_is_accepted(bind):
    """The trainer's rendezvous and report servers listen on spark.driver.bindAddress; an
    IPv6 one was refused as 'not an address of this machine' (an IPv4-only check), and
    spark.driver.host in the bracketed form Spark requires ([::1]) as 'does not resolve'."""
    from fraud_app.spark.session import check_driver_addresses

    check_driver_addresses({"spark.driver.bindAddress": bind, "spark.driver.host": "[::1]"})
    with pytest.raises(ConfigError, match=r"bindAddress '2001:db8::1' is not an address of this"):
        check_driver_addresses({"spark.driver.bindAddress": "2001:db8::1"})


_IPV6_FIT = """
from fraud_app.spark.session import get_spark
from tests.fraud_app.spark.test_comm_choice import _fit
spark = get_spark(master="local[2]", conf={"spark.driver.host": "[::1]",
                                           "spark.driver.bindAddress": "[::1]"})
print("transport", _fit(spark, max_retries=0).history[0]["transport"])
"""


@pytest.mark.slow  # 30-60 s: its own Spark session, bound to IPv6
@needs_ipv6
def test_a_driver_and_workers_on_ipv6_train():
    """Spark on [::1] (driver host, bind address and SPARK_LOCAL_IP): the rendezvous, the
    report server and the workers' ring all on IPv6 (refused before the JVM started)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root), "SPARK_LOCAL_IP": "[::1]",
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", _IPV6_FIT], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["transport", "shm"], done.stdout
