"""Every searcher and scheduler through its whole life: add, result, complete, error, save, restore.

One contract, parametrized over the implementations (real Ray Tune and Optuna objects,
no cluster): a copy restored from a save mid-way behaves exactly as the original does
from there on, so a resumed run proposes and stops what the uninterrupted one would.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from orchestrator.raytune.tuner import searcher_for
from orchestrator.raytune.space import trial_configs
from orchestrator.raytune.scheduler import build_scheduler
from orchestrator.spec.sweep import SchedulerSpec, parse_sweep

SPACE = """
name: c
dataset: {{name: fashion_mnist}}
search: {search}
seed: 3
families:
  dense:
    num_samples: 6
    params: {{lr: {{loguniform: [1e-4, 1e-1]}}, layers: {{randint: [1, 3]}}}}
  cnn:
    num_samples: 5
    params: {{filters: {{choice: [8, 16, 32]}}, dropout: {{uniform: [0.0, 0.5]}}}}
"""


def score(config: dict) -> float:
    if config["family"] == "dense":
        return 1 - abs(math.log10(config["lr"]) + 2) / 3
    return config["filters"] / 32 - config["dropout"] / 5


def fresh_searcher(search: str):
    spec = parse_sweep(SPACE.format(search=search), "c.yaml")
    searcher = searcher_for(spec, trial_configs(spec))
    searcher.set_search_properties(spec.metric, spec.mode, {})
    return searcher


def step(searcher, i: int):
    """One trial's life: suggest, a result, then complete (every fourth one errors)."""
    config = searcher.suggest(f"t{i}")
    if config in (Searcher.FINISHED, None):
        return config
    result = {"val_accuracy": score(config), "training_iteration": 1}
    searcher.on_trial_result(f"t{i}", result)
    searcher.on_trial_complete(f"t{i}", None if i % 4 == 3 else result, error=i % 4 == 3)
    return config


@pytest.mark.parametrize("search", ["random", "tpe"])   # grid and ablation serve through the same queue
def test_searcher_life_and_restore(search, tmp_path):
    original = fresh_searcher(search)
    first = [step(original, i) for i in range(4)]
    assert all(isinstance(c, dict) and c["family"] in ("dense", "cnn") for c in first)
    original.save(str(tmp_path / "searcher.pkl"))

    restored = fresh_searcher(search)
    restored.restore(str(tmp_path / "searcher.pkl"))
    rest_original, i = [], 4
    while True:
        a, b = step(original, i), step(restored, i)
        assert a == b, (i, a, b)
        if a == Searcher.FINISHED:
            break
        rest_original.append(a)
        i += 1
    configs = first + rest_original
    assert sum(c["family"] == "dense" for c in configs) == 6 and sum(c["family"] == "cnn" for c in configs) == 5
    assert len({c["seed"] for c in configs}) == len(configs)


def trial(tid: str, family: str):
    return SimpleNamespace(trial_id=tid, config={"family": family})


@pytest.mark.parametrize("kind", ["asha", "fifo"])
def test_scheduler_life_and_restore(kind, tmp_path):
    spec = SchedulerSpec(kind, max_epochs=8, grace_period=1, reduction_factor=2)

    def fresh():
        return build_scheduler(spec, "val_accuracy", "max")

    original = fresh()
    trials = [trial(f"{f[0]}{i}", f) for f in ("dense", "cnn") for i in range(4)]
    for t in trials:
        original.on_trial_add(None, t)
    for n, t in enumerate(trials[:-2]):
        original.on_trial_result(None, t, {"training_iteration": 1, "val_accuracy": 0.5 + 0.01 * n})
    original.on_trial_error(None, trials[0])
    original.on_trial_complete(None, trials[1], {"training_iteration": 1, "val_accuracy": 0.51})
    original.save(str(tmp_path / "scheduler.pkl"))

    restored = fresh()
    restored.restore(str(tmp_path / "scheduler.pkl"))
    assert restored.stopped_trials == original.stopped_trials
    for t, acc in ((trials[-2], 0.1), (trials[-1], 0.99)):     # the same decisions from here on
        decisions = [s.on_trial_result(None, t, {"training_iteration": 1, "val_accuracy": acc})
                     for s in (original, restored)]
        assert decisions[0] == decisions[1]
    if kind == "asha":
        assert decisions[0] == TrialScheduler.CONTINUE and trials[-2].trial_id in restored.stopped_trials
    else:
        assert not restored.stopped_trials
