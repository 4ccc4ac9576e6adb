"""An anytime-valid test of a mean: the t-test as an e-value.

For paired differences ``d`` (one per round of a race), assumed Gaussian with unknown
variance, the e-value against ``mean(d) = mu0`` is the Bayes factor of the t-statistic
with the right-Haar prior on the scale and a normal prior ``N(0, g)`` on the
standardized effect size, which has a closed form (Gönen, Johnson, Lu and Westfall,
"The Bayesian two-sample t test", The American Statistician 2005; Rouder et al. 2009):

    E_n = (1 + n g)^(-1/2) * ((1 + t²/ν) / (1 + t²/(ν (1 + n g))))^((ν + 1) / 2),  ν = n - 1

With the right-Haar prior this Bayes factor is an e-process for the null: at every
``n`` its expectation is at most 1, and it stays so whatever rule decides when to look
and when to stop (Pérez-Ortiz, Lardy, de Heide and Grünwald, "E-statistics, group
invariance and anytime-valid testing", Annals of Statistics 2024). So rejecting once
``E_n >= 1/alpha`` errs with probability at most ``alpha`` however many rounds a race
runs (Ville's inequality), where a classic t-test looked at after every round errs far
more often than its level.

A directional claim (``direction`` +1: the mean is above ``mu0``; -1: below) counts the
evidence only when the data lean that way: ``E_n * 1{sign(t) = direction}`` is never
larger than ``E_n``, so the same bound holds for it.
"""
from __future__ import annotations

import math

import numpy as np

PRIOR_SCALE = 1.5      # sd of the standardized effect: a seed-to-seed spread or two between candidates
T_CAP = 1e6            # |t| beyond this (differences all alike) adds no evidence worth the overflow


def t_statistic(x) -> float:
    """The one-sample t-statistic of ``x`` against 0; NaN when it is undefined (n < 2 or
    every value equal to 0)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 2:
        return math.nan
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    if sd == 0.0:
        return math.nan if mean == 0.0 else math.copysign(T_CAP, mean)
    return max(-T_CAP, min(T_CAP, mean / (sd / math.sqrt(n))))


def bayes_factor(t: float, n: int, prior_scale: float = PRIOR_SCALE) -> float:
    """The closed-form e-value above for a t-statistic ``t`` of ``n`` values."""
    nu, ng = n - 1, n * prior_scale ** 2
    log = -0.5 * math.log1p(ng) + (nu + 1) / 2 * (math.log1p(t * t / nu) - math.log1p(t * t / (nu * (1 + ng))))
    return math.exp(min(log, 700.0))


def t_evalue(d, mu0: float = 0.0, direction: int = 1, prior_scale: float = PRIOR_SCALE) -> float:
    """The e-value for a mean of ``d`` on the ``direction`` side of ``mu0`` (0 when the
    data lean the other way, 1 when they cannot say: fewer than two values)."""
    x = np.asarray(d, dtype=float) - mu0
    t = t_statistic(x)
    if math.isnan(t):
        return 1.0
    if t * direction <= 0:
        return 0.0
    return bayes_factor(t, len(x), prior_scale)
