"""Optimizer and loss from a trial config (backend-neutral Keras 3)."""
from __future__ import annotations

from typing import Any


def make_optimizer(config: dict[str, Any]):
    import keras

    lr, wd = float(config["lr"]), float(config.get("weight_decay", 0.0))
    name = config["optimizer"]
    decay = {"weight_decay": wd} if wd > 0 else {}
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, **decay)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=wd)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(config["momentum"]), **decay)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, momentum=float(config["momentum"]), **decay)
    raise ValueError(f"unknown optimizer '{name}'")


def compile_model(model, config: dict[str, Any], jit_compile: bool | str = False,
                  steps_per_execution: int = 1) -> None:
    """``steps_per_execution`` > 1 runs that many batches per call into the backend: less
    per-batch Python and host sync, and batch-level callbacks see every N-th batch."""
    import keras

    model.compile(
        optimizer=make_optimizer(config),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=float(config.get("label_smoothing", 0.0))),
        metrics=["accuracy"],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
