"""The transfer family with weights files the test makes from the same architecture."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator.store import schema as S
from orchestrator.cli import main
from orchestrator.store.parquet import read_metrics, read_trials
from tests.conftest import run_text, write_idx_dataset
from trainables.families import backbones, get_family
from trainables.training.plan import trainable_params
from trainables.training.settings import TrialSettings


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    """MobileNetV2 (no top) with seeded random weights: in a Keras cache and at a path."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    root = tmp_path_factory.mktemp("weights")
    source = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    rng = np.random.default_rng(42)
    perturbed = []
    for v in source.weights:   # a fresh initialisation, nudged so it differs from any other one
        w = np.asarray(v) + rng.normal(0, 0.01, v.shape)
        perturbed.append((np.abs(w) + 1e-3 if "moving_variance" in v.path else w).astype("float32"))
    source.set_weights(perturbed)
    cache = root / "keras_home" / "models"
    cache.mkdir(parents=True)
    with h5py.File(cache / backbones.BACKBONES["mobilenetv2"].weights_file, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)       # the format Keras' cache holds
    path = root / "mine" / "mobilenet.weights.h5"
    path.parent.mkdir()
    source.save_weights(path)
    return {"cache": cache, "path": path, "weights": source.get_weights()}


@pytest.fixture
def keras_cache(monkeypatch, weights_files):
    monkeypatch.setattr(backbones, "keras_models_dirs", lambda: [weights_files["cache"]])


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(backbones, "keras_models_dirs", lambda: [tmp_path / "empty" / "models"])


def transfer_config(**overrides):
    cfg = get_family("transfer").defaults()
    cfg.update(seed=0, **overrides)
    return cfg


def backbone_weights(model):
    return model.get_layer("backbone").get_weights()


@pytest.mark.parametrize("route", ["cache", "path"])
def test_weights_load_through_cache_and_path(route, keras_cache, weights_files):
    weights = "imagenet" if route == "cache" else str(weights_files["path"])
    model = get_family("transfer").build(transfer_config(weights=weights), (28, 28, 1), 10)
    loaded = backbone_weights(model)
    assert len(loaded) == len(weights_files["weights"])
    for got, want in zip(loaded, weights_files["weights"]):
        np.testing.assert_array_equal(got, want)


def test_without_weights_the_backbone_is_freshly_initialised(keras_cache, weights_files):
    model = get_family("transfer").build(transfer_config(weights="none"), (28, 28, 1), 10)
    assert not np.allclose(backbone_weights(model)[0], weights_files["weights"][0])


