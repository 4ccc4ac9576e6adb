"""The race's stopping rule (ranking/race.py) and its e-value (ranking/evalue.py): the
error rates it states hold over simulated races, a better configuration wins, and the
verdict says what it found.

The simulated scores use the seed-to-seed spread measured on the quick task: a score is
its configuration's mean, plus a part its round's seed gives every candidate alike
(``SHARED``), plus a part of its own (``SPREAD``), so the simulation races what a real
race of quick_decide.yaml's leaders sees.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.ranking.evalue import t_evalue
from orchestrator.ranking.race import SETTLED, TIE, UNSETTLED, RaceRule, decide, describe, interval

# Measured 2026-12-05 on quick_decide.yaml's two leaders over 9 paired rounds (seeds) of
# their race: `tunefm sweep sweeps/quick_decide.yaml`, then `tunefm extend RUN --race
# --rounds 7 --seconds 400`. Best validation accuracy per run: sd 0.0090 and 0.0087, their
# covariance 4.65e-5 (a shared sd of 0.0068), the sd of their paired difference 0.0080
# (0.0057 of each candidate's own).
SPREAD = 0.0057
SHARED = 0.0068
RACES = 1500


def simulate(means: list[float], rule: RaceRule, rng, spread: float = SPREAD, shared: float = SHARED):
    """One race: every round, each candidate still in it gets a score; the rule decides."""
    scores = {f"c{i}": {} for i in range(len(means))}
    verdict = None
    for r in range(rule.max_rounds):
        common = rng.normal(0.0, shared)
        out = set(verdict.eliminated) if verdict else set()
        for i, m in enumerate(means):
            if f"c{i}" not in out:
                scores[f"c{i}"][r] = m + common + rng.normal(0.0, spread)
        verdict = decide(scores, "max", rule)
        if verdict.decided:
            return verdict
    return decide(scores, "max", rule, out_of_budget=True)


def rate(count: int, n: int) -> float:
    """An upper 99% bound on a rate seen ``count`` times in ``n`` (Wilson)."""
    from orchestrator.ranking.intervals import wilson

    return wilson(count, n, 0.99).high


def test_the_e_value_is_anytime_valid_under_the_null():
    """Looked at after every one of 40 rounds, the test still rejects a true null at most
    alpha of the time; a classic t-test looked at as often rejects far more."""
    from scipy import stats

    from orchestrator.ranking.evalue import bayes_factor

    rng = np.random.default_rng(0)
    n, looks, alpha = 4000, 40, 0.05
    d = rng.normal(0.0, 1.0, (n, looks))
    k = np.arange(1, looks + 1)
    mean = np.cumsum(d, axis=1) / k
    var = (np.cumsum(d * d, axis=1) - k * mean ** 2)[:, 1:] / (k[1:] - 1)
    t = mean[:, 1:] / np.sqrt(var / k[1:])                       # the t-statistic after rounds 2..40
    ours = sum(any(tt > 0 and bayes_factor(tt, int(kk)) >= 1 / alpha for tt, kk in zip(row, k[1:])) for row in t)
    classic = int((stats.t.sf(t, k[1:] - 1) < alpha).any(axis=1).sum())
    assert rate(ours, n) <= alpha, ours
    assert classic / n > 2 * alpha          # the peeking that the e-value allows for


def test_identical_configurations_are_settled_no_more_often_than_the_stated_rate():
    rule = RaceRule(alpha=0.05, margin=0.005, max_rounds=12)
    rng = np.random.default_rng(1)
    verdicts = [simulate([0.885, 0.885, 0.885], rule, rng) for _ in range(RACES)]
    settled = sum(v.kind == SETTLED for v in verdicts)
    assert rate(settled, RACES) <= rule.alpha, settled


def test_a_tie_is_declared_no_more_often_than_the_stated_rate_when_the_difference_is_the_margin():
    """Equivalence within 0.2 points claimed for configurations 0.2 points apart: an error."""
    rule = RaceRule(alpha=0.05, margin=0.002, max_rounds=12)
    rng = np.random.default_rng(2)
    verdicts = [simulate([0.887, 0.885], rule, rng) for _ in range(RACES)]
    ties = sum(v.kind == TIE for v in verdicts)
    assert rate(ties, RACES) <= rule.alpha, ties


def test_a_truly_better_configuration_is_settled_for_it():
    """One point better, with the quick task's spread: the race settles for it in most
    races within 20 rounds (86% of these, after 13 rounds on average; within 12 rounds,
    27%), and never for another."""
    rule = RaceRule(alpha=0.05, margin=0.005, max_rounds=20)
    rng = np.random.default_rng(3)
    verdicts = [simulate([0.895, 0.885, 0.884], rule, rng) for _ in range(300)]
    winners = [v.winner for v in verdicts if v.kind == SETTLED]
    assert len(winners) >= 0.8 * len(verdicts) and set(winners) == {"c0"}


def test_configurations_within_the_margin_are_shown_tied():
    """Equal configurations, a one-point margin: shown tied in most races within 20 rounds
    (89% of these; within 12 rounds, 36%)."""
    rule = RaceRule(alpha=0.05, margin=0.01, max_rounds=20)
    rng = np.random.default_rng(4)
    verdicts = [simulate([0.885, 0.885], rule, rng) for _ in range(200)]
    assert sum(v.kind == TIE for v in verdicts) >= 0.8 * len(verdicts)


def test_the_verdict_in_words():
    rounds = {r: 0.01 * (r % 2) for r in range(6)}
    scores = {"a": {r: 0.89 + v for r, v in rounds.items()}, "b": {r: 0.88 + v + 0.0005 * r for r, v in rounds.items()}}
    v = decide(scores, "max", RaceRule(max_rounds=6), out_of_budget=True)
    assert v.kind == SETTLED and v.winner == "a" and v.eliminated == {"b": "a"} and v.leader.rounds == 6
    text = describe(v, "val_accuracy")
    assert text.startswith("settled: a beats b by 0.88 points (95% interval ") and text.endswith(" over 6 seeds")
    loss = decide({"a": {0: 0.3, 1: 0.31}, "b": {0: 0.35, 1: 0.36}}, "min", RaceRule(max_rounds=12))
    assert loss.kind == "racing" and loss.survivors[0] == "a"          # lower loss leads
    assert describe(loss, "val_loss").startswith("racing: a, b still in the race after 2 seeds; a leads b by 0.05")
    assert decide({"a": {0: 0.9}, "b": {}}, "max", RaceRule(max_rounds=1), out_of_budget=True).kind == UNSETTLED


def test_a_candidate_out_of_the_race_stays_out():
    """Its rounds stop once it is out; the others' later rounds do not bring it back."""
    scores = {"a": {r: 0.9 + 0.001 * (r % 3) for r in range(8)}, "b": {r: 0.85 + 0.0007 * r for r in range(5)}}
    v = decide(scores, "max", RaceRule())
    assert v.kind == SETTLED and v.eliminated == {"b": "a"}


