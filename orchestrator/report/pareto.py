"""The accuracy/size trade-off: Pareto fronts and the best trial within a budget (pure).

A trial is on the front of score against a cost when no other trial is at least as good
on both and better on one. ``--budget params=7000`` or ``latency_ms=2`` (batch-1
milliseconds per image) names the best trial whose cost is within the limit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from trainables.contract.errors import UserError
from trainables.contract.metrics import Mode

# budget key -> the cost column it limits
BUDGET_COLUMNS = {"params": "params", "latency_ms": "ms_per_image_batch1",
                  "latency_ms_batch256": "ms_per_image_batch256"}


def pareto_front(table: pd.DataFrame, score: str, cost: str, mode: str) -> pd.Series:
    """True for the rows on the front of ``score`` (``mode``) against ``cost`` (lower is better).

    Rows missing either value are never on it; of rows with the same cost and score only
    the first counts.
    """
    on = pd.Series(False, index=table.index)
    usable = table[table[score].notna() & table[cost].notna()]
    ascending = Mode(mode).ascending
    order = usable.sort_values([cost, score], ascending=[True, ascending], kind="stable")
    best = None
    for idx, value in order[score].items():
        if best is None or (value < best if ascending else value > best):
            on[idx] = True
            best = value
    return on


@dataclass(frozen=True)
class Budget:
    limits: tuple[tuple[str, float], ...]      # (budget key, limit), all must hold

    @property
    def text(self) -> str:
        return ", ".join(f"{k} <= {v:g}" for k, v in self.limits)


def parse_budget(text: str) -> Budget:
    """``params=7000``, ``latency_ms=2`` or both, comma-separated."""
    limits = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in BUDGET_COLUMNS:
            raise UserError(f"--budget {text}: each limit is KEY=NUMBER with KEY one of "
                            f"{', '.join(BUDGET_COLUMNS)} (e.g. params=7000)")
        if key in dict(limits):
            raise UserError(f"--budget {text}: {key} is limited twice; give each key once")
        try:
            limit = float(value) if value.strip().isascii() and "_" not in value else math.nan
        except ValueError:
            limit = math.nan
        if not math.isfinite(limit) or limit <= 0:
            raise UserError(f"--budget {text}: {key} needs a positive number, got {value.strip()!r}")
        limits.append((key, limit))
    if not limits:
        raise UserError("--budget: empty; give e.g. params=7000 or latency_ms=2")
    return Budget(tuple(limits))


def best_within(table: pd.DataFrame, budget: Budget, score: str, mode: str) -> pd.Series | None:
    """The best-scored row whose costs are all within ``budget`` (None: no such row).
    ``table`` is ranked best first; a row without a measured cost never qualifies."""
    ok = table[score].notna()
    for key, limit in budget.limits:
        col = BUDGET_COLUMNS[key]
        ok &= table[col].notna() & (table[col] <= limit)
    within = table[ok].sort_values(score, ascending=Mode(mode).ascending, kind="stable")
    return None if within.empty else within.iloc[0]
