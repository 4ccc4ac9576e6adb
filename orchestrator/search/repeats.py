"""Winners re-run over seeds: which configs to repeat, and whether the lead is real.

A lead of 0.2 points from one run per configuration may be nothing but the seed. The
top configurations are trained again with new seeds to their full epoch budget; the
report then compares the leader's runs with the runner-up's using Welch's t-test
(two-sided, unequal variances, scipy.stats.ttest_ind) on the best validation metric,
and calls them statistically tied when p >= 0.05.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestrator.store import schema as S
from trainables.contract.metrics import Mode

from trainables.contract.keys import REPEAT_COL, REPEAT_KEY, SEED_KEY

ALPHA = 0.05


def config_group(trials: pd.DataFrame) -> pd.Series:
    """The configuration each trial ran: its own id, or the id of the trial it repeats (a
    repeat, or a race run)."""
    from orchestrator.search.race import configuration

    return configuration(trials)


def repeat_configs(trials: pd.DataFrame, overall: pd.DataFrame, top_k: int, seeds: int, base_seed: int,
                   metrics: pd.DataFrame | None = None, mutated: list[str] | None = None) -> list[dict]:
    """``seeds`` new runs of each of the ``top_k`` best original configurations (a PBT
    member's: its schedule, ``replay.rerun_config``; ``mutated``: the parameters the
    population changed)."""
    originals = overall[overall["rank"].notna()]
    if REPEAT_COL in originals:
        originals = originals[originals[REPEAT_COL].isna() | (originals[REPEAT_COL] == "")]
    chosen = originals[S.TRIAL_ID].head(top_k).tolist()
    rng = np.random.default_rng([base_seed, 7919])
    configs = []
    for tid in chosen:
        from orchestrator.search.race import BOOKKEEPING
        from orchestrator.search.replay import rerun_config

        config = {k: v for k, v in rerun_config(trials, metrics, tid, mutated or []).items()
                  if k not in BOOKKEEPING or k == SEED_KEY}
        used = {int(config[SEED_KEY])}
        for _ in range(seeds):
            seed = int(rng.integers(0, 2**31 - 1))
            while seed in used:
                seed = int(rng.integers(0, 2**31 - 1))
            used.add(seed)
            configs.append({**config, SEED_KEY: seed, REPEAT_KEY: tid})
    return configs


@dataclass(frozen=True)
class TieVerdict:
    leader: str
    runner_up: str
    leader_mean: float
    runner_up_mean: float
    p_value: float
    tied: bool

    def sentence(self, metric: str) -> str:
        verdict = ("statistically tied" if self.tied else "a real lead")
        return (f"{self.leader} (mean {metric} {self.leader_mean:.4f}) vs {self.runner_up} "
                f"({self.runner_up_mean:.4f}): Welch's t-test p = {self.p_value:.3f} -> {verdict} "
                f"at alpha = {ALPHA}")


def tie_verdict(scores: dict[str, list[float]], mode: str) -> TieVerdict | None:
    """Leader and runner-up by mean score, and Welch's t-test between their runs."""
    from scipy.stats import ttest_ind

    usable = {k: [v for v in vs if not math.isnan(v)] for k, vs in scores.items()}
    usable = {k: vs for k, vs in usable.items() if len(vs) >= 2}
    if len(usable) < 2:
        return None
    order = sorted(usable, key=lambda k: np.mean(usable[k]), reverse=not Mode(mode).ascending)
    a, b = usable[order[0]], usable[order[1]]
    p = float(ttest_ind(a, b, equal_var=False).pvalue)
    if math.isnan(p):   # identical runs on both sides
        p = 1.0
    return TieVerdict(order[0], order[1], float(np.mean(a)), float(np.mean(b)), p, p >= ALPHA)


def repeat_summary(overall: pd.DataFrame, evaluated: pd.DataFrame) -> pd.DataFrame:
    """Per repeated configuration: runs, mean and std of validation and test accuracy."""
    groups = overall.assign(config=config_group(overall))
    repeated = set(groups.loc[groups[S.TRIAL_ID] != groups["config"], "config"])
    test = evaluated.set_index(S.TRIAL_ID)["test_accuracy"] if len(evaluated) else pd.Series(dtype=float)
    rows = []
    for config, g in groups[groups["config"].isin(repeated)].groupby("config", sort=False):
        t = g[S.TRIAL_ID].map(test).dropna()
        rows.append({"config": config, S.FAMILY: g[S.FAMILY].iloc[0], "runs": len(g),
                     "val_mean": g["score"].mean(), "val_std": g["score"].std(ddof=1),
                     "test_runs": len(t), "test_mean": t.mean() if len(t) else np.nan,
                     "test_std": t.std(ddof=1) if len(t) > 1 else np.nan})
    return pd.DataFrame(rows, columns=["config", S.FAMILY, "runs", "val_mean", "val_std", "test_runs",
                                       "test_mean", "test_std"])
