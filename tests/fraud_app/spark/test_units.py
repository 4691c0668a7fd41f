"""Pure-logic tests of the distributed trainer's pieces (no Spark session)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_app.errors import ConfigError, EmptyInputError, SchemaError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.cursor import CursorPosition, DataCursor
from fraud_app.spark.data import PartitionData, decode_blocks, encode_block, problem_block
from fraud_app.spark.planner import (
    FIRST_AUTO_GROUP,
    FIRST_AUTO_STAGE,
    STAGE_TARGET,
    GroupPlanner,
    StageTiming,
)
from fraud_app.spark.summary import (
    DataSummary,
    _summarize_blob,
    check_content,
    require_trainable,
    summarize_arrays,
)


def _data(n, d=3):
    X = np.arange(n * d, dtype=np.float32).reshape(n, d)
    return PartitionData(X, np.arange(n, dtype=np.float32), None)


def test_blocks_round_trip_with_and_without_weights():
    rng = np.random.default_rng(0)
    X1, X2 = (
        rng.standard_normal((5, 4)).astype(np.float32),
        rng.standard_normal((3, 4)).astype(np.float32),
    )
    y1, y2 = np.ones(5, np.float32), np.zeros(3, np.float32)
    w1, w2 = np.full(5, 2.0, np.float32), np.full(3, 0.5, np.float32)
    out = decode_blocks([encode_block(X1, y1, w1), encode_block(X2, y2, w2)])
    np.testing.assert_array_equal(out.X, np.concatenate([X1, X2]))
    np.testing.assert_array_equal(out.w, np.concatenate([w1, w2]))
    out = decode_blocks([encode_block(X1, y1, None)])
    assert out.w is None and out.rows == 5


def test_blocks_reject_mixed_widths_and_garbage():
    a = encode_block(np.zeros((2, 3), np.float32), np.zeros(2, np.float32), None)
    b = encode_block(np.zeros((2, 4), np.float32), np.zeros(2, np.float32), None)
    with pytest.raises(SchemaError, match="different lengths"):
        decode_blocks([a, b])
    with pytest.raises(SchemaError, match="bad magic"):
        decode_blocks([b"XXXX" + a[4:]])


def test_problem_blocks_raise_one_clear_error_naming_the_column():
    with pytest.raises(SchemaError, match=r"'vec' has 2 null feature vectors"):
        decode_blocks([problem_block(5, 2, 3, 3)], "vec")
    with pytest.raises(
        SchemaError, match=r"'vec' holds feature vectors of different lengths \(1 to 3"
    ):
        decode_blocks([problem_block(5, 0, 1, 3)], "vec")


def test_block_summary_matches_numpy_and_finds_bad_content():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = (rng.random(40) < 0.3).astype(np.float32)
    blobs = [
        encode_block(X[:25], y[:25], None),
        encode_block(X[25:], y[25:], np.ones(15, np.float32)),
    ]
    summary = DataSummary.combine([_summarize_blob(b) for b in blobs])
    assert (summary.rows, summary.positives, summary.width) == (40, int(y.sum()), 3)
    mean, std = summary.moments()
    np.testing.assert_allclose(mean, X.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, X.astype(np.float64).std(0), rtol=1e-9)
    require_trainable(summary, [25, 15], "features")
    check_content(summary, "features", "label", "fit")
    X[3, 1], y[7] = np.nan, 2.0
    bad = summarize_arrays(X, y)
    assert (bad.nonfinite, bad.bad_labels, bad.bad_label_example) == (1, 1, 2.0)
    with pytest.raises(SchemaError, match=r"'features' holds 1 null, NaN or infinite"):
        check_content(bad, "features", "label", "fit")
    ok = summarize_arrays(np.nan_to_num(X), y)
    with pytest.raises(SchemaError, match=r"'label' must hold only 0 and 1.*e\.g\. 2\.0"):
        check_content(ok, "features", "label", "fit")
    y[7] = np.nan  # a null label arrives as NaN: named as such, not as "e.g. nan"
    with pytest.raises(SchemaError, match=r"1 rows do not \(e\.g\. a null or NaN label\)"):
        check_content(summarize_arrays(np.nan_to_num(X), y), "features", "label", "fit")


def test_structural_problems_stop_training_before_it_starts():
    ragged = DataSummary.combine([_summarize_blob(problem_block(4, 0, 2, 3))])
    with pytest.raises(SchemaError, match="different lengths"):
        require_trainable(ragged, [4, 0], "features")
    good = summarize_arrays(np.zeros((4, 2), np.float32), np.zeros(4, np.float32))
    with pytest.raises(EmptyInputError, match=r"worker partition\(s\) \[1\] of 2"):
        require_trainable(good, [4, 0], "features")
    empty = DataSummary.combine([])
    with pytest.raises(EmptyInputError, match="no rows"):
        require_trainable(empty, [0, 0], "features")


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 50), st.integers(1, 17), st.integers(0, 120))
def test_cursor_is_a_pure_function_of_its_position(n, batch, steps):
    """Resuming from a saved position yields exactly the batches an uninterrupted walk yields."""
    data = _data(n)
    full = DataCursor(data, seed=3, rank=1)
    stream = [full.next_indices(batch) for _ in range(steps + 3)]
    resumed = DataCursor(data, seed=3, rank=1)
    for _ in range(steps):
        resumed.next_indices(batch)
    again = DataCursor(data, seed=3, rank=1, position=resumed.position)
    for k in range(3):
        np.testing.assert_array_equal(again.next_indices(batch), stream[steps + k])


def test_cursor_covers_each_row_once_per_epoch_and_wraps():
    c = DataCursor(_data(10), seed=0, rank=0)
    first = np.concatenate([c.next_indices(4) for _ in range(2)] + [c.next_indices(2)])
    assert sorted(first) == list(range(10))
    assert c.position == CursorPosition(1, 0)
    wrapped = c.next_indices(14)  # spans the rest of epoch 1 and into epoch 2
    assert len(wrapped) == 14 and c.position == CursorPosition(2, 4)


def test_cursor_batches_copy_rows():
    data = _data(6)
    X, y, w = DataCursor(data, seed=0, rank=0, shuffle=False).next_batch(4)
    np.testing.assert_array_equal(X, data.X[:4])
    np.testing.assert_array_equal(y, data.y[:4])
    assert w is None


def test_planner_auto_group_keeps_a_stage_launch_under_target_of_one_group():
    p = GroupPlanner("auto", target=0.05)
    assert p.next(1000) == FIRST_AUTO_GROUP
    p.observe(stage_cost_s=1.0, loop_s=40 * 0.01, iterations=40)  # 1 s per stage, 10 ms/iteration
    g = p.next(100_000)
    assert 1.0 / (1.0 + g * 0.01) <= 0.05 + 1e-9 < 1.0 / (1.0 + (g - 1) * 0.01)
    assert p.next(7) == 7
    assert GroupPlanner(25).next(1000) == 25


def test_planner_with_a_prior_plans_its_first_stage_from_it():
    """An earlier fit's measurement (the members of one ensemble) spares the measuring
    stage of FIRST_AUTO_STAGE groups of FIRST_AUTO_GROUP iterations."""
    first = GroupPlanner("auto")
    assert first.timing is None and first.plan(10_000) == [FIRST_AUTO_GROUP] * FIRST_AUTO_STAGE
    first.observe(stage_cost_s=0.3, loop_s=40 * 0.002, iterations=40)
    assert first.timing == StageTiming(0.3, 0.002)
    later = GroupPlanner("auto", prior=first.timing)
    assert later.plan(10_000) == first.plan(10_000)
    assert later.next(10_000) > FIRST_AUTO_GROUP
    assert GroupPlanner("auto", prior=StageTiming(0.3, 0.0)).next(10_000) == FIRST_AUTO_GROUP
    assert GroupPlanner(25, prior=first.timing).plan(60) == [25, 25, 10]


def test_planner_auto_stage_keeps_the_launch_under_one_percent_of_the_stage():
    assert GroupPlanner(4, stage_groups=3).plan(100) == [4, 4, 4]
    assert GroupPlanner(4, stage_groups=3).plan(10) == [4, 4, 2]
    assert GroupPlanner(4, stage_groups=1).plan(3) == [3]
    p = GroupPlanner(50)
    assert p.plan(10_000) == [50] * FIRST_AUTO_STAGE
    p.observe(stage_cost_s=0.1, loop_s=200 * 0.006, iterations=200)  # 100 ms launch, 6 ms/iteration
    k = len(p.plan(1_000_000))
    stage = 50 * 0.006
    assert 0.1 / (0.1 + k * stage) <= STAGE_TARGET + 1e-9 < 0.1 / (0.1 + (k - 1) * stage)
    assert p.plan(120) == [50, 50, 20]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        # the config file's keys (training.global_batch_size is not one)
        (
            {"num_workers": 0},
            "training.distributed.num_workers must be an integer >= 1. Received: 0",
        ),
        (
            {"num_workers": 3, "global_batch_size": 1024},
            r"training\.distributed\."
            r"global_batch_size \(1024\) must be divisible by training\.distributed\.num_workers",
        ),
        ({"iterations": 10, "epochs": 1.0}, "exactly one of iterations or epochs"),
        ({"group_size": "fast"}, "group_size must be an integer >= 1. Received: 'fast'"),
        ({"engine": "horovod"}, "engine must be one of"),
        ({"stage_groups": 0}, "stage_groups must be an integer >= 1. Received: 0"),
        ({"stage_start_timeout_s": float("inf")}, "stage_start_timeout_s must be a finite number"),
        (
            {"compression": "int8"},
            "training.distributed.compression must be null, 'bf16' or 'fp16'",
        ),
    ],
)
def test_config_errors_name_the_key(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DistributedConfig(**kwargs)


def test_total_iterations_from_epochs():
    assert (
        DistributedConfig(epochs=2.0, global_batch_size=100, num_workers=2).total_iterations(1000)
        == 20
    )
    assert DistributedConfig(iterations=7, epochs=None).total_iterations(10) == 7


def test_cursor_refuses_an_empty_partition():
    from fraud_app.errors import EmptyInputError

    empty = PartitionData(np.zeros((0, 3), np.float32), np.zeros(0, np.float32), None)
    with pytest.raises(EmptyInputError, match="rank 1 has an empty data partition"):
        DataCursor(empty, seed=0, rank=1)


def test_ranks_whose_weights_differ_fail_the_stage_naming_them():
    """Ranks end a group with the same bits (the all-gather); a rank whose weights differ
    (a frame corrupted between workers) fails the stage, which is retried from the last
    committed group, instead of committing rank 0's weights and training on."""
    from fraud_app.spark.group_reports import StageFailed, check_replicas

    same = [{"params_sha256": "a"}] * 3
    check_replicas(same, 4)
    with pytest.raises(StageFailed, match=r"after group 4 rank\(s\) \[2\] hold other weights"):
        check_replicas([*same[:2], {"params_sha256": "b"}], 4)
