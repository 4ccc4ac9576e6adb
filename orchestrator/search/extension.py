"""What ``tunefm extend`` adds to a run: new configurations and what the search already knows.

- Random and grid search continue each family's seeded stream where the run left it
  (``ray_space.config_stream``), skipping any configuration already tried (the seed
  aside), so an extended sweep is the sweep it would have been with more samples.
- TPE starts from every earlier result of its family (Optuna's study is told them as
  finished trials before it proposes).
- ASHA's rungs start with the earlier trials' values at each milestone, so a new trial
  is stopped or promoted against everything the run has seen, not only its own phase.
- ``--max-epochs`` above the run's: the best trials that trained to the old budget
  continue from their latest checkpoints (a new trial each, ``continues`` naming it).
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.spec.sweep import FamilySweep, SweepSpec
from orchestrator.store import schema as S
from trainables.contract.errors import UserError
from orchestrator.search.row_config import missing
from trainables.contract.keys import CONTINUES_KEY

DRAW_FACTOR = 50     # draws per wanted configuration before a family is called exhausted


def config_key(config: dict[str, Any]) -> tuple:
    """What makes two configurations the same: every value but the seed and the bookkeeping."""
    from orchestrator.search.race import BOOKKEEPING

    skip = set(BOOKKEEPING)
    return tuple(sorted((k, repr(_plain(v))) for k, v in config.items() if k not in skip))


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def tried_keys(trials: pd.DataFrame, family: str) -> set[tuple]:
    """``config_key`` of every configuration a family's trials ran (from the trials table)."""
    from orchestrator.search.row_config import row_config

    return {config_key(row_config(row)) for _, row in trials[trials[S.FAMILY] == family].iterrows()}



def continue_stream(family: FamilySweep, search: str, sweep_seed: int, drawn: int, want: int,
                    tried: set[tuple]) -> tuple[list[dict], int]:
    """``want`` untried configurations from the family's stream after its first ``drawn``;
    returns them and how many were drawn to find them. Fewer when the space runs out."""
    from orchestrator.raytune.space import config_stream

    out, seen, taken = [], set(tried), 0
    for config in itertools.islice(config_stream(family, search, sweep_seed), drawn, drawn + DRAW_FACTOR * want):
        taken += 1
        key = config_key(config)
        if key in seen:
            continue
        seen.add(key)
        out.append(config)
        if len(out) == want:
            break
    return out, taken


def histories(metrics: pd.DataFrame, trials: pd.DataFrame, metric: str) -> dict[str, dict[str, dict[int, float]]]:
    """family -> trial id -> epoch -> metric value, for every earlier trial with results."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    if metrics.empty:
        return out
    family = trials.set_index(S.TRIAL_ID)[S.FAMILY]
    for tid, rows in metrics.dropna(subset=[metric]).groupby(S.TRIAL_ID):
        fam = family.get(tid, rows[S.FAMILY].iloc[0])
        out.setdefault(fam, {})[tid] = dict(zip(rows[S.EPOCH].astype(int), rows[metric].astype(float)))
    return out


def continuations(trials: pd.DataFrame, board: pd.DataFrame, families: list[str], top: int,
                  old_max_epochs: int) -> list[str]:
    """The ``top`` best trials of each family that trained to the old budget (completed)."""
    done = set(trials[(trials[S.STATUS] == S.COMPLETED) & (trials["epochs"] >= old_max_epochs)][S.TRIAL_ID])
    ranked = board[board["rank"].notna() & board[S.TRIAL_ID].isin(done) & board[S.FAMILY].isin(families)]
    return list(ranked.groupby(S.FAMILY, sort=False).head(top)[S.TRIAL_ID])


def continuation_config(trials: pd.DataFrame, trial_id: str) -> dict[str, Any]:
    from orchestrator.search.row_config import row_config

    config = row_config(trials.set_index(S.TRIAL_ID).loc[trial_id])
    config[CONTINUES_KEY] = trial_id
    return config


def check_extendable(spec: SweepSpec, family: str | None) -> list[FamilySweep]:
    if spec.search == "ablation":
        raise UserError(f"{spec.source}: search: ablation runs a fixed set of one-factor changes; there is "
                        "nothing to draw more of (tunefm repeat re-runs the winners with new seeds)")
    if family is not None:
        labels = [f.label for f in spec.families]
        if family not in labels:
            raise UserError(f"--family {family}: no such family in this run (families: {', '.join(labels)})")
        return [spec.family(family)]
    return list(spec.families)


def tried_points(spec: SweepSpec, snap) -> dict[str, list[tuple[dict[str, Any], list[float]]]]:
    """family -> (searched values, objective values) of every earlier trial with a score:
    what TPE is told before it proposes (best epoch's metric; ``params`` for objectives)."""
    from orchestrator.ranking.leaderboard import best_scores
    from orchestrator.search.row_config import row_config
    from orchestrator.spec.spaces import Constant

    scores = best_scores(snap.metrics, spec.metric, spec.mode).set_index(S.TRIAL_ID)["score"]
    out: dict[str, list] = {}
    trials = snap.trials.set_index(S.TRIAL_ID)
    for fam in spec.families:
        searched = [k for k, s in fam.space.items() if not isinstance(s, Constant)]
        for tid, row in trials[trials[S.FAMILY] == fam.label].iterrows():
            if tid not in scores.index or missing(scores[tid]):
                continue
            values = [float(scores[tid])]
            if spec.objectives:
                if any(name != "params" for name, _ in spec.objectives[1:]):
                    return {}      # a second validation metric at "the" best epoch is ambiguous: no warm start
                values += [float(row["params"])] * (len(spec.objectives) - 1)
            config = row_config(row)
            point = {k: config.get(k) for k in searched}
            if any(missing(v) for v in point.values()):
                continue
            out.setdefault(fam.label, []).append((point, values))
    return out
