"""LR schedules, divergence rule, validation scores, and how a trial compiles its model."""
from __future__ import annotations

import math

import numpy as np
import pytest

from trainables.training.evaluation import crossentropy, macro_auc, score
from trainables.training.schedule import LearningRate, PlateauTracker, scheduled_lr
from trainables.training.settings import TrialSettings

BASE = {"lr": 0.1, "lr_step_every": 2, "lr_step_factor": 0.5, "lr_min_factor": 0.0,
        "lr_plateau_patience": 2, "lr_plateau_factor": 0.1}


def test_constant_and_step():
    assert [scheduled_lr({**BASE, "lr_schedule": "constant"}, e, 10) for e in (0, 9)] == [0.1, 0.1]
    assert [scheduled_lr({**BASE, "lr_schedule": "step"}, e, 10) for e in range(5)] == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_cosine_runs_from_lr_to_floor():
    cfg = {**BASE, "lr_schedule": "cosine", "lr_min_factor": 0.1}
    lrs = [scheduled_lr(cfg, e, 5) for e in range(5)]
    assert lrs[0] == pytest.approx(0.1) and lrs[-1] == pytest.approx(0.01)
    assert lrs[2] == pytest.approx(0.055) and all(a > b for a, b in zip(lrs, lrs[1:]))


def test_plateau_reduces_after_patience_epochs_without_improvement():
    sched = LearningRate({**BASE, "lr_schedule": "plateau"}, 10)
    rates = []
    for loss in [1.0, 0.9, 0.95, 0.95, 0.8, 0.85, 0.85]:
        rates.append(sched.rate(len(rates)))
        sched.observe(loss)
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01])
    assert sched.rate(7) == pytest.approx(0.001)


def test_plateau_tracker_ignores_nothing_but_improvement():
    t = PlateauTracker(factor=0.5, patience=1)
    assert [t.update(v) for v in (1.0, 1.0, 0.5, 0.6)] == [1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize("loss, diverged", [(2.3, False), (200.0, False), (231.0, True), (1e17, True),
                                            (math.nan, True), (math.inf, True)])
def test_divergence_rule_for_ten_classes(loss, diverged):
    assert TrialSettings(max_epochs=1, metric="val_accuracy", mode="max").diverged(loss, 10) is diverged


def test_better_respects_mode_and_nan():
    up = TrialSettings(max_epochs=1, metric="val_accuracy", mode="max")
    down = TrialSettings(max_epochs=1, metric="val_loss", mode="min")
    assert up.better(0.5, None) and up.better(0.6, 0.5) and not up.better(0.5, 0.5)
    assert down.better(0.4, 0.5) and not down.better(math.nan, None)


def test_validation_batch_follows_the_device_and_the_model_unless_the_sweep_sets_it():
    auto = TrialSettings(max_epochs=1, metric="val_accuracy", mode="max")
    assert auto.eval_batch(on_accelerator=False, largest_activation=100) == 256
    assert auto.eval_batch(True, 28 * 28 * 32) == 1024          # a small CNN on Fashion-MNIST
    assert auto.eval_batch(True, 2**25 // 512) == 512
    assert auto.eval_batch(True, 112 * 112 * 64) == 256         # a backbone's first block at 224 px
    assert auto.eval_batch(True, None) == 256                   # unknown: the batch trials always used
    fixed = TrialSettings(max_epochs=1, metric="val_accuracy", mode="max", eval_batch_size=64)
    assert (fixed.eval_batch(False), fixed.eval_batch(True, 10)) == (64, 64)


def test_largest_activation_looks_inside_nested_models():
    import keras

    from trainables.training.trial import largest_activation

    inner = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(5, 3, padding="same")])
    outer = keras.Sequential([keras.Input((8, 8, 1)), inner, keras.layers.Flatten(), keras.layers.Dense(7)])
    assert largest_activation(outer) == 8 * 8 * 5
    assert largest_activation(keras.Sequential([keras.Input((3,)), keras.layers.Dense(11)])) == 11


def test_jit_by_backend_and_tensorflow_keeps_its_trials_off_xla():
    """JAX gets Keras's "auto" (False ran every op eagerly); TensorFlow stays without XLA
    as before (never measured on a TensorFlow GPU)."""
    import keras

    from trainables.families import get_family
    from trainables.training.optim import compile_model, default_jit

    assert TrialSettings(max_epochs=1, metric="val_accuracy", mode="max").jit_compile is None
    assert (default_jit("tensorflow"), default_jit("jax"), default_jit("torch")) == (False, "auto", "auto")
    family = get_family("dense")
    config = {**family.defaults(), "layers": 1, "units": 8, "lr": 1e-3, "seed": 0}
    model = family.build(config, (4, 4, 1), 3)
    compile_model(model, config, TrialSettings(max_epochs=1, metric="val_accuracy", mode="max").jit_compile)
    assert model.jit_compile is (keras.backend.backend() == "jax")


