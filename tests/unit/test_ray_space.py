"""Search-space translation to Ray Tune and the per-family expansion (no Ray started)."""
from __future__ import annotations

from ray import tune
from ray.tune.search.sample import Categorical, Float, Integer

from orchestrator.raytune.space import config_param_names, expand_family, interleave, to_ray, trial_configs
from orchestrator.spec.spaces import Choice, Constant, Grid, LogUniform, RandInt, Uniform
from orchestrator.spec.sweep import parse_sweep

SWEEP = """
name: x
dataset: {name: fashion_mnist}
seed: 7
families:
  dense:
    num_samples: 3
    params:
      lr: {loguniform: [1e-4, 1e-2]}
      layers: {randint: [1, 2]}
      batch_size: {grid: [32, 64]}
  cnn:
    num_samples: 2
    params: {filters: {choice: [8, 16]}, dropout: {uniform: [0.1, 0.2]}}
"""


def test_each_space_maps_to_its_ray_type():
    assert to_ray(Constant(3)) == 3
    assert isinstance(to_ray(Choice((1, 2))), Categorical)
    assert to_ray(Grid((1, 2))) == tune.grid_search([1, 2])
    assert to_ray(Choice((1, 2)), search="grid") == tune.grid_search([1, 2])
    u = to_ray(Uniform(0.1, 0.2))
    assert isinstance(u, Float) and (u.lower, u.upper) == (0.1, 0.2)
    lu = to_ray(LogUniform(1e-4, 1e-2))
    assert isinstance(lu.get_sampler(), Float._LogUniform)
    ri = to_ray(RandInt(1, 3))
    assert isinstance(ri, Integer) and (ri.lower, ri.upper) == (1, 4)  # Ray excludes upper


def test_grid_times_num_samples_and_bounds_hold():
    spec = parse_sweep(SWEEP, "s.yaml")
    dense = expand_family(spec.family("dense"), spec.search, spec.seed)
    assert len(dense) == 3 * 2
    assert sorted(c["batch_size"] for c in dense) == [32, 32, 32, 64, 64, 64]
    assert all(1e-4 <= c["lr"] <= 1e-2 and c["layers"] in (1, 2) for c in dense)


def test_randint_reaches_both_ends():
    spec = parse_sweep(SWEEP.replace("num_samples: 3", "num_samples: 40"), "s.yaml")
    layers = {c["layers"] for c in expand_family(spec.family("dense"), spec.search, spec.seed)}
    assert layers == {1, 2}


def test_each_family_gets_only_its_own_parameters_with_defaults_filled():
    spec = parse_sweep(SWEEP, "s.yaml")
    configs = trial_configs(spec)
    dense = [c for c in configs if c["family"] == "dense"]
    cnn = [c for c in configs if c["family"] == "cnn"]
    assert dense and cnn
    assert all("blocks" not in c and "filters" not in c for c in dense)
    assert all("layers" not in c and c["blocks"] == 2 for c in cnn)   # cnn default filled in
    assert all(c["units"] == 128 for c in dense)                       # dense default filled in
    assert {c["filters"] for c in cnn} <= {8, 16}


def test_same_seed_same_configs_other_seed_other_configs():
    spec = parse_sweep(SWEEP, "s.yaml")
    assert trial_configs(spec) == trial_configs(parse_sweep(SWEEP, "s.yaml"))
    other = parse_sweep(SWEEP.replace("seed: 7", "seed: 8"), "s.yaml")
    assert [c["lr"] for c in trial_configs(spec)] != [c["lr"] for c in trial_configs(other)]


def test_adding_a_family_does_not_change_another_familys_samples():
    spec = parse_sweep(SWEEP, "s.yaml")
    alone = parse_sweep(SWEEP.split("  cnn:")[0], "s.yaml")
    assert expand_family(spec.family("dense"), "random", 7) == expand_family(alone.family("dense"), "random", 7)


def test_trial_seeds_are_distinct():
    configs = trial_configs(parse_sweep(SWEEP, "s.yaml"))
    assert len({c["seed"] for c in configs}) == len(configs)


def test_interleave_alternates_families():
    assert interleave([[1, 2, 3], ["a"], [10, 20]]) == [1, "a", 10, 2, 20, 3]


def test_config_columns_cover_every_family():
    names = config_param_names(parse_sweep(SWEEP, "s.yaml"))
    assert {"layers", "units", "blocks", "filters", "lr", "optimizer"} <= set(names)
    assert len(names) == len(set(names))
