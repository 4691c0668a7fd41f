"""The test files that take a worker longest, run first under `make test`.

`make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: xdist hands each
worker whole files in the order the workers collected them (tests/conftest.py,
`pytest_collection_modifyitems`, puts these files first, in this order, then the rest as
xdist's own `--loadscope-reorder` would: most tests first). With xdist's default order the
files with one or two tests come last, and many of the longest are such files (the
incremental feature builds, the small-driver evaluation, the workflow): a worker that
takes one of them near the end leaves the other idle until it is done.

Seconds: each file's tests summed, setup and teardown included, the 30 longest files of
the whole fast suite (the junit XML of session 55's full run on 2 workers, a 2 vCPU Intel
Xeon with AVX-512, `make demo` running beside it for 6 of its 21 minutes: 4256 tests,
2556 s in all, 1296 s wall). A file renamed
or removed here fails tests/test_heavy_files.py.
"""

from __future__ import annotations

HEAVY_FIRST: tuple[tuple[str, float], ...] = (
    ("tests/fraud_app/features/test_incremental_labels.py", 217.8),
    ("tests/fraud_app/features/test_incremental_build.py", 185.2),
    ("tests/pipelines/test_workflow.py", 70.5),
    ("tests/fraud_app/etl/test_amount_units.py", 67.1),
    ("tests/fraud_app/ml/test_estimators.py", 61.0),
    ("tests/fraud_app/etl/test_etl_runs.py", 59.4),
    ("tests/fraud_app/features/test_incremental_rebuilds.py", 59.0),
    ("tests/fraud_app/spark/test_distributed.py", 43.2),
    ("tests/fraud_app/etl/test_append_incremental.py", 36.3),
    ("tests/fraud_app/scoring/test_table_source.py", 31.4),
    ("tests/fraud_app/etl/test_labels_corrections.py", 29.8),
    ("tests/fraud_app/features/test_point_in_time.py", 29.0),
    ("tests/fraud_app/etl/test_labels_feed.py", 28.9),
    ("tests/fraud_app/ml/test_persistence.py", 27.8),
    ("tests/fraud_app/tracking/test_gate_race.py", 26.3),
    ("tests/pipelines/test_validation_past_max_rows.py", 24.2),
    ("tests/fraud_app/etl/test_daily_files.py", 23.9),
    ("tests/fraud_app/etl/test_unlabelled.py", 23.4),
    ("tests/fraud_app/etl/test_damaged_ledger.py", 22.1),
    ("tests/fraud_app/etl/test_country_codes.py", 21.9),
    ("tests/fraud_app/test_cli_data_steps.py", 19.7),
    ("tests/fraud_app/evaluation/test_spark_figures.py", 18.9),
    ("tests/fraud_app/etl/test_label_time_clock.py", 18.4),
    ("tests/fraud_app/spark/test_connect_session.py", 17.9),
    ("tests/fraud_app/features/test_feature_step_jobs.py", 17.7),
    ("tests/fraud_app/tracking/test_trickling_server.py", 17.6),
    ("tests/fraud_app/etl/test_foreign_files.py", 16.7),
    ("tests/fraud_app/etl/test_clock_resolution.py", 16.6),
    ("tests/fraud_app/etl/test_delivery_drift.py", 16.6),
    ("tests/fraud_app/etl/test_hostile_inputs.py", 15.8),
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
