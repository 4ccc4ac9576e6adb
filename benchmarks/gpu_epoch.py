"""What one epoch costs on an accelerator, and what tunefm's per-epoch extras cost beside it.

Runs where Keras runs (no Ray, no TensorFlow needed: ``KERAS_BACKEND=jax`` works), on
synthetic Fashion-MNIST-shaped data (48,000 train and 12,000 validation uint8 images),
for the quick sweep's dense and CNN families. Per family it times, after a warm-up epoch:

- ``fit``: one training epoch (batch 128), without callbacks, and with a no-op Python
  callback on every batch (what a per-batch stop-flag check costs);
- ``predict``: the validation split (batch 1024), the trial loop's second pass;
- ``save_keras`` / ``save_weights``: a full ``.keras`` checkpoint against ``.weights.h5``.

    KERAS_BACKEND=jax python -m benchmarks.gpu_epoch --out results.json

Prints a table and writes the numbers as JSON; never a timed assertion.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(family: str, config: dict, repeats: int) -> dict:
    import keras
    import numpy as np

    from trainables.families import get_family

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(48_000, 28, 28, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, size=48_000), 10)
    xv = rng.integers(0, 256, size=(12_000, 28, 28, 1)).astype("float32")
    fam = get_family(family)
    model = fam.build({**fam.defaults(), **config}, (28, 28, 1), 10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])

    class Noop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    model.fit(x, y, batch_size=128, epochs=1, verbose=0)             # warm-up: compile, allocate
    model.predict(xv, batch_size=1024, verbose=0)
    folder = tempfile.mkdtemp()
    out = {"params": int(model.count_params()),
           "fit_s": _median(lambda: model.fit(x, y, batch_size=128, epochs=1, verbose=0), repeats),
           "fit_batch_callback_s": _median(lambda: model.fit(x, y, batch_size=128, epochs=1, verbose=0,
                                                             callbacks=[Noop()]), repeats),
           "predict_val_s": _median(lambda: model.predict(xv, batch_size=1024, verbose=0), repeats),
           "save_keras_s": _median(lambda: model.save(os.path.join(folder, "m.keras")), repeats),
           "save_weights_s": _median(lambda: model.save_weights(os.path.join(folder, "m.weights.h5")), repeats)}
    out["extras_share"] = (out["predict_val_s"] + out["save_keras_s"]) / (out["fit_s"] + out["predict_val_s"]
                                                                          + out["save_keras_s"])
    return out


FAMILIES = {"dense": {"layers": 1, "units": 256}, "cnn": {"blocks": 2, "filters": 32, "dense_units": 64}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the numbers here as JSON")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import keras

    results = {"backend": keras.backend.backend(), "keras": keras.__version__, "python": platform.python_version(),
               "device": _device(), "families": {f: measure(f, c, args.repeats) for f, c in FAMILIES.items()}}
    print(f"{results['device']} ({results['backend']}, Keras {results['keras']})")
    print(f"{'family':8} {'params':>8} {'fit':>8} {'+batch cb':>10} {'predict':>8} {'.keras':>8} {'.weights':>9} {'extras':>7}")
    for f, r in results["families"].items():
        print(f"{f:8} {r['params']:8d} {r['fit_s']:8.3f} {r['fit_batch_callback_s']:10.3f} {r['predict_val_s']:8.3f} "
              f"{r['save_keras_s']:8.3f} {r['save_weights_s']:9.3f} {100 * r['extras_share']:6.1f}%")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)


def _device() -> str:
    try:
        import jax

        return str(jax.devices()[0].device_kind)
    except Exception:
        return platform.processor() or "cpu"


if __name__ == "__main__":
    main()
