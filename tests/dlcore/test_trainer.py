import warnings

import numpy as np
import pytest

from dlcore.errors import ConfigError, DivergedError, ShapeError
from dlcore.layers import Linear, ReLU, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import SGD, Adam
from dlcore.training.callbacks import EarlyStopping
from dlcore.training.trainer import Trainer, TrainerConfig


def _task(n=2048, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.8).astype(np.float32)
    return X, y


def _trainer(seed=0, epochs=5, callbacks=()):
    model = Model(Sequential([Linear(16), ReLU(), Linear(1)]), in_features=8, seed=seed)
    return Trainer(
        model,
        BCEWithLogits(),
        Adam(learning_rate=1e-2),
        TrainerConfig(epochs=epochs, batch_size=128, seed=seed),
        callbacks,
    )


def test_training_learns_the_task():
    X, y = _task()
    t = _trainer()
    hist = t.fit(X[:1536], y[:1536], validation_data=(X[1536:], y[1536:]))
    losses = hist.metric("loss")
    assert losses[-1] < losses[0]
    assert hist.epochs[-1]["val_roc_auc"] > 0.9
    assert 0 < hist.epochs[-1]["val_average_precision"] <= 1


def test_deterministic_for_a_seed():
    X, y = _task()
    a, b = _trainer(seed=3), _trainer(seed=3)
    a.fit(X, y)
    b.fit(X, y)
    np.testing.assert_array_equal(a.model.params.data, b.model.params.data)
    c = _trainer(seed=4)
    c.fit(X, y)
    assert not np.array_equal(a.model.params.data, c.model.params.data)


def test_early_stopping_stops_and_restores_best():
    X, y = _task()
    es = EarlyStopping(monitor="val_loss", patience=1, min_delta=10.0)  # nothing improves by 10
    t = _trainer(epochs=20, callbacks=[es])
    hist = t.fit(X[:1536], y[:1536], validation_data=(X[1536:], y[1536:]))
    assert len(hist.epochs) == 2
    np.testing.assert_array_equal(t.model.params.data, es.best_weights)


def test_bad_inputs_raise_clear_errors():
    t = _trainer()
    with pytest.raises(ShapeError, match="empty training set"):
        t.fit(np.zeros((0, 8)), np.zeros(0))
    with pytest.raises(ShapeError, match="y of length n"):
        t.fit(np.zeros((4, 8)), np.zeros(3))
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1. Received: 0"):
        TrainerConfig(batch_size=0)
    with pytest.raises(ConfigError, match="patience"):
        EarlyStopping(patience=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_delta": float("nan")}, r"min_delta must be a finite number >= 0\. Received: nan"),
        ({"min_delta": float("inf")}, r"min_delta must be .* Received: inf"),
        ({"min_delta": "0.1"}, r"min_delta must be .* Received: '0\.1'"),
        ({"patience": True}, r"patience must be an integer >= 1\. Received: True"),
        ({"patience": np.True_}, r"patience must be an integer >= 1\. Received: np\.True_"),
        ({"patience": np.float64(3.0)}, r"patience must be an integer >= 1"),
    ],
)
def test_early_stopping_settings_that_could_never_improve_are_refused(kwargs, message):
    """Session 46: min_delta NaN was accepted, no epoch ever improved on NaN, so training
    stopped after `patience` epochs with the last weights and restored nothing; a string
    was a TypeError from `<`; patience=True trained with a patience of 1."""
    with pytest.raises(ConfigError, match=message):
        EarlyStopping(**kwargs)
    assert EarlyStopping(min_delta=np.float32(0.5)).min_delta == 0.5


def test_a_numpy_integer_patience_is_taken():
    """review46b: np.int64(5) was refused (`patience must be an integer >= 1. Received:
    np.int64(5)`) while min_delta and the optimizers' settings take NumPy scalars."""
    es = EarlyStopping(patience=np.int64(5))
    assert es.patience == 5 and type(es.patience) is int


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_features_are_named_not_blamed_on_the_learning_rate(bad):
    # before: DivergedError "training diverged ... Lower the learning rate" after one step
    X, y = _task(256)
    X[7, 2] = bad
    t = _trainer()
    for call in (lambda: t.fit(X, y), lambda: t.evaluate(X, y)):
        with pytest.raises(
            ShapeError, match=r"X holds 1 NaN or infinite value\(s\) in 1 row\(s\) \(e\.g\. row 7\)"
        ):
            call()


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_a_seed_that_is_no_natural_number_is_named(seed):
    # before: numpy's "ValueError: expected non-negative integer", naming nothing
    with pytest.raises(ConfigError, match=r"seed must be an integer >= 0\. Received"):
        Model(Sequential([Linear(1)]), in_features=8, seed=seed)
    with pytest.raises(ConfigError, match=r"TrainerConfig\.seed must be an integer >= 0"):
        TrainerConfig(seed=seed)


def test_a_diverging_fit_stops_naming_the_epoch_and_step():
    """It trained on through NaN weights and returned them (demo-train printed nan)."""
    from dlcore.errors import DivergedError
    from dlcore.optimizers import SGD

    X, y = _task(512)
    model = Model(Sequential([Linear(16), ReLU(), Linear(1)]), in_features=8, seed=0)
    t = Trainer(
        model, BCEWithLogits(), SGD(learning_rate=1e38), TrainerConfig(epochs=3, batch_size=128)
    )
    with pytest.raises(
        DivergedError,
        match=r"training diverged at epoch 0, step \d: loss \S+, \d+ of 161 weights NaN or "
        r"infinite after the step\. Lower the learning rate",
    ):
        t.fit(X, y)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_predict_refuses_a_batch_size_below_one(batch_size):
    # before: -1 returned 0 rows for 4 inputs without a word, 0 raised range()'s ValueError
    model = Model(Sequential([Linear(1)]), in_features=8, seed=0)
    with pytest.raises(ConfigError, match=r"batch_size must be an integer >= 1\. Received"):
        model.predict(np.zeros((4, 8), np.float32), batch_size=batch_size)
    assert model.predict(np.zeros((4, 8), np.float32), batch_size=3).shape == (4, 1)


