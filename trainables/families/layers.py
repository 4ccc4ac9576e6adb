"""Keras building blocks every family shares (backend-neutral Keras 3 only)."""
from __future__ import annotations

from typing import Any

import keras
from keras import layers


def geometric_sizes(first: float, factor: float, count: int) -> list[int]:
    """``count`` sizes starting at ``first``, each ``factor`` times the last, rounded, at least 1.

    >>> geometric_sizes(32, 2.0, 3)
    [32, 64, 128]
    """
    return [max(1, int(round(float(first) * float(factor) ** i))) for i in range(int(count))]


def regularizer(config: dict[str, Any]):
    l1, l2 = float(config.get("l1", 0.0)), float(config.get("l2", 0.0))
    if l1 == 0 and l2 == 0:
        return None
    return keras.regularizers.L1L2(l1=l1, l2=l2)


def activation(name: str):
    if name == "leaky_relu":
        return layers.LeakyReLU()
    return layers.Activation(name)


def augmentation(config: dict[str, Any], value_range: tuple[float, float] = (0.0, 1.0)) -> list[layers.Layer]:
    """Random augmentation layers; they act only while training. All off by default."""
    out: list[layers.Layer] = []
    if config.get("aug_flip", "none") != "none":
        out.append(layers.RandomFlip(config["aug_flip"]))
    if config.get("aug_rotation", 0.0) > 0:
        out.append(layers.RandomRotation(config["aug_rotation"], fill_mode="constant"))
    if config.get("aug_zoom", 0.0) > 0:
        out.append(layers.RandomZoom(config["aug_zoom"], fill_mode="constant"))
    if config.get("aug_translation", 0.0) > 0:
        t = config["aug_translation"]
        out.append(layers.RandomTranslation(t, t, fill_mode="constant"))
    if config.get("aug_contrast", 0.0) > 0:
        out.append(layers.RandomContrast(config["aug_contrast"], value_range=value_range))
    if config.get("aug_brightness", 0.0) > 0:
        out.append(layers.RandomBrightness(config["aug_brightness"], value_range=value_range))
    if config.get("aug_erasing", 0.0) > 0:
        # Zhong et al. 2017. A (p, p) factor erases with probability p; one float would
        # draw each image's probability from [0, p], erasing only p/2 of them.
        p = float(config["aug_erasing"])
        out.append(layers.RandomErasing(factor=(p, p), value_range=value_range))
    if keras.backend.backend() == "jax":
        # Keras marks its geometric layers (rotation, zoom, translation) not jittable
        # for every backend, and one such layer makes jit_compile="auto" run the whole
        # model eagerly: under JAX their transform is jax.numpy, and jit traces it.
        for layer in out:
            layer.supports_jit = True
    return out


def image_input(config: dict[str, Any], input_shape: tuple[int, ...]):
    """Raw pixels (0..255) in, scaled to 0..1 and augmented; returns (inputs, tensor)."""
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for layer in augmentation(config):
        x = layer(x)
    return inputs, x


def classifier(x, num_classes: int):
    return layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


def has_augmentation(config: dict[str, Any]) -> bool:
    return bool(augmentation(config))
