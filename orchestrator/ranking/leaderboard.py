"""Leaderboards: pure DataFrame-in, DataFrame-out.

A trial's score is its best validation value of the metric over its epochs. Ranking is
competition ranking ("1224"): equal scores share a rank; within a tie, fewer parameters
then less training time come first. Trials with no score (failed, diverged, over
budget, not yet reported) are listed after the ranked ones with no rank.
"""
from __future__ import annotations

import pandas as pd

from orchestrator.store import schema as S
from trainables.contract.metrics import Mode

OVERALL = "overall"
BOARD_COLUMNS = ["board", "rank", S.TRIAL_ID, S.FAMILY, "score", "score_epoch", "params",
                 "train_seconds", S.STATUS]


def best_scores(metrics: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
    """Per trial: the best value of ``metric`` and the (first) epoch it was reached."""
    if metrics.empty or metric not in metrics:
        return pd.DataFrame(columns=[S.TRIAL_ID, "score", "score_epoch"])
    rows = metrics[[S.TRIAL_ID, S.EPOCH, metric]].dropna(subset=[metric])
    rows = rows.sort_values([S.TRIAL_ID, metric, S.EPOCH], ascending=[True, Mode(mode).ascending, True])
    best = rows.groupby(S.TRIAL_ID, sort=False).head(1)
    return best.rename(columns={metric: "score", S.EPOCH: "score_epoch"})[[S.TRIAL_ID, "score", "score_epoch"]]


def rank_trials(table: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Sort by score (then params, then time) and add competition ranks; unscored rows last."""
    scored = table[table["score"].notna()]
    unscored = table[table["score"].isna()]
    scored = scored.sort_values(["score", "params", "train_seconds", S.TRIAL_ID],
                                ascending=[Mode(mode).ascending, True, True, True], na_position="last")
    ranks = scored["score"].rank(method="min", ascending=Mode(mode).ascending).astype("Int64")
    scored = scored.assign(rank=ranks)
    unscored = unscored.sort_values(S.TRIAL_ID).assign(rank=pd.array([pd.NA] * len(unscored), dtype="Int64"))
    return pd.concat([scored, unscored], ignore_index=True)


def leaderboards(trials: pd.DataFrame, metrics: pd.DataFrame, metric: str, mode: str,
                 config_columns: list[str] | None = None) -> pd.DataFrame:
    """The overall board and one board per family, stacked; ``board`` names each."""
    if trials.empty:
        return pd.DataFrame(columns=BOARD_COLUMNS + (config_columns or []))
    config_columns = config_columns or []
    base = trials[[S.TRIAL_ID, S.FAMILY, "params", "train_seconds", S.STATUS, *config_columns]]
    table = base.merge(best_scores(metrics, metric, mode), on=S.TRIAL_ID, how="left")
    boards = [rank_trials(table, mode).assign(board=OVERALL)]
    for family, group in table.groupby(S.FAMILY, sort=True):
        boards.append(rank_trials(group, mode).assign(board=family))
    out = pd.concat(boards, ignore_index=True)
    return out[BOARD_COLUMNS + config_columns]


def board(boards: pd.DataFrame, name: str = OVERALL) -> pd.DataFrame:
    return boards[boards["board"] == name].reset_index(drop=True)


def family_bests(boards: pd.DataFrame) -> pd.DataFrame:
    """The rank-1 trial of every family board that has a ranked trial."""
    fam = boards[(boards["board"] != OVERALL) & (boards["rank"] == 1)]
    return fam.groupby("board", sort=True).head(1).reset_index(drop=True)


def select_for_evaluation(boards: pd.DataFrame, top_k: int) -> list[str]:
    """Top-k of the overall board plus the best of each family, without repeats, in that order."""
    overall = board(boards)
    chosen = list(overall[overall["rank"].notna()][S.TRIAL_ID].head(top_k))
    for tid in family_bests(boards)[S.TRIAL_ID]:
        if tid not in chosen:
            chosen.append(tid)
    return chosen


def searched_columns(spec) -> list[str]:
    """``config_*`` columns of the parameters some family of the sweep actually searches."""
    from orchestrator.spec.spaces import Constant

    from trainables.contract.keys import FACTOR_KEY, FACTOR_VALUE_KEY

    names: dict[str, None] = {}
    for fam in spec.families:
        if fam.factors:   # search: ablation - which factor changed, to what
            names.setdefault(S.CONFIG_PREFIX + FACTOR_KEY)
            names.setdefault(S.CONFIG_PREFIX + FACTOR_VALUE_KEY)
        for key in fam.factors:
            names.setdefault(S.CONFIG_PREFIX + key)
        for key, space in fam.space.items():
            if not isinstance(space, Constant):
                names.setdefault(S.CONFIG_PREFIX + key)
    return list(names)
