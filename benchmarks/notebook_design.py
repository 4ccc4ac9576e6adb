"""The child of ``benchmarks.notebook``: the course notebook's design, trained its way."""
from __future__ import annotations

import time
from typing import Any

from benchmarks.common import Task, child_main, r, set_threads
from benchmarks.notebook import EPOCHS, design_config


def _design(args: dict[str, Any]) -> dict[str, Any]:
    """The child: train the design on the full training split, score it on the test split."""
    set_threads(2)
    import keras
    import numpy as np

    from trainables.families import get_family

    keras.utils.set_random_seed(args["seed"])
    data, test = Task(48000, 12000).load()
    model = get_family("cnn").build(design_config(args["seed"]), data.input_shape, data.num_classes)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(data.train.x, data.train.y, batch_size=128, epochs=EPOCHS, verbose=0)
    seconds = time.perf_counter() - started
    predicted = np.argmax(model.predict(test.x, batch_size=1024, verbose=0), axis=1)
    return {"seed": args["seed"], "params": int(model.count_params()), "train_s": r(seconds, 1),
            "test_accuracy": r(float((predicted == test.y).mean()), 4)}


if __name__ == "__main__":
    child_main(_design)
