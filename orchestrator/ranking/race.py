"""When a race among the leaders is decided, and what it says: a pure function of the
scores the candidates got, round by round, on the same seeds (and folds).

Every pair of candidates is compared on the rounds both ran (paired differences), with
the anytime-valid t-test of ``evalue``, in both directions: ``j`` is out once some
``i`` is shown better, at a threshold of ``K(K-1)/alpha`` (Bonferroni over the ``K(K-1)``
ordered pairs a race of ``K`` candidates can test). The race ends:

- **settled**: one candidate left. The chance that a race of candidates that are the
  same declares one the winner is at most ``alpha``, however many rounds it takes
  (``tests/unit/test_race.py`` counts it over simulated races);
- **tie**: the survivors are shown equivalent within ``margin``: for every pair, the
  mean difference is shown above ``-margin`` and below ``+margin`` (two one-sided tests,
  Schuirmann 1987, each anytime-valid, at the same threshold) -- a shown equivalence,
  not a failure to find a difference. The chance of declaring a tie when a pair differs
  by ``margin`` or more is at most ``alpha``;
- **unsettled**: the race's budget (rounds, trials, seconds) ran out first.

The interval given with a verdict is the 95% anytime-valid interval of the mean
difference (the same test inverted), so it holds although the race looked after every
round.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import permutations

import numpy as np

from orchestrator.ranking.evalue import PRIOR_SCALE, t_evalue

SETTLED, TIE, UNSETTLED, RACING = "settled", "tie", "unsettled", "racing"
INTERVAL = 0.95


@dataclass(frozen=True)
class RaceRule:
    alpha: float = 0.05          # the error rate of "settled", and of "tie"
    margin: float = 0.005        # a difference below this (the metric's units) is a tie
    max_rounds: int = 12         # rounds after which the race is unsettled
    prior_scale: float = PRIOR_SCALE

    def threshold(self, candidates: int) -> float:
        return max(1, candidates * (candidates - 1)) / self.alpha


@dataclass(frozen=True)
class Difference:
    """``better`` minus ``worse`` over the rounds both ran, in the metric's units (a
    positive mean: ``better`` did better, whatever the metric's direction)."""

    better: str
    worse: str
    rounds: int
    mean: float
    low: float                   # the 95% anytime-valid interval
    high: float


@dataclass(frozen=True)
class Verdict:
    kind: str                                    # SETTLED, TIE, UNSETTLED or RACING
    survivors: tuple[str, ...]                   # best first (by mean over the rounds they all ran)
    eliminated: dict[str, str] = field(default_factory=dict)   # candidate -> the one shown better
    rounds: int = 0                              # rounds every survivor ran
    leader: Difference | None = None             # the leader against its closest rival
    rule: RaceRule = RaceRule()

    @property
    def winner(self) -> str | None:
        return self.survivors[0] if self.kind == SETTLED else None

    @property
    def decided(self) -> bool:
        return self.kind in (SETTLED, TIE)


def decide(scores: dict[str, dict[int, float]], mode: str = "max", rule: RaceRule = RaceRule(),
           out_of_budget: bool = False) -> Verdict:
    """The race's verdict from ``scores``: candidate -> round -> score (its validation
    metric; ``mode`` says whether higher is better)."""
    sign = 1.0 if mode == "max" else -1.0
    gains = {c: {r: sign * float(v) for r, v in rounds.items() if v is not None and math.isfinite(v)}
             for c, rounds in scores.items()}
    names = sorted(gains)
    threshold = rule.threshold(len(names))
    eliminated: dict[str, str] = {}
    for i, j in permutations(names, 2):
        d = _paired(gains, i, j)
        if len(d) >= 2 and j not in eliminated and t_evalue(d, 0.0, +1, rule.prior_scale) >= threshold:
            eliminated[j] = i
    survivors = [c for c in names if c not in eliminated]
    common = set.intersection(*(set(gains[c]) for c in survivors)) if survivors else set()
    survivors.sort(key=lambda c: -np.mean([gains[c][r] for r in common]) if common else 0.0)
    rounds = len(common)
    if len(survivors) == 1 and eliminated:      # settled by evidence, not by a rival that never ran
        rivals = [c for c in names if c != survivors[0] and len(_paired(gains, survivors[0], c)) >= 2]
        closest = min(rivals, key=lambda c: float(np.mean(_paired(gains, survivors[0], c))), default=None)
        leader = _difference(gains, survivors[0], closest, sign) if closest else None
        return Verdict(SETTLED, tuple(survivors), eliminated, leader.rounds if leader else 0, leader, rule)
    leader = _difference(gains, survivors[0], survivors[1], sign) if len(survivors) > 1 and rounds >= 2 else None
    if rounds >= 2 and len(survivors) > 1 and all(_equivalent(_paired(gains, a, b), rule, threshold)
                           for a, b in permutations(survivors, 2) if a < b):
        return Verdict(TIE, tuple(survivors), eliminated, rounds, leader, rule)
    kind = UNSETTLED if out_of_budget or rounds >= rule.max_rounds else RACING
    return Verdict(kind, tuple(survivors), eliminated, rounds, leader, rule)


