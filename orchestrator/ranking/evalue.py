"""An anytime-valid test of a mean: the t-test as an e-value.

For paired differences ``d`` (one per round of a race) assumed Gaussian with unknown
variance, the e-value against ``mean(d) = mu0`` is the Bayes factor of the t-statistic
with the right-Haar prior on the scale and a prior on the standardized effect size:

    E_n = ∫ f(t_n; n-1, δ√n) π(δ) dδ / f(t_n; n-1, 0)

where ``f(.; ν, λ)`` is the noncentral t density. Under the null its expectation is at
most 1 at every ``n``, and it stays so whatever rule decides when to look and when to
stop (Pérez-Ortiz, Lardy, de Heide, Grünwald, "E-statistics, group invariance and
anytime-valid testing", Annals of Statistics 2024; Grünwald, de Heide, Koolen, "Safe
testing", JRSS B 2024). So rejecting once ``E_n >= 1/alpha`` errs with probability at
most ``alpha`` however many rounds a race runs. (A classic t-test looked at after every
round errs far more often than its level.)

``direction`` +1 tests for a mean above ``mu0``, -1 for one below; the prior on δ is a
half-normal of scale ``PRIOR_SCALE`` on that side.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

PRIOR_SCALE = 1.0      # standardized effects of about one seed-to-seed spread, or less, are the usual ones
GRID = 121             # quadrature points of the prior over δ in [0, 6 * PRIOR_SCALE]
T_CAP = 1e3            # |t| beyond this (differences all alike) adds no evidence worth the overflow


def t_statistic(x: np.ndarray) -> float:
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


def t_evalue(d, mu0: float = 0.0, direction: int = 1, prior_scale: float = PRIOR_SCALE) -> float:
    """The e-value against ``mean(d) = mu0`` (and, for a one-sided alternative, everything
    on the null's side of it) for a mean on the ``direction`` side of ``mu0``."""
    x = np.asarray(d, dtype=float) - mu0
    t = t_statistic(x)
    if math.isnan(t):
        return 1.0
    return _bayes_factor(direction * t, len(x) - 1, float(prior_scale))


@lru_cache(maxsize=4096)
def _bayes_factor(t: float, df: int, scale: float) -> float:
    from scipy import stats

    deltas = np.linspace(0.0, 6.0 * scale, GRID)
    weights = stats.halfnorm.pdf(deltas, scale=scale)
    weights /= weights.sum()
    n = df + 1
    log_alt = stats.nct.logpdf(t, df, deltas * math.sqrt(n))
    log_null = stats.t.logpdf(t, df)
    top = float(np.max(log_alt))
    return float(math.exp(top - log_null) * np.sum(weights * np.exp(log_alt - top)))
