"""What one epoch costs on an accelerator, and what a tunefm trial adds to it per epoch.

Runs where Keras runs (no Ray, no TensorFlow needed: ``KERAS_BACKEND=jax`` works), on
synthetic Fashion-MNIST-shaped data (48,000 train and 12,000 validation uint8 images),
with the trial loop's own pieces: the family builders, ``compile_model``,
``training_labels``, ``trial.probabilities`` and ``evaluation.score``. Per model and
``jit_compile`` setting it times, after a warm-up epoch (medians of ``--repeats``):

- ``fit``: one training epoch, no callbacks (what a plain ``model.fit`` script pays);
- ``+batch hook``: the same with a Python callback on every batch (the old stop check);
- ``val@N``: the validation split through ``trial.probabilities`` at N images per call
  (the trial's ``eval_batch_size``; 256 was chosen on CPU);
- ``score``: loss, accuracy, macro F1 and AUC from those probabilities;
- ``.keras`` / ``.weights.h5``: a checkpoint save.

The "extras" columns are what a trial adds per epoch (validation at 256 or 1,024 images
per call, scoring, a full checkpoint) as a share of its epoch. Ray's own report and checkpoint upload are not in
it (no Ray here).

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

MODELS = {
    "dense": ("dense", {"layers": 1, "units": 256, "batch_size": 128}),
    "cnn_quick": ("cnn", {"blocks": 2, "filters": 16, "batch_norm": True, "dense_units": 64, "batch_size": 64}),
    "cnn_60min": ("cnn", {"blocks": 2, "filters": 32, "convs_per_block": 2, "batch_norm": True,
                          "dense_units": 128, "aug_flip": "horizontal", "aug_translation": 0.1,
                          "batch_size": 128}),
    "cnn_60min_noaug": ("cnn", {"blocks": 2, "filters": 32, "convs_per_block": 2, "batch_norm": True,
                                "dense_units": 128, "batch_size": 128}),
}
EVAL_BATCHES = (256, 1024, 4096)


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(family: str, overrides: dict, jit_compile, repeats: int) -> dict:
    import keras
    import numpy as np

    from trainables.families import get_family
    from trainables.training.evaluation import score
    from trainables.training.optim import compile_model, training_labels
    from trainables.training.trial import probabilities

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(48_000, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, size=48_000)
    xv = rng.integers(0, 256, size=(12_000, 28, 28, 1), dtype=np.uint8)
    yv = rng.integers(0, 10, size=12_000)
    fam = get_family(family)
    config = {**fam.defaults(), "lr": 1e-3, "seed": 0, **overrides}
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = fam.build(config, (28, 28, 1), 10)
    compile_model(model, config, jit_compile)
    labels = training_labels(config, y, 10)
    batch = int(config["batch_size"])

    class BatchHook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and float(loss) > 1e9:
                self.model.stop_training = True

    def fit(callbacks=()):
        model.fit(x, labels, batch_size=batch, epochs=1, verbose=0, shuffle=True, callbacks=list(callbacks))

    fit()                                                   # warm-up: trace, compile, allocate
    for n in EVAL_BATCHES:
        probabilities(model, xv, n)
    folder = tempfile.mkdtemp()
    out = {"params": int(model.count_params()), "jit_compile": jit_compile, "jit_resolved": bool(model.jit_compile),
           "batch_size": batch,
           "fit_s": _median(fit, repeats),
           "fit_batch_hook_s": _median(lambda: fit([BatchHook()]), repeats)}
    for n in EVAL_BATCHES:
        out[f"val_{n}_s"] = _median(lambda: probabilities(model, xv, n), repeats)
    probs = probabilities(model, xv, EVAL_BATCHES[0])
    out["score_s"] = _median(lambda: score(yv, probs), repeats)
    out["save_keras_s"] = _median(lambda: model.save(os.path.join(folder, "m.keras")), repeats)
    out["save_weights_s"] = _median(lambda: model.save_weights(os.path.join(folder, "m.weights.h5")), repeats)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the numbers here as JSON (after every row)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jit", default="auto,false", help="jit_compile settings to compare (false, true, auto)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--render", metavar="JSON", help="print the table of an earlier --out file and stop")
    args = parser.parse_args()
    if args.render:
        with open(args.render) as fh:
            results = json.load(fh)
        print(render(results["header"], results["rows"]))
        return
    import keras

    jits = [{"false": False, "true": True}.get(j, j) for j in args.jit.split(",")]
    header = f"{_device()} ({keras.backend.backend()}, Keras {keras.__version__}); seconds, median of {args.repeats}"
    results = {"header": header, "backend": keras.backend.backend(), "keras": keras.__version__,
               "python": platform.python_version(), "device": _device(), "rows": []}
    print(render(header, []), flush=True)
    for name in args.models.split(","):
        family, overrides = MODELS[name]
        for jit in jits:
            row = {"model": name, **measure(family, overrides, jit, args.repeats)}
            results["rows"].append(row)
            print(_line(row), flush=True)
            if args.out:   # after every row: a slow setting cut off by a time limit keeps the rest
                with open(args.out, "w") as fh:
                    json.dump(results, fh, indent=2)


COLUMNS = ["fit", "+batch hook"] + [f"val@{n}" for n in EVAL_BATCHES] + ["score", ".keras", ".weights.h5",
                                                                         "extras @256", "extras @1024"]


def extras_share(row: dict, eval_batch: int) -> float:
    """What a trial adds to an epoch (validation at ``eval_batch``, scoring, a .keras
    checkpoint), as a share of the whole epoch."""
    extras = row[f"val_{eval_batch}_s"] + row["score_s"] + row["save_keras_s"]
    return extras / (row["fit_s"] + extras)


def render(header: str, rows: list[dict]) -> str:
    lines = [header, "", "| model | params | jit_compile | " + " | ".join(COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + [_line(row) for row in rows])


def _line(row: dict) -> str:
    values = [row["fit_s"], row["fit_batch_hook_s"]] + [row[f"val_{n}_s"] for n in EVAL_BATCHES] + \
             [row["score_s"], row["save_keras_s"], row["save_weights_s"]]
    return (f"| {row['model']} | {row['params']:,} | {row['jit_compile']} | " + " | ".join(f"{v:.3f}" for v in values)
            + "".join(f" | {100 * extras_share(row, n):.1f}%" for n in (256, 1024)) + " |")


def _device() -> str:
    try:
        import jax

        return str(jax.devices()[0].device_kind)
    except Exception:
        return platform.processor() or "cpu"


if __name__ == "__main__":
    main()
