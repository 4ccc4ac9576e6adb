"""Search against peers: one task, one CNN search space, one epoch budget, four tools.

- tunefm: ASHA (two brackets) per family on the embedded Ray (2 trials at a time, 1 thread each);
- KerasTuner Hyperband (one process, both threads);
- Optuna TPE with its Hyperband pruner (one process, both threads);
- Ray Tune without early stopping (FIFO), with the trainable a user would write
  (``model.fit`` one epoch at a time, a weights checkpoint per epoch, 1 thread per trial).

Every tool builds its models with tunefm's CNN builder, so the architectures, optimizer
and data are identical; only the search differs. Each tool runs in a fresh process, and
its clock starts when that process is spawned (imports and data loading count). Every
tool reports the winner's test accuracy once its search is over (not timed).
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from typing import Any

from benchmarks.common import Task, child_main, r, run_child, set_threads

TOOLS = ("tunefm_asha", "ray_tune_fifo", "keras_tuner_hyperband", "optuna_tpe_hyperband")
FIXED = {"batch_size": 128}
REDUCTION = 3
# Both Hyperband peers hedge over several brackets. With one bracket (grace 1), tunefm's
# ASHA stopped every 2-block CNN after its first epoch in the first run of this benchmark
# (they start slower and end better); with two, half the trials get a 3-epoch grace.
BRACKETS = 2


def settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"train": 6000, "val": 2000, "trials": 16, "max_epochs": 8}
    return {"train": 12000, "val": 3000, "trials": 27, "max_epochs": 9}


def compare(quick: bool, tools: tuple[str, ...] = TOOLS) -> dict[str, Any]:
    s = settings(quick)
    rows, failed = {}, {}
    for tool in tools:
        print(f"  peers: {tool} ...", flush=True)
        try:
            rows[tool] = run_child("benchmarks.peers", {**s, "tool": tool}, timeout=3600)
        except (RuntimeError, subprocess.TimeoutExpired) as e:   # the others still run; the table says so
            failed[tool] = str(e).strip().splitlines()[-1][:300]
            print(f"  peers: {tool} failed: {failed[tool]}", flush=True)
    summarize(rows)
    return {"task": {**s, "dataset": "fashion_mnist", "space": SPACE_DOC, **FIXED}, "tools": rows,
            "failed": failed}


SPACE_DOC = {"blocks": [1, 2], "filters": [16, 32], "dense_units": [64, 128],
             "dropout": "uniform 0..0.4", "lr": "loguniform 3e-4..3e-3"}


OURS = "tunefm_asha"


def summarize(rows: dict[str, dict[str, Any]]) -> None:
    """Add each tool's time to come within 0.5 points of its own final best, and of the
    peers' best: the best validation accuracy any tool other than tunefm reached (the
    same bar for every tool; None where a tool never got there)."""
    peers = [row["best_val_accuracy"] for tool, row in rows.items() if tool != OURS]
    target = max(peers) if peers else None
    for row in rows.values():
        curve = row["curve"]
        row["seconds_to_within_half_point_of_own_best"] = _first_time(curve, row["best_val_accuracy"] - 0.005)
        row["peers_best_val_accuracy"] = target
        row["seconds_to_within_half_point_of_peers_best"] = (
            None if target is None else _first_time(curve, target - 0.005))


def _first_time(curve: list[list[float]], threshold: float) -> float | None:
    best = float("-inf")
    for t, value in sorted(curve):
        best = max(best, value)
        if best >= threshold - 1e-12:
            return r(t, 1)
    return None


def full_config(params: dict[str, Any]) -> dict[str, Any]:
    from trainables.families import get_family

    return {**get_family("cnn").defaults(), **FIXED, **params, "model": "cnn", "seed": 0}


def build(params: dict[str, Any], data):
    from trainables.families import get_family
    from trainables.training.optim import compile_model

    config = full_config(params)
    model = get_family("cnn").build(config, data.input_shape, data.num_classes)
    compile_model(model, config)
    return model


def labels(y, num_classes: int):
    """The labels every tool's models are compiled for (``build``: tunefm's compile_model)."""
    from trainables.training.optim import training_labels

    return training_labels(full_config({}), y, num_classes)


def test_accuracy(model, test) -> float:
    import numpy as np

    probs = model.predict(test.x, batch_size=1024, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == test.y))


# ---- the tools (each runs in its own child process) ----------------------------------

def _tunefm(args: dict[str, Any]) -> dict[str, Any]:
    from orchestrator.report.build import build_report
    from orchestrator.run.plans import SweepOptions, run_sweep
    from orchestrator.store.parquet import read_metrics
    from orchestrator.spec.sweep import parse_sweep

    text = f"""
