"""The test files that take a worker longest, run first under `make test`.

`make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: xdist hands each
worker whole files in the order the workers collected them (tests/conftest.py,
`pytest_collection_modifyitems`, puts these files first, in this order, then the rest as
xdist's own `--loadscope-reorder` would: most tests first). With xdist's default order the
files with one or two tests come last, and many of the longest are such files (the
incremental feature builds, the small-driver evaluation, the workflow): a worker that
takes one of them near the end leaves the other idle until it is done.

Seconds: each file's tests among the 60 slowest of the whole fast suite, summed
(`pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=60`, session 34, 2 vCPU
at load ~20, 3483 s in all; /work/notes/full34a.log). A file renamed or removed here fails
tests/test_heavy_files.py.
"""

from __future__ import annotations

HEAVY_FIRST: tuple[tuple[str, float], ...] = (
    ("tests/fraud_app/features/test_incremental_labels.py", 335.6),
    ("tests/fraud_app/features/test_incremental_build.py", 303.5),
    ("tests/fraud_app/etl/test_etl_runs.py", 218.8),
    ("tests/fraud_app/features/test_point_in_time.py", 202.3),
    ("tests/fraud_app/etl/test_etl.py", 186.0),
    ("tests/fraud_app/features/test_incremental_rebuilds.py", 148.0),
    ("tests/fraud_app/scoring/test_evaluate_small_driver.py", 112.2),
    ("tests/fraud_app/etl/test_daily_files.py", 111.3),
    ("tests/fraud_app/scoring/test_table_source.py", 92.5),
    ("tests/pipelines/test_workflow.py", 70.1),
    ("tests/fraud_app/etl/test_ledger_read_quiet.py", 68.3),
    ("tests/fraud_app/etl/test_labels_rebuild_zero.py", 65.6),
    ("tests/fraud_app/etl/test_replace_keeps_feed_quarantine.py", 65.1),
    ("tests/fraud_app/features/test_incremental_probes.py", 63.7),
    ("tests/fraud_app/spark/test_validation_result_cap.py", 61.8),
    ("tests/fraud_app/etl/test_append_incremental.py", 60.6),
    ("tests/pipelines/test_cli_sigterm.py", 57.9),
    ("tests/fraud_app/tracking/test_store_lock.py", 57.6),
    ("tests/fraud_app/test_cli_data_steps.py", 53.6),
    ("tests/fraud_app/etl/test_placeholder_ids.py", 49.9),
    ("tests/fraud_app/tracking/test_version_spellings.py", 47.2),
    ("tests/fraud_app/etl/test_labels_corrections.py", 47.0),
    ("tests/fraud_app/etl/test_table_files_record.py", 46.6),
    ("tests/fraud_app/ml/test_column_roles.py", 45.5),
    ("tests/fraud_app/etl/test_etl_properties.py", 43.0),
    ("tests/fraud_app/features/test_label_corrections_pit.py", 42.5),
    ("tests/fraud_app/scoring/test_required_columns_only.py", 42.4),
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
