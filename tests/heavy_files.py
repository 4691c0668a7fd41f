"""The test files that take a worker longest, run first under `make test`.

`make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: xdist hands each
worker whole files in the order the workers collected them (tests/conftest.py,
`pytest_collection_modifyitems`, puts these files first, in this order, then the rest as
xdist's own `--loadscope-reorder` would: most tests first). With xdist's default order the
files with one or two tests come last, and many of the longest are such files (the
incremental feature builds, the small-driver evaluation, the workflow): a worker that
takes one of them near the end leaves the other idle until it is done.

Seconds: each file's tests summed, setup and teardown included, the 30 longest files of
the whole fast suite (the junit XML of session 47's full run on 2 workers, load 3-10 on a
2 vCPU EPYC without AVX-512: 3565 tests, 4379 s in all, 2222 s wall). A file renamed or
removed here fails tests/test_heavy_files.py.
"""

from __future__ import annotations

HEAVY_FIRST: tuple[tuple[str, float], ...] = (
    ("tests/fraud_app/features/test_incremental_labels.py", 303.6),
    ("tests/fraud_app/features/test_incremental_build.py", 259.8),
    ("tests/pipelines/test_workflow.py", 129.4),
    ("tests/fraud_app/features/test_incremental_rebuilds.py", 129.0),
    ("tests/fraud_app/etl/test_amount_units.py", 112.5),
    ("tests/fraud_app/features/test_point_in_time.py", 98.7),
    ("tests/fraud_app/etl/test_etl_runs.py", 96.5),
    ("tests/fraud_app/scoring/test_table_source.py", 91.5),
    ("tests/fraud_app/etl/test_append_incremental.py", 81.2),
    ("tests/fraud_app/features/test_feature_step_jobs.py", 65.8),
    ("tests/fraud_app/etl/test_labels_corrections.py", 65.3),
    ("tests/fraud_app/etl/test_unlabelled.py", 65.0),
    ("tests/fraud_app/etl/test_daily_files.py", 58.7),
    ("tests/fraud_app/tracking/test_gate_race.py", 57.0),
    ("tests/fraud_app/ml/test_estimators.py", 56.6),
    ("tests/fraud_app/etl/test_labels_feed.py", 55.2),
    ("tests/fraud_app/spark/test_distributed.py", 53.3),
    ("tests/fraud_app/etl/test_foreign_files.py", 45.2),
    ("tests/pipelines/test_cli_sigterm.py", 45.1),
    ("tests/fraud_app/etl/test_hostile_inputs.py", 44.8),
    ("tests/fraud_app/features/test_label_digests_carried.py", 43.0),
    ("tests/fraud_app/etl/test_damaged_ledger.py", 42.5),
    ("tests/fraud_app/etl/test_time_zone_exports.py", 41.6),
    ("tests/fraud_app/etl/test_killed_commit_retry_input.py", 38.2),
    ("tests/fraud_app/etl/test_delivery_drift.py", 37.5),
    ("tests/fraud_app/etl/test_replace_keeps_feed_quarantine.py", 37.3),
    ("tests/fraud_app/evaluation/test_spark_figures.py", 34.9),
    ("tests/fraud_app/etl/test_table_files_record.py", 31.6),
    ("tests/fraud_app/spark/test_slots.py", 31.2),
    ("tests/fraud_app/tracking/test_promote_killed.py", 29.6),
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
