"""Fused ensemble inference against member-by-member float64 scoring, and its bit-for-bit
reproducibility across batches, offsets, alignment, BLAS threads and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import dlcore.inference as inference
import dlcore.row_blocks as row_blocks
from dlcore.attribution import ensemble_attribution
from dlcore.errors import ShapeError
from dlcore.inference import compile_ensemble, mean_sigmoid
from dlcore.layers import (
    BatchNorm1d,
    Dropout,
    GaussianNoise,
    LeakyReLU,
    Linear,
    PiecewiseLinear,
    ReLU,
    Sequential,
    Standardize,
    Tanh,
)
from dlcore.layers.piecewise_linear import quantile_edges
from dlcore.losses import sigmoid
from dlcore.model import Model
from dlcore.row_blocks import one_blas_thread
from tests.dlcore.harness import float64_twins

D = 7
REPO = Path(__file__).resolve().parents[2]
ACTS = {"relu": ReLU, "tanh": Tanh, "leaky": lambda: LeakyReLU(0.2)}


def _member(
    seed, *, act="relu", hidden=(9, 5), clip=2.0, stats_seed=None, std=True, dtype="float64"
):
    layers = [Standardize(clip=clip, name="standardize")] if std else []
    for width in hidden:
        layers += [Linear(width), ACTS[act](), Dropout(0.2)]
    layers.append(Linear(1))
    model = Model(Sequential(layers), in_features=D, seed=seed, dtype=dtype)
    if std:
        rng = np.random.default_rng(seed if stats_seed is None else stats_seed)
        model.layer.layers[0].set_statistics(rng.standard_normal(D), rng.random(D) + 0.5)
    return model


def _reference(models, X):
    return np.mean([sigmoid(m.predict(X)[:, 0]) for m in models], axis=0)


def _rows(n=300, seed=0):
    return np.random.default_rng(seed).standard_normal((n, D)) * 3  # many clipped values


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("hidden", [(9, 5), (6,), (8, 6, 4)])
def test_fused_scores_and_gradients_equal_the_members(act, shared, hidden):
    models = [
        _member(k, act=act, hidden=hidden, stats_seed=0 if shared else None) for k in range(4)
    ]
    fused = compile_ensemble(models)
    assert fused is not None
    _assert_scores_and_gradients_match(fused, models, attribution_atol=1e-13)


def _assert_scores_and_gradients_match(fused, models, attribution_atol):
    """The fused plan's scores and gradients are the members' (gradient x input = their
    attribution against a zero reference)."""
    X = _rows()
    np.testing.assert_allclose(fused.proba(X), _reference(models, X), rtol=0, atol=1e-14)
    proba, grad = fused.proba_and_gradient(X)
    ref_p, ref_attr = ensemble_attribution(models, X, np.zeros(D), space="input")
    np.testing.assert_allclose(proba, ref_p, rtol=0, atol=1e-14)
    np.testing.assert_allclose(grad * X, ref_attr, rtol=0, atol=attribution_atol)
    _assert_attribution_matches(fused, models, X, attribution_atol)


def _assert_attribution_matches(fused, models, X, atol):
    """The plan's attribution in the standardised, clipped input is the members' (and its
    score the same bits as proba)."""
    baseline = np.random.default_rng(5).standard_normal(D)
    proba, attr = fused.proba_and_attribution(X, baseline)
    np.testing.assert_array_equal(proba, fused.proba(X))
    ref_p, ref_attr = ensemble_attribution(models, X, baseline)
    np.testing.assert_allclose(ref_p, proba, rtol=0, atol=1e-14)
    np.testing.assert_allclose(attr, ref_attr, rtol=0, atol=atol)


def test_fused_without_standardize():
    models = [_member(k, std=False) for k in range(3)]
    X = _rows()
    np.testing.assert_allclose(compile_ensemble(models).proba(X), _reference(models, X), atol=1e-14)


def _wide(k, width=35):
    """A member shaped like the demo's (35 -> 128 -> 64 -> 1, float32): small test shapes
    take one BLAS kernel for every block height, these do not (bench/scoring.py's model
    gives different bits for 1-, 7- and 1000-row blocks), so they test the fixed blocks."""
    layers = [Standardize(clip=5.0), Linear(128), ReLU(), Linear(64), ReLU(), Linear(1)]
    model = Model(Sequential(layers), in_features=width, seed=k)
    rng = np.random.default_rng(0)
    model.layer.layers[0].set_statistics(rng.standard_normal(width), rng.random(width) + 0.5)
    return model


def _one_row_everywhere(Wt, rng, rows=None):
    """(rows, n_out) bits of one random input row placed at every position of a block of
    other random rows, in the plan's product Wt (n_out, k) @ A (k, block): row p of the
    result is the row's output at position p."""
    rows = inference.BLOCK_ROWS if rows is None else rows
    A = inference.aligned_empty((Wt.shape[1], rows), Wt.dtype)
    C = inference.aligned_empty((Wt.shape[0], rows), Wt.dtype)
    x = rng.standard_normal(Wt.shape[1]).astype(Wt.dtype)
    out = np.empty((rows, Wt.shape[0]), Wt.dtype)
    with one_blas_thread():
        for p in range(rows):
            A[...] = rng.standard_normal(A.shape)
            A[:, p] = x
            np.matmul(Wt, A, out=C)
            out[p] = C[:, p]
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_positions_are_computed_alike_by_every_gemm_of_the_plan(dtype):
    """Checked without the probe's method (one row among other random rows, at every
    position, weights of the plan's shapes): every position the plan puts rows at gives
    the row the same bits, in each of its products, forward and gradient."""
    models = [_wide(k) for k in range(3)]
    if dtype == "float64":
        models = [_encoded(k, dtype=dtype) for k in range(3)]
    fused = compile_ensemble(models)
    rng = np.random.default_rng(11)
    for n_out, k in sorted(set(fused._gemms())):
        Wt = rng.standard_normal((n_out, k)).astype(dtype)
        bits = _one_row_everywhere(Wt, rng)[fused.positions]
        assert (bits == bits[0]).all(), (n_out, k)


