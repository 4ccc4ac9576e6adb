"""A checkpoint as a deployable artefact: uint8 images in, class probabilities out.

Checkpoints take float pixels and may hold augmentation layers that a plain export would
trace in training mode (random ops tf2onnx cannot convert, and random outputs). So every
format exports the same wrapper: a uint8 ``images`` input cast to float, then the model
called with ``training=False``. Each artefact is then read back in its own runtime
(``predict``) and compared with the checkpoint (``compare``), so an export that changes
predictions is caught before anyone deploys it.

Nothing here imports TensorFlow until an artefact is written or read.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import uuid
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from trainables.contract.errors import UserError

if TYPE_CHECKING:
    import keras

FORMATS = ("keras", "savedmodel", "onnx", "tflite")
ARTIFACT_NAMES = {"keras": "model.keras", "savedmodel": "saved_model", "onnx": "model.onnx",
                  "tflite": "model.tflite"}
INPUT_NAME = "images"
EXPORT_NAME = "tunefm_export"   # the wrapper model's name: a model so named is already deployable
MAX_DISAGREEMENT = 0.001   # fraction of images whose top-1 class may differ before export fails

# Modules a format needs beyond the core dependencies, and the extra that installs them.
# keras and savedmodel need only TensorFlow; tflite runs on ai_edge_litert or, failing that,
# tf.lite, and TensorFlow is a core dependency: tflite is always available.
_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {"onnx": (("tf2onnx", "onnx", "onnxruntime"), "export")}


def check_available(fmt: str) -> None:
    """Raise a one-line ``UserError`` if ``fmt`` is unknown or its modules are missing.

    Uses ``find_spec`` only, so a CLI can check before paying for a TensorFlow import.
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown export format '{fmt}' (known: {', '.join(FORMATS)})")
    modules, extra = _NEEDS.get(fmt, ((), ""))
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        names = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
        verb = "are" if len(missing) > 1 else "is"
        raise UserError(f"export --format {fmt} needs {names}, which {verb} not installed: "
                        f"pip install 'tunefm[{extra}]'")


def deployable(model: keras.Model) -> keras.Model:
    """``model`` behind a uint8 ``images`` input, called with ``training=False``.

    uint8 is what images are stored as, and a quarter of float32's bytes per request;
    ``training=False`` holds through every export, where Keras would otherwise trace
    random augmentation layers in their (default) training mode.
    """
    import keras
    from keras import layers

    if model.name == EXPORT_NAME and model.inputs[0].dtype == "uint8":
        return model
    images = keras.Input(tuple(model.inputs[0].shape[1:]), dtype="uint8", name=INPUT_NAME)
    pixels = layers.Rescaling(1.0, name="to_float")(images)   # a cast to the model's float dtype
    return keras.Model(images, model(pixels, training=False), name=EXPORT_NAME)


def write(model: keras.Model, fmt: str, out_dir: Path) -> Path:
    """Write ``model``'s deployable artefact in ``fmt`` to ``out_dir``; return its path.

    Written under a hidden temporary name and renamed into place, so an existing artefact
    is replaced whole and a crash never leaves half of one under the final name.
    """
    check_available(fmt)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / ARTIFACT_NAMES[fmt]
    tmp = out_dir / f".{uuid.uuid4().hex[:8]}-{final.name}"   # keeps the suffix Keras checks
    try:
        with _quiet():
            _WRITERS[fmt](deployable(model), tmp)
        _fsync_tree(tmp)
        replace_path(tmp, final)
    finally:
        remove(tmp)
    return final


def _keras_export(keras_format: str) -> Callable[[Any, Path], None]:
    def export(wrapped, path: Path) -> None:
        import keras

        # Given explicitly: Keras infers it only for a model that has been called.
        signature = [keras.InputSpec(shape=(None, *wrapped.inputs[0].shape[1:]), dtype="uint8", name=INPUT_NAME)]
        wrapped.export(str(path), format=keras_format, verbose=False, input_signature=signature)

    return export


def _write_onnx(wrapped, path: Path) -> None:
    """Freeze the forward pass, then convert the frozen graph.

    Not ``Model.export(format="onnx")``: tf2onnx's ``from_function`` makes every tensor a
    function captures an ONNX input, and Keras' ``Normalization`` layer (inside EfficientNet)
    holds its mean and variance as captured tensors, so that ONNX model asks for two extra
    inputs. Freezing first turns captures into constants. ``convert_to_constants`` is a private
    TensorFlow module, the one tf2onnx itself freezes with; TensorFlow 2 has no public one.
    """
    import logging

    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec((None, *wrapped.inputs[0].shape[1:]), tf.uint8, name=INPUT_NAME)
    forward = tf.function(lambda images: wrapped(images, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(forward)
    (inp,), (out,) = [t.name for t in frozen.inputs], [t.name for t in frozen.outputs]
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)   # its warnings are about graph rewrites, not results
    try:
        tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(add_shapes=True), name=EXPORT_NAME,
                                       input_names=[inp], output_names=[out], output_path=str(path),
                                       tensors_to_rename={inp: INPUT_NAME, out: "probabilities"})
    finally:
        logger.setLevel(level)


