"""The ``transfer`` family: an ImageNet backbone done right for small grayscale images.

Grayscale is repeated to three channels, images are resized to ``image_size``, the
backbone's own ``preprocess_input`` is applied (inside the model, so checkpoints take
raw pixels), and a pretrained backbone runs with ``training=False`` so its batch-norm
layers stay in inference mode, frozen or not. ``mode: frozen`` trains the head on
backbone features cached once per sweep; ``mode: finetune`` unfreezes the top
``finetune_layers`` (0 = all) after ``finetune_after`` warm-up epochs at
``lr * finetune_lr_factor``.
"""
from __future__ import annotations

import importlib
import time
from typing import Any

import keras
from keras import layers

from trainables.families.backbones import get_backbone, resolve_weights, weights_identity
from trainables.families.layers import augmentation, has_augmentation
from trainables.training.plan import Phase, TrainingPlan, default_plan

BACKBONE_LAYER, FEATURES_LAYER = "backbone", "features"
HEAD_LAYERS = ("head_dense", "head_dropout", "probabilities")


@keras.saving.register_keras_serializable(package="tunefm")
class BackbonePreprocess(layers.Layer):
    """Applies ``keras.applications.<module>.preprocess_input`` of the named backbone."""

    def __init__(self, backbone: str, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self._preprocess = importlib.import_module(
            f"keras.applications.{get_backbone(backbone).preprocess}").preprocess_input

    def call(self, x):
        return self._preprocess(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


def pretrained(config: dict[str, Any]) -> bool:
    return config["weights"] != "none"


def frozen_at_start(config: dict[str, Any]) -> bool:
    if not pretrained(config):
        return False  # from scratch: the whole network trains from the first epoch
    return config["mode"] == "frozen" or config["finetune_after"] > 0


def _make_backbone(config: dict[str, Any], load_weights: bool):
    spec = get_backbone(config["backbone"])
    size = int(config["image_size"])
    construct = getattr(keras.applications, spec.constructor)
    path = resolve_weights(spec.name, config["weights"]) if load_weights else None
    if path is not None and spec.name == "efficientnetb0" and config["weights"] == "imagenet":
        # Keras adds EfficientNet's ImageNet std rescaling only for weights="imagenet";
        # let it load the (verified present) cached file itself.
        return construct(include_top=False, weights="imagenet", input_shape=(size, size, 3), name=BACKBONE_LAYER)
    backbone = construct(include_top=False, weights=None, input_shape=(size, size, 3), name=BACKBONE_LAYER)
    if path is not None:
        backbone.load_weights(str(path))
    return backbone


def build(config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int,
          load_weights: bool = True) -> keras.Model:
    size = int(config["image_size"])
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = inputs
    for layer in augmentation(config, value_range=(0.0, 255.0)):
        x = layer(x)
    if input_shape[-1] == 1:
        x = layers.Concatenate(name="to_rgb")([x, x, x])
    if tuple(input_shape[:2]) != (size, size):
        x = layers.Resizing(size, size, name="resize")(x)
    x = BackbonePreprocess(config["backbone"], name="preprocess")(x)
    backbone = _make_backbone(config, load_weights)
    backbone.trainable = not frozen_at_start(config)
    x = backbone(x, training=False) if pretrained(config) else backbone(x)
    pool = layers.GlobalAveragePooling2D if config["head_pooling"] == "avg" else layers.GlobalMaxPooling2D
    x = pool(name=FEATURES_LAYER)(x)
    return keras.Model(inputs, _head(x, config, num_classes), name="transfer")


def _head(x, config: dict[str, Any], num_classes: int):
    if config["head_units"] > 0:
        x = layers.Dense(config["head_units"], activation="relu", name="head_dense")(x)
    if config["head_dropout"] > 0:
        x = layers.Dropout(config["head_dropout"], name="head_dropout")(x)
    return layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


def unfreeze(model: keras.Model, top_layers: int) -> None:
    """Make the top ``top_layers`` backbone layers trainable (0: all), batch norm excepted.

    Keras 3's ``fit`` calls the model with ``training=True``, which overrides the
    ``training=False`` the backbone was called with (keras-team/keras#20285); a batch-
    norm layer runs in inference mode only while it is not trainable. So batch-norm
    layers stay frozen: their statistics and scale keep their ImageNet values.
    """
    backbone = model.get_layer(BACKBONE_LAYER)
    backbone.trainable = True
    for i, layer in enumerate(backbone.layers):
        in_top = top_layers == 0 or i >= len(backbone.layers) - top_layers
        layer.trainable = in_top and not isinstance(layer, layers.BatchNormalization)


def plan(model: keras.Model, config: dict[str, Any], data, settings) -> TrainingPlan:
    max_epochs = settings.max_epochs
    if not pretrained(config):
        return default_plan(model, config, data, max_epochs)
    if config["mode"] == "finetune":
        warmup = min(int(config["finetune_after"]), max_epochs)
        factor = float(config["finetune_lr_factor"])
        phases = ([Phase(end_epoch=warmup)] if warmup > 0 else []) + [Phase(
            end_epoch=max_epochs, lr_factor=factor, recompile=warmup > 0,
            prepare=(lambda: unfreeze(model, int(config["finetune_layers"]))) if warmup > 0 else None)]
        if warmup == 0:
            unfreeze(model, int(config["finetune_layers"]))
        return TrainingPlan(model, model, data.train.x, data.val.x, phases)
    if has_augmentation(config) or not config["cache_features"]:
        return default_plan(model, config, data, max_epochs)  # augmented inputs: features differ each epoch
    return _cached_head_plan(model, config, data, settings)


FEATURE_BATCH = 1024   # backbone features of the whole split, once per sweep


def fingerprint(*arrays) -> str:
    """Which images the features are of: their shapes and bytes, hashed."""
    import hashlib

    import numpy as np

    h = hashlib.sha1()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()[:16]


def _cached_head_plan(model: keras.Model, config: dict[str, Any], data, settings) -> TrainingPlan:
    extractor = keras.Model(model.input, model.get_layer(FEATURES_LAYER).output)
    path = resolve_weights(config["backbone"], config["weights"])
    key = "|".join(map(str, (config["backbone"], config["image_size"], weights_identity(path),
                             config["head_pooling"], fingerprint(data.train.x, data.val.x))))
    started = time.perf_counter()

    def compute() -> dict:
        batch = FEATURE_BATCH
        return {"train": extractor.predict(data.train.x, batch_size=batch, verbose=0),
                "val": extractor.predict(data.val.x, batch_size=batch, verbose=0)}

    features, hit = settings.context.shared_features(key, compute)
    seconds = time.perf_counter() - started
    inputs = keras.Input(shape=features["train"].shape[1:], name="backbone_features")
    x = inputs
    for name in HEAD_LAYERS:
        if any(layer.name == name for layer in model.layers):
            x = model.get_layer(name)(x)   # the same layer objects: the full model shares the weights
    head = keras.Model(inputs, x, name="transfer_head")
    return TrainingPlan(head, model, features["train"], features["val"], [Phase(end_epoch=settings.max_epochs)],
                        info={"feature_cache_hit": hit, "feature_seconds": seconds})