def _bn_trainer(**config):
    from dlcore.layers import BatchNorm1d

    model = Model(Sequential([Linear(4), BatchNorm1d(), ReLU(), Linear(1)]), in_features=8)
    return model, Trainer(model, BCEWithLogits(), Adam(learning_rate=1e-2), TrainerConfig(**config))


def test_all_zero_sample_weights_are_refused_not_returned_as_a_trained_model():
    """Every gradient was 0: fit returned the initial weights with loss 0.0 (session 48)."""
    X, y = _task(n=64)
    trainer = _trainer(epochs=1)
    before = trainer.model.params.data.copy()
    with pytest.raises(ConfigError) as info:
        trainer.fit(X, y, sample_weight=np.zeros(len(y)))
    assert str(info.value) == (
        "sample_weight is 0 for every one of the 64 rows: no row counts, so nothing can be "
        "learned. Pass weights with at least one row > 0"
    )
    assert np.array_equal(trainer.model.params.data, before)
    trainer.fit(X, y, sample_weight=np.r_[np.zeros(63), 1.0])  # one row is enough


def test_positive_weights_that_round_to_0_in_the_models_dtype_are_named_so():
    """1e-50 is > 0 but 0 in float32: the refusal said the weights were 0 (review48c)."""
    X, y = _task(n=64)
    with pytest.raises(ConfigError) as info:
        _trainer(epochs=1).fit(X, y, sample_weight=np.full(len(y), 1e-50))
    assert str(info.value).startswith(
        "sample_weight rounds to 0 in the model's dtype float32 for every one of the 64 rows "
        "(largest given 1e-50; the smallest positive float32 is 1.4013e-45): scale the "
        "weights up: no row counts"
    )


def test_a_last_batch_of_one_row_is_named_before_training_a_batchnorm_model():
    """10 rows in batches of 3: BatchNorm1d failed at the epoch's last step ("needs at
    least 2 rows per batch") after three updates, naming neither batch_size nor drop_last."""
    X, y = _task(n=10)
    model, trainer = _bn_trainer(epochs=1, batch_size=3)
    before = model.params.data.copy()
    with pytest.raises(ConfigError) as info:
        trainer.fit(X, y)
    assert str(info.value) == (
        "10 rows in batches of 3 leave a last batch of 1 row each epoch, which BatchNorm1d "
        "'model/1_batchnorm1d' cannot train on (a variance needs 2 rows): set "
        "TrainerConfig(drop_last=True) or another batch_size"
    )
    assert np.array_equal(model.params.data, before)  # refused before any step
    _bn_trainer(epochs=1, batch_size=3, drop_last=True)[1].fit(X, y)
    _bn_trainer(epochs=1, batch_size=4)[1].fit(X, y)  # a last batch of 2
    plain = Model(Sequential([Linear(4), ReLU(), Linear(1)]), in_features=8)
    config = TrainerConfig(epochs=1, batch_size=3)
    Trainer(plain, BCEWithLogits(), Adam(), config).fit(X, y)  # no BatchNorm: 1 row trains


def _half_trainer():
    model = Model(Sequential([Linear(16), ReLU(), Linear(1)]), in_features=8, dtype=np.float16)
    config = TrainerConfig(epochs=3, batch_size=16)
    return Trainer(model, BCEWithLogits(), SGD(learning_rate=0.1), config)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_float16_model_names_its_range_not_the_learning_rate_or_missing_values():
    """Features finite as given but past float16's 65504 were "NaN or infinite values ...
    impute or drop them"; a float16 model whose activations overflowed was told to lower
    the learning rate (session 48)."""
    X, y = _task(n=64)
    with pytest.raises(ShapeError) as info:
        _half_trainer().fit(X * 1e5, y)
    message = str(info.value)
    assert "beyond the range of the model's dtype float16 (largest 65504)" in message
    assert message.endswith("scale the features down or build the model with dtype=np.float32")
    X[3, 2] = np.nan  # a value missing as given is still named so
    with pytest.raises(ShapeError, match=r"impute or drop them"):
        _half_trainer().fit(X, y)
    X[3, 2] = 0.0
    with pytest.raises(DivergedError) as info:
        _half_trainer().fit(X * 1e3, y)
    assert str(info.value).endswith(
        "The model computes in float16 (nothing above 65504): build it with "
        "dtype=np.float32, or scale the features down; else lower the learning rate or "
        "clip the gradients (clip_norm)"
    )


def test_a_float32_model_is_not_told_to_build_itself_with_float32():
    """A float64 X with a value past float32's range became inf in the cast; the message
    (session 48) advised "build the model with dtype=np.float32" to a float32 model."""
    X, y = _task(n=16)
    X = X.astype(np.float64)
    X[5, 1] = 1e300
    # the error alone: the cast's own "overflow encountered in cast" RuntimeWarning was
    # printed before it (session 48's suite)
    with pytest.raises(ShapeError) as info, warnings.catch_warnings():
        warnings.simplefilter("error")
        _trainer(epochs=1).fit(X, y)
    message = str(info.value)
    assert "beyond the range of the model's dtype float32 (largest 3.40282e+38)" in message
    assert message.endswith("scale the features down or build the model with dtype=np.float64")
