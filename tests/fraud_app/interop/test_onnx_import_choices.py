"""import-onnx of graphs from elsewhere: a graph with several outputs is imported by the
output the user names (`--output`; the CLI had no way to name one), and a file whose
weights hold NaN or inf is refused at import naming the layer (it failed at the save,
naming a staging directory and advising a lower learning rate)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

import onnx
from onnx import TensorProto, helper, numpy_helper

from fraud_app.errors import OnnxConversionError
from fraud_app.interop.onnx_import import ensemble_from_onnx, model_from_onnx
from fraud_app.models.ensemble import FraudEnsemble
from pipelines.cli import main
from tests.fraud_app.interop.onnx_cases import ort_run


def _graph(W: np.ndarray, outputs: tuple[str, ...] = ("logit", "prob")):
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["logit"], name="dense"),
        helper.make_node("Sigmoid", ["logit"], ["prob"], name="sigmoid"),
    ]
    declared = [helper.make_tensor_value_info(o, TensorProto.FLOAT, [None, 1]) for o in outputs]
    graph = helper.make_graph(
        nodes,
        "two_heads",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
        declared,
        initializer=[numpy_helper.from_array(W.astype(np.float32), "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


W = np.array([[0.5], [-1.0], [2.0]])


def test_a_graph_with_two_outputs_asks_for_one_and_imports_the_one_named(tmp_path):
    proto = _graph(W)
    with pytest.raises(OnnxConversionError, match=r"outputs \['logit', 'prob'\]: .*--output NAME"):
        ensemble_from_onnx(proto)
    with pytest.raises(OnnxConversionError, match=r"there is no output 'p'; .*--output NAME"):
        model_from_onnx(proto, output="p")
    X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    expected = ort_run(proto, X, "prob").reshape(-1)
    for output in ("logit", "prob"):  # a final Sigmoid is dropped: the ensemble applies it
        ensemble = ensemble_from_onnx(proto, output=output)
        assert len(ensemble.members[0].layer.layers) == 1
        np.testing.assert_allclose(ensemble.predict_proba(X), expected, rtol=1e-5, atol=1e-6)


def test_import_onnx_command_takes_the_output(tmp_path, capsys):
    path = tmp_path / "two.onnx"
    onnx.save(_graph(W), str(path))
    assert main(["import-onnx", str(path), str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--output NAME" in err
    assert not (tmp_path / "none").exists()
    out = tmp_path / "imported"
    assert main(["import-onnx", str(path), str(out), "--output", "prob"]) == 0
    assert json.loads(capsys.readouterr().out)["members"] == 1
    assert FraudEnsemble.load(out).members[0].in_features == 3


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_refused_at_import_naming_the_layer(tmp_path, capsys, bad):
    weights = W.copy()
    weights[1, 0] = bad
    proto = _graph(weights, outputs=("prob",))
    with pytest.raises(OnnxConversionError, match=r"layer 'dense' \(Linear\): its W holds 1 non"):
        ensemble_from_onnx(proto)
    path = tmp_path / "nan.onnx"
    onnx.save(proto, str(path))
    assert main(["import-onnx", str(path), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "layer 'dense' (Linear): its W holds 1 non-finite value(s)" in err
    assert "learning rate" not in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("tail", [["Identity"], ["Dropout"], ["Identity", "Identity"]])
def test_a_sigmoid_followed_by_identity_nodes_is_a_probability(tail, caplog):
    """tf2onnx and renamed outputs end in Identity after the Sigmoid: the graph was taken as
    ending in a logit (a WARNING said so) and the ensemble scored sigmoid(p), in [0.5, 0.73]."""
    proto = _graph(W, outputs=("prob",))
    graph = proto.graph
    graph.node[-1].output[0] = "p0"
    for k, op in enumerate(tail):
        out = "prob" if k == len(tail) - 1 else f"p{k + 1}"
        graph.node.append(helper.make_node(op, [f"p{k}"], [out], name=f"{op.lower()}{k}"))
    X = np.random.default_rng(1).normal(size=(32, 3)).astype(np.float32)
    expected = ort_run(proto, X, "prob").reshape(-1)  # onnxruntime's probability
    ensemble = ensemble_from_onnx(proto)
    np.testing.assert_allclose(ensemble.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    assert [type(x).__name__ for x in ensemble.members[0].layer.layers] == ["Linear"]
    assert "does not end in a Sigmoid" not in caplog.text


def _with_label_output():
    """A probability and a label (probability > 0.5, Cast to int64) as two outputs, as
    exporters of classifiers write them."""
    proto = _graph(W, outputs=("prob",))
    graph = proto.graph
    graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), "half"))
    graph.node.append(helper.make_node("Greater", ["prob", "half"], ["gt"], name="gt"))
    graph.node.append(helper.make_node("Cast", ["gt"], ["label"], name="cast", to=7))
    graph.output.insert(0, helper.make_tensor_value_info("label", TensorProto.INT64, [None, 1]))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def test_the_output_named_imports_though_another_output_uses_ops_without_a_layer():
    """The ops on the way to the label were refused (`Cast (nodes ['cast']); Greater ...`)
    though the probability named with --output needs none of them."""
    proto = _with_label_output()
    X = np.random.default_rng(2).normal(size=(16, 3)).astype(np.float32)
    expected = ort_run(proto, X, "prob").reshape(-1)
    ensemble = ensemble_from_onnx(proto, output="prob")
    np.testing.assert_allclose(ensemble.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    assert model_from_onnx(proto, output="prob").predict(X).shape == (16, 1)
    with pytest.raises(OnnxConversionError, match=r"outputs \['label', 'prob'\]: .*--output"):
        ensemble_from_onnx(proto)
    with pytest.raises(OnnxConversionError, match=r"Cast \(nodes \['cast'\]\); Greater"):
        ensemble_from_onnx(proto, output="label")


def test_an_op_without_a_layer_behind_a_later_input_of_the_named_output_is_still_named():
    """The pruning to the named output follows every input of a node, not only the first:
    Add(bias, Erf(x)) reaches Erf through input 1 (a pruning that followed input 0 alone
    passed every other test, and here said `Erf is imported only inside a piecewise-linear
    encoding`)."""
    nodes = [
        helper.make_node("Erf", ["features"], ["e"], name="erf"),
        helper.make_node("Add", ["bias", "e"], ["a"], name="add"),
        helper.make_node("MatMul", ["a", "W"], ["logit"], name="dense"),
        helper.make_node("Sigmoid", ["logit"], ["prob"], name="sigmoid"),
    ]
    graph = helper.make_graph(
        nodes,
        "erf",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [None, 1]) for o in ("logit", "prob")],
        initializer=[
            numpy_helper.from_array(W.astype(np.float32), "W"),
            numpy_helper.from_array(np.ones(3, np.float32), "bias"),
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto, full_check=True)
    for import_ in (ensemble_from_onnx, model_from_onnx):
        with pytest.raises(OnnxConversionError, match=r"no dlcore layer: Erf \(nodes \['erf'\]\)"):
            import_(proto, output="prob")


def _with_string_labels(used: bool):
    """The probability, and a label output Gather(Constant(["legit", "fraud"]), Cast(prob >
    0.5)); `used`: the string Constant feeds the probability's own chain instead."""
    proto = _with_label_output()
    graph = proto.graph
    labels = helper.make_node(
        "Constant", [], ["names"], name="class_names", value_strings=["legit", "fraud"]
    )
    graph.node.insert(0, labels)
    graph.node.append(helper.make_node("Gather", ["names", "label"], ["name"], name="gather"))
    graph.output.append(helper.make_tensor_value_info("name", TensorProto.STRING, [None, 1]))
    if used:
        graph.node[1].input[1] = "names"  # MatMul(features, <the strings>)
    return proto


def test_an_unreadable_constant_only_another_output_uses_does_not_stop_the_import():
    """A Constant of strings (class names) on the label's side was refused (`Constant node
    'class_names': only tensor, float and int values are supported`) though the probability
    named with --output does not read it; one the imported output reads is still named."""
    proto = _with_string_labels(used=False)
    onnx.checker.check_model(proto, full_check=True)
    X = np.random.default_rng(3).normal(size=(16, 3)).astype(np.float32)
    expected = ort_run(proto, X, "prob").reshape(-1)
    ensemble = ensemble_from_onnx(proto, output="prob")
    np.testing.assert_allclose(ensemble.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    message = r"Constant node 'class_names': only tensor, float and int values are supported"
    for import_ in (ensemble_from_onnx, model_from_onnx):
        with pytest.raises(OnnxConversionError, match=message):
            import_(_with_string_labels(used=True), output="prob")
