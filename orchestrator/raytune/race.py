"""The race phase's searcher: it proposes round after round of the candidates still in
the race, and ends the search once the race is decided or out of rounds.

Scores come from the run's recorder (the ledger of this session, rebuilt from the
Parquet), not from Ray's callbacks, so a resumed race decides on every run the run
folder holds. Proposals run one round ahead of the last round every survivor finished,
so a slot a round's last run leaves free is not left idle; a candidate shown worse gets
no new runs (its slots go to the survivors), and a run of it already started finishes.
"""
from __future__ import annotations

from ray.tune.search import Searcher

from orchestrator.raytune import fit as fits
from orchestrator.raytune.searcher import StatefulSearcher
from trainables.contract.keys import RACE_KEY, ROUND_KEY
from trainables.contract.status import Status

LOOK_AHEAD = 1      # rounds a candidate may be proposed beyond the one under way (the first not every survivor ended)


class RaceSearcher(StatefulSearcher):
    def __init__(self, plan, rule, mode: str, max_trials: int):
        """``rule.max_rounds`` caps the rounds over the whole race (an extension of it raises
        it); ``max_trials``: this phase's runs at most."""
        super().__init__()
        self._plan, self._rule, self._mode = plan, rule, mode
        self._max_trials = max_trials
        self._proposed: dict[str, set[int]] = {c: set() for c in plan.configs}
        self._count = 0

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def suggest(self, trial_id: str):
        from orchestrator.ranking.race import decide

        if self._count >= self._max_trials:
            return Searcher.FINISHED
        ended, got = self._outcomes()
        verdict = decide({c: got.get(c, {}) for c in self._plan.configs}, self._mode, self._rule)
        if verdict.decided or verdict.kind != "racing":
            return Searcher.FINISHED
        survivors = [c for c in self._plan.configs if c not in verdict.eliminated]
        finished = self._finished_rounds(ended, survivors)
        choices = [(self._next_round(c, ended), c) for c in survivors]
        choices = [(r, c) for r, c in choices if r < self._rule.max_rounds
                   and r <= finished + 1 + LOOK_AHEAD]
        if not choices:
            outstanding = any(r not in ended.get(c, {}) for c, rounds in self._proposed.items() for r in rounds)
            return None if outstanding else Searcher.FINISHED    # wait for runs under way; else nothing can come
        round_, candidate = min(choices)
        self._proposed[candidate].add(round_)
        self._count += 1
        return self._plan.trial_config(candidate, round_)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def get_state(self) -> dict:
        return {"proposed": self._proposed, "count": self._count}

    def set_state(self, state: dict) -> None:
        self._proposed, self._count = state["proposed"], state["count"]

    # --- reading the run -----------------------------------------------------------------
    def _outcomes(self) -> tuple[dict[str, dict[int, str]], dict[str, dict[int, float]]]:
        """(candidate -> round -> final status, candidate -> round -> score) of the race's
        runs the run has recorded, this phase's and any earlier one's."""
        from trainables.contract.status import DONE

        fit = fits.current()
        ledger = getattr(fit.listener, "ledger", None) if fit is not None else None
        ended: dict[str, dict[int, str]] = {}
        got: dict[str, dict[int, float]] = {}
        for rec in (ledger.trials.values() if ledger is not None else ()):
            cand, round_ = rec.config.get(RACE_KEY), rec.config.get(ROUND_KEY)
            # a run stopped before its end (a time budget, a Ctrl-C) ran nothing for its round: a resume
            # trains it on (its round is among those proposed), a later race phase proposes the round again
            if cand not in self._plan.configs or round_ is None or rec.status not in DONE:
                continue
            ended.setdefault(cand, {})[int(round_)] = rec.status
            if rec.status in (Status.COMPLETED, Status.DIVERGED) and rec.best_metric is not None:
                got.setdefault(cand, {})[int(round_)] = float(rec.best_metric)
        return ended, got

    def _next_round(self, candidate: str, ended: dict[str, dict[int, str]]) -> int:
        taken = self._proposed[candidate] | set(ended.get(candidate, {}))
        r = 0
        while r in taken:
            r += 1
        return r

    def _finished_rounds(self, ended: dict[str, dict[int, str]], survivors: list[str]) -> int:
        """The last round every survivor has ended (-1: none yet)."""
        r = 0
        while all(r in ended.get(c, {}) for c in survivors):
            r += 1
        return r - 1
