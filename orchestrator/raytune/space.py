"""The one adapter from sweep-file spaces to Ray Tune's search-space types.

``trial_configs(spec)`` expands every family's space with Ray's own variant generator
(grid values crossed, distributions sampled ``num_samples`` times), seeded per family,
and interleaves the families so they run side by side. Each config is complete: the
family's defaults are filled in, so the results table records every setting.
"""
from __future__ import annotations

import itertools

import zlib
from typing import Any, Iterator

import numpy as np

from orchestrator.spec.spaces import Choice, Constant, Grid, LogUniform, RandInt, Space, Uniform
from orchestrator.spec.sweep import FamilySweep, SweepSpec

# Keys every trial config carries besides the family's parameters.
from trainables.contract.keys import BASELINE, FACTOR_KEY, FACTOR_VALUE_KEY, FAMILY_KEY, MODEL_KEY, SEED_KEY


def to_ray(space: Space, search: str = "random") -> Any:
    from ray import tune

    if isinstance(space, Constant):
        return space.value
    if isinstance(space, Grid) or (isinstance(space, Choice) and search == "grid"):
        return tune.grid_search(list(space.values))
    if isinstance(space, Choice):
        return tune.choice(list(space.values))
    if isinstance(space, Uniform):
        return tune.uniform(space.low, space.high)
    if isinstance(space, LogUniform):
        return tune.loguniform(space.low, space.high)
    if isinstance(space, RandInt):
        return tune.randint(space.low, space.high + 1)  # Ray's upper bound is exclusive
    raise TypeError(f"unknown space {space!r}")


def ray_param_space(family: FamilySweep, search: str = "random") -> dict[str, Any]:
    return {name: to_ray(space, search) for name, space in family.space.items()}


def family_seed(sweep_seed: int, label: str) -> int:
    """A per-family seed: adding a family does not change another family's samples."""
    return (sweep_seed * 1_000_003 + zlib.crc32(label.encode())) % (2**32)


def ablation_configs(family: FamilySweep, sweep_seed: int) -> list[dict]:
    """The baseline ``baseline_repeats`` times, then each factor's values one at a time
    (``num_samples`` runs each); every config differs from the baseline in one factor."""
    from trainables.families import get_family

    rng = np.random.default_rng(family_seed(sweep_seed, family.label))
    base = {FAMILY_KEY: family.label, MODEL_KEY: family.family, **get_family(family.family).defaults(),
            **family.baseline}
    runs = [(BASELINE, None, {})] * family.baseline_repeats
    for factor, values in family.factors.items():
        for value in values:
            runs += [(factor, value, {factor: value})] * family.num_samples
    out = []
    for factor, value, change in runs:
        config = {**base, **change, SEED_KEY: int(rng.integers(0, 2**31 - 1)),
                  FACTOR_KEY: factor, FACTOR_VALUE_KEY: "" if value is None else str(value)}
        out.append(config)
    return out


def expand_family(family: FamilySweep, search: str, sweep_seed: int, limit: int | None = None) -> list[dict]:
    if search == "ablation":
        return ablation_configs(family, sweep_seed)[:limit]
    count = family.trial_count(search)
    return list(itertools.islice(config_stream(family, search, sweep_seed), count if limit is None else min(count, limit)))


def config_stream(family: FamilySweep, search: str, sweep_seed: int) -> Iterator[dict]:
    """The family's configurations in the order the sweep draws them, without end: a
    sweep takes the first ``trial_count``, ``tunefm extend`` continues where it stopped."""
    from ray.tune.search.variant_generator import generate_variants

    from trainables.families import get_family

    rng = np.random.default_rng(family_seed(sweep_seed, family.label))
    space = ray_param_space(family, search)
    defaults = get_family(family.family).defaults()
    while True:
        for _, resolved in generate_variants(space, random_state=rng):
            config = {FAMILY_KEY: family.label, MODEL_KEY: family.family,
                      SEED_KEY: int(rng.integers(0, 2**31 - 1))}
            config.update(defaults)
            config.update({k: _plain(v) for k, v in resolved.items()})
            yield config


def _plain(value: Any) -> Any:
    """numpy scalars to Python, so configs are JSON/Parquet friendly."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def interleave(groups: list[list[dict]]) -> list[dict]:
    out, i = [], 0
    while any(i < len(g) for g in groups):
        out.extend(g[i] for g in groups if i < len(g))
        i += 1
    return out


def trial_configs(spec: SweepSpec, per_family_limit: int | None = None) -> list[dict]:
    return interleave([expand_family(f, spec.search, spec.seed, per_family_limit) for f in spec.families])


def config_param_names(spec: SweepSpec) -> list[str]:
    """Every parameter name any family of the sweep can carry, in a stable order."""
    from trainables.families import get_family

    names: dict[str, None] = {}
    for fam in spec.families:
        for p in get_family(fam.family).all_params:
            names.setdefault(p.name)
    if spec.search == "ablation":
        names.setdefault(FACTOR_KEY)
        names.setdefault(FACTOR_VALUE_KEY)
    return list(names)


def param_kinds(spec: SweepSpec) -> list[tuple[str, str]]:
    """``(name, kind)`` of every config column of the run's tables."""
    from trainables.contract.keys import FOLD_KEY, FOLDS_KEY, RACE_KEY, REPEAT_KEY, ROUND_KEY
    from trainables.families import get_family

    bookkeeping = {REPEAT_KEY: "str", RACE_KEY: "str", ROUND_KEY: "int", FOLD_KEY: "int", FOLDS_KEY: "int"}
    if spec.scheduler.population is not None:
        from trainables.contract.keys import SCHEDULE_KEY

        bookkeeping[SCHEDULE_KEY] = "str"    # a repeat or race run replays a member's schedule (JSON)
    kinds: dict[str, str] = {FACTOR_KEY: "str", FACTOR_VALUE_KEY: "str", **bookkeeping}
    for fam in spec.families:
        for p in get_family(fam.family).all_params:
            kinds.setdefault(p.name, p.kind)
    return [(name, kinds[name]) for name in [*config_param_names(spec), *bookkeeping]]
