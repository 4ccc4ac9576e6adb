"""Effects of one-factor-at-a-time changes against the repeated baseline (pure pandas).

The baseline's spread over its repeats is the yardstick: a factor's change that moves
the mean by less than that is not distinguishable from seed noise in this sweep.
"""
from __future__ import annotations

import pandas as pd

from orchestrator.store import schema as S
from trainables.contract.keys import BASELINE, FACTOR_KEY, FACTOR_VALUE_KEY

FACTOR_COL, VALUE_COL = S.CONFIG_PREFIX + FACTOR_KEY, S.CONFIG_PREFIX + FACTOR_VALUE_KEY
EFFECT_COLUMNS = [S.FAMILY, "factor", "value", "runs", "mean", "std", "delta_vs_baseline", "baseline_std"]


def is_ablation(trials: pd.DataFrame) -> bool:
    return FACTOR_COL in trials and trials[FACTOR_COL].notna().any()


def factor_effects(board: pd.DataFrame) -> pd.DataFrame:
    """One row per family, factor and value (baseline first): mean and std of the trials'
    scores, and the mean's difference from the baseline's mean. Unscored trials are left out."""
    scored = board[board["score"].notna() & board[FACTOR_COL].notna()]
    rows = []
    for family, fam in scored.groupby(S.FAMILY, sort=True):
        base = fam[fam[FACTOR_COL] == BASELINE]["score"]
        base_mean = base.mean() if len(base) else float("nan")
        base_std = base.std(ddof=1) if len(base) > 1 else float("nan")
        groups = fam.groupby([FACTOR_COL, VALUE_COL], sort=False)["score"]
        for (factor, value), scores in groups:
            rows.append({S.FAMILY: family, "factor": factor, "value": value, "runs": len(scores),
                         "mean": scores.mean(), "std": scores.std(ddof=1) if len(scores) > 1 else float("nan"),
                         "delta_vs_baseline": scores.mean() - base_mean, "baseline_std": base_std})
    out = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    order = (out["factor"] != BASELINE).astype(int)
    return out.assign(_o=order).sort_values([S.FAMILY, "_o", "factor"], kind="stable").drop(columns="_o") \
        .reset_index(drop=True)
