"""Contract harnesses reused by every layer and loss test (keras `run_layer_test` idea).

`check_layer` is the layer contract: output shape and dtype, float64 finite-difference
gradients of the input and of every parameter, backprop WRITES (not accumulates)
gradients, inputs and dY are not modified, JSON config round trip, state round trip.
`check_float32_forward` compares a float32 build on a given backend with a float64
reference. `check_loss` is the loss contract: finite-difference gradient, weights,
denominators, and the distributed split property.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from dlcore.backends import Ops, make_ops
from dlcore.errors import ConfigError
from dlcore.layers.base import Layer, layer_from_config, layer_to_config
from dlcore.model import Model
from dlcore.params import ParamBuffer

LayerFactory = Callable[[], Layer]
InputFactory = Callable[[np.random.Generator, int, int], np.ndarray]
Hook = Callable[[Layer], None] | None

FD_EPS = 1e-6


def normal_inputs(rng: np.random.Generator, batch: int, in_features: int) -> np.ndarray:
    return rng.standard_normal((batch, in_features))


def build(
    layer: Layer,
    in_features: int,
    *,
    dtype: str = "float64",
    ops: Ops | None = None,
    seed: int = 0,
    needs_input_grad: bool = True,
    jitter: bool = True,
) -> ParamBuffer:
    """Run the Layer lifecycle by hand (Model always turns the input gradient off).

    `jitter` perturbs the initialised parameters so gradient checks do not run at
    special points such as gamma = 1, bias = 0.
    """
    if layer.name is None:
        layer.name = "layer"
    params = ParamBuffer(dtype)
    layer.declare(params, in_features)
    params.allocate()
    layer.needs_input_grad = needs_input_grad
    layer.bind(params, ops or make_ops("numpy"))
    layer.initialize(np.random.default_rng(seed))
    if jitter and params.size:
        noise = np.random.default_rng(seed + 1).normal(0.0, 0.1, params.size)
        params.data[...] += noise.astype(params.dtype)
    return params


def _run(layer: Layer, X: np.ndarray, training: bool, hook: Hook):
    if hook is not None:
        hook(layer)
    return layer.forward(X, training)


def _numeric_grad(f: Callable[[], float], values: np.ndarray) -> np.ndarray:
    """Central differences of f() w.r.t. every element of `values` (perturbed in place)."""
    flat = values.reshape(-1)
    out = np.empty(flat.shape, dtype=np.float64)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + FD_EPS
        up = f()
        flat[i] = orig - FD_EPS
        down = f()
        flat[i] = orig
        out[i] = (up - down) / (2 * FD_EPS)
    return out.reshape(values.shape)


def check_gradients(
    layer_factory: LayerFactory,
    in_features: int,
    *,
    batch: int = 4,
    training: bool = True,
    input_factory: InputFactory = normal_inputs,
    input_grad: bool = True,
    before_forward: Hook = None,
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> None:
    layer = layer_factory()
    params = build(layer, in_features, needs_input_grad=input_grad)
    rng = np.random.default_rng(7)
    X = np.ascontiguousarray(input_factory(rng, batch, in_features), dtype=np.float64)
    Y, backprop = _run(layer, X, training, before_forward)
    R = rng.standard_normal(Y.shape)

    def objective() -> float:
        return float(np.sum(_run(layer, X, training, before_forward)[0] * R))

    X_before, R_before = X.copy(), R.copy()
    params.grad.fill(123.0)  # backprop must overwrite, not accumulate
    dX = backprop(R)
    np.testing.assert_array_equal(X, X_before, err_msg="forward/backprop modified its input")
    np.testing.assert_array_equal(R, R_before, err_msg="backprop modified dY")
    if input_grad:
        assert dX is not None and dX.shape == X.shape, f"dX shape {getattr(dX, 'shape', None)}"
        np.testing.assert_allclose(
            dX, _numeric_grad(objective, X), rtol=rtol, atol=atol, err_msg="input gradient"
        )
    else:
        assert dX is None, "backprop must return None when needs_input_grad is False"
    _compare_param_grads(params, objective, rtol=rtol, atol=atol)


def _compare_param_grads(
    params: ParamBuffer, objective: Callable[[], float], *, rtol: float, atol: float
) -> None:
    """The gradient backprop wrote vs central differences, parameter by parameter."""
    analytic = params.grad.copy()
    for spec in params.specs:
        sl = slice(spec.offset, spec.offset + spec.size)
        numeric = _numeric_grad(objective, params.data[sl])
        np.testing.assert_allclose(
            analytic[sl], numeric, rtol=rtol, atol=atol, err_msg=f"gradient of {spec.name}"
        )


def check_shapes(
    layer_factory: LayerFactory,
    in_features: int,
    *,
    dtype: str,
    batch: int = 5,
    input_factory: InputFactory = normal_inputs,
    input_grad: bool = True,
    before_forward: Hook = None,
    ops: Ops | None = None,
) -> None:
    """Output (batch, out_features) in `dtype`; dX and gradients stay in `dtype`."""
    layer = layer_factory()
    params = build(layer, in_features, dtype=dtype, ops=ops, needs_input_grad=input_grad)
    X = input_factory(np.random.default_rng(3), batch, in_features).astype(dtype)
    for training in (True, False):
        Y, backprop = _run(layer, X, training, before_forward)
        assert Y.shape == (batch, layer.out_features), (training, Y.shape)
        assert Y.dtype == np.dtype(dtype), f"output dtype {Y.dtype}, expected {dtype}"
        dX = backprop(np.ones_like(Y))
        assert params.grad.dtype == np.dtype(dtype)
        if input_grad:
            assert dX.shape == X.shape and dX.dtype == np.dtype(dtype), (dX.shape, dX.dtype)


def check_config_round_trip(
    layer_factory: LayerFactory,
    in_features: int,
    *,
    input_factory: InputFactory = normal_inputs,
    seed: int = 3,
) -> None:
    """JSON config -> an equal config and, built with the same seed, identical outputs."""
    model = Model(layer_factory(), in_features=in_features, seed=seed, ops=make_ops("numpy"))
    text = json.dumps(model.get_config())
    clone = Model.from_config(json.loads(text), ops=model.ops)
    assert clone.get_config() == model.get_config()
    assert layer_to_config(layer_from_config(layer_to_config(model.layer))) == layer_to_config(
        model.layer
    )
    np.testing.assert_array_equal(clone.params.data, model.params.data)
    X = input_factory(np.random.default_rng(4), 6, in_features)
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))


def check_state_round_trip(
    layer_factory: LayerFactory,
    in_features: int,
    *,
    input_factory: InputFactory = normal_inputs,
    input_grad: bool = True,
    before_forward: Hook = None,
) -> None:
    """state() after training, loaded into a fresh layer, reproduces inference outputs."""
    layer = layer_factory()
    params = build(layer, in_features, needs_input_grad=input_grad)
    X = input_factory(np.random.default_rng(5), 8, in_features)
    for _ in range(2):
        _run(layer, X, True, before_forward)
    state = layer.state()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    clone = layer_factory()
    clone_params = build(clone, in_features, seed=99, needs_input_grad=input_grad)
    clone_params.set_data(params.data)
    clone.load_state({k: v.copy() for k, v in state.items()})
    np.testing.assert_array_equal(clone.forward(X, False)[0], layer.forward(X, False)[0])
    bogus = {**state, "not_a_key": np.zeros(1)}
    try:
        clone.load_state(bogus)
    except ConfigError:
        pass
    else:
        raise AssertionError("load_state accepted an unknown key")


def check_layer(
    layer_factory: LayerFactory,
    in_features: int,
    *,
    input_factory: InputFactory = normal_inputs,
    input_grad: bool = True,
    before_forward: Hook = None,
    training_modes: tuple[bool, ...] = (True, False),
) -> None:
    """The whole layer contract, float64, NumPy backend."""
    for dtype in ("float64", "float32"):
        check_shapes(
            layer_factory, in_features, dtype=dtype, input_factory=input_factory,
            input_grad=input_grad, before_forward=before_forward,
        )  # fmt: skip
    for training in training_modes:
        check_gradients(
            layer_factory, in_features, training=training, input_factory=input_factory,
            input_grad=input_grad, before_forward=before_forward,
        )  # fmt: skip
    check_config_round_trip(layer_factory, in_features, input_factory=input_factory)
    check_state_round_trip(
        layer_factory, in_features, input_factory=input_factory, input_grad=input_grad,
        before_forward=before_forward,
    )  # fmt: skip


def check_float32_forward(
    layer_factory: LayerFactory,
    in_features: int,
    backend: str,
    *,
    input_factory: InputFactory = normal_inputs,
    input_grad: bool = True,
    before_forward: Hook = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """float32 on `backend` vs float64 on NumPy: same outputs, dX and gradients."""
    X = input_factory(np.random.default_rng(6), 16, in_features)
    results = []
    for dtype, ops in (("float64", make_ops("numpy")), ("float32", make_ops(backend))):
        layer = layer_factory()
        params = build(layer, in_features, dtype=dtype, ops=ops, needs_input_grad=input_grad)
        params.set_data(params.data.astype(np.float32))  # identical starting weights
        out = []
        for training in (True, False):
            Y, backprop = _run(layer, X.astype(dtype), training, before_forward)
            dX = backprop(np.cos(np.arange(Y.size, dtype=dtype)).reshape(Y.shape))
            out += [Y, params.grad.copy()] + ([dX] if input_grad else [])
        results.append(out)
    for ref, got in zip(*results, strict=True):
        assert got.dtype == np.float32, f"float32 build produced {got.dtype}"
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


# -- losses ------------------------------------------------------------------------------
def check_loss(
    loss: Callable,
    logits: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """Gradient, weights and denominator contract of a loss, float64 and float32."""
    logits = np.asarray(logits, dtype=np.float64)
    value, grad = loss(logits, y, sample_weight)
    assert isinstance(value, float) and np.isfinite(value)
    assert grad.shape == logits.shape and grad.dtype == logits.dtype

    def objective() -> float:
        return loss(logits, y, sample_weight)[0]

    np.testing.assert_allclose(
        grad, _numeric_grad(objective, logits), rtol=rtol, atol=atol, err_msg="dlogits"
    )
    _check_reduction(loss, logits, y, sample_weight, value, grad)
    # float32 in, float32 gradient out, same numbers.
    v32, g32 = loss(logits.astype(np.float32), y, sample_weight)
    assert g32.dtype == np.float32
    np.testing.assert_allclose([v32], [value], rtol=1e-5)
    np.testing.assert_allclose(g32, grad, rtol=1e-4, atol=1e-6)


def _check_reduction(loss, logits, y, sample_weight, value: float, grad: np.ndarray) -> None:
    n = logits.shape[0]
    # Reduction: sum(w * l) / denominator, denominator defaulting to N.
    v_den, g_den = loss(logits, y, sample_weight, denominator=3 * n)
    np.testing.assert_allclose([v_den], [value / 3], rtol=1e-12)
    np.testing.assert_allclose(g_den, grad / 3, rtol=1e-12)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    v2, g2 = loss(logits, y, 2.5 * w)
    np.testing.assert_allclose([v2], [2.5 * value], rtol=1e-12)
    np.testing.assert_allclose(g2, 2.5 * grad, rtol=1e-12)
    # Distributed split: shards with the global denominator sum to the global result.
    k = n // 2
    parts = [loss(logits[s], y[s], w[s], denominator=n) for s in (slice(0, k), slice(k, n))]
    np.testing.assert_allclose([parts[0][0] + parts[1][0]], [value], rtol=1e-12)
    np.testing.assert_allclose(np.concatenate([parts[0][1], parts[1][1]]), grad, rtol=1e-12)


def float64_twins(models) -> list[Model]:
    """Each model rebuilt in float64 with its weights and layer state: the reference a
    float32 path (the fused plan) is compared with."""
    twins = []
    for m in models:
        twin = Model.from_config({**m.get_config(), "dtype": "float64"})
        state = {k: np.asarray(v, np.float64) for k, v in m.layer.state().items()}
        twin.load_weights(m.params.data.astype(np.float64), state)
        twins.append(twin)
    return twins
