"""Where a trial's epoch goes: the same CNN trained with ``model.fit`` under the knobs a
trial can turn (a batch-level callback, ``steps_per_execution``, XLA), one process.

    python -m benchmarks.fit_loop [--train 6000] [--threads 2] [--epochs 3]

Prints the median training seconds per epoch (after a warm-up epoch) per variant. This
is how the trial loop's defaults were chosen; it is not part of benchmarks.run.
"""
from __future__ import annotations

import argparse
import time

from benchmarks.common import Task, set_threads

CONFIG = {"blocks": 2, "filters": 32, "dense_units": 128, "lr": 1.0e-3, "batch_size": 128}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=CONFIG["batch_size"])
    args = parser.parse_args()
    set_threads(args.threads)
    import keras
    import numpy as np

    from trainables.families import get_family
    from trainables.training.optim import compile_model, training_labels

    data, _ = Task(args.train, 1000).load()
    config = {**get_family("cnn").defaults(), **CONFIG, "batch_size": args.batch_size, "seed": 0}
    y = training_labels(config, data.train.y, data.num_classes)

    class BatchHook(keras.callbacks.Callback):
        """What the trial loop does per batch: read the loss (divergence), check for a stop."""

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and float(loss) > 1e9:
                self.model.stop_training = True

    class AsyncBatchHook(BatchHook):
        async_safe = True

    variants = [("plain fit", {}, []), ("batch hook", {}, [BatchHook()]),
                ("batch hook, async_safe", {}, [AsyncBatchHook()]),
                ("batch hook, steps_per_execution=8", {"steps_per_execution": 8}, [BatchHook()]),
                ("batch hook, steps_per_execution=32", {"steps_per_execution": 32}, [BatchHook()]),
                ("plain fit, jit_compile (XLA)", {"jit_compile": True}, [])]
    print(f"{args.train} images, batch {args.batch_size}, {args.threads} threads, "
          f"median of {args.epochs} epochs after a warm-up")
    print("| variant | train s / epoch |\n|---|---|")
    for name, options, callbacks in variants:
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = get_family("cnn").build(config, data.input_shape, data.num_classes)
        compile_model(model, config, options.get("jit_compile", False), options.get("steps_per_execution", 1))
        model.fit(data.train.x, y, epochs=1, batch_size=args.batch_size, verbose=0, callbacks=callbacks)
        times = []
        for _ in range(args.epochs):
            t = time.perf_counter()
            model.fit(data.train.x, y, epochs=1, batch_size=args.batch_size, verbose=0, callbacks=callbacks)
            times.append(time.perf_counter() - t)
        print(f"| {name} | {float(np.median(times)):.3f} |", flush=True)


if __name__ == "__main__":
    main()
