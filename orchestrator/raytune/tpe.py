"""``search: tpe``: Optuna's TPE through Ray Tune's ``OptunaSearch``, one per family.

Each family keeps its own conditional space, so each family gets its own TPE sampler
(seeded per family) that only ever proposes that family's parameters; a
``FamilySearcher`` hands out their suggestions in turn, each family up to its
``num_samples``. Optuna is an optional extra (``pip install 'tunefm[tpe]'``).
"""
from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from trainables.contract.errors import UserError
from orchestrator.raytune import private
from orchestrator.raytune.space import family_seed
from trainables.contract.keys import FAMILY_KEY, MODEL_KEY, SEED_KEY
from orchestrator.raytune.searcher import StatefulSearcher
from orchestrator.spec.spaces import Choice, Constant, Grid, LogUniform, RandInt, Space, Uniform
from orchestrator.spec.sweep import TPE_EXTRA, FamilySweep, SweepSpec


def optuna_available() -> bool:
    return importlib.util.find_spec("optuna") is not None


def to_optuna(space: Space):
    from optuna import distributions as d

    if isinstance(space, (Choice, Grid)):
        return d.CategoricalDistribution(list(space.values))
    if isinstance(space, Uniform):
        return d.FloatDistribution(space.low, space.high)
    if isinstance(space, LogUniform):
        return d.FloatDistribution(space.low, space.high, log=True)
    if isinstance(space, RandInt):
        return d.IntDistribution(space.low, space.high)
    raise TypeError(f"no Optuna distribution for {space!r}")


class FamilySearcher(StatefulSearcher):
    """Round-robin over per-family searchers, each with its own budget of trials."""

    def __init__(self, children: dict[str, Searcher], budgets: dict[str, int],
                 complete: dict[str, dict[str, Any]], seeds: dict[str, int]):
        super().__init__()
        self._children, self._budgets, self._complete = children, dict(budgets), complete
        self._rng = {label: np.random.default_rng(seed) for label, seed in seeds.items()}
        self._owner: dict[str, str] = {}
        self._order = list(children)
        self._turn = 0

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # each child got metric and mode at construction

    def suggest(self, trial_id: str) -> dict | None:
        open_families = [f for f in self._order if self._budgets[f] > 0]
        if not open_families:
            return Searcher.FINISHED
        for step in range(len(self._order)):
            label = self._order[(self._turn + step) % len(self._order)]
            if self._budgets[label] <= 0:
                continue
            params = self._children[label].suggest(trial_id)
            if params is None or params == Searcher.FINISHED:
                continue
            self._turn = (self._turn + step + 1) % len(self._order)
            self._budgets[label] -= 1
            self._owner[trial_id] = label
            config = dict(self._complete[label])
            config[SEED_KEY] = int(self._rng[label].integers(0, 2**31 - 1))
            config.update({k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()})
            return config
        return None  # every open family is waiting (e.g. at its concurrency limit)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._owner:
            self._children[self._owner[trial_id]].on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._owner:
            self._children[self._owner[trial_id]].on_trial_complete(trial_id, result=result, error=error)

    def get_state(self) -> dict:
        return dict(self.__dict__)

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)


def _fixed(family: FamilySweep) -> dict[str, Any]:
    """The family's defaults with its constants applied, plus family and model keys."""
    from trainables.families import get_family

    config = {FAMILY_KEY: family.label, MODEL_KEY: family.family, **get_family(family.family).defaults()}
    config.update({k: s.value for k, s in family.space.items() if isinstance(s, Constant)})
    return config


Warm = dict[str, list[tuple[dict[str, Any], list[float]]]]   # family -> (searched params, objective values)


def startup_trials(num_samples: int) -> int:
    """Random proposals before TPE models the results: Optuna's 10, fewer for a small
    budget (a quarter of it, at least 3), or a sweep of 8 trials would be all random."""
    return min(10, max(3, num_samples // 4))


def build_tpe_searcher(spec: SweepSpec, warm: Warm | None = None, phase: int = 0) -> FamilySearcher:
    """One seeded TPE per family. ``warm`` (``tunefm extend``): earlier results each
    family's study is told before it proposes; ``phase`` shifts the seeds, so an extension
    does not replay the sampler's first draws."""
    if not optuna_available():
        raise UserError(f"{spec.source}: search: tpe needs Optuna, which is not installed: {TPE_EXTRA}")
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    children, budgets, complete, seeds = {}, {}, {}, {}
    # objectives: Optuna's TPE proposes from the Pareto front of all of them (multi-objective
    # TPE); ASHA, which stops trials epoch by epoch, still looks at spec.metric alone
    metric = [name for name, _ in spec.objectives] if spec.objectives else spec.metric
    mode = [m for _, m in spec.objectives] if spec.objectives else spec.mode
    for fam in spec.families:
        seed = family_seed(spec.seed + phase, fam.label)
        searched = {k: to_optuna(s) for k, s in fam.space.items() if not isinstance(s, Constant)}
        if searched:
            points = [(p, v) for p, v in (warm or {}).get(fam.label, []) if _fits(p, searched)]
            single = not spec.objectives
            children[fam.label] = OptunaSearch(
                space=searched, metric=metric, mode=mode,
                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials(fam.num_samples)),
                points_to_evaluate=[p for p, _ in points] if points and single else None,
                evaluated_rewards=[v[0] for _, v in points] if points and single else None)
            if points and not single:
                # Ray's warm start takes one value per point; a multi-objective study is told
                # through Optuna's own API
                for p, values in points:
                    private.optuna_study(children[fam.label]).add_trial(optuna.trial.create_trial(
                        params=p, distributions=searched, values=values))
        else:
            children[fam.label] = _ConstantSearcher()
        budgets[fam.label], complete[fam.label], seeds[fam.label] = fam.num_samples, _fixed(fam), seed
    return FamilySearcher(children, budgets, complete, seeds)


def _fits(params: dict[str, Any], space: dict) -> bool:
    """An earlier configuration Optuna can be told about: every searched value inside its
    distribution (a widened space keeps old points; a narrowed one drops those outside)."""
    if set(params) != set(space):
        return False
    try:
        return all(space[k]._contains(space[k].to_internal_repr(v)) for k, v in params.items())
    except (ValueError, TypeError):   # a categorical value no longer offered
        return False


class _ConstantSearcher(Searcher):
    """A family with nothing to search: every suggestion is its fixed config."""

    def suggest(self, trial_id: str) -> dict:
        return {}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass
