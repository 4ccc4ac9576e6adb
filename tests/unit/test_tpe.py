"""search: tpe with real Optuna and Ray Tune's OptunaSearch (no cluster needed)."""
from __future__ import annotations

import math

import pytest
from ray.tune.search import Searcher

from trainables.contract.errors import SweepFileError
from orchestrator.spec.sweep import parse_sweep
from orchestrator.raytune.tpe import build_tpe_searcher

SWEEP = """
name: t
dataset: {name: fashion_mnist}
search: tpe
seed: 11
families:
  dense:
    num_samples: 14
    params: {lr: {loguniform: [1e-4, 1e-1]}, layers: {randint: [1, 3]}, activation: {choice: [relu, tanh]},
             units: 64}
  cnn:
    num_samples: 12
    params: {filters: {choice: [8, 16, 32]}, dropout: {uniform: [0.0, 0.5]}}
"""


def score(config: dict) -> float:
    """A known landscape: dense likes lr near 1e-2 and 2 layers; cnn likes 32 filters."""
    if config["family"] == "dense":
        return 1 - abs(math.log10(config["lr"]) + 2) / 3 - 0.1 * abs(config["layers"] - 2)
    return config["filters"] / 32 - config["dropout"] / 5


def drive(text: str) -> list[dict]:
    searcher = build_tpe_searcher(parse_sweep(text, "t.yaml"))
    configs, i = [], 0
    while True:
        config = searcher.suggest(f"t{i}")
        if config == Searcher.FINISHED:
            return configs
        assert config is not None
        configs.append(config)
        searcher.on_trial_complete(f"t{i}", {"val_accuracy": score(config), "training_iteration": 1})
        i += 1


def test_each_family_gets_only_its_own_parameters_and_its_budget():
    configs = drive(SWEEP)
    dense = [c for c in configs if c["family"] == "dense"]
    cnn = [c for c in configs if c["family"] == "cnn"]
    assert (len(dense), len(cnn)) == (14, 12)
    assert all("filters" not in c and "blocks" not in c and c["units"] == 64 for c in dense)
    assert all("layers" not in c and "units" not in c and c["blocks"] == 2 for c in cnn)
    assert all(1e-4 <= c["lr"] <= 1e-1 and c["layers"] in (1, 2, 3) and c["activation"] in ("relu", "tanh")
               for c in dense)
    assert all(c["filters"] in (8, 16, 32) and 0 <= c["dropout"] <= 0.5 for c in cnn)
    assert len({c["seed"] for c in configs}) == len(configs)


def test_same_seed_same_proposals_other_seed_other_proposals():
    first, again = drive(SWEEP), drive(SWEEP)
    assert first == again
    other = drive(SWEEP.replace("seed: 11", "seed: 12"))
    assert [c.get("lr") for c in other] != [c.get("lr") for c in first]


def test_results_reach_the_right_familys_study():
    spec = parse_sweep(SWEEP, "t.yaml")
    searcher = build_tpe_searcher(spec)
    for i in range(6):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"val_accuracy": score(config), "training_iteration": 1})
    for label, child in searcher._children.items():
        done = [t for t in child._ot_study.trials if t.state.name == "COMPLETE"]
        assert len(done) == 3                                      # three each, round robin
        for t in done:
            assert t.value == pytest.approx(score({"family": label, "units": 64, **t.params}))


def test_grid_values_are_refused_with_tpe():
    with pytest.raises(SweepFileError, match=r"families.cnn.params.filters: search: tpe samples every value; "
                                             r"use choice instead of grid"):
        parse_sweep(SWEEP.replace("filters: {choice:", "filters: {grid:"), "t.yaml")


def test_tpe_without_optuna_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    with pytest.raises(SweepFileError) as err:
        parse_sweep(SWEEP, "t.yaml")
    assert str(err.value) == ("t.yaml: search: tpe needs Optuna, which is not installed: "
                              "pip install 'tunefm[tpe]' (or: pip install optuna)")


def test_family_searcher_state_survives_save_and_restore(tmp_path):
    spec = parse_sweep(SWEEP, "t.yaml")
    searcher = build_tpe_searcher(spec)
    for i in range(4):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"val_accuracy": score(config), "training_iteration": 1})
    searcher.save(str(tmp_path / "s.pkl"))
    fresh = build_tpe_searcher(spec)
    fresh.restore(str(tmp_path / "s.pkl"))
    assert fresh.suggest("t4") == searcher.suggest("t4")
    assert fresh._budgets == searcher._budgets


def test_extension_warm_starts_tpe_and_asha_with_earlier_results():
    """Real Optuna and real Ray ASHA: what extend tells them before the first new trial."""
    import textwrap

    from ray.tune.experiment import Trial

    from orchestrator.raytune.scheduler import build_scheduler
    from orchestrator.raytune.tpe import build_tpe_searcher
    from orchestrator.spec.sweep import SchedulerSpec, parse_sweep

    spec = parse_sweep(textwrap.dedent("""
        name: w
        dataset: {name: fashion_mnist}
        search: tpe
        families:
          dense: {num_samples: 2, params: {units: {choice: [8, 16]}, lr: {loguniform: [1.0e-4, 1.0e-2]}}}
        """), "w.yaml")
    warm = {"dense": [({"units": 8, "lr": 0.001}, [0.8]), ({"units": 16, "lr": 0.003}, [0.85]),
                      ({"units": 64, "lr": 0.003}, [0.9])]}            # 64 is no longer offered: dropped
    searcher = build_tpe_searcher(spec, warm, phase=1)
    study = searcher._children["dense"]._ot_study
    assert sorted(t.value for t in study.trials) == [0.8, 0.85]

    scheduler = build_scheduler(SchedulerSpec(kind="asha", max_epochs=4, grace_period=1, reduction_factor=2),
                                "val_accuracy", "max")
    history = {"dense": {"a": {1: 0.80, 2: 0.85}, "b": {1: 0.70}, "c": {1: 0.90, 2: 0.91, 3: 0.92, 4: 0.93}}}
    assert scheduler.warm_start(history) == 2 + 1 + 3     # a: rungs 1, 2; b: 1; c: 1, 2, 4
    new = Trial("__fake", config={"family": "dense"}, stub=True)
    scheduler.on_trial_add(None, new)
    # at rung 1 the old values are 0.7, 0.8, 0.9: a new trial at 0.75 is below the median
    assert scheduler.on_trial_result(None, new, {"training_iteration": 1, "val_accuracy": 0.75}) == "STOP"
    cold = build_scheduler(SchedulerSpec(kind="asha", max_epochs=4, grace_period=1, reduction_factor=2),
                           "val_accuracy", "max")
    cold.on_trial_add(None, new)
    assert cold.on_trial_result(None, new, {"training_iteration": 1, "val_accuracy": 0.75}) == "CONTINUE"
