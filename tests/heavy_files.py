"""The test files that take a worker longest, run first under `make test`.

`make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: xdist hands each
worker whole files in the order the workers collected them (tests/conftest.py,
`pytest_collection_modifyitems`, puts these files first, in this order, then the rest as
xdist's own `--loadscope-reorder` would: most tests first). With xdist's default order the
files with one or two tests come last, and many of the longest are such files (the
incremental feature builds, the small-driver evaluation, the workflow): a worker that
takes one of them near the end leaves the other idle until it is done.

Seconds: each file's tests summed, setup and teardown included, the 30 longest files of
the whole fast suite (the junit XML of session 50's second full run on 2 workers, load ~2
on a 2 vCPU EPYC without AVX-512: 3895 tests, 3131 s in all, 1591 s wall). A file renamed or
removed here fails tests/test_heavy_files.py.
"""

from __future__ import annotations

HEAVY_FIRST: tuple[tuple[str, float], ...] = (
    ("tests/fraud_app/features/test_incremental_labels.py", 173.3),
    ("tests/fraud_app/features/test_incremental_build.py", 149.6),
    ("tests/fraud_app/etl/test_amount_units.py", 84.3),
    ("tests/pipelines/test_workflow.py", 67.7),
    ("tests/fraud_app/features/test_incremental_rebuilds.py", 65.0),
    ("tests/fraud_app/spark/test_distributed.py", 51.0),
    ("tests/fraud_app/etl/test_etl_runs.py", 48.5),
    ("tests/fraud_app/ml/test_estimators.py", 47.4),
    ("tests/fraud_app/etl/test_append_incremental.py", 45.1),
    ("tests/fraud_app/etl/test_labels_corrections.py", 44.6),
    ("tests/fraud_app/features/test_point_in_time.py", 42.1),
    ("tests/fraud_app/scoring/test_table_source.py", 40.9),
    ("tests/fraud_app/etl/test_damaged_ledger.py", 40.0),
    ("tests/fraud_app/tracking/test_gate_race.py", 36.1),
    ("tests/fraud_app/etl/test_daily_files.py", 35.8),
    ("tests/fraud_app/test_cli_data_steps.py", 34.5),
    ("tests/fraud_app/spark/test_connect_session.py", 34.1),
    ("tests/pipelines/test_validation_past_max_rows.py", 33.7),
    ("tests/fraud_app/etl/test_labels_feed.py", 31.3),
    ("tests/fraud_app/ml/test_persistence.py", 30.5),
    ("tests/fraud_app/features/test_feature_step_jobs.py", 30.4),
    ("tests/fraud_app/evaluation/test_spark_figures.py", 29.1),
    ("tests/fraud_app/features/test_footer_reads_once.py", 28.5),
    ("tests/fraud_app/etl/test_ledger_read_quiet.py", 27.7),
    ("tests/fraud_app/features/test_label_digests_carried.py", 27.7),
    ("tests/fraud_app/etl/test_foreign_files.py", 26.6),
    ("tests/fraud_app/etl/test_unlabelled.py", 26.5),
    ("tests/fraud_app/etl/test_hostile_inputs.py", 24.8),
    ("tests/fraud_app/etl/test_table_files_record.py", 23.8),
    ("tests/fraud_app/features/test_label_corrections_pit.py", 22.5),
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