def test_the_probe_sees_the_classes_a_direct_check_sees():
    """gemm_row_classes against the direct check at a first-layer shape of the demo
    (640 units, 36 inputs): positions in one class agree to the bit, positions in two
    classes differ (for a random row)."""
    labels = row_blocks.gemm_row_classes(np.float32, 640, 36, inference.BLOCK_ROWS)
    rng = np.random.default_rng(12)
    bits = _one_row_everywhere(rng.standard_normal((640, 36)).astype(np.float32), rng)
    same = (bits[:, None, :] == bits[None, :, :]).all(axis=2)
    np.testing.assert_array_equal(same, labels[:, None] == labels[None, :])


def test_the_largest_common_class_is_chosen():
    labels = row_blocks._first_position_labels(np.array([[5, 1], [5, 2], [3, 1], [5, 1], [3, 1]]))
    np.testing.assert_array_equal(labels, [0, 1, 2, 0, 2])
    row_blocks._classes_cache[("<f4", 3, 2, 8, "m")] = np.array([0, 0, 1, 1, 1, 1, 1, 1])
    row_blocks._classes_cache[("<f4", 4, 2, 8, "m")] = np.array([0, 1, 1, 1, 1, 1, 1, 0])
    try:
        got = row_blocks.uniform_positions(np.float32, [(3, 2), (4, 2), (3, 2)], 8)
    finally:
        for key in [("<f4", 3, 2, 8, "m"), ("<f4", 4, 2, 8, "m")]:
            del row_blocks._classes_cache[key]
        row_blocks._positions_cache.pop(("<f4", ((3, 2), (4, 2)), 8, "m"))
    np.testing.assert_array_equal(got, [2, 3, 4, 5, 6])


