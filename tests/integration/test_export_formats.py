"""Every export format gives the checkpoint's predictions back, in the artefact's own runtime.

A real ``cnn`` checkpoint (batch norm with trained statistics, augmentation and dropout
inside) goes through ``model.keras`` and back, as the report loads it, then out to each
format; a ``transfer`` checkpoint (custom preprocessing layer, MobileNetV2) to the two
formats that leave TensorFlow behind.
"""
from __future__ import annotations

import numpy as np
import pytest

from orchestrator.export import artifact as A
from tests.conftest import make_images
from trainables.contract.errors import UserError

pytestmark = [pytest.mark.integration,   # Keras' own saving, on numpy 2:
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

SHAPE = (28, 28, 1)


def _images(n: int, seed: int) -> np.ndarray:
    return make_images(n, seed=seed)[0][..., None]


def _reload(model, folder):
    """Save as a checkpoint and load it back the way ``report.holdout`` does."""
    import keras

    from trainables.families.registry import import_builders

    model.save(folder / "model.keras")
    import_builders()
    return keras.models.load_model(folder / "model.keras", compile=False)


def _calibrate_batch_norm(model, x: np.ndarray) -> None:
    """Set every batch-norm layer's statistics to those of ``x`` in one training-mode pass.

    Untrained, MobileNetV2's activations shrink block by block to ~1e-13 and the model
    predicts 0.1 for every class: agreement would prove nothing. Fitting would fix it
    too, at ~30 s on two cores; momentum 0 makes one forward pass enough.
    """
    import keras

    norms = [layer for layer in model.get_layer("backbone").layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(x.astype("float32"), training=True)
    for layer, momentum in zip(norms, saved):
        layer.momentum = momentum


def _checkpoint(family: str, overrides: dict, folder, fit: bool):
    from trainables.families import get_family
    from trainables.training.quiet import native_stderr_silenced
    from trainables.training.runtime import configure_backend

    with native_stderr_silenced():
        configure_backend(cpus=2)
        import keras

        keras.utils.set_random_seed(0)   # the same weights every run: the margins below are measured
        fam = get_family(family)
        model = fam.build({**fam.defaults(), **overrides}, SHAPE, 10)
        x, y = make_images(320, seed=1)
        if fit:   # moves batch-norm statistics away from their initial 0 and 1
            model.compile("adam", "sparse_categorical_crossentropy")
            model.fit(x[..., None].astype("float32"), y, epochs=1, batch_size=32, verbose=0)
        else:
            _calibrate_batch_norm(model, x[..., None])
        model = _reload(model, folder)
    x = _images(300, seed=2)
    return model, x, model.predict(x.astype("float32"), verbose=0)


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    return _checkpoint("cnn", dict(blocks=2, filters=8, dense_units=16, batch_norm=True, dropout=0.1,
                                   aug_flip="horizontal", aug_rotation=0.1, aug_erasing=0.5), tmp_path_factory.mktemp("cnn"),
                       fit=True)


@pytest.fixture(scope="module")
def transfer(tmp_path_factory):
    return _checkpoint("transfer", dict(backbone="mobilenetv2", weights="none", image_size=32,
                                        aug_flip="horizontal"), tmp_path_factory.mktemp("transfer"), fit=False)


def _input_dtype(path, fmt: str) -> str:
    if fmt == "keras":
        import keras

        return str(keras.models.load_model(path, compile=False).inputs[0].dtype)
    if fmt == "savedmodel":
        import tensorflow as tf

        (spec,) = tf.saved_model.load(str(path)).signatures["serving_default"].structured_input_signature[1].values()
        return spec.dtype.name
    if fmt == "onnx":
        import onnxruntime as ort

        (inp,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()
        assert inp.name == A.INPUT_NAME
        return {"tensor(uint8)": "uint8"}.get(inp.type, inp.type)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tensorflow.lite import Interpreter

    return np.dtype(Interpreter(model_path=str(path)).get_input_details()[0]["dtype"]).name


def _assert_same(model_ref: np.ndarray, path, fmt: str, x: np.ndarray, tolerance: float = 1e-4) -> None:
    probs = A.predict(path, fmt, x, batch_size=128)   # 300 images: a smaller last batch too
    agreement = A.compare(model_ref, probs)
    assert probs.dtype == np.float64 and probs.shape == model_ref.shape
    assert agreement.top1_disagreements == 0, agreement
    assert agreement.max_abs_prob_diff < tolerance, agreement
    assert _input_dtype(path, fmt) == "uint8"


@pytest.mark.parametrize("fmt", A.FORMATS)
def test_cnn_artifact_predicts_like_the_checkpoint(cnn, fmt, tmp_path):
    model, x, ref = cnn
    assert any("random" in layer.name for layer in model.layers)   # augmentation is inside
    assert ref.argmax(1).min() != ref.argmax(1).max()               # not a constant predictor
    path = A.write(model, fmt, tmp_path)
    assert path == tmp_path / A.ARTIFACT_NAMES[fmt]
    _assert_same(ref, path, fmt, x)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_transfer_artifact_predicts_like_the_checkpoint(transfer, fmt, tmp_path):
    model, x, ref = transfer
    assert np.ptp(ref, axis=0).min() > 0.01 and ref.argmax(1).min() != ref.argmax(1).max()
    # Measured: ONNX 1.4e-4, TFLite 3e-5. onnxruntime's bilinear Resize (28 -> 32) rounds
    # differently from TensorFlow's (2e-6 relative, 0 in TFLite) and 50 layers of random
    # weights amplify rounding ~50x; the smallest top-2 margin here is 6e-4.
    _assert_same(ref, A.write(model, fmt, tmp_path), fmt, x, tolerance=1e-3)


def test_onnx_has_one_input_when_a_layer_holds_captured_tensors(tmp_path):
    """Keras' ``Normalization`` (EfficientNet's first layer) keeps mean and variance as
    captured tensors; ``Model.export(format="onnx")`` made each an extra ONNX input."""
    import keras
    import onnxruntime as ort
    from keras import layers

    keras.utils.set_random_seed(0)
    pixels = keras.Input(SHAPE)
    norm = layers.Normalization(axis=-1)
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3)(norm(layers.Rescaling(1 / 255)(pixels))))
    model = keras.Model(pixels, layers.Dense(10, activation="softmax")(x))
    x = _images(64, seed=3)
    norm.adapt(x.astype("float32") / 255)
    path = A.write(model, "onnx", tmp_path)
    assert [i.name for i in ort.InferenceSession(str(path)).get_inputs()] == [A.INPUT_NAME]
    _assert_same(model.predict(x.astype("float32"), verbose=0), path, "onnx", x)


@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_rewrite_replaces_the_whole_artifact_and_leaves_no_temporary(cnn, fmt, tmp_path):
    model, x, ref = cnn
    first = A.write(model, fmt, tmp_path)
    if first.is_dir():
        (first / "stale.txt").write_text("from an older export")
    second = A.write(model, fmt, tmp_path)
    assert second == first and sorted(p.name for p in tmp_path.iterdir()) == [first.name]
    assert not (second / "stale.txt").exists()
    _assert_same(ref[:20], second, fmt, x[:20])


def test_a_failed_write_keeps_the_old_artifact_and_leaves_no_temporary(cnn, tmp_path, monkeypatch):
    model, x, ref = cnn
    path = A.write(model, "keras", tmp_path)
    before = path.read_bytes()

    def crash(wrapped, tmp):
        tmp.write_bytes(b"half an artefact")
        raise RuntimeError("converter crashed")

    monkeypatch.setitem(A._WRITERS, "keras", crash)
    with pytest.raises(RuntimeError, match="converter crashed"):
        A.write(model, "keras", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name] and path.read_bytes() == before


def test_a_damaged_artifact_is_a_one_line_error_naming_the_file(tmp_path):
    path = tmp_path / A.ARTIFACT_NAMES["onnx"]
    path.write_bytes(b"not an onnx model")
    with pytest.raises(UserError, match=r"model\.onnx: cannot be loaded as onnx") as err:
        A.predict(path, "onnx", np.zeros((2, *SHAPE), np.uint8))
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="no tflite artefact"):
        A.predict(tmp_path / "model.tflite", "tflite", np.zeros((2, *SHAPE), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        A.predict(path, "onnx", np.zeros((2, *SHAPE), np.float32))


def test_compare_counts_top1_disagreements_and_the_largest_difference():
    ref = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    probs = np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.3, 0.3, 0.4], [0.3, 0.6, 0.1]])
    agreement = A.compare(ref, probs)
    assert (agreement.images, agreement.top1_disagreements) == (4, 2)
    assert agreement.max_abs_prob_diff == pytest.approx(0.4)
    assert agreement.disagreement_fraction == 0.5
    assert agreement.to_dict() == {"images": 4, "top1_disagreements": 2, "max_abs_prob_diff": pytest.approx(0.4),
                                   "disagreement_fraction": 0.5}
    assert A.compare(ref, ref).top1_disagreements == 0 and A.compare(ref, ref).max_abs_prob_diff == 0.0
    assert A.compare(np.zeros((0, 3)), np.zeros((0, 3))).disagreement_fraction == 0.0
    with pytest.raises(ValueError, match=r"\(4, 3\) and \(4, 2\)"):
        A.compare(ref, probs[:, :2])


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown export format 'nope' .known: keras, savedmodel, onnx, tflite."):
        A.check_available("nope")
    for fmt in A.FORMATS:
        A.check_available(fmt)   # everything is installed in the test environment


def test_missing_onnx_modules_are_named_with_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("tf2onnx", "onnxruntime")
                        else real(name, *a))
    with pytest.raises(UserError) as err:
        A.check_available("onnx")
    assert str(err.value) == ("export --format onnx needs tf2onnx and onnxruntime, which are not installed: "
                              "pip install 'tunefm[export]'")
    A.check_available("tflite")   # tf.lite ships with TensorFlow
