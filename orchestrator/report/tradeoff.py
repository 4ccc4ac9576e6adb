"""Validation score against model size and latency: the fronts and the budgets' winners.

Costs come from ``costs`` (measured once per trial on this machine); the fronts and
budgets from ``pareto`` (pure). Parameters are known for every trial; a sweep
with hundreds of trials times its ``MAX_MEASURED`` best-scored ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestrator.report.costs import inference_costs
from orchestrator.report.holdout import present_checkpoints
from orchestrator.report.pareto import Budget, best_within, pareto_front
from orchestrator.store import schema as S
from orchestrator.store.snapshot import Snapshot

MAX_MEASURED = 200
FRONTS = {"params": "params", "latency": "ms_per_image_batch1"}   # front name -> cost column


@dataclass(frozen=True)
class TradeOff:
    table: pd.DataFrame                     # ranked trials with costs and on_<front> flags
    budgets: list[tuple[Budget, pd.Series | None]] = field(default_factory=list)
    unmeasured: int = 0                     # scored trials beyond MAX_MEASURED or without a checkpoint
    measured: int = 0                       # trials with a latency

    def front(self, name: str) -> pd.DataFrame:
        return self.table[self.table[f"on_{name}_front"]].sort_values(FRONTS[name])

    def members(self) -> list[tuple[str, str]]:
        """(trial id, why) of every front member and budget winner, for the test evaluation."""
        out: dict[str, str] = {}
        for name in FRONTS:
            for tid in self.front(name)[S.TRIAL_ID]:
                out.setdefault(tid, f"{name} front")
        for budget, row in self.budgets:
            if row is not None:
                out.setdefault(row[S.TRIAL_ID], f"budget {budget.text}")
        return list(out.items())


def trade_off(snap: Snapshot, ranked: pd.DataFrame, mode: str, cache_dir: Path, remote=None,
              budgets: list[Budget] | tuple[Budget, ...] = ()) -> TradeOff:
    """``ranked``: the overall board's scored rows, best first."""
    candidates = ranked[[S.TRIAL_ID, S.FAMILY, "rank", "score"]]
    measured = candidates[S.TRIAL_ID].head(MAX_MEASURED)
    found = present_checkpoints(snap, [(tid, "cost") for tid in measured], remote, strict=False)
    checkpoints = {tid: ckpt for tid, _, ckpt in found}
    from trainables.contract.keys import REPORT_DIR

    costs = inference_costs(snap.trials, checkpoints, tuple(snap.meta.data.input_shape), cache_dir,
                            cache=not snap.running, also_read=snap.run_dir / REPORT_DIR)
    params = snap.trials.set_index(S.TRIAL_ID)["params"]
    table = candidates.assign(params=candidates[S.TRIAL_ID].map(params))
    table = table.merge(costs.drop(columns=["params"]), on=S.TRIAL_ID, how="left")
    for name, col in FRONTS.items():
        table[f"on_{name}_front"] = pareto_front(table, "score", col, mode)
    chosen = [(b, best_within(table, b, "score", mode)) for b in budgets]
    return TradeOff(table, chosen, unmeasured=len(ranked) - len(checkpoints), measured=len(checkpoints))
