"""Build a ``dense`` family model."""
from __future__ import annotations

from typing import Any

import keras
from keras import layers

from trainables.families.layers import activation, classifier, geometric_sizes, image_input, regularizer


def build(config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int,
          load_weights: bool = True) -> keras.Model:
    """``load_weights`` is part of every builder's signature; this family has none to load."""
    inputs, x = image_input(config, input_shape)
    x = layers.Flatten()(x)
    for units in geometric_sizes(config["units"], config["units_decay"], config["layers"]):
        x = layers.Dense(units, kernel_initializer=config["initializer"],
                         kernel_regularizer=regularizer(config),
                         use_bias=not config["batch_norm"])(x)
        if config["batch_norm"]:
            x = layers.BatchNormalization()(x)
        x = activation(config["activation"])(x)
        if config["dropout"] > 0:
            x = layers.Dropout(config["dropout"])(x)
    return keras.Model(inputs, classifier(x, num_classes), name="dense")