def test_missing_weights_name_the_file_expected(empty_cache, tmp_path):
    with pytest.raises(backbones.WeightsMissing) as err:
        backbones.resolve_weights("vgg16", "imagenet")
    msg = str(err.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in msg and "tunefm weights vgg16" in msg
    with pytest.raises(backbones.WeightsMissing, match="weights file for resnet50 not found: /no/such.h5"):
        backbones.resolve_weights("resnet50", "/no/such.h5")


def test_sweep_without_weights_stops_at_once_with_one_line(empty_cache, tmp_path):
    sweep = Path(__file__).parents[2] / "sweeps" / "transfer.yaml"
    result = CliRunner().invoke(main, ["sweep", str(sweep), "--results", str(tmp_path / "res")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"tunefm: error: {sweep}: families.transfer_frozen: ImageNet weights for "
                                    "mobilenetv2 not found: expected ")
    assert not (tmp_path / "res").exists()


def test_preview_of_the_shipped_transfer_sweep_works_offline(empty_cache):
    sweep = Path(__file__).parents[2] / "sweeps" / "transfer.yaml"
    result = CliRunner().invoke(main, ["preview", str(sweep), "-n", "1"])
    assert result.exit_code == 0, result.output
    assert "does not build" not in result.stdout and result.stdout.count(" params") == 4


def head_params(num_features: int, classes: int = 10) -> int:
    return num_features * classes + classes


def test_trainable_parameters_per_mode_before_and_after_unfreezing(keras_cache):
    import keras

    from trainables.families.transfer import unfreeze

    family = get_family("transfer")
    frozen = family.build(transfer_config(mode="frozen"), (28, 28, 1), 10)
    assert trainable_params(frozen) == head_params(1280)

    tune_all = family.build(transfer_config(mode="finetune", finetune_after=1, finetune_layers=0), (28, 28, 1), 10)
    assert trainable_params(tune_all) == head_params(1280)          # warm-up: still frozen
    unfreeze(tune_all, 0)
    backbone = tune_all.get_layer("backbone")
    bn = keras.layers.BatchNormalization
    every = sum(int(np.prod(w.shape)) for layer in backbone.layers if not isinstance(layer, bn)
                for w in layer.weights if "moving" not in w.path)
    assert every > 2_000_000
    assert trainable_params(tune_all) == head_params(1280) + every

    tune_top = family.build(transfer_config(mode="finetune", finetune_after=1, finetune_layers=10), (28, 28, 1), 10)
    unfreeze(tune_top, 10)
    top = sum(int(np.prod(w.shape)) for layer in tune_top.get_layer("backbone").layers[-10:]
              if not isinstance(layer, bn) for w in layer.weights)
    assert 0 < top < every
    assert trainable_params(tune_top) == head_params(1280) + top


def test_unfrozen_backbone_keeps_batch_norm_in_inference_mode(keras_cache):
    import keras

    from trainables.families.transfer import unfreeze
    from trainables.training.optim import compile_model, training_labels

    cfg = transfer_config(mode="finetune", finetune_after=1)
    model = get_family("transfer").build(cfg, (28, 28, 1), 10)
    unfreeze(model, 0)
    compile_model(model, cfg)
    to_np = keras.ops.convert_to_numpy
    bn = next(l for l in model.get_layer("backbone").layers if isinstance(l, keras.layers.BatchNormalization))
    # the last conv: near-random test weights make the first layers' gradients vanish
    kernel = [l for l in model.get_layer("backbone").layers if isinstance(l, keras.layers.Conv2D)][-1]
    stats, weights = to_np(bn.moving_mean), to_np(kernel.kernel)
    assert kernel.trainable and not bn.trainable
    x = np.random.default_rng(0).integers(0, 255, (16, 28, 28, 1)).astype("float32")
    model.fit(x, training_labels(cfg, np.arange(16) % 10, 10), epochs=1, verbose=0)
    np.testing.assert_array_equal(to_np(bn.moving_mean), stats)      # statistics untouched
    assert not np.allclose(to_np(kernel.kernel), weights)            # but the backbone did train


def test_frozen_plan_trains_a_head_on_features_that_match_the_full_model(keras_cache):
    from trainables.datasets.base import Labeled, TrialData
    from trainables.families.transfer import plan

    rng = np.random.default_rng(3)
    data = TrialData(Labeled(rng.integers(0, 255, (40, 28, 28, 1), dtype=np.uint8), np.arange(40) % 10),
                     Labeled(rng.integers(0, 255, (20, 28, 28, 1), dtype=np.uint8), np.arange(20) % 10),
                     tuple("0123456789"))
    cfg = transfer_config(mode="frozen", head_units=16)
    model = get_family("transfer").build(cfg, (28, 28, 1), 10)
    p = plan(model, cfg, data, TrialSettings(max_epochs=2, metric="val_accuracy", mode="max"))
    assert p.fit_model is not model and p.save_model is model and p.info["feature_cache_hit"] is False
    assert p.train_x.shape == (40, 1280)
    np.testing.assert_allclose(p.fit_model.predict(p.val_x, verbose=0), model.predict(data.val.x, verbose=0),
                               rtol=1e-4, atol=1e-5)


SWEEP = """
name: tiny_transfer
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 240, val_size: 80}}
seed: 1
families:
  frozen:
    family: transfer
    num_samples: 3
    params: {{weights: {weights}, head_units: {{choice: [0, 16]}}, lr: {{loguniform: [1e-3, 1e-2]}}}}
  finetune:
    family: transfer
    params: {{weights: {weights}, mode: finetune, finetune_after: 1, finetune_layers: 20, batch_size: 32}}
  cnn:
    params: {{filters: 8, dense_units: 16}}
scheduler: {{kind: fifo, max_epochs: 2}}
"""


def test_tiny_transfer_sweep_end_to_end(tmp_path, weights_files, local_ray):
    from orchestrator.report.build import build_report

    data = write_idx_dataset(tmp_path / "data", n_train=400, n_test=120)
    text = SWEEP.format(data=data, weights=weights_files["path"])
    summary = run_text(text, tmp_path / "res")
    trials = read_trials(summary.run_dir)
    assert trials[S.STATUS].tolist() == [S.COMPLETED] * 5, trials[[S.FAMILY, S.STATUS, "error"]]
    metrics = read_metrics(summary.run_dir)
    frozen = metrics[(metrics[S.FAMILY] == "frozen") & (metrics[S.EPOCH] == 1)]
    assert sorted(frozen["feature_cache_hit"].tolist()) == [False, True, True]   # computed once, then shared
    fine = metrics[metrics[S.FAMILY] == "finetune"].sort_values(S.EPOCH)
    assert fine["trainable_params"].iloc[1] > fine["trainable_params"].iloc[0]    # unfrozen after warm-up
    assert fine["lr"].iloc[1] == pytest.approx(fine["lr"].iloc[0] * 0.1)
    report = build_report(summary.run_dir, top_k=1)
    evaluated = __import__("pandas").read_parquet(report.report_dir / "test_eval.parquet")
    assert {"frozen", "finetune", "cnn"} <= set(evaluated[S.FAMILY])            # transfer checkpoints load
