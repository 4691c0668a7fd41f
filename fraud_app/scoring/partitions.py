"""The scores table's date partitions: each written to a staging path and swapped in
(fraud_app.etl.partition_swap.PartitionSwap, shared with the ETL's append mode), and the
job lock: one scoring job per output path at a time (`output_lock`): a second one would
take the first one's staging for a dead job's and delete it, or restore a date it is
swapping.
"""

from __future__ import annotations

import contextlib
import logging

from fraud_app.etl.lock import RootLock
from fraud_app.uris import is_remote

logger = logging.getLogger(__name__)


def output_lock(output: str, setting: str = "paths.scores"):
    """Context manager: the run lock (`fraud_app.etl.lock.RootLock`) of a local output
    folder, `<output>/.fraud-app.lock` (Spark and pyarrow skip names starting with '.');
    ConcurrentRunError while another live job holds it. A remote output (any scheme but
    file: hdfs:/x, hdfs://nn/x, s3a://b/x; fraud_app.uris)
    is not locked (a lock file there is not atomic on every store, and no distributed lock
    is built): the scheduler must run one job per output there, and a WARNING says so."""
    if is_remote(output):
        logger.warning(
            "scoring output %s is not local: no job lock is taken. Run one `fraud-app score` "
            "per output at a time (scheduler concurrency 1): a second job beside this one "
            "would take this job's staged dates for a dead job's and delete them",
            output,
        )
        return contextlib.nullcontext()
    return RootLock(output, "score", setting=setting)