def _misaligned(X):
    """A copy of X whose data starts 4 bytes past a 64-byte boundary."""
    raw = np.empty(X.nbytes + 128, np.uint8)
    start = (-raw.ctypes.data % 64) + 4
    out = raw[start : start + X.nbytes].view(X.dtype).reshape(X.shape)
    out[...] = X
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_row_scores_the_same_bits_in_any_batch(dtype):
    """What lets Spark batches, a pyfunc call and a server agree: a row's score (and its
    gradient) does not depend on its neighbours, on where the blocks fall, on the batch
    size or on the input's alignment: bit for bit, in float32 too."""
    models = [_wide(k) for k in range(3)]
    if dtype == "float64":
        models = [_member(k, stats_seed=0, dtype=dtype) for k in range(3)]
    fused = compile_ensemble(models)
    X = (np.random.default_rng(0).standard_normal((1000, models[0].in_features)) * 3).astype(dtype)
    whole = fused.proba(X)
    whole_p, whole_g = fused.proba_and_gradient(X)
    np.testing.assert_array_equal(whole_p, whole)
    same = np.testing.assert_array_equal
    for sl in (slice(13, 400), slice(999, None), slice(1, 2), slice(255, 769), slice(0, 256)):
        for part in (X[sl], _misaligned(X[sl]), np.asfortranarray(X[sl])):
            same(fused.proba(part), whole[sl])
            p, g = fused.proba_and_gradient(part)
            np.testing.assert_array_equal(p, fused.proba(part))  # one path, same bits
            same(p, whole[sl])
            same(g, whole_g[sl])
    assert inference.BLOCK_ROWS == 256  # a changed block size changes float32 bits


def _plan_and_rows(kind, n):
    if kind == "wide":
        models, dtype = [_wide(k) for k in range(3)], "float32"
    else:
        dtype = "float32" if kind == "encoded" else "float64"
        models = [_encoded(k, dtype=dtype, constant=(3,)) for k in range(3)]
    rng = np.random.default_rng(4)
    X = (rng.standard_normal((n, models[0].in_features)) * 3).astype(dtype)
    return compile_ensemble(models), X


@pytest.mark.parametrize("kind", ["wide", "encoded", "float64"])
def test_a_row_at_every_offset_of_every_batch_size_scores_the_same_bits(kind):
    """Every batch size from 1 to past two blocks, at shifting offsets, and one row at
    every offset of a batch: the bits of the whole batch, score and gradient."""
    fused, X = _plan_and_rows(kind, 2 * inference.BLOCK_ROWS + 80)
    whole, (whole_p, whole_g) = fused.proba(X), fused.proba_and_gradient(X)
    np.testing.assert_array_equal(whole_p, whole)
    for n in range(1, 2 * inference.BLOCK_ROWS + 40):
        start = (n * 37) % 41
        np.testing.assert_array_equal(fused.proba(X[start : start + n]), whole[start : start + n])
        if n % 17 == 0:
            p, g = fused.proba_and_gradient(X[start : start + n])
            np.testing.assert_array_equal(p, whole_p[start : start + n])
            np.testing.assert_array_equal(g, whole_g[start : start + n])
    same = np.repeat(X[5:6], 2 * inference.BLOCK_ROWS + 16, axis=0)  # row 5 at every offset
    p, g = fused.proba_and_gradient(same)
    assert (p == whole[5]).all() and (fused.proba(same) == whole[5]).all()
    assert (g == whole_g[5]).all()


def test_rows_placed_at_scattered_positions_score_as_the_members():
    """Where the common class of a machine's kernels is not one run of positions, the
    rows go to scattered positions (an index array, not a slice): the same scores, and
    still the same bits in any batch."""
    models = [_encoded(k, constant=(3,)) for k in range(3)]
    fused = compile_ensemble(models)
    scattered = fused.positions[3::2]  # within the probed class: still one code path
    fused._place(scattered)
    assert not fused._contiguous and fused.rows_per_block == len(scattered)
    X = _rows(400)
    np.testing.assert_allclose(fused.proba(X), _reference(models, X), rtol=0, atol=1e-14)
    proba, grad = fused.proba_and_gradient(X)
    np.testing.assert_array_equal(proba, fused.proba(X))
    ref_p, ref_attr = ensemble_attribution(models, X, np.zeros(D), space="input")
    np.testing.assert_allclose(proba, ref_p, rtol=0, atol=1e-14)
    np.testing.assert_allclose(grad * X, ref_attr, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fused.proba_and_gradient(X[130:])[1], grad[130:])


