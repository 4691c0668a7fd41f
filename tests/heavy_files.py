"""The test files that take a worker longest, run first under `make test`.

`make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: xdist hands each
worker whole files in the order the workers collected them (tests/conftest.py,
`pytest_collection_modifyitems`, puts these files first, in this order, then the rest as
xdist's own `--loadscope-reorder` would: most tests first). With xdist's default order the
files with one or two tests come last, and many of the longest are such files (the
incremental feature builds, the small-driver evaluation, the workflow): a worker that
takes one of them near the end leaves the other idle until it is done.

Seconds: each file's tests summed, setup and teardown included, the 30 longest files of
the whole fast suite (the junit XML of session 49's full run on 2 workers, load 4-5 on a
2 vCPU EPYC without AVX-512: 3757 tests, 3506 s in all, 1780 s wall). A file renamed or
removed here fails tests/test_heavy_files.py.
"""

from __future__ import annotations

HEAVY_FIRST: tuple[tuple[str, float], ...] = (
    ("tests/fraud_app/features/test_incremental_labels.py", 254.3),
    ("tests/fraud_app/features/test_incremental_build.py", 210.3),
    ("tests/fraud_app/features/test_incremental_rebuilds.py", 101.3),
    ("tests/fraud_app/etl/test_amount_units.py", 91.2),
    ("tests/pipelines/test_workflow.py", 89.9),
    ("tests/fraud_app/etl/test_append_incremental.py", 69.1),
    ("tests/fraud_app/etl/test_etl_runs.py", 64.3),
    ("tests/fraud_app/scoring/test_table_source.py", 60.5),
    ("tests/fraud_app/etl/test_labels_corrections.py", 58.3),
    ("tests/fraud_app/features/test_point_in_time.py", 52.7),
    ("tests/fraud_app/spark/test_distributed.py", 51.6),
    ("tests/fraud_app/etl/test_labels_feed.py", 42.3),
    ("tests/fraud_app/etl/test_unlabelled.py", 41.0),
    ("tests/fraud_app/tracking/test_gate_race.py", 40.7),
    ("tests/fraud_app/ml/test_estimators.py", 38.7),
    ("tests/fraud_app/etl/test_daily_files.py", 38.2),
    ("tests/fraud_app/etl/test_damaged_ledger.py", 37.5),
    ("tests/pipelines/test_validation_past_max_rows.py", 37.5),
    ("tests/fraud_app/tracking/test_promote_killed.py", 35.4),
    ("tests/fraud_app/etl/test_delivery_drift.py", 33.9),
    ("tests/pipelines/test_cli_sigterm.py", 33.5),
    ("tests/fraud_app/etl/test_hostile_inputs.py", 33.4),
    ("tests/fraud_app/features/test_label_digests_carried.py", 33.1),
    ("tests/fraud_app/ml/test_persistence.py", 32.5),
    ("tests/fraud_app/etl/test_foreign_files.py", 30.4),
    ("tests/fraud_app/evaluation/test_spark_figures.py", 29.8),
    ("tests/fraud_app/test_cli_data_steps.py", 29.5),
    ("tests/fraud_app/features/test_feature_step_jobs.py", 28.4),
    ("tests/fraud_app/etl/test_ledger_read_quiet.py", 27.3),
    ("tests/fraud_app/etl/test_time_zone_exports.py", 26.5),
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
