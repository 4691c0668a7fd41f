"""ONNX -> dlcore: graphs built with the onnx helper API (no torch), round-trip stability,
clear errors for unsupported ops and mismatched shapes, and fine-tuning an imported model."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

import onnx
from onnx import TensorProto, helper, numpy_helper

from dlcore.layers import BatchNorm1d, Dropout, LeakyReLU, Linear, Sigmoid, Standardize
from dlcore.losses import BCEWithLogits
from dlcore.optimizers import Adam
from dlcore.training.trainer import Trainer, TrainerConfig
from fraud_app.errors import OnnxConversionError, UnsupportedOnnxOpError
from fraud_app.interop.onnx_export import ensemble_to_onnx, model_to_onnx
from fraud_app.interop.onnx_import import (
    ensemble_from_onnx,
    load_onnx,
    model_from_onnx,
)
from fraud_app.models.ensemble import FraudEnsemble
from tests.fraud_app.interop.onnx_cases import (
    ATOL,
    IMPORTABLE,
    RTOL,
    inputs,
    layer_model,
    make_ensemble,
    ort_run,
)

RNG = np.random.default_rng(7)


def const(name: str, value) -> onnx.TensorProto:
    value = np.asarray(value)
    if value.dtype.kind == "f":
        value = value.astype(np.float32)
    return numpy_helper.from_array(value, name)


def graph_model(
    nodes,
    inits,
    *,
    n_in=4,
    n_out=1,
    in_dims=None,
    in_type=TensorProto.FLOAT,
    out_dims=None,
    inputs_=None,
    check=True,
):
    """A model from helper nodes: input 'x' [N, n_in] -> output 'y' [N, n_out]."""
    inp = inputs_ or [helper.make_tensor_value_info("x", in_type, in_dims or ["N", n_in])]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims or ["N", n_out])
    graph = helper.make_graph(nodes, "g", inp, [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def torch_style() -> onnx.ModelProto:
    """What torch.onnx.export writes for Linear-ReLU-Linear-Sigmoid: Gemm with transB=1."""
    nodes = [
        helper.make_node(
            "Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="/fc1/Gemm", transB=1
        ),
        helper.make_node("Relu", ["h"], ["r"], name="/act/Relu"),
        helper.make_node(
            "Gemm", ["r", "fc2.weight", "fc2.bias"], ["o"], name="/fc2/Gemm", transB=1
        ),
        helper.make_node("Sigmoid", ["o"], ["y"], name="/out/Sigmoid"),
    ]
    inits = [
        const("fc1.weight", RNG.normal(size=(8, 4))),
        const("fc1.bias", RNG.normal(size=8)),
        const("fc2.weight", RNG.normal(size=(1, 8))),
        const("fc2.bias", RNG.normal(size=1)),
    ]
    return graph_model(nodes, inits)


def keras_style() -> onnx.ModelProto:
    """tf2onnx-like: dynamic width, Mul/Add normalisation, MatMul+Add dense layers."""
    nodes = [
        helper.make_node("Mul", ["x", "norm/scale"], ["s"], name="norm/mul"),
        helper.make_node("Add", ["norm/offset", "s"], ["n"], name="norm/add"),
        helper.make_node("MatMul", ["n", "dense/kernel"], ["m"], name="dense/MatMul"),
        helper.make_node("Add", ["m", "dense/bias"], ["d"], name="dense/BiasAdd"),
        helper.make_node("LeakyRelu", ["d"], ["l"], name="dense/LeakyRelu", alpha=0.3),
        helper.make_node("MatMul", ["l", "out/kernel"], ["m2"], name="out/MatMul"),
        helper.make_node("Add", ["m2", "out/bias"], ["t"], name="out/BiasAdd"),
        helper.make_node("Tanh", ["t"], ["y"], name="out/Tanh"),
    ]
    inits = [
        const("norm/scale", RNG.uniform(0.5, 2, size=(1, 4))),
        const("norm/offset", RNG.normal(size=4)),
        const("dense/kernel", RNG.normal(size=(4, 6))),
        const("dense/bias", RNG.normal(size=6)),
        const("out/kernel", RNG.normal(size=(6, 2))),
        const("out/bias", RNG.normal(size=2)),
    ]
    return graph_model(nodes, inits, in_dims=["unk__1", "unk__2"], n_out=2)


def bn_dropout_clip() -> onnx.ModelProto:
    """Sub/Div/Clip (bounds from Constant nodes), scaled Gemm, BatchNorm, Dropout, Identity."""
    c = helper.make_tensor
    nodes = [
        helper.make_node("Constant", [], ["lo"], value=c("lo", TensorProto.FLOAT, [], [-3.0])),
        helper.make_node("Constant", [], ["hi"], value=c("hi", TensorProto.FLOAT, [], [3.0])),
        helper.make_node("Sub", ["x", "mu"], ["a"], name="std/Sub"),
        helper.make_node("Div", ["a", "sd"], ["b"], name="std/Div"),
        helper.make_node("Clip", ["b", "lo", "hi"], ["c"], name="std/Clip"),
        helper.make_node("Gemm", ["c", "W", "B"], ["g"], name="fc", alpha=0.5, beta=2.0),
        helper.make_node(
            "BatchNormalization",
            ["g", "gamma", "beta", "rm", "rv"],
            ["n"],
            name="bn",
            epsilon=1e-3,
            momentum=0.8,
        ),
        helper.make_node("Dropout", ["n", "ratio"], ["d"], name="drop"),
        helper.make_node("Identity", ["d"], ["i"], name="id"),
        helper.make_node("Gemm", ["i", "W2"], ["y"], name="head"),
    ]
    inits = [
        const("mu", RNG.normal(size=4)),
        const("sd", RNG.uniform(0.5, 2, size=4)),
        const("W", RNG.normal(size=(4, 5))),
        const("B", RNG.normal(size=(1, 5))),
        const("gamma", RNG.uniform(0.5, 1.5, size=5)),
        const("beta", RNG.normal(size=5)),
        const("rm", RNG.normal(size=5)),
        const("rv", RNG.uniform(0.5, 2, size=5)),
        const("ratio", np.float32(0.25)),
        const("W2", RNG.normal(size=(5, 1))),
    ]
    return graph_model(nodes, inits)


HELPER_GRAPHS = {
    "torch_style": torch_style,
    "keras_style": keras_style,
    "bn_dropout_clip": bn_dropout_clip,
}


def X4(rows: int = 128) -> np.ndarray:
    return np.random.default_rng(3).normal(0, 2, (rows, 4)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(HELPER_GRAPHS))
def test_helper_graphs_import_and_score_like_onnxruntime(name):
    proto = HELPER_GRAPHS[name]()
    model = model_from_onnx(proto)
    X = X4()
    np.testing.assert_allclose(model.predict(X), ort_run(proto, X)[0], rtol=RTOL, atol=ATOL)
    assert model.params.data.ndim == 1  # one flat ParamBuffer, as the trainers expect


def test_imported_layers_carry_attributes():
    layers = model_from_onnx(bn_dropout_clip()).layer.layers
    assert [type(x).__name__ for x in layers] == [
        "Standardize",
        "Linear",
        "BatchNorm1d",
        "Dropout",
        "Dropout",
        "Linear",
    ]
    std, _, bn, drop, ident, head = layers
    assert isinstance(std, Standardize) and std.clip == 3.0 and std.name == "std"
    assert isinstance(bn, BatchNorm1d) and bn.momentum == pytest.approx(0.2) and bn.eps == 1e-3
    assert isinstance(drop, Dropout) and drop.rate == 0.25 and ident.rate == 0.0
    assert isinstance(head, Linear) and not head.use_bias
    torch_layers = model_from_onnx(torch_style()).layer.layers
    assert [x.name for x in torch_layers] == ["/fc1", "/act", "/fc2", "/out"]
    keras = model_from_onnx(keras_style())
    assert keras.in_features == 4  # dynamic width fixed by the Mul constant
    assert isinstance(keras.layer.layers[2], LeakyReLU)
    assert keras.layer.layers[2].negative_slope == pytest.approx(0.3)


# fraud_mlp_encoded: the default model (piecewise-linear encoding); its export was refused
# on import ("ops with no dlcore layer: Concat ...; Gather ...")
@pytest.mark.parametrize("case", [*IMPORTABLE, "fraud_mlp", "fraud_mlp_encoded"])
def test_dlcore_onnx_dlcore_onnx_is_stable(case):
    model = layer_model(case)
    first = model_to_onnx(model)
    back = model_from_onnx(first)
    X = inputs(case)
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-6, atol=1e-7)
    assert model_to_onnx(back).SerializeToString() == first.SerializeToString()


@pytest.mark.parametrize("name", sorted(HELPER_GRAPHS))
def test_onnx_dlcore_onnx_is_stable(name):
    original = HELPER_GRAPHS[name]()
    once = model_to_onnx(model_from_onnx(original))
    twice = model_to_onnx(model_from_onnx(once))
    assert twice.SerializeToString() == once.SerializeToString()
    X = X4()
    np.testing.assert_allclose(ort_run(once, X)[0], ort_run(original, X)[0], rtol=RTOL, atol=ATOL)


def test_unsupported_ops_are_listed_with_their_nodes():
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["h"], name="fc"),
        helper.make_node("Erf", ["h"], ["e"], name="gelu_erf"),
        helper.make_node("Softmax", ["e"], ["s"], name="probs", axis=1),
        helper.make_node("Softmax", ["s"], ["y"], name="again", axis=1),
    ]
    proto = graph_model(nodes, [const("W", RNG.normal(size=(4, 3)))], n_out=3)
    with pytest.raises(
        UnsupportedOnnxOpError,
        match=r"Erf \(nodes \['gelu_erf'\]\); Softmax \(nodes \['probs', 'again'\]\)\. Supported ops: .*Gemm",
    ):
        model_from_onnx(proto)


def test_custom_domain_ops_are_unsupported():
    node = helper.make_node("FusedGemm", ["x", "W"], ["y"], name="fused", domain="com.microsoft")
    proto = graph_model([node], [const("W", RNG.normal(size=(4, 1)))], check=False)
    with pytest.raises(
        UnsupportedOnnxOpError, match=r"com\.microsoft\.FusedGemm \(nodes \['fused'\]\)"
    ):
        model_from_onnx(proto)


def _two_gemms(w1_shape, w2_shape, **kw):
    nodes = [
        helper.make_node("Gemm", ["x", "W1"], ["h"], name="fc1"),
        helper.make_node("Gemm", ["h", "W2"], ["y"], name="fc2"),
    ]
    inits = [const("W1", RNG.normal(size=w1_shape)), const("W2", RNG.normal(size=w2_shape))]
    return graph_model(nodes, inits, check=False, **kw)


@pytest.mark.parametrize(
    ("proto", "message"),
    [
        (
            lambda: _two_gemms((4, 8), (5, 1)),
            r"node 'fc2' \(Gemm\): its weight expects 5 input features, but 8 reach it: mismatched shapes",
        ),
        (
            lambda: _two_gemms((4, 8), (8, 1), n_in=6),
            r"node 'fc1' \(Gemm\): its weight expects 4 input features, but 6 reach it",
        ),
        (
            lambda: _two_gemms((4, 8), (8, 1), n_out=3),
            r"output 'y' is declared with 3 columns but its nodes compute 1",
        ),
    ],
)
def test_mismatched_shapes_are_clear_errors(proto, message):
    with pytest.raises(OnnxConversionError, match=message):
        model_from_onnx(proto())


def test_mismatched_per_feature_constant():
    nodes = [helper.make_node("Sub", ["x", "mu"], ["y"], name="center")]
    proto = graph_model(nodes, [const("mu", np.zeros(3))], n_out=4, check=False)
    with pytest.raises(
        OnnxConversionError,
        match=r"'center' \(Sub\): Sub constant has shape \(3,\), but 4 features",
    ):
        model_from_onnx(proto)


def _batchnorm(running_var, epsilon: float = 1e-5):
    nodes = [
        helper.make_node(
            "BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], name="bn", epsilon=epsilon
        )
    ]
    inits = [const(k, np.ones(4)) for k in "gbm"] + [const("v", running_var)]
    return graph_model(nodes, inits, n_out=4)


def test_values_a_dlcore_layer_refuses_name_the_node():
    """A negative running variance imported (exit 0) and every score was NaN; epsilon 0
    (valid ONNX) stopped as `error: BatchNorm1d: eps must be ...`, no node or file named."""
    with pytest.raises(
        OnnxConversionError,
        match=r"node 'bn' \(BatchNormalization\): running_var \+ epsilon \(1e-05\) is <= 0 for 2 "
        r"feature\(s\) \(running_var holds negative values",
    ):  # fmt: skip
        model_from_onnx(_batchnorm([1.0, -1.0, 2.0, -1e-5]))  # -1e-5 + 1e-5: inf, as in ORT
    with pytest.raises(
        OnnxConversionError,
        match=r"node 'bn' \(BatchNormalization\): BatchNorm1d: eps must be .* Received: 0.0; "
        r"dlcore's layer does not take this value",
    ):
        model_from_onnx(_batchnorm(np.ones(4), epsilon=0.0))
    X = X4(8)  # a zero variance with a positive epsilon is fine, as in onnxruntime
    proto = _batchnorm([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(model_from_onnx(proto).predict(X), ort_run(proto, X)[0], 1e-5)


def test_a_negative_running_var_within_epsilon_imports_as_onnxruntime_scores_it():
    """var + eps > 0 is finite in onnxruntime (a round-off negative variance); it was refused
    as `running_var holds 1 negative value(s) ... every score would be NaN`."""
    X = X4(8)
    proto = _batchnorm(np.array([-1e-6, 1.0, 2.0, 3.0], np.float32))
    expected = ort_run(proto, X)[0]
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(model_from_onnx(proto).predict(X), expected, rtol=1e-4)


def test_graphs_that_are_not_layer_chains_are_refused():
    branch = [
        helper.make_node("Relu", ["x"], ["a"], name="left"),
        helper.make_node("Tanh", ["x"], ["b"], name="right"),
        helper.make_node("Add", ["a", "b"], ["y"], name="join"),
    ]
    with pytest.raises(
        OnnxConversionError, match=r"'join' \(Add\) has 2 non-constant inputs.*no branches"
    ):
        model_from_onnx(graph_model(branch, [], n_out=4))
    reversed_sub = [helper.make_node("Sub", ["c", "x"], ["y"], name="flip")]
    with pytest.raises(OnnxConversionError, match=r"'flip' \(Sub\): the data must be input 0"):
        model_from_onnx(graph_model(reversed_sub, [const("c", np.ones(4))], n_out=4))
    one_sided = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clamp")]
    inits = [const("lo", np.float32(0.0)), const("hi", np.float32(6.0))]
    with pytest.raises(OnnxConversionError, match=r"symmetric Clip\(-c, c\).*min=0.0, max=6.0"):
        model_from_onnx(graph_model(one_sided, inits, n_out=4))


def test_inputs_must_be_one_float32_matrix(tmp_path):
    relu = [helper.make_node("Relu", ["x"], ["y"])]
    with pytest.raises(OnnxConversionError, match=r"input 'x' is DOUBLE with 2 dimensions"):
        model_from_onnx(graph_model(relu, [], in_type=TensorProto.DOUBLE, check=False))
    two = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in ("x", "z")]
    with pytest.raises(
        OnnxConversionError, match=r"inputs \['x', 'z'\]; dlcore imports a graph with ONE input"
    ):
        model_from_onnx(graph_model(relu, [], inputs_=two, check=False))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07not an onnx model at all\xff\xff")
    with pytest.raises(OnnxConversionError, match="not a readable ONNX model"):
        load_onnx(garbage)
    with pytest.raises(OnnxConversionError, match="no ONNX file here"):
        load_onnx(tmp_path / "missing.onnx")


def test_foreign_graph_becomes_a_one_member_ensemble_of_logits(tmp_path):
    proto = torch_style()
    ensemble = ensemble_from_onnx(proto, feature_names=["a", "b", "c", "d"])
    member = ensemble.members[0]
    assert not isinstance(member.layer.layers[-1], Sigmoid)  # members output logits
    X = X4()
    np.testing.assert_allclose(
        ensemble.predict_proba(X), ort_run(proto, X)[0].ravel(), rtol=RTOL, atol=ATOL
    )
    loaded = FraudEnsemble.load(ensemble.save(tmp_path / "imported"))
    np.testing.assert_array_equal(loaded.predict_proba(X), ensemble.predict_proba(X))
    assert ensemble_from_onnx(proto).feature_names == [f"feature_{i:03d}" for i in range(4)]
    with pytest.raises(
        OnnxConversionError, match="3 feature names were given but the model takes 4"
    ):
        ensemble_from_onnx(proto, feature_names=["a", "b", "c"])
    with pytest.raises(OnnxConversionError, match="outputs 2 values per row"):
        ensemble_from_onnx(keras_style())


def test_exported_ensemble_imports_member_by_member_and_is_stable():
    ensemble = make_ensemble(5)
    first = ensemble_to_onnx(ensemble, model_version="4")
    back = ensemble_from_onnx(first)
    assert back.feature_names == ensemble.feature_names and back.metadata == ensemble.metadata
    assert len(back.members) == 5
    X = inputs("fraud_mlp")
    np.testing.assert_allclose(back.predict_proba(X), ensemble.predict_proba(X), rtol=1e-6)
    assert (
        ensemble_to_onnx(back, model_version="4").SerializeToString() == first.SerializeToString()
    )
    meta = {p.key: p.value for p in first.metadata_props}
    assert json.loads(meta["feature_names"]) == back.feature_names
    with pytest.raises(UnsupportedOnnxOpError, match="ReduceMean"):
        model_from_onnx(first, output="fraud_probability")


def test_an_imported_model_fine_tunes_with_the_dlcore_trainer():
    member = ensemble_from_onnx(bn_dropout_clip()).members[0]
    rng = np.random.default_rng(11)
    X = rng.normal(0, 2, (512, 4)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(np.float32)
    trainer = Trainer(
        member, BCEWithLogits(), Adam(learning_rate=1e-2), TrainerConfig(epochs=5, batch_size=64)
    )
    before = trainer.evaluate(X, y)["loss"]
    weights = member.params.data.copy()
    trainer.fit(X, y)
    assert trainer.evaluate(X, y)["loss"] < 0.8 * before
    assert not np.array_equal(member.params.data, weights)
    tuned = model_to_onnx(member)  # and the tuned model exports again
    np.testing.assert_allclose(ort_run(tuned, X, "logits"), member.predict(X), rtol=RTOL, atol=ATOL)


def test_any_run_of_sub_div_mul_add_folds_into_one_standardize():
    nodes = [
        helper.make_node("Div", ["x", "s1"], ["a"], name="n/Div"),
        helper.make_node("Sub", ["a", "m1"], ["b"], name="n/Sub"),
        helper.make_node("Mul", ["k", "b"], ["c"], name="n/Mul"),
        helper.make_node("Add", ["c", "o"], ["d"], name="n/Add"),
        helper.make_node("Div", ["d", "s2"], ["y"], name="n/Div_1"),
    ]
    inits = [
        const("s1", RNG.uniform(0.5, 2, 4)),
        const("m1", RNG.normal(size=(1, 4))),
        const("k", RNG.uniform(-2, 2, 4)),
        const("o", np.float32(0.7)),
        const("s2", RNG.uniform(0.5, 2, 4)),
    ]
    proto = graph_model(nodes, inits, n_out=4)
    model = model_from_onnx(proto)
    assert [type(x).__name__ for x in model.layer.layers] == ["Standardize"]
    X = X4()
    np.testing.assert_allclose(model.predict(X), ort_run(proto, X)[0], rtol=RTOL, atol=ATOL)
    zero = [helper.make_node("Mul", ["x", "z"], ["y"], name="zero")]
    with pytest.raises(OnnxConversionError, match="'zero' \\(Mul\\): a zero Mul factor"):
        model_from_onnx(graph_model(zero, [const("z", np.zeros(4))], n_out=4))


def test_a_negative_leaky_relu_alpha_gets_the_attribution_of_its_scores():
    # probe55e: the fused plan read LeakyRelu's slope from its output; alpha -0.5 makes a
    # negative input's output positive, so it took slope 1 there. On this graph the
    # scoring reasons' attribution was up to 2.8 off (reason_1 changed in 316 of 1,000
    # rows); now such members are scored member by member and the attribution is the
    # scores' own (finite differences x (X - baseline), no clip here)
    nodes = [
        helper.make_node("Sub", ["x", "mu"], ["a"], name="std/Sub"),
        helper.make_node("Div", ["a", "sd"], ["b"], name="std/Div"),
        helper.make_node("Gemm", ["b", "W1", "B1"], ["h"], name="fc1", transB=1),
        helper.make_node("LeakyRelu", ["h"], ["l"], name="act", alpha=-0.5),
        helper.make_node("Gemm", ["l", "W2", "B2"], ["o"], name="fc2", transB=1),
        helper.make_node("Sigmoid", ["o"], ["y"], name="out"),
    ]
    rng = np.random.default_rng(3)
    inits = [
        const("mu", rng.normal(size=4)),
        const("sd", rng.uniform(0.5, 2, size=4)),
        const("W1", rng.normal(size=(8, 4))),
        const("B1", rng.normal(size=8)),
        const("W2", rng.normal(size=(1, 8))),
        const("B2", rng.normal(size=1)),
    ]
    proto = graph_model(nodes, inits)
    ensemble = ensemble_from_onnx(proto)
    X = rng.normal(size=(40, 4)).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(
        ensemble.predict_proba(X),
        ort_run(proto, X.astype(np.float32))[0][:, 0],
        rtol=RTOL,
        atol=ATOL,
    )
    _, attr = ensemble.proba_and_attribution(X, np.zeros(4))
    h = 1e-3
    fd = np.stack(
        [
            (ensemble.predict_proba(X + h * e) - ensemble.predict_proba(X - h * e)) / (2 * h)
            for e in np.eye(4)
        ],
        axis=1,
    )
    np.testing.assert_allclose(attr, fd * X, rtol=1e-3, atol=1e-4)  # FD of float32 inputs
