"""ImageNet backbones from ``keras.applications`` and where their weights live.

Weights are resolved without TensorFlow, so the driver can check them before any
trial starts:

- ``imagenet``: the Keras cache (``$KERAS_HOME/models``, ``~/.keras/models``), under
  the file name Keras itself uses (``tunefm weights`` downloads it there);
- a path: a weights file of the same architecture (``.h5`` or ``.weights.h5``);
- ``none``: random initialisation, the from-scratch control arm.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trainables.contract.errors import UserError

_KERAS_APPS = "https://storage.googleapis.com/"


@dataclass(frozen=True)
class Backbone:
    name: str           # registry name used in sweep files
    constructor: str    # attribute of keras.applications
    preprocess: str     # keras.applications module whose preprocess_input applies
    weights_file: str   # file name in the Keras cache (include_top=False)
    origin: str         # where Keras downloads it from
    min_size: int = 32


BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("mobilenetv2", "MobileNetV2", "mobilenet_v2",
             "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
             _KERAS_APPS + "tensorflow/keras-applications/mobilenet_v2/"),
    Backbone("efficientnetb0", "EfficientNetB0", "efficientnet", "efficientnetb0_notop.h5",
             _KERAS_APPS + "keras-applications/"),
    Backbone("vgg16", "VGG16", "vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
             _KERAS_APPS + "tensorflow/keras-applications/vgg16/"),
    Backbone("resnet50", "ResNet50", "resnet", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
             _KERAS_APPS + "tensorflow/keras-applications/resnet/"),
)}


class WeightsMissing(UserError):
    pass


def get_backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        raise KeyError(f"unknown backbone '{name}' (known: {', '.join(BACKBONES)})") from None


def keras_models_dirs() -> list[Path]:
    home = os.environ.get("KERAS_HOME")
    roots = ([Path(home)] if home else []) + [Path.home() / ".keras", Path("/tmp/.keras")]
    return [r / "models" for r in dict.fromkeys(roots)]


def cached_weights(backbone: Backbone) -> Path | None:
    for folder in keras_models_dirs():
        if (folder / backbone.weights_file).is_file():
            return folder / backbone.weights_file
    return None


def resolve_weights(backbone_name: str, weights: str) -> Path | None:
    """The weights file to load, ``None`` for random initialisation; raise if missing."""
    backbone = get_backbone(backbone_name)
    if weights == "none":
        return None
    if weights == "imagenet":
        found = cached_weights(backbone)
        if found is None:
            expected = keras_models_dirs()[0] / backbone.weights_file
            raise WeightsMissing(
                f"ImageNet weights for {backbone.name} not found: expected {expected}; on a machine "
                f"with internet run 'tunefm weights {backbone.name}' and copy the file there, or set "
                f"the transfer parameter weights to a file path (or none to train from scratch)")
        return found
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsMissing(f"weights file for {backbone.name} not found: {path} "
                             "(params.weights: imagenet, none, or a path to a weights file)")
    return path


def weights_identity(path: Path | None) -> str:
    """What makes two weight files the same for the feature cache: path, size, mtime."""
    if path is None:
        return "none"
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{int(st.st_mtime)}"


def download(backbone_name: str) -> Path:
    """Fetch ImageNet weights into the Keras cache (needs network) and return the path."""
    backbone = get_backbone(backbone_name)
    found = cached_weights(backbone)
    if found is not None:
        return found
    from trainables.training.warm import import_keras

    get_file = import_keras().utils.get_file          # its start-up lines left out (training.quiet)
    try:
        return Path(get_file(backbone.weights_file, backbone.origin + backbone.weights_file,
                             cache_subdir="models"))
    except Exception as e:  # no network, proxy, HTTP error
        raise UserError(f"could not download {backbone.weights_file} for {backbone.name} "
                        f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'}); "
                        f"copy it from a connected machine into {keras_models_dirs()[0]}") from None


def preflight(config: dict) -> None:
    """Driver-side check of a transfer config before any trial: its weights exist."""
    backbone = get_backbone(config["backbone"])
    if int(config["image_size"]) < backbone.min_size:
        raise UserError(f"{backbone.name} needs image_size >= {backbone.min_size}, got {config['image_size']}")
    resolve_weights(backbone.name, config["weights"])
