"""The test files that take a worker longest, run first under `make test`.

`make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: xdist hands each
worker whole files in the order the workers collected them (tests/conftest.py,
`pytest_collection_modifyitems`, puts these files first, in this order, then the rest as
xdist's own `--loadscope-reorder` would: most tests first). With xdist's default order the
files with one or two tests come last, and many of the longest are such files (the
incremental feature builds, the small-driver evaluation, the workflow): a worker that
takes one of them near the end leaves the other idle until it is done.

Seconds: each file's tests summed, setup and teardown included, the 30 longest files of
the whole fast suite (the junit XML of session 50's full run on 2 workers, load 10-14 on
a 2 vCPU EPYC without AVX-512, helpers working beside it: 3840 tests, 4710 s in all, 2415 s
wall). A file renamed or
removed here fails tests/test_heavy_files.py.
"""

from __future__ import annotations

HEAVY_FIRST: tuple[tuple[str, float], ...] = (
    ("tests/fraud_app/features/test_incremental_labels.py", 388.5),
    ("tests/fraud_app/features/test_incremental_build.py", 360.3),
    ("tests/pipelines/test_workflow.py", 124.9),
    ("tests/fraud_app/etl/test_amount_units.py", 120.0),
    ("tests/fraud_app/etl/test_etl_runs.py", 110.3),
    ("tests/fraud_app/features/test_incremental_rebuilds.py", 108.8),
    ("tests/fraud_app/etl/test_append_incremental.py", 93.1),
    ("tests/fraud_app/scoring/test_table_source.py", 84.7),
    ("tests/fraud_app/tracking/test_gate_race.py", 76.8),
    ("tests/fraud_app/etl/test_unlabelled.py", 71.9),
    ("tests/fraud_app/features/test_point_in_time.py", 64.6),
    ("tests/fraud_app/etl/test_labels_corrections.py", 63.8),
    ("tests/fraud_app/etl/test_daily_files.py", 58.9),
    ("tests/fraud_app/etl/test_labels_feed.py", 58.6),
    ("tests/fraud_app/spark/test_distributed.py", 54.4),
    ("tests/fraud_app/ml/test_estimators.py", 53.9),
    ("tests/fraud_app/validation/test_all_null_and_partitions.py", 44.9),
    ("tests/fraud_app/ml/test_persistence.py", 43.7),
    ("tests/fraud_app/features/test_label_digests_carried.py", 43.0),
    ("tests/fraud_app/etl/test_ledger_read_quiet.py", 40.4),
    ("tests/fraud_app/features/test_feature_step_jobs.py", 40.3),
    ("tests/fraud_app/spark/test_connect_session.py", 40.1),
    ("tests/fraud_app/test_cli_data_steps.py", 40.1),
    ("tests/fraud_app/etl/test_damaged_ledger.py", 36.6),
    ("tests/pipelines/test_validation_past_max_rows.py", 35.1),
    ("tests/fraud_app/etl/test_labels_ledger.py", 34.5),
    ("tests/fraud_app/etl/test_time_zone_exports.py", 33.0),
    ("tests/integration/test_ulb_select.py", 32.8),
    ("tests/fraud_app/evaluation/test_spark_figures.py", 30.6),
    ("tests/fraud_app/scoring/test_required_columns_only.py", 30.1),
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
