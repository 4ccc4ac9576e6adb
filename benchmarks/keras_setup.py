"""Keras's own set-up of a trial, with no orchestrator around it: the part of the overhead
floor's "trial set-up" that no sweep tool can remove by running trials differently.

For each configuration the tiny-Keras floor sweep trains (the same configs, drawn from
the same sweep text), one process at the trials' one thread does what a trial does before
its first epoch, in a process that has run trials before (as a reused worker has):
clear the previous model, seed, build, compile, create the training state, and start
``fit`` up to its first epoch. The first epoch's trace of the train step is inside the
floor's "work" already and is given apart here (first epoch minus the second).
"""
from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks.common import child_main, r, run_child, set_threads


def measure(sweep_text: str, cpus_per_trial: int = 1) -> dict[str, Any]:
    """Run in a fresh process (no Ray, nothing imported before)."""
    return run_child("benchmarks.keras_setup", {"sweep": sweep_text, "cpus": cpus_per_trial}, timeout=900)


def _child(args: dict[str, Any]) -> dict[str, Any]:
    set_threads(int(args["cpus"]))
    import keras

    from orchestrator.raytune.space import trial_configs
    from orchestrator.spec.sweep import parse_sweep
    from trainables.contract.keys import MODEL_KEY, SEED_KEY
    from trainables.datasets import load_trial_data
    from trainables.families import get_family
    from trainables.training.optim import build_training_state, compile_model, training_labels

    spec = parse_sweep(args["sweep"], "<benchmark>")
    data = load_trial_data(spec.dataset)
    marks: dict[str, float] = {}

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            marks.setdefault("begin", time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            marks["end"] = time.perf_counter()

    setups, traces = [], []
    for config in trial_configs(spec):
        family = get_family(config[MODEL_KEY])
        config = {**family.defaults(), **config}
        keras.backend.clear_session(free_memory=False)          # as a reused worker's next trial does
        marks.clear()
        start = time.perf_counter()
        keras.utils.set_random_seed(int(config[SEED_KEY]))
        model = family.build(config, data.input_shape, data.num_classes)
        compile_model(model, config)
        y = training_labels(config, data.train.y, data.num_classes)
        build_training_state(model, data.train.x, y)
        batch = int(config["batch_size"])
        model.fit(data.train.x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0, callbacks=[Clock()])
        setups.append(marks["begin"] - start)
        first = marks["end"] - marks["begin"]
        marks.clear()
        model.fit(data.train.x, y, batch_size=batch, initial_epoch=1, epochs=2, shuffle=True, verbose=0,
                  callbacks=[Clock()])
        traces.append(first - (marks["end"] - marks["begin"]))
    return {"trials": len(setups), "setup_seconds_total": r(sum(setups), 3),
            "setup_seconds_median": r(statistics.median(setups), 3),
            "first_epoch_extra_seconds_median": r(statistics.median(traces), 3)}


if __name__ == "__main__":
    child_main(_child)