_WRITERS: dict[str, Callable[[Any, Path], None]] = {
    "keras": lambda w, p: w.save(str(p)),
    "savedmodel": _keras_export("tf_saved_model"),
    "onnx": _write_onnx,
    "tflite": _keras_export("litert"),
}


@contextlib.contextmanager
def _quiet():
    """Hide the converters' and runtimes' chatter (TensorFlow's native log lines, absl and
    tf2onnx warnings, prints), so a CLI prints only its own lines. Exceptions still surface."""
    from trainables.training.quiet import native_stderr_silenced

    with native_stderr_silenced(), warnings.catch_warnings(), open(os.devnull, "w") as null, \
            contextlib.redirect_stdout(null):
        warnings.simplefilter("ignore")
        yield


def _fsync_tree(path: Path) -> None:
    for f in ([path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]):
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def replace_path(tmp: Path, final: Path) -> None:
    """Put ``tmp`` (a file or folder) at ``final``, replacing whatever is there."""
    # A folder cannot be renamed over: move the old one aside first. A crash in between
    # leaves no artefact under the final name, never a mix of two.
    if final.is_dir() and not final.is_symlink():
        aside = final.with_name(f".{uuid.uuid4().hex[:8]}-old-{final.name}")
        final.rename(aside)
        tmp.rename(final)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(tmp, final)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def predict(path: Path, fmt: str, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probabilities (float64) for uint8 images ``x``, computed by the artefact's own
    runtime: Keras, TensorFlow, onnxruntime, or the LiteRT interpreter."""
    check_available(fmt)
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4 or not len(x):
        raise ValueError(f"predict needs uint8 NHWC images, at least one; got {x.dtype} {x.shape}")
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no {fmt} artefact there; write it first")
    with _quiet():
        try:
            run = _LOADERS[fmt](path)
        except Exception as e:   # each runtime raises its own types for a damaged file
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise UserError(f"{path}: cannot be loaded as {fmt} ({first}); export it again") from None
        out = [np.asarray(run(x[i:i + batch_size]), dtype=np.float64) for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def _keras_runner(path: Path):
    import keras

    from trainables.families.registry import import_builders

    import_builders()   # custom layers (the transfer family's preprocessing) must be registered
    model = keras.models.load_model(path, compile=False)
    return lambda batch: model.predict(batch, batch_size=len(batch), verbose=0)


def _savedmodel_runner(path: Path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))   # must stay referenced: it owns the variables
    return lambda batch: loaded.serve(tf.constant(batch)).numpy()


def _onnx_runner(path: Path):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def _tflite_runner(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:   # the standalone runtime is optional; TensorFlow ships the same interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()   # fails here, not mid-prediction, on ops this runtime lacks
    inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    shape = [tuple(interpreter.get_input_details()[0]["shape"])]

    def run(batch: np.ndarray) -> np.ndarray:
        if batch.shape != shape[0]:   # the last batch is usually smaller
            interpreter.resize_tensor_input(inp, batch.shape)
            interpreter.allocate_tensors()
            shape[0] = batch.shape
        interpreter.set_tensor(inp, np.ascontiguousarray(batch))
        interpreter.invoke()
        return interpreter.get_tensor(out).copy()

    return run


_LOADERS: dict[str, Callable[[Path], Callable[[np.ndarray], np.ndarray]]] = {
    "keras": _keras_runner, "savedmodel": _savedmodel_runner, "onnx": _onnx_runner, "tflite": _tflite_runner,
}


@dataclass(frozen=True)
class Agreement:
    """How far an artefact's probabilities are from the checkpoint's on the same images."""
    images: int
    top1_disagreements: int
    max_abs_prob_diff: float

    @property
    def disagreement_fraction(self) -> float:
        return self.top1_disagreements / self.images if self.images else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "disagreement_fraction": self.disagreement_fraction}


def compare(reference: np.ndarray, probs: np.ndarray) -> Agreement:
    """Top-1 disagreements and the largest probability difference between two (N, K) arrays.

    >>> compare(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([[0.8, 0.2], [0.7, 0.3]])).top1_disagreements
    1
    """
    reference, probs = np.asarray(reference, np.float64), np.asarray(probs, np.float64)
    if reference.shape != probs.shape or reference.ndim != 2:
        raise ValueError(f"compare needs two (images, classes) arrays of one shape; got {reference.shape} "
                         f"and {probs.shape}")
    if not len(reference):
        return Agreement(0, 0, 0.0)
    return Agreement(images=len(reference),
                     top1_disagreements=int(np.sum(reference.argmax(1) != probs.argmax(1))),
                     max_abs_prob_diff=float(np.max(np.abs(reference - probs))))
