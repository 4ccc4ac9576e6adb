"""A Ray Tune ``Searcher`` that hands out a sweep's pre-expanded trial configs.

Random and grid search are fully decided up front (``ray_space.trial_configs``), so
this searcher only serves them in order. Model-based searchers (TPE) slot in as other
``Searcher``s; the orchestrator picks one by the sweep's ``search`` key.
"""
from __future__ import annotations

import pickle
from typing import Any

from ray.tune.search import Searcher


class StatefulSearcher(Searcher):
    """Saves and restores ``get_state()`` with pickle, so Tune can checkpoint and resume it."""

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))


class QueueSearcher(StatefulSearcher):
    def __init__(self, configs: list[dict[str, Any]], metric: str | None = None, mode: str | None = None):
        super().__init__(metric=metric, mode=mode)
        self._configs = list(configs)
        self._next = 0

    def suggest(self, trial_id: str) -> dict | None:
        if self._next >= len(self._configs):
            return Searcher.FINISHED
        config = dict(self._configs[self._next])
        self._next += 1
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def get_state(self) -> dict:
        return {"configs": self._configs, "next": self._next}

    def set_state(self, state: dict) -> None:
        self._configs, self._next = state["configs"], state["next"]


class ChainSearcher(StatefulSearcher):
    """Fixed configurations first (``tunefm extend``'s continuations), then another searcher's."""

    def __init__(self, configs: list[dict[str, Any]], then: Searcher):
        super().__init__()
        self._queue, self._then = QueueSearcher(configs), then
        self._queued: set[str] = set()

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self._then.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict | None:
        config = self._queue.suggest(trial_id)
        if config != Searcher.FINISHED:
            self._queued.add(trial_id)
            return config
        return self._then.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self._queued:
            self._then.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self._queued:
            self._then.on_trial_complete(trial_id, result=result, error=error)

    def get_state(self) -> dict:
        return dict(self.__dict__)

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)
