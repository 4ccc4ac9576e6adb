"""The top trials' best checkpoints on the validation split: intervals and paired tests.

The sweep chose its winner on these very images, so they are where "how sure is the
ranking?" is answered; the test split is never read here. The images are the sweep's
own validation split, rebuilt from the sweep file's data settings (same seed), and
checked against the count the run recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from orchestrator.report.holdout import present_checkpoints, predict_where_the_sweep_ran
from orchestrator.ranking.intervals import accuracy_interval, score_interval, statistic_for
from orchestrator.ranking.ties import LEADER_AHEAD, OTHER_AHEAD, TIED, PairedTest, compare
from orchestrator.store import schema as S
from orchestrator.store.snapshot import Snapshot
from trainables.contract.errors import UserError

COLUMNS = [S.TRIAL_ID, "rank", "recorded", "recomputed", "ci_low", "ci_high", "ci_method"]
VALIDATION_FILE = "validation_eval.parquet"
TIES_FILE = "ties.parquet"
MAX_BOOTSTRAPPED = 50        # trials whose checkpoints predict validation for a bootstrapped interval
MARKS = {TIED: "tied with #1", LEADER_AHEAD: "#1 ahead", OTHER_AHEAD: "ahead of #1"}


@dataclass(frozen=True)
class ValidationEval:
    metric: str
    images: int
    table: pd.DataFrame                              # COLUMNS, one row per trial with a checkpoint
    tests: list[PairedTest] = field(default_factory=list)
    why_none: str = ""                               # why there is no paired test, when there is none


def verdicts(tests: list[PairedTest]) -> dict[str, str]:
    """Trial id -> "#1", "tied with #1", "#1 ahead" or "ahead of #1", from the paired tests."""
    if not tests:
        return {}
    return {tests[0].leader: "#1", **{t.other: MARKS[t.verdict] for t in tests}}


def annotate(boards: pd.DataFrame, metric: str, images: int, intervals: pd.DataFrame | None = None,
             verdict_of: dict[str, str] | None = None) -> pd.DataFrame:
    """Add each score's 95% interval (``ci_low``, ``ci_high``) and, on the overall board,
    the paired tests' verdict (``vs_1``; empty where untested).

    Accuracy's interval needs only the score and the number of images (Wilson), so every
    row gets one; a bootstrapped interval needs predictions, so only the checkpoints
    evaluated on validation (``intervals``: the top-k) get one."""
    from orchestrator.ranking.leaderboard import OVERALL

    if metric == "val_accuracy" and images > 0:
        cis = [accuracy_interval(s, images) if pd.notna(s) else None for s in boards["score"]]
        low = [c.low if c else np.nan for c in cis]
        high = [c.high if c else np.nan for c in cis]
    elif intervals is not None and len(intervals):
        by_id = intervals.set_index(S.TRIAL_ID)
        low = boards[S.TRIAL_ID].map(by_id["ci_low"]).astype(float).tolist()
        high = boards[S.TRIAL_ID].map(by_id["ci_high"]).astype(float).tolist()
    else:
        low = high = [np.nan] * len(boards)
    overall = boards["board"] == OVERALL
    verdict_of = verdict_of or {}
    vs = [verdict_of.get(tid, "") if is_overall else "" for tid, is_overall in zip(boards[S.TRIAL_ID], overall)]
    return boards.assign(ci_low=low, ci_high=high, vs_1=vs)


def saved_verdicts(report_dir, leader: str, metric: str) -> dict[str, str] | None:
    """The verdicts of the paired tests a report wrote, if it tested today's #1 by
    ``metric`` (None: no such report, or a stale one)."""
    import pyarrow as pa

    try:
        table = pd.read_parquet(report_dir / TIES_FILE, columns=["leader", "against", "metric", "verdict"])
    except (OSError, ValueError, KeyError, pa.ArrowException):   # none, damaged, or another tunefm's
        return None
    if table.empty or set(table["leader"]) != {leader} or set(table["metric"]) != {metric}:
        return None
    return {leader: "#1", **{r["against"]: MARKS.get(r["verdict"], str(r["verdict"])) for _, r in table.iterrows()}}


def evaluate_validation(snapshot: Snapshot, ranked: list[tuple[str, int]], metric: str, mode: str,
                        scores: dict[str, float], remote=None, top_k: int = 3) -> ValidationEval:
    """Predict the validation split with ranked trials' checkpoints ((id, rank), best first),
    put an interval on each score and test #1 against the next ``top_k - 1``.

    Accuracy's interval needs no predictions (Wilson), so only the top-k are predicted;
    for the other metrics the best ``MAX_BOOTSTRAPPED`` are, for their bootstrap."""
    from trainables.datasets import load_trial_data

    wanted = ranked[:top_k] if metric == "val_accuracy" else ranked[:max(top_k, MAX_BOOTSTRAPPED)]
    keep = present_checkpoints(snapshot, [(tid, "validation") for tid, _ in wanted], remote)
    if not keep:
        return ValidationEval(metric, 0, pd.DataFrame(columns=COLUMNS), why_none=_why_none(ranked, {}, top_k))
    val = load_trial_data(snapshot.spec.dataset).val
    recorded_n = snapshot.meta.data.val
    if recorded_n and len(val) != recorded_n:
        raise UserError(f"{snapshot.folder.location}: the validation split rebuilt from the sweep file has "
                        f"{len(val)} images, the run recorded {recorded_n}; the data set is not the one the "
                        "sweep ran on")
    probs_list = predict_where_the_sweep_ran(snapshot, [c for _, _, c in keep], val.x)
    probs = {tid: p for (tid, _, _), p in zip(keep, probs_list) if p is not None}   # None: removed meanwhile
    rank_of = dict(ranked)
    rows = []
    for tid, p in probs.items():
        ci = score_interval(metric, val.y, p)
        rows.append({S.TRIAL_ID: tid, "rank": rank_of[tid], "recorded": scores.get(tid, np.nan),
                     "recomputed": statistic_for(metric)(val.y, p), "ci_low": ci.low, "ci_high": ci.high,
                     "ci_method": ci.method})
    tests = compare(val.y, probs, ranked[:top_k], metric, mode)
    return ValidationEval(metric, len(val), pd.DataFrame(rows, columns=COLUMNS), tests,
                          "" if tests else _why_none(ranked, probs, top_k))


def _why_none(ranked: list[tuple[str, int]], probs: dict, top_k: int) -> str:
    if len(ranked) < 2:
        return "only one trial has a result: nothing to compare #1 with"
    if top_k < 2:
        return "--top-k 1: #1 is compared with no other trial"
    if ranked[0][0] not in probs:
        return f"#1 ({ranked[0][0]}) has no readable checkpoint: no paired test"
    return f"none of #2..#{top_k} has a readable checkpoint: no paired test"


def tests_table(tests: list[PairedTest]) -> pd.DataFrame:
    return pd.DataFrame([{"leader": t.leader, "against": t.other, "rank": t.other_rank, "metric": t.metric,
                          "leader_score": t.leader_score, "other_score": t.other_score, "test": t.test,
                          "only_leader_right": t.only_leader, "only_other_right": t.only_other,
                          "p_value": t.p_value, "verdict": t.verdict} for t in tests],
                        columns=["leader", "against", "rank", "metric", "leader_score", "other_score", "test",
                                 "only_leader_right", "only_other_right", "p_value", "verdict"])