name: bench_peers
dataset: {{name: fashion_mnist, train_size: {args['train']}, val_size: {args['val']}}}
metric: val_accuracy
seed: 0
families:
  cnn:
    num_samples: {args['trials']}
    params:
      blocks: {{choice: [1, 2]}}
      filters: {{choice: [16, 32]}}
      dense_units: {{choice: [64, 128]}}
      dropout: {{uniform: [0.0, 0.4]}}
      lr: {{loguniform: [3.0e-4, 3.0e-3]}}
      batch_size: {FIXED['batch_size']}
scheduler: {{kind: asha, max_epochs: {args['max_epochs']}, grace_period: 1, reduction_factor: {REDUCTION},
             brackets: {BRACKETS}}}
resources: {{cpus: 1}}
"""
    summary = run_sweep(parse_sweep(text, "<benchmark>"),
                        SweepOptions(cpus=2, results_dir=tempfile.mkdtemp(prefix="tunefm-bench-"), progress=False,
                                     sweep_text=text))
    searched = time.time()
    m = read_metrics(summary.run_dir)
    curve = [[t.timestamp() - args["t0"], v] for t, v in zip(m["wall_time"], m["val_accuracy"])]
    report = build_report(summary.run_dir, top_k=1)
    return _answer(args, searched, curve, m["trial_id"].nunique(), len(m), report.winner_test_accuracy)


def _ray_tune_fifo(args: dict[str, Any]) -> dict[str, Any]:
    import ray
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    data, test = Task(args["train"], args["val"]).load()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")

    def trainable(config, data):
        set_threads(1)
        import keras

        model = build(config, data)
        y = labels(data.train.y, data.num_classes)
        yv = labels(data.val.y, data.num_classes)
        for epoch in range(args["max_epochs"]):
            h = model.fit(data.train.x, y, validation_data=(data.val.x, yv), epochs=1,
                          batch_size=FIXED["batch_size"], verbose=0)
            with tempfile.TemporaryDirectory() as folder:
                model.save_weights(os.path.join(folder, "model.weights.h5"))
                tune.report({"val_accuracy": h.history["val_accuracy"][-1], "t": time.time(), "epoch": epoch + 1},
                            checkpoint=tune.Checkpoint.from_directory(folder))

    space = {"blocks": tune.choice([1, 2]), "filters": tune.choice([16, 32]), "dense_units": tune.choice([64, 128]),
             "dropout": tune.uniform(0.0, 0.4), "lr": tune.loguniform(3e-4, 3e-3)}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), {"cpu": 1}),
        param_space=space,
        tune_config=tune.TuneConfig(metric="val_accuracy", mode="max", num_samples=args["trials"],
                                    search_alg=BasicVariantGenerator(random_state=0)),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="tunefm-bench-ray-"), verbose=0,
                                  checkpoint_config=tune.CheckpointConfig(
                                      num_to_keep=1, checkpoint_score_attribute="val_accuracy",
                                      checkpoint_score_order="max")))
    results = tuner.fit()
    searched = time.time()
    curve, epochs = [], 0
    errors = [str(r.error).strip().splitlines()[-1] for r in results if r.error is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} Ray Tune trials failed, e.g. {errors[0]}")
    for result in results:
        df = result.metrics_dataframe
        epochs += len(df)
        curve += [[t - args["t0"], v] for t, v in zip(df["t"], df["val_accuracy"])]
    best = results.get_best_result(metric="val_accuracy", mode="max", scope="all")
    checkpoint = best.get_best_checkpoint("val_accuracy", "max")
    set_threads(2)
    model = build(best.config, data)
    with checkpoint.as_directory() as folder:
        model.load_weights(os.path.join(folder, "model.weights.h5"))
    return _answer(args, searched, curve, len(results), epochs, test_accuracy(model, test))


def _keras_tuner(args: dict[str, Any]) -> dict[str, Any]:
    set_threads(2)
    import keras
    import keras_tuner as kt

    data, test = Task(args["train"], args["val"]).load()
    curve: list[list[float]] = []

    def hypermodel(hp):
        return build({"blocks": hp.Choice("blocks", [1, 2]), "filters": hp.Choice("filters", [16, 32]),
                      "dense_units": hp.Choice("dense_units", [64, 128]),
                      "dropout": hp.Float("dropout", 0.0, 0.4),
                      "lr": hp.Float("lr", 3e-4, 3e-3, sampling="log")}, data)

    class Curve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            curve.append([time.time() - args["t0"], float(logs["val_accuracy"])])

    tuner = kt.Hyperband(hypermodel, objective="val_accuracy", max_epochs=args["max_epochs"], factor=REDUCTION,
                         hyperband_iterations=1, seed=0, directory=tempfile.mkdtemp(prefix="tunefm-bench-kt-"),
                         project_name="peers", overwrite=True)
    y = labels(data.train.y, data.num_classes)
    yv = labels(data.val.y, data.num_classes)
    tuner.search(data.train.x, y, validation_data=(data.val.x, yv), batch_size=FIXED["batch_size"],
                 verbose=0, callbacks=[Curve()])
    searched = time.time()
    trials = len(tuner.oracle.trials)
    model = tuner.get_best_models(1)[0]
    return _answer(args, searched, curve, trials, len(curve), test_accuracy(model, test))


def _optuna(args: dict[str, Any]) -> dict[str, Any]:
    set_threads(2)
    import keras
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data, test = Task(args["train"], args["val"]).load()
    y = labels(data.train.y, data.num_classes)
    yv = labels(data.val.y, data.num_classes)
    curve: list[list[float]] = []
    weights = os.path.join(tempfile.mkdtemp(prefix="tunefm-bench-optuna-"), "best.weights.h5")
    best: dict[str, Any] = {"value": -1.0, "params": None}

    def objective(trial):
        params = {"blocks": trial.suggest_categorical("blocks", [1, 2]),
                  "filters": trial.suggest_categorical("filters", [16, 32]),
                  "dense_units": trial.suggest_categorical("dense_units", [64, 128]),
                  "dropout": trial.suggest_float("dropout", 0.0, 0.4),
                  "lr": trial.suggest_float("lr", 3e-4, 3e-3, log=True)}
        keras.backend.clear_session()
        model = build(params, data)
        trial_best = 0.0
        for epoch in range(args["max_epochs"]):
            h = model.fit(data.train.x, y, validation_data=(data.val.x, yv), epochs=1,
                          batch_size=FIXED["batch_size"], verbose=0)
            value = float(h.history["val_accuracy"][-1])
            curve.append([time.time() - args["t0"], value])
            trial_best = max(trial_best, value)
            if value > best["value"]:
                best.update(value=value, params=params)
                model.save_weights(weights)
            trial.report(value, epoch + 1)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return trial_best

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=args["max_epochs"],
                                                                      reduction_factor=REDUCTION))
    study.optimize(objective, n_trials=args["trials"])
    searched = time.time()
    model = build(best["params"], data)
    model.load_weights(weights)
    return _answer(args, searched, curve, len(study.trials), len(curve), test_accuracy(model, test))


def _answer(args, searched: float, curve, trials: int, epochs: int, test_acc: float | None) -> dict[str, Any]:
    best = max(v for _, v in curve)
    return {"tool": args["tool"], "wall_seconds": r(searched - args["t0"], 1), "trials": int(trials),
            "epochs_trained": int(epochs), "best_val_accuracy": r(best, 4),
            "winner_test_accuracy": r(test_acc, 4), "curve": [[r(t, 2), r(v, 4)] for t, v in curve]}


HANDLERS = {"tunefm_asha": _tunefm, "ray_tune_fifo": _ray_tune_fifo,
            "keras_tuner_hyperband": _keras_tuner, "optuna_tpe_hyperband": _optuna}

if __name__ == "__main__":
    child_main(lambda args: HANDLERS[args["tool"]](args))