def _paired(gains: dict[str, dict[int, float]], a: str, b: str) -> np.ndarray:
    rounds = sorted(set(gains[a]) & set(gains[b]))
    return np.array([gains[a][r] - gains[b][r] for r in rounds])


def _equivalent(d: np.ndarray, rule: RaceRule, threshold: float) -> bool:
    """Both one-sided nulls rejected: the mean is above -margin and below +margin."""
    return len(d) >= 2 and t_evalue(d, -rule.margin, +1, rule.prior_scale) >= threshold and \
        t_evalue(d, rule.margin, -1, rule.prior_scale) >= threshold


def _difference(gains, a: str, b: str, sign: float) -> Difference:
    d = _paired(gains, a, b)
    low, high = interval(d)
    return Difference(a, b, len(d), float(np.mean(d)), low, high)


def interval(d, level: float = INTERVAL, prior_scale: float = PRIOR_SCALE) -> tuple[float, float]:
    """The anytime-valid interval of the mean of ``d``: every mean the two one-sided
    e-tests at ``2/(1-level)`` do not reject. The e-value depends on the data only through
    the t-statistic, so the bounds are ``mean -+ t* * sd / sqrt(n)`` with ``t*`` the t
    where it reaches that bar (infinite where no t does: too few rounds)."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    if n < 2:
        return -math.inf, math.inf
    t_star = critical_t(n, 2.0 / (1.0 - level), prior_scale)
    mean, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(n)
    return mean - t_star * se, mean + t_star * se


@lru_cache(maxsize=1024)
def critical_t(n: int, bar: float, prior_scale: float = PRIOR_SCALE) -> float:
    """The t-statistic at which the e-value of ``n`` values reaches ``bar`` (inf: never)."""
    from orchestrator.ranking.evalue import T_CAP, bayes_factor

    if bayes_factor(T_CAP, n, prior_scale) < bar:
        return math.inf
    low, high = 0.0, T_CAP
    for _ in range(200):
        mid = (low + high) / 2 if high - low > 1 else math.sqrt(low * high) if low > 0 else high / 2
        mid = (low + high) / 2
        if bayes_factor(mid, n, prior_scale) >= bar:
            high = mid
        else:
            low = mid
    return high


@lru_cache(maxsize=256)
def fewest_rounds(candidates: int, alpha: float, prior_scale: float = PRIOR_SCALE, limit: int = 1000) -> int:
    """The fewest rounds after which a race of ``candidates`` can be settled at all: the
    e-value of paired differences that all agree (``evalue.T_CAP``) first reaches the
    threshold there. A race given fewer rounds can only end unsettled.

    >>> fewest_rounds(2, 0.05), fewest_rounds(3, 0.05), fewest_rounds(5, 0.05), fewest_rounds(2, 0.01)
    (5, 5, 6, 6)
    """
    from orchestrator.ranking.evalue import T_CAP, bayes_factor

    bar = RaceRule(alpha=alpha).threshold(max(2, candidates))
    return next((n for n in range(2, limit) if bayes_factor(T_CAP, n, prior_scale) >= bar), limit)


def describe(verdict: Verdict, metric: str, names: dict[str, str] | None = None) -> str:
    """The verdict in one line, e.g. ``settled: 1a2b beats 3c4d by 0.41 points (95% interval
    0.12 to 0.70) over 6 seeds``."""
    name = (names or {}).get
    scale, unit = (100.0, " points") if metric != "val_loss" else (1.0, "")
    d = verdict.leader

    def diff(x: Difference) -> str:
        bounds = (f"95% interval {x.low * scale:.2f} to {x.high * scale:.2f}" if math.isfinite(x.low - x.high)
                  else f"too few seeds for a 95% interval: {fewest_rounds(2, 1 - INTERVAL)} at least")
        return f"by {x.mean * scale:.2f}{unit} ({bounds}) over {x.rounds} seeds"

    if verdict.kind == SETTLED and d is not None:
        return f"settled: {name(d.better, d.better)} beats {name(d.worse, d.worse)} {diff(d)}"
    who = ", ".join(name(c, c) for c in verdict.survivors)
    margin = f"{verdict.rule.margin * scale:g}{unit}"
    if verdict.kind == TIE:
        return f"tie: {who} are within {margin} of each other over {verdict.rounds} seeds"
    lead = f"; {name(d.better, d.better)} leads {name(d.worse, d.worse)} {diff(d)}" if d is not None else ""
    return f"{verdict.kind}: {who} still in the race after {verdict.rounds} seeds{lead}"
