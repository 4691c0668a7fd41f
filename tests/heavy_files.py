"""The test files that take a worker longest, run first under `make test`.

`make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: xdist hands each
worker whole files in the order the workers collected them (tests/conftest.py,
`pytest_collection_modifyitems`, puts these files first, in this order, then the rest as
xdist's own `--loadscope-reorder` would: most tests first). With xdist's default order the
files with one or two tests come last, and many of the longest are such files (the
incremental feature builds, the small-driver evaluation, the workflow): a worker that
takes one of them near the end leaves the other idle until it is done.

Seconds: each file's tests summed, setup and teardown included, the 30 longest files of
the whole fast suite (the junit XML of session 41's full run on 2 workers, 2 vCPU shared
with other runs: 3029 tests, 9013.7 s in all, 4572 s wall; /work/notes/full41.xml). Relative times: a quiet machine runs the suite ~4x faster. A file
renamed or removed here fails tests/test_heavy_files.py.
"""

from __future__ import annotations

HEAVY_FIRST: tuple[tuple[str, float], ...] = (
    ("tests/fraud_app/features/test_incremental_labels.py", 418.0),
    ("tests/fraud_app/features/test_incremental_build.py", 383.9),
    ("tests/pipelines/test_cli_errors.py", 351.4),
    ("tests/fraud_app/features/test_incremental_rebuilds.py", 350.4),
    ("tests/pipelines/test_model_preflight.py", 228.4),
    ("tests/pipelines/test_workflow.py", 193.1),
    ("tests/fraud_app/etl/test_etl_runs.py", 190.1),
    ("tests/fraud_app/scoring/test_table_source.py", 179.3),
    ("tests/fraud_app/ml/test_estimators.py", 165.3),
    ("tests/fraud_app/scoring/test_evaluate_small_driver.py", 159.7),
    ("tests/fraud_app/tracking/test_killed_runs.py", 152.0),
    ("tests/fraud_app/features/test_point_in_time.py", 147.9),
    ("tests/fraud_app/etl/test_labels_feed.py", 141.7),
    ("tests/fraud_app/etl/test_labels_corrections.py", 134.6),
    ("tests/fraud_app/etl/test_append_incremental.py", 129.9),
    ("tests/fraud_app/etl/test_delivery_drift.py", 128.9),
    ("tests/fraud_app/etl/test_daily_files.py", 123.1),
    ("tests/fraud_app/etl/test_unlabelled.py", 115.6),
    ("tests/fraud_app/etl/test_delivery_checks.py", 109.8),
    ("tests/fraud_app/etl/test_table_files_record.py", 109.7),
    ("tests/fraud_app/spark/test_distributed.py", 107.1),
    ("tests/fraud_app/tracking/test_champion_history.py", 96.0),
    ("tests/fraud_app/tracking/test_run_ownership.py", 93.3),
    ("tests/fraud_app/etl/test_hostile_inputs.py", 93.3),
    ("tests/fraud_app/etl/test_replace_keeps_feed_quarantine.py", 88.1),
    ("tests/fraud_app/etl/test_foreign_files.py", 85.0),
    ("tests/fraud_app/etl/test_labels_rebuild_zero.py", 84.4),
    ("tests/pipelines/test_cli_sigterm.py", 79.3),
    ("tests/fraud_app/tracking/test_client.py", 77.2),
    ("tests/fraud_app/etl/test_time_zone_exports.py", 77.2),
)


def file_order(nodeids: list[str]) -> dict[str, tuple[int, int]]:
    """Each test file's place: the heavy files first, in HEAVY_FIRST's order; then the
    others by their number of tests, most first (xdist's own order), ties as collected."""
    counts: dict[str, int] = {}
    for nodeid in nodeids:
        path = nodeid.split("::", 1)[0]
        counts[path] = counts.get(path, 0) + 1
    rank = {path: i for i, (path, _) in enumerate(HEAVY_FIRST)}
    return {path: (0, rank[path]) if path in rank else (1, -n) for path, n in counts.items()}
