"""Build a ``cnn`` family model."""
from __future__ import annotations

from typing import Any

import keras
from keras import layers

from trainables.families.layers import activation, classifier, geometric_sizes, image_input, regularizer


def build(config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int,
          load_weights: bool = True) -> keras.Model:
    """``load_weights`` is part of every builder's signature; this family has none to load."""
    inputs, x = image_input(config, input_shape)
    reg = regularizer(config)
    pool = layers.MaxPooling2D if config["pooling"] == "max" else layers.AveragePooling2D
    for filters in geometric_sizes(config["filters"], config["filter_growth"], config["blocks"]):
        for _ in range(int(config["convs_per_block"])):
            x = layers.Conv2D(filters, config["kernel_size"], padding=config["padding"],
                              kernel_initializer=config["initializer"], kernel_regularizer=reg,
                              use_bias=not config["batch_norm"])(x)
            if config["batch_norm"]:
                x = layers.BatchNormalization()(x)
            x = activation(config["activation"])(x)
        if x.shape[1] >= 2 and x.shape[2] >= 2:  # never pool a 1x1 map away
            x = pool(2)(x)
        if config["dropout"] > 0:
            drop = layers.SpatialDropout2D if config["spatial_dropout"] else layers.Dropout
            x = drop(config["dropout"])(x)
    if config["global_pooling"] == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif config["global_pooling"] == "max":
        x = layers.GlobalMaxPooling2D()(x)
    else:
        x = layers.Flatten()(x)
    if config["dense_units"] > 0:
        x = layers.Dense(config["dense_units"], kernel_initializer=config["initializer"],
                         kernel_regularizer=reg)(x)
        x = activation(config["activation"])(x)
    if config["head_dropout"] > 0:
        x = layers.Dropout(config["head_dropout"])(x)
    return keras.Model(inputs, classifier(x, num_classes), name="cnn")