def test_the_interval_covers_the_mean_and_narrows_with_rounds():
    rng = np.random.default_rng(5)
    d = rng.normal(0.004, 0.003, 40)
    wide, narrow = interval(d[:5]), interval(d)
    assert wide[0] < 0.004 < wide[1] and narrow[0] < 0.004 < narrow[1]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert interval(d[:1]) == (-math.inf, math.inf)


@pytest.mark.parametrize("values, expected", [([1.0], 1.0), ([0.0, 0.0, 0.0], 1.0)])
def test_no_evidence_without_a_spread_to_measure(values, expected):
    """And no fewer than five rounds can settle two candidates at alpha 0.05: with fewer,
    even differences all alike do not reach the bar (the e-value is bounded)."""
    assert decide({"a": {r: 0.9 for r in range(4)}, "b": {r: 0.8 + 1e-9 * r for r in range(4)}}).kind != SETTLED
    assert t_evalue(values) == expected
    assert t_evalue([0.3, 0.2, 0.4], direction=-1) == 0.0        # the data lean the other way


def test_a_race_whose_rivals_never_ran_is_not_settled_or_tied():
    """A race killed after its first run listed one candidate: it read 'settled: X still in
    the race after 0 seeds' and named a winner."""
    from orchestrator.ranking.race import RACING, UNSETTLED, decide

    for rounds in ({}, {0: 0.80}, {0: 0.80, 1: 0.81, 2: 0.80}):
        verdict = decide({"a": rounds}, "max")
        assert verdict.kind == RACING and verdict.winner is None and not verdict.decided, rounds
    assert decide({"a": {0: 0.8}}, "max", out_of_budget=True).kind == UNSETTLED
