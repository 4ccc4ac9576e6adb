"""Build a ``dense`` family model."""
from __future__ import annotations

from typing import Any

import keras
from keras import layers

from trainables.families.layers import activation, classifier, image_input, regularizer


def hidden_sizes(config: dict[str, Any]) -> list[int]:
    """Units of each hidden layer: ``units`` then times ``units_decay``, at least 1."""
    sizes, units = [], float(config["units"])
    for _ in range(int(config["layers"])):
        sizes.append(max(1, int(round(units))))
        units *= float(config["units_decay"])
    return sizes


def build(config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int,
          load_weights: bool = True) -> keras.Model:
    """``load_weights`` is part of every builder's signature; this family has none to load."""
    inputs, x = image_input(config, input_shape)
    x = layers.Flatten()(x)
    for units in hidden_sizes(config):
        x = layers.Dense(units, kernel_initializer=config["initializer"],
                         kernel_regularizer=regularizer(config),
                         use_bias=not config["batch_norm"])(x)
        if config["batch_norm"]:
            x = layers.BatchNormalization()(x)
        x = activation(config["activation"])(x)
        if config["dropout"] > 0:
            x = layers.Dropout(config["dropout"])(x)
    return keras.Model(inputs, classifier(x, num_classes), name="dense")
