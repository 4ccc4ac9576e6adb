"""ASHA (or a PBT population) whose decisions compare trials of the same family only.

Families learn at different speeds (a dense net is ahead of a CNN after one epoch and
behind after five), and every family's leaderboard needs fully trained survivors, so
each family gets its own ASHA instance; with ``kind: pbt`` or ``pb2`` each family is its
own population (a member can only copy weights its architecture can hold), and sees only
its family's trials (``population.FamilyView``). The wrapper also remembers which trials it
stopped, so the results can say ``early_stopped`` rather than guess, and, at the
sweep's tail, gives the cores that fell idle to the trials still running
(``growth``; ``scheduler.idle_cores`` in the sweep file).
"""
from __future__ import annotations

import os
import pickle
from typing import Any, Callable

from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler

from orchestrator.lifecycle.slots import RESTART_SECONDS, restart_seconds
from orchestrator.raytune import growth, population, private
from orchestrator.spec.sweep import SchedulerSpec
from trainables.contract.keys import FAMILY_KEY


class PerFamilyScheduler(FIFOScheduler):
    def __init__(self, make: Callable[[], TrialScheduler], metric: str, mode: str, give_idle_cores: bool = True,
                 restart_seconds: float = RESTART_SECONDS):
        super().__init__()
        self._make = make
        self._metric, self._mode = metric, mode
        self._by_family: dict[str, TrialScheduler] = {}
        self.stopped_trials: set[str] = set()
        self.give_idle_cores = give_idle_cores
        self.restart_seconds = restart_seconds
        self.growing: dict[str, float] = {}   # trials paused to start again with more cores

    def _for(self, trial) -> TrialScheduler:
        return self._child(trial.config.get(FAMILY_KEY, ""))

    def _view(self, tune_controller, trial):
        """What the trial's family scheduler is shown: a population sees its family only."""
        child = self._for(trial)
        if population.is_population(child):
            return population.FamilyView(tune_controller, trial.config.get(FAMILY_KEY, ""))
        return tune_controller

    def _child(self, family: str) -> TrialScheduler:
        """The family's scheduler; made in a fit, it starts from what the run recorded
        before the fit (``fit.Fit.history``): a resumed or extended run's ASHA decides as
        if it had never stopped (Ray's saved state holds the scheduler as it was built)."""
        if family not in self._by_family:
            child = self._make()
            child.set_search_properties(self._metric, self._mode)
            self._by_family[family] = child
            from orchestrator.raytune import fit

            bound = fit.current()
            if bound is not None and bound.history.get(family):
                if population.is_population(child):
                    population.warm_start(child, bound.history[family])
                else:
                    self.warm_start({family: bound.history[family]})
        return self._by_family[family]

    def _recorded(self, trial) -> dict[int, float] | None:
        """What the run recorded of the trial before this fit (epoch -> metric), if anything."""
        from orchestrator.raytune import fit

        bound = fit.current()
        if bound is None:
            return None
        return bound.history.get(trial.config.get(FAMILY_KEY, ""), {}).get(trial.trial_id)

    def warm_start(self, history: dict[str, dict[str, dict[int, float]]]) -> int:
        """Seed each family's ASHA rungs with earlier trials' values: family -> trial id ->
        epoch -> metric. A rung holds a trial's value at its first epoch at or past the
        milestone, as ASHA itself records it (``private.asha_rungs``; where they moved,
        nothing is seeded and the count says so). Returns the values seeded."""
        seeded = 0
        for family, trials in history.items():
            op, rungs = private.asha_rungs(self._by_family[family] if family in self._by_family
                                           else self._child(family))
            for milestone, recorded in rungs if op is not None else []:
                for tid, epochs in trials.items():
                    reached = [e for e in epochs if e >= milestone]
                    if reached:
                        recorded[tid] = op * epochs[min(reached)]
                        seeded += 1
        return seeded

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # metric and mode come from the sweep file at construction

    def on_trial_add(self, tune_controller, trial) -> None:
        from orchestrator.raytune.reconcile import on_trial_add

        on_trial_add(trial)     # Tune's one hook before a (restored) trial starts: see reconcile
        child = self._for(trial)
        child.on_trial_add(self._view(tune_controller, trial), trial)
        if population.is_population(child):
            population.seed_trial(child, trial, self._recorded(trial))

    def on_trial_error(self, tune_controller, trial) -> None:
        # (a copier's copy stays: a resume runs an errored trial again, from it)
        self._for(trial).on_trial_error(self._view(tune_controller, trial), trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        child = self._for(trial)
        if population.is_population(child):
            if population.ends_here(result):
                return TrialScheduler.CONTINUE    # its last epoch, or it diverged: it ends now, no step copies into it
            return child.on_trial_result(population.FamilyView(tune_controller, trial.config.get(FAMILY_KEY, "")),
                                         trial, result)
        action = child.on_trial_result(tune_controller, trial, result)
        if action == TrialScheduler.STOP and not result.get("done"):
            self.stopped_trials.add(trial.trial_id)
        if action == TrialScheduler.CONTINUE and self.give_idle_cores:
            cpus = growth.should_grow(tune_controller, trial, result, self.growing, self.restart_seconds)
            if cpus is not None:
                self.growing[trial.trial_id] = cpus
                return TrialScheduler.PAUSE   # Tune saves the epoch's checkpoint, then frees the worker
        return action

    def choose_trial_to_run(self, tune_controller):
        populations = {family: child for family, child in self._by_family.items() if population.is_population(child)}
        if populations:
            # each population picks its least-trained member that may run; the least trained of those runs
            views = {family: population.FamilyView(tune_controller, family) for family in populations}
            for family, child in populations.items():
                # a resumed run's errored trials come back without Tune telling the scheduler
                states = private.pbt_states(child)
                for trial in views[family].get_trials():
                    if trial not in states:
                        child.on_trial_add(views[family], trial)
                        population.seed_trial(child, trial, self._recorded(trial))
            picks = [child.choose_trial_to_run(views[family]) for family, child in populations.items()]
            picks = [t for t in picks if t is not None]
            return min(picks, key=lambda t: (t.last_result or {}).get(population.TIME_ATTR, 0), default=None)
        for trial in tune_controller.get_trials():
            if trial.trial_id not in self.growing:
                continue
            if trial.status == Trial.PAUSED:
                growth.give(trial, self.growing.pop(trial.trial_id))
            elif trial.status != Trial.RUNNING:   # (RUNNING: its pause is on the way)
                # ended, or restored PENDING by a resume: it starts with the cores it had,
                # and may grow again at its next report
                self.growing.pop(trial.trial_id)
        return super().choose_trial_to_run(tune_controller)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._for(trial).on_trial_complete(self._view(tune_controller, trial), trial, result)
        self._forget_copy(trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._for(trial).on_trial_remove(self._view(tune_controller, trial), trial)

    def _forget_copy(self, trial) -> None:
        if population.is_population(self._for(trial)):
            population.trial_ended(trial)

    def debug_string(self) -> str:
        return f"per-family scheduling over {len(self._by_family)} families"

    def save(self, checkpoint_path: str) -> None:
        state = {k: v for k, v in self.__dict__.items() if k != "_make"}
        with open(checkpoint_path, "wb") as f:
            pickle.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
        self.__dict__.setdefault("give_idle_cores", True)   # saved by a tunefm from before idle cores were given
        self.__dict__.setdefault("growing", {})
        self.__dict__.setdefault("restart_seconds", RESTART_SECONDS)


def build_scheduler(spec: SchedulerSpec, metric: str, mode: str) -> PerFamilyScheduler:
    """``spec.idle_cores`` "give": a trial running at the sweep's tail starts again with the
    cores that fell idle (``growth``); "leave": it keeps the ones it started with."""
    if spec.kind == "asha":
        def make() -> TrialScheduler:
            # max_t stops nothing itself: the trial ends at max_epochs on its own, and
            # stop_last_trials=False keeps ASHA from counting that as its decision.
            return AsyncHyperBandScheduler(time_attr="training_iteration", max_t=spec.max_epochs,
                                           grace_period=spec.grace_period,
                                           reduction_factor=spec.reduction_factor,
                                           brackets=spec.brackets, stop_last_trials=False)
    elif spec.population is not None:
        def make() -> TrialScheduler:
            # its own pause, copy and restart: no growth (idle_cores is refused with it)
            return population.build(spec.population, metric, mode)
    else:
        make = FIFOScheduler
    return PerFamilyScheduler(make, metric, mode, give_idle_cores=spec.idle_cores == "give" and spec.population is None,
                              restart_seconds=restart_seconds(os.environ))
