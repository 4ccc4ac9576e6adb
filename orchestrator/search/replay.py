"""The configuration a repeat or a race runs again: a trial's own, or, for a member of a
PBT population, the schedule its best epoch's weights were trained by.

A population member's parameters changed during training (``scheduler.mutate``), and
its weights may have come from other members (``ranking.lineage``). Running it again
means running that schedule: the configuration in force at its best epoch, with the
mutated parameters changing at the epochs they changed along its lineage
(``SCHEDULE_KEY``, replayed by ``trainables.training.replay``).
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from orchestrator.ranking import lineage
from orchestrator.search.row_config import row_config
from orchestrator.store import schema as S
from trainables.contract.errors import UserError
from trainables.contract.keys import SCHEDULE_KEY


def mutated(spec) -> list[str]:
    """The parameters a sweep's population changes during training (none for ASHA, FIFO)."""
    population = spec.scheduler.population
    return [m.name for m in population.mutations] if population is not None else []


def rerun_config(trials: pd.DataFrame, metrics: pd.DataFrame | None, trial_id: str,
                 params: list[str]) -> dict[str, Any]:
    """``{family, model, **config}`` to run ``trial_id`` again; with ``params`` (mutated
    during training) its best epoch's configuration and its schedule."""
    row = trials.set_index(S.TRIAL_ID).loc[trial_id]
    if not params:
        return row_config(row)
    best = row.get("best_epoch")
    if metrics is None or best is None or pd.isna(best):
        raise UserError(f"trial {trial_id} has no best epoch recorded, so its schedule cannot be replayed")
    best = int(best)
    at_best = metrics[(metrics[S.TRIAL_ID] == trial_id) & (metrics[S.EPOCH] == best)]
    if at_best.empty:
        raise UserError(f"trial {trial_id}: its best epoch {best} has no row in the metrics; its schedule "
                        "cannot be replayed")
    config = row_config(at_best.iloc[-1])
    sched = lineage.schedule(metrics, trial_id, best, params)
    if len(sched) != best:
        gap = best - len(sched)
        raise UserError(f"trial {trial_id}: the lineage of its best epoch {best} breaks off {gap} epoch(s) short "
                        f"(an epoch of {sched[lineage.TRAINED_BY].iloc[0] if len(sched) else trial_id} has no row); "
                        "its schedule cannot be replayed")
    config[SCHEDULE_KEY] = json.dumps(lineage.changes(sched, params))
    return config
