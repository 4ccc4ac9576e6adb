"""Build a ``cnn`` family model."""
from __future__ import annotations

from typing import Any

import keras
from keras import layers

from trainables.families.layers import activation, classifier, geometric_sizes, image_input, regularizer


def steps(first: int, step: int, count: int) -> list[int]:
    """``count`` sizes from ``first``, each ``step`` more than the last, at least 1.

    >>> steps(5, -1, 2), steps(2, 1, 3), steps(3, -2, 3)
    ([5, 4], [2, 3, 4], [3, 1, 1])
    """
    return [max(1, first + i * step) for i in range(count)]


def build(config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int,
          load_weights: bool = True) -> keras.Model:
    """``load_weights`` is part of every builder's signature; this family has none to load."""
    inputs, x = image_input(config, input_shape)
    reg = regularizer(config)
    pool = layers.MaxPooling2D if config["pooling"] == "max" else layers.AveragePooling2D
    sizes = geometric_sizes(config["filters"], config["filter_growth"], config["blocks"])
    # (configs recorded before kernel_step, pool_size and pool_step existed lack them)
    kernels = steps(int(config["kernel_size"]), int(config.get("kernel_step", 0)), len(sizes))
    windows = steps(int(config.get("pool_size", 2)), int(config.get("pool_step", 0)), len(sizes))
    for filters, kernel, window in zip(sizes, kernels, windows):
        for _ in range(int(config["convs_per_block"])):
            x = layers.Conv2D(filters, kernel, padding=config["padding"],
                              kernel_initializer=config["initializer"], kernel_regularizer=reg,
                              use_bias=not config["batch_norm"])(x)
            if config["batch_norm"]:
                x = layers.BatchNormalization()(x)
            x = activation(config["activation"])(x)
        if window > 1 and x.shape[1] >= window and x.shape[2] >= window:  # never pool a map away
            x = pool(window)(x)
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