def _tiny_cnn(prebuilt: bool, label_smoothing: float):
    import keras

    from trainables.families import get_family
    from trainables.training.optim import build_training_state, compile_model, training_labels

    family = get_family("cnn")
    config = {**family.defaults(), "blocks": 1, "filters": 4, "dense_units": 8, "dropout": 0.1, "lr": 1e-3,
              "label_smoothing": label_smoothing, "seed": 0}
    keras.utils.set_random_seed(0)
    model = family.build(config, (8, 8, 1), 3)
    compile_model(model, config)
    x = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)   # as the loaders give it
    y = training_labels(config, np.arange(40) % 3, 3)
    if prebuilt:
        build_training_state(model, x, y)
    return model, x, y


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])       # integer labels, one-hot labels
def test_training_state_built_before_fit_so_the_first_step_is_traced_once(label_smoothing):
    """Variables created inside the first traced step make tf.function trace it twice
    (about 0.8 s more in every trial's first epoch); the steps trained stay the same."""
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("only Keras's TensorFlow trainer builds inside the traced step")
    created = []

    def creator(next_creator, **kwargs):
        variable = next_creator(**kwargs)
        if tf.inside_function():
            created.append(kwargs.get("name"))
        return variable

    losses = []
    for prebuilt in (False, True):
        model, x, y = _tiny_cnn(prebuilt, label_smoothing)
        created.clear()
        with tf.variable_creator_scope(creator):
            history = model.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0)
        losses.append(history.history["loss"])
        assert bool(created) is not prebuilt, created     # without it: Adam's slots, the metric's totals
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


def test_scores_against_hand_computed_values():
    y = np.array([0, 0, 1, 2])
    probs = np.array([[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    s = score(y, probs)
    assert s.accuracy == 0.75
    assert s.loss == pytest.approx(-np.mean(np.log([0.8, 0.4, 0.7, 0.7])))
    # per-class F1: class0 p=1 r=.5 -> 2/3; class1 p=.5 r=1 -> 2/3; class2 -> 1
    assert s.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    # class0 positives {.8,.4} vs negatives {.2,.1}: 1; class1 {.7} vs {.1,.5,.2}: 1; class2 {.7} vs {.1,.1,.1}: 1
    assert s.auc == pytest.approx(1.0)


def test_auc_skips_classes_without_positives_and_handles_ties():
    y = np.array([0, 1, 0, 1])
    probs = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    # class 0: positives {.6,.9} vs negatives {.6,.2}: pairs (0.6>0.6 tie .5, .6>.2 1, .9>.6 1, .9>.2 1) = 3.5/4
    # class 1 is the mirror image: 3.5/4; class 2 has no positives and is skipped
    assert macro_auc(y, probs) == pytest.approx(0.875)


def test_scores_of_nonfinite_predictions_are_nan():
    s = score(np.array([0, 1]), np.array([[np.nan, 0.5], [0.5, 0.5]]))
    assert math.isnan(s.accuracy) and math.isnan(s.loss)


def test_crossentropy_clips_zero_probability():
    assert crossentropy(np.array([0]), np.array([[0.0, 1.0]])) == pytest.approx(-math.log(1e-7))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_f1_and_auc_agree_with_sklearn(seed):
    """The per-epoch scores are hand-vectorised; sklearn is the reference, ties (rounded
    probabilities) and a class that is never true nor predicted included."""
    from sklearn.metrics import f1_score, roc_auc_score

    from trainables.training.evaluation import macro_f1

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, size=400)                     # class 5 of 6 never occurs
    probs = np.round(rng.dirichlet(np.ones(6), size=400), 2)
    probs[:, 5] = 0.0
    pred = probs.argmax(axis=1)
    assert macro_f1(y, pred, 6) == pytest.approx(f1_score(y, pred, labels=np.arange(6), average="macro",
                                                          zero_division=0), abs=1e-12)
    expected = np.mean([roc_auc_score(y == c, probs[:, c]) for c in range(5)])
    assert macro_auc(y, probs) == pytest.approx(expected, abs=1e-12)
