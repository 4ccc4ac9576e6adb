"""Is #1 really ahead of the next ones? Paired tests on the same validation images.

Every trial of a sweep is scored on the same validation images, so two trials are best
compared image by image. For accuracy that is McNemar's exact test: only the images
one model gets right and the other wrong say anything, and under "no difference" each
such image is a fair coin (a two-sided binomial test on the discordant pairs). For
macro-F1, AUC and loss the test is a paired bootstrap of the difference, on the same
resampled images for both trials. The test split never enters here.

This answers "given these two trained models, is one better on this data?". Whether
the lead would survive another seed is the other question, answered by ``tunefm
repeat`` and Welch's test over the seeds (``search/repeats.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestrator.ranking.intervals import RESAMPLES, resample_weights, resampled, statistic_for
from trainables.contract.metrics import Mode

ALPHA = 0.05


def mcnemar_exact(leader_right: np.ndarray, other_right: np.ndarray) -> tuple[int, int, float]:
    """(images only the leader gets right, images only the other gets right, two-sided p).

    >>> mcnemar_exact(np.array([1] * 10 + [0] * 2, bool), np.array([0] * 10 + [1] * 2, bool))[2]
    0.03857421875
    """
    from scipy.stats import binomtest

    only_leader = int(np.sum(leader_right & ~other_right))
    only_other = int(np.sum(~leader_right & other_right))
    discordant = only_leader + only_other
    p = 1.0 if discordant == 0 else float(binomtest(only_leader, discordant, 0.5).pvalue)
    return only_leader, only_other, p


def paired_bootstrap_p(y: np.ndarray, leader: np.ndarray, other: np.ndarray, metric: str, seed: int = 0) -> float:
    """Two-sided p of "no difference" from the bootstrap distribution of leader - other,
    both scored on the same resampled images. Resolution 1/RESAMPLES: 0 means below it."""
    weights = resample_weights(len(y), seed)
    diffs = resampled(metric, y, leader, weights) - resampled(metric, y, other, weights)
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs) == 0:
        return 1.0
    return float(min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0))))


def p_text(p: float) -> str:
    return f"p<{1 / RESAMPLES:g}" if p == 0 else f"p={p:.3g}"


TIED, LEADER_AHEAD, OTHER_AHEAD = "tied", "#1 ahead", "ahead of #1"


@dataclass(frozen=True)
class PairedTest:
    leader: str
    other: str
    other_rank: int
    metric: str
    leader_score: float          # recomputed from the checkpoints' validation predictions
    other_score: float
    test: str                    # "McNemar exact" | "paired bootstrap"
    p_value: float
    leader_better: bool          # the direction of the difference, by the metric's mode
    only_leader: int | None = None   # McNemar's discordant images
    only_other: int | None = None

    @property
    def tied(self) -> bool:
        return self.p_value >= ALPHA

    @property
    def verdict(self) -> str:
        """TIED, LEADER_AHEAD, or OTHER_AHEAD: the checkpoint ranked lower is significantly
        better (possible with --metric other than the sweep's, or while a sweep writes)."""
        return TIED if self.tied else (LEADER_AHEAD if self.leader_better else OTHER_AHEAD)

    def sentence(self) -> str:
        detail = (f"; {self.only_leader} images only #1 gets right, {self.only_other} only #{self.other_rank}"
                  if self.only_leader is not None else "")
        how = f"({self.test}, {p_text(self.p_value)}{detail})"
        if self.verdict == TIED:
            return f"#1 ({self.leader}) and #{self.other_rank} ({self.other}) are tied on validation {how}"
        if self.verdict == LEADER_AHEAD:
            return f"#1 ({self.leader}) is ahead of #{self.other_rank} ({self.other}) on validation {how}"
        return (f"#{self.other_rank} ({self.other}) is ahead of #1 ({self.leader}) on validation {how}: its "
                "checkpoint beats the one ranked first (the ranking's epochs are not the checkpoints' epochs)")


def compare(y: np.ndarray, probs: dict[str, np.ndarray], ranked: list[tuple[str, int]], metric: str,
            mode: str, seed: int = 0) -> list[PairedTest]:
    """#1 of ``ranked`` ((trial id, rank), best first) against each later trial with predictions.
    No tests when #1 itself has none: another trial is never presented as #1."""
    if not ranked or ranked[0][0] not in probs:
        return []
    ranked = [(t, r) for t, r in ranked if t in probs]
    stat = statistic_for(metric)
    leader = ranked[0][0]
    out = []
    for other, rank in ranked[1:]:
        a, b = probs[leader], probs[other]
        sa, sb = stat(y, a), stat(y, b)
        better = Mode(mode).better(sa, sb)
        if metric == "val_accuracy":
            only_a, only_b, p = mcnemar_exact(a.argmax(axis=1) == y, b.argmax(axis=1) == y)
            out.append(PairedTest(leader, other, int(rank), metric, sa, sb, "McNemar exact", p, only_a > only_b,
                                  only_a, only_b))
        else:
            p = paired_bootstrap_p(y, a, b, metric, seed)
            out.append(PairedTest(leader, other, int(rank), metric, sa, sb, "paired bootstrap", p, better))
    return out


def headline(tests: list[PairedTest], why_none: str = "") -> str:
    """The report's one line about #1 and #2 (``why_none``: why there is no test)."""
    if not tests:
        return why_none or "no paired test"
    return tests[0].sentence()
