"""Model families build real Keras models: parameter counts by hand, augmentation, save/load."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from trainables.families import get_family


def config(family: str, **overrides):
    cfg = get_family(family).defaults()
    cfg.update(seed=0, **overrides)
    return cfg


def test_dense_parameter_count_matches_hand_count():
    model = get_family("dense").build(config("dense", layers=2, units=64, units_decay=0.5), (28, 28, 1), 10)
    assert model.count_params() == (784 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)


def test_cnn_parameter_count_matches_hand_count():
    model = get_family("cnn").build(config("cnn", blocks=2, filters=8, dense_units=16), (28, 28, 1), 10)
    conv = (9 * 1 * 8 + 8) + (9 * 8 * 16 + 16)
    head = (7 * 7 * 16 * 16 + 16) + (16 * 10 + 10)
    assert model.count_params() == conv + head


def test_the_course_notebooks_design_is_a_cnn_config():
    """conv 12 5x5 valid, max-pool 2, conv 23 4x4 valid, max-pool 3, flatten, softmax: 6,831
    parameters (kernel_step and pool_step give the second block its own sizes)."""
    model = get_family("cnn").build(config("cnn", blocks=2, filters=12, filter_growth=23 / 12, kernel_size=5,
                                           kernel_step=-1, pool_size=2, pool_step=1, padding="valid",
                                           global_pooling="none", dense_units=0), (28, 28, 1), 10)
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    pools = [layer for layer in model.layers if layer.__class__.__name__ == "MaxPooling2D"]
    assert [c.kernel_size for c in convs] == [(5, 5), (4, 4)]
    assert [p.pool_size for p in pools] == [(2, 2), (3, 3)]
    assert model.count_params() == 6831


def test_a_pool_larger_than_the_map_is_left_out():
    model = get_family("cnn").build(config("cnn", blocks=3, pool_size=4, global_pooling="avg"), (8, 8, 1), 10)
    assert [p.pool_size for p in model.layers if p.__class__.__name__ == "MaxPooling2D"] == [(4, 4)]   # 8 -> 2, then none


def test_cnn_global_pooling_and_batch_norm_change_the_model():
    base = get_family("cnn").build(config("cnn", global_pooling="avg", dense_units=0), (28, 28, 1), 10)
    bn = get_family("cnn").build(config("cnn", global_pooling="avg", dense_units=0, batch_norm=True), (28, 28, 1), 10)
    names = [layer.__class__.__name__ for layer in bn.layers]
    assert "GlobalAveragePooling2D" in names and "BatchNormalization" in names
    assert bn.count_params() != base.count_params()


def test_augmentation_layers_only_when_asked_and_train_only():
    plain = get_family("cnn").build(config("cnn"), (28, 28, 1), 10)
    aug = get_family("cnn").build(config("cnn", aug_flip="horizontal", aug_rotation=0.1, aug_zoom=0.1,
                                         aug_translation=0.1, aug_contrast=0.2, aug_brightness=0.2,
                                         aug_erasing=0.5),
                                  (28, 28, 1), 10)
    plain_names = {layer.__class__.__name__ for layer in plain.layers}
    aug_names = {layer.__class__.__name__ for layer in aug.layers}
    assert not any(n.startswith("Random") for n in plain_names)
    assert {"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
            "RandomBrightness", "RandomErasing"} <= aug_names
    x = np.random.default_rng(0).integers(0, 255, (4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(aug.predict(x, verbose=0), aug.predict(x, verbose=0), rtol=1e-6)


def test_random_erasing_erases_the_asked_share_of_images_and_only_while_training():
    from trainables.families.layers import augmentation

    (erase,) = augmentation({"aug_erasing": 0.5})
    x = np.full((2000, 28, 28, 1), 0.5, dtype="float32")
    changed = (np.abs(np.asarray(erase(x, training=True)) - x) > 1e-6).reshape(len(x), -1)
    erased = changed.any(axis=1)
    assert 0.45 < erased.mean() < 0.55   # p, not the p/2 a bare float factor would give
    assert 0.02 < changed[erased].mean() < 0.33   # one patch of 2-33% of the area
    np.testing.assert_array_equal(np.asarray(erase(x, training=False)), x)


def test_saved_checkpoint_reloads_with_same_predictions(tmp_path):
    import keras

    model = get_family("dense").build(config("dense", batch_norm=True, dropout=0.2, l1=1e-5, l2=1e-4),
                                      (12, 12, 3), 4)
    x = np.random.default_rng(1).integers(0, 255, (5, 12, 12, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_every_optimizer_compiles_and_takes_a_step(optimizer):
    import keras

    from trainables.training.optim import compile_model

    cfg = config("dense", optimizer=optimizer, weight_decay=1e-4, label_smoothing=0.1, layers=1, units=8)
    model = get_family("dense").build(cfg, (4, 4, 1), 3)
    compile_model(model, cfg)
    x = np.random.default_rng(2).integers(0, 255, (16, 4, 4, 1)).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 3, 3)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=1, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_preview_counts_parameters_of_sampled_configs(tmp_path):
    sweep = tmp_path / "p.yaml"
    sweep.write_text("name: p\ndataset: {name: fashion_mnist}\nmax_params: 60000\nfamilies:\n"
                     "  dense: {num_samples: 2, params: {units: {grid: [8, 128]}, layers: 1}}\n")
    result = CliRunner().invoke(main, ["preview", str(sweep), "-n", "4"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "dense: 4 trials"
    small, big = 784 * 8 + 8 + 8 * 10 + 10, 784 * 128 + 128 + 128 * 10 + 10
    assert sum(f"{small:,d} params" in ln for ln in lines) == 2
    assert sum(f"{big:,d} params  OVER max_params" in ln for ln in lines) == 2