def test_the_blas_thread_count_does_not_change_the_bits():
    """The plan runs its GEMMs on one BLAS thread whatever the process set (a thread
    split adds block edges), and leaves the process's count as it found it."""
    from threadpoolctl import ThreadpoolController

    openblas = ThreadpoolController().select(internal_api="openblas")  # NumPy's BLAS only
    fused = compile_ensemble([_wide(k) for k in range(4)])
    X = (np.random.default_rng(1).standard_normal((1500, 35)) * 3).astype(np.float32)
    with openblas.limit(limits=1):
        one = fused.proba_and_gradient(X)
    with openblas.limit(limits=2):
        threads = [lib.get_num_threads() for lib in openblas.lib_controllers]
        two = fused.proba_and_gradient(X[7:])
        assert [lib.get_num_threads() for lib in openblas.lib_controllers] == threads  # restored
    np.testing.assert_array_equal(two[0], one[0][7:])
    np.testing.assert_array_equal(two[1], one[1][7:])


def test_a_fresh_process_scores_the_same_bits(tmp_path):
    """Another process (its own allocations, 2 BLAS threads) gets the same float32 bits for
    rows it scores in other batches."""
    models = [_wide(k) for k in range(5)]
    X = (np.random.default_rng(2).standard_normal((700, 35)) * 3).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(f"""
        import numpy as np
        from threadpoolctl import threadpool_limits
        from dlcore.inference import compile_ensemble
        from tests.dlcore.test_inference import _wide
        models = [_wide(k) for k in range(5)]
        X = np.load({str(tmp_path / "X.npy")!r})
        fused = compile_ensemble(models)
        with threadpool_limits(2):
            parts = [fused.proba(X[i : i + 97]) for i in range(0, len(X), 97)]
        np.save({str(tmp_path / "out.npy")!r}, np.concatenate(parts))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), compile_ensemble(models).proba(X))


@pytest.mark.parametrize("hidden", [(9, 5), (6,), (8, 6, 4)])
def test_float32_members_are_scored_in_float32_close_to_float64(hidden):
    models = [_member(k, hidden=hidden, dtype="float32") for k in range(4)]
    fused = compile_ensemble(models)
    assert fused.dtype == np.float32
    X = _rows().astype(np.float32)
    twins = float64_twins(models)
    np.testing.assert_allclose(fused.proba(X), _reference(twins, X), rtol=0, atol=2e-6)
    proba, grad = fused.proba_and_gradient(X)
    ref_p, ref_attr = ensemble_attribution(twins, X.astype(np.float64), np.zeros(D), space="input")
    np.testing.assert_allclose(proba, ref_p, rtol=0, atol=2e-6)
    np.testing.assert_allclose(grad * X, ref_attr, rtol=1e-4, atol=1e-6)


def test_member_logits_and_mean_sigmoid():
    models = [_member(k) for k in range(3)]
    X = _rows(50)
    logits = compile_ensemble(models).member_logits(X)
    for k, m in enumerate(models):
        np.testing.assert_allclose(logits[:, k], m.predict(X)[:, 0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(mean_sigmoid(logits), _reference(models, X), atol=1e-15)


def test_what_cannot_be_fused_is_refused():
    bn = Model(
        Sequential([Linear(4), BatchNorm1d(), ReLU(), Linear(1)]), in_features=D, dtype="float64"
    )
    assert compile_ensemble([bn]) is None
    assert compile_ensemble([_member(0, hidden=(9, 5)), _member(1, hidden=(9, 4))]) is None
    assert compile_ensemble([_member(0, act="relu"), _member(1, act="tanh")]) is None
    assert compile_ensemble([_member(0, clip=2.0), _member(1, clip=3.0)]) is None
    assert compile_ensemble([_member(0), _member(1, std=False)]) is None
    two_out = Model(Sequential([Linear(4), ReLU(), Linear(2)]), in_features=D)
    assert compile_ensemble([two_out]) is None
    assert compile_ensemble([]) is None


@pytest.mark.parametrize("slope", [-0.5, -2.0])
def test_a_leaky_relu_with_a_negative_slope_is_not_fused(slope):
    # probe55e: the plan read the leaky ReLU's derivative from its output (slope where the
    # output is <= 0); a negative slope makes negative inputs' outputs positive, so the
    # plan took slope 1 there: its gradient and attribution were up to 0.65 off the
    # members' (the scores were right). Such members are scored member by member.
    def member(seed):
        layers = [Standardize(clip=None), Linear(8), LeakyReLU(slope), Linear(4)]
        layers += [LeakyReLU(slope), Linear(1)]
        model = Model(Sequential(layers), in_features=D, seed=seed, dtype="float64")
        rng = np.random.default_rng(seed + 100)
        model.layer.layers[0].set_statistics(rng.standard_normal(D), rng.random(D) + 0.5)
        return model

    models = [member(0), member(1)]
    assert compile_ensemble(models) is None
    # the members' own attribution is the finite-difference one (what the plan must match)
    X = np.random.default_rng(77).standard_normal((6, D))
    _, attr = ensemble_attribution(models, X, np.zeros(D), space="input")
    h = 1e-6
    fd = np.stack([(_reference(models, X + h * e) - _reference(models, X - h * e)) / (2 * h)
                   for e in np.eye(D)], axis=1)  # fmt: skip
    np.testing.assert_allclose(attr, fd * X, rtol=0, atol=1e-8)
    # slope 0 and positive slopes are still fused (their derivative is readable)
    assert compile_ensemble([_member(0, act="leaky")]) is not None


def test_wrong_width_is_a_shape_error():
    fused = compile_ensemble([_member(0)])
    with pytest.raises(ShapeError, match=r"shape \(batch, 7\)"):
        fused.proba(np.zeros((3, 6)))
    with pytest.raises(ShapeError, match=r"shape \(batch, 7\)"):
        fused.proba_and_gradient(np.zeros(7))


def _encoded(seed, *, dtype="float64", bins=4, edges_seed=0, hidden=(9, 5), noise=0.0, constant=()):
    """A member Standardize (-> GaussianNoise) -> PiecewiseLinear -> MLP; every member with
    edges_seed=0 has the same statistics and bins, as training gives them. Feature 0 is a
    spike; features in `constant` are constant in the sample (all their bins unused)."""
    layers = [Standardize(clip=2.0, name="standardize")]
    layers += [GaussianNoise(noise)] if noise else []
    layers.append(PiecewiseLinear(bins))
    for width in hidden:
        layers += [Linear(width), ReLU(), Dropout(0.2)]
    layers.append(Linear(1))
    model = Model(Sequential(layers), in_features=D, seed=seed, dtype=dtype)
    rng = np.random.default_rng(0)
    model.layer.layers[0].set_statistics(rng.standard_normal(D), rng.random(D) + 0.5)
    sample = np.random.default_rng(edges_seed).standard_normal((500, D))
    sample[:, 0] = np.where(sample[:, 0] > 0.5, sample[:, 0], 0.0)  # a spike, as counts have
    sample[:, list(constant)] = 1.0
    encoding = next(la for la in model.layer.layers if type(la) is PiecewiseLinear)
    encoding.set_edges(*quantile_edges(sample, bins))
    return model


def test_an_input_encoding_is_part_of_the_fused_plan():
    models = [_encoded(k) for k in range(4)]
    fused = compile_ensemble(models)
    assert fused is not None and fused.encoding is not None
    assert (fused.d, fused.D) == (D, D * 5)
    X = _rows()
    np.testing.assert_allclose(fused.proba(X), _reference(models, X), rtol=0, atol=1e-14)
    proba, grad = fused.proba_and_gradient(X)
    ref_p, ref_attr = ensemble_attribution(models, X, np.zeros(D), space="input")
    np.testing.assert_allclose(proba, ref_p, rtol=0, atol=1e-14)
    np.testing.assert_allclose(grad * X, ref_attr, rtol=0, atol=1e-12)
    _assert_attribution_matches(fused, models, X, 1e-12)


def test_an_encoded_float32_plan_gives_the_same_bits_in_any_batch():
    models = [_encoded(k, dtype="float32") for k in range(3)]
    fused = compile_ensemble(models)
    assert fused is not None and fused.dtype == np.float32
    X = (np.random.default_rng(3).standard_normal((700, D)) * 3).astype(np.float32)
    whole_p, whole_g = fused.proba_and_gradient(X)
    np.testing.assert_array_equal(fused.proba(X), whole_p)
    for sl in (slice(5, 300), slice(699, None), slice(256, 512)):
        p, g = fused.proba_and_gradient(_misaligned(X[sl]))
        np.testing.assert_array_equal(p, whole_p[sl])
        np.testing.assert_array_equal(g, whole_g[sl])
    np.testing.assert_allclose(whole_p, _reference(models, X), rtol=0, atol=2e-6)


def test_members_with_different_encodings_are_not_fused():
    assert compile_ensemble([_encoded(0), _encoded(1, edges_seed=1)]) is None
    assert compile_ensemble([_encoded(0), _encoded(1, bins=3)]) is None
    assert compile_ensemble([_encoded(0), _member(1, stats_seed=0)]) is None


def test_input_noise_is_left_out_of_the_fused_plan():
    """GaussianNoise acts in training only: members with it fuse, and score as without it
    (it leaves the initial weights of the later layers as they are: same seed, same weights)."""
    noisy = [_encoded(k, noise=0.5) for k in range(3)]
    plain = [_encoded(k) for k in range(3)]
    np.testing.assert_array_equal(noisy[1].params.data, plain[1].params.data)
    fused = compile_ensemble(noisy)
    assert fused is not None and fused.encoding is not None
    X = _rows()
    np.testing.assert_allclose(fused.proba(X), _reference(noisy, X), rtol=0, atol=1e-14)
    np.testing.assert_allclose(fused.proba(X), _reference(plain, X), rtol=0, atol=1e-14)


def _unused_bins(model) -> int:
    encoding = next(la for la in model.layer.layers if type(la) is PiecewiseLinear)
    return int((encoding.inv_width == 0).sum())


@pytest.mark.parametrize("constant", [(), (3,), (0, 2, 5), tuple(range(D))])
def test_unused_bins_are_left_out_of_the_first_gemm(constant):
    """An unused bin's ramp is always 0: the plan leaves its rows out of the first GEMM
    (fewer input columns) and still scores exactly as the members do, gradient included."""
    models = [_encoded(k, constant=constant) for k in range(3)]
    unused = _unused_bins(models[0])
    assert unused == 4 * len(constant)  # a constant feature has no bins: all 4 unused
    fused = compile_ensemble(models)
    assert fused.D == D * 5 and fused.n_in == fused.D - unused
    assert fused.inputs[0].W1t.shape == (3 * 9, fused.n_in + 1)
    _assert_scores_and_gradients_match(fused, models, attribution_atol=1e-12)


def test_the_ramps_have_the_layers_bits():
    """The plan writes the used bins' ramps with PiecewiseLinear's own operations: the
    same float32 values as the layer's forward, bit for bit."""
    model = _encoded(0, dtype="float32", constant=(3,))
    fused = compile_ensemble([model])
    encoding = next(la for la in model.layer.layers if type(la) is PiecewiseLinear)
    Z = (np.random.default_rng(6).standard_normal((50, D)) * 3).astype(np.float32)
    Y, _ = encoding.forward(Z, False)
    out = np.empty((fused.n_in - D, 50), np.float32)
    fused.used.write(Z.T, out)
    np.testing.assert_array_equal(out.T, Y[:, D:][:, fused.used.cols])
