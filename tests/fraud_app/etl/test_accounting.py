"""ETL row accounting without Spark: input = output + quarantine + duplicates, reasons add up.

`_check_accounting` is the last gate before an ETL run publishes anything; these cases
pin each of its conditions (the mutation check in `make mutation` runs them).
"""

from __future__ import annotations

import pytest

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.pipeline import EtlResult, _check_accounting


def _result(
    inp: int, out: int, quarantine: int, dups: int, by_reason: dict[str, int], **labels: int
) -> EtlResult:
    return EtlResult(
        input_path="in.csv", input_format="csv", output_path="out", quarantine_path="q",
        report_path="r.json", input_rows=inp, output_rows=out, quarantine_rows=quarantine,
        duplicate_rows=dups, quarantine_by_reason=by_reason, **labels,
    )  # fmt: skip


@pytest.mark.parametrize(
    "inp, out, quarantine, dups, by_reason",
    [(10, 7, 2, 1, {"missing_amount": 2}), (5, 5, 0, 0, {}), (0, 0, 0, 0, {}),
     (9, 0, 9, 0, {"a": 4, "b": 5})],
)  # fmt: skip
def test_balanced_accounts_pass(inp, out, quarantine, dups, by_reason):
    _check_accounting(_result(inp, out, quarantine, dups, by_reason))


@pytest.mark.parametrize(
    "inp, out, quarantine, dups, by_reason",
    [
        (11, 7, 2, 1, {"missing_amount": 2}),  # one input row lost
        (9, 7, 2, 1, {"missing_amount": 2}),  # one row invented
        (10, 7, 2, 1, {"missing_amount": 1}),  # reasons do not add up to the quarantine
        (10, 7, 2, 1, {"missing_amount": 3}),
        (10, 8, 3, -1, {"x": 3}),  # totals balance only through negative duplicates
        (10, -1, 10, 1, {"x": 10}),  # ... through a negative output count
        (10, 10, -1, 1, {"x": -1}),  # ... through a negative quarantine count
    ],
)
def test_unbalanced_accounts_are_refused(inp, out, quarantine, dups, by_reason):
    with pytest.raises(DataIntegrityError) as info:
        _check_accounting(_result(inp, out, quarantine, dups, by_reason))
    quarantined = sum(by_reason.values())
    assert str(info.value) == (
        f"ETL row accounting does not add up for in.csv: input {inp} != output {out} + "
        f"quarantine {quarantine} (by reason: {quarantined}) + duplicates {dups}. Nothing was "
        "published; please report this with the input."
    )


def test_filled_labels_and_unlabelled_rows_are_counted():
    # 10 records: 5 new rows (2 of them unlabelled), 2 quarantined, 1 duplicate, 2 labels
    # of published rows filled in (the table keeps its row count for those)
    ok = {"previous_rows": 20, "labels_filled": 2, "unlabelled_rows": 2}
    _check_accounting(_result(10, 25, 2, 1, {"x": 2}, **ok))
    with pytest.raises(DataIntegrityError, match=r"\+ duplicates 1 \+ labels filled in 2 "
                       r"\(unlabelled rows added: 2\)\. Nothing was published"):  # fmt: skip
        _check_accounting(_result(10, 26, 2, 1, {"x": 2}, **ok))  # a fill counted as new
    # totals that balance only through negative fills; more unlabelled rows than added
    for out, bad in ((28, {"labels_filled": -1}), (25, {"labels_filled": 2, "unlabelled_rows": 6})):
        with pytest.raises(DataIntegrityError):
            _check_accounting(_result(10, out, 2, 1, {"x": 2}, previous_rows=20, **bad))


def _labels_result(**counts: int):
    from fraud_app.etl.labels import LabelsResult

    base = {"input_rows": 6, "labels_filled": 2, "labels_unchanged": 2, "quarantine_rows": 1,
            "duplicate_rows": 1}  # fmt: skip
    return LabelsResult(
        input_paths=("f.csv",), output_path="t", quarantine_path="q", report_path="r",
        quarantine_by_reason={"unknown_transaction": 1}, **{**base, **counts},
    )  # fmt: skip


@pytest.mark.parametrize(
    "counts", [{"already_quarantined": 2}, {"already_quarantined": -1},
               {"label_time_changed": 3}, {"label_time_changed": -1},
               {"labels_corrected": 1}, {"labels_corrected": -1, "input_rows": 5}],
)  # fmt: skip
def test_labels_accounting_refuses_subcounts_beyond_their_total(counts):
    from fraud_app.etl.labels import check_accounting

    check_accounting(_labels_result(already_quarantined=1, label_time_changed=2))
    check_accounting(_labels_result(labels_corrected=1, input_rows=7))  # corrections add up
    with pytest.raises(DataIntegrityError, match="label feed row accounting does not add up"):
        check_accounting(_labels_result(**counts))
