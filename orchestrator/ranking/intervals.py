"""95% intervals for validation scores: pure maths over labels and predictions.

Accuracy is a proportion of independent images, so its interval is Wilson's score
interval (scipy's ``binomtest(...).proportion_ci``): exact enough from 2,000 images down
to a handful, and never outside [0, 1]. Macro-F1 and AUC are not proportions; their
intervals come from a seeded percentile bootstrap over the validation images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

LEVEL = 0.95
RESAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str            # "wilson" | "bootstrap"
    level: float = LEVEL

    def text(self, digits: int = 4) -> str:
        return ci_text(self.low, self.high, digits)


NO_INTERVAL = Interval(float("nan"), float("nan"), "none")


def wilson(successes: int, n: int, level: float = LEVEL) -> Interval:
    """Wilson's score interval for ``successes`` out of ``n``.

    >>> wilson(8, 10).text(3)
    '[0.490, 0.943]'
    """
    from scipy.stats import binomtest

    if n <= 0:
        return NO_INTERVAL
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return Interval(float(ci.low), float(ci.high), "wilson", level)


def accuracy_interval(accuracy: float, n: int, level: float = LEVEL) -> Interval:
    """Wilson's interval for an accuracy measured on ``n`` images."""
    if n is None or n <= 0 or accuracy is None or not math.isfinite(accuracy):
        return NO_INTERVAL
    return wilson(int(round(accuracy * n)), int(n), level)


# The scores as functions of image weights: one row of ``weights`` per bootstrap resample
# (how often each image was drawn), so a thousand resamples are a few matrix products
# instead of a thousand calls of scikit-learn's functions (tests check they agree).
def weighted_accuracy(y: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return weights @ (probs.argmax(axis=1) == y) / weights.sum(axis=1)


def weighted_loss(y: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    from trainables.training.evaluation import image_losses

    return weights @ image_losses(y, probs) / weights.sum(axis=1)


def weighted_macro_f1(y: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro-F1 over every class (a class neither present nor predicted scores 0, as in training)."""
    pred = probs.argmax(axis=1)
    f1 = []
    for c in range(probs.shape[1]):
        tp = weights @ ((y == c) & (pred == c))
        wrong = weights @ ((y == c) != (pred == c))            # false positives + false negatives
        denom = 2 * tp + wrong
        f1.append(np.divide(2 * tp, denom, out=np.zeros_like(denom, dtype=float), where=denom > 0))
    return np.mean(f1, axis=0)


def weighted_macro_auc(y: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One-vs-rest AUC (ties count half), averaged over the classes that have positives and
    negatives in each resample. Sorted once per class; tied scores handled as groups."""
    aucs = []
    for c in range(probs.shape[1]):
        order = np.argsort(probs[:, c], kind="stable")
        scores, positive = probs[order, c], (y[order] == c)
        starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])    # groups of equal scores
        w = weights[:, order]
        pos = np.add.reduceat(w * positive, starts, axis=1)
        neg = np.add.reduceat(w * ~positive, starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        wins = (pos * (below + 0.5 * neg)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            aucs.append(np.where((n_pos > 0) & (n_neg > 0), wins / (n_pos * n_neg), np.nan))
    aucs = np.array(aucs)
    counted = np.isfinite(aucs).sum(axis=0)
    return np.where(counted > 0, np.nansum(aucs, axis=0) / np.maximum(counted, 1), np.nan)


WeightedStatistic = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
WEIGHTED: dict[str, WeightedStatistic] = {"val_accuracy": weighted_accuracy, "val_loss": weighted_loss,
                                          "val_macro_f1": weighted_macro_f1, "val_auc": weighted_macro_auc}


def statistic_for(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """The validation score ``metric`` from labels and probabilities (every image once)."""
    if metric not in WEIGHTED:
        raise ValueError(f"no statistic for {metric!r}")
    return lambda y, p: float(WEIGHTED[metric](y, p, np.ones((1, len(y))))[0])


CHUNK = 100   # resamples scored at once: AUC's arrays are CHUNK x images per class


def resampled(metric: str, y: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``metric`` on every resample (row of ``weights``), a chunk of rows at a time."""
    return np.concatenate([WEIGHTED[metric](y, probs, weights[i:i + CHUNK]) for i in range(0, len(weights), CHUNK)])


def ci_text(low: float, high: float, digits: int = 3) -> str:
    """``[0.831, 0.863]``, or empty when there is no interval."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def resample_weights(n: int, seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """``resamples`` rows of how often each of ``n`` images is drawn (with replacement);
    the same seed, the same draws."""
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)


def bootstrap(y: np.ndarray, probs: np.ndarray, metric: str, seed: int = 0,
              resamples: int = RESAMPLES, level: float = LEVEL) -> Interval:
    """Percentile bootstrap interval of ``metric`` over the images."""
    if len(y) == 0:
        return NO_INTERVAL
    values = resampled(metric, y, probs, resample_weights(len(y), seed, resamples))
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return NO_INTERVAL
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high), "bootstrap", level)


def score_interval(metric: str, y: np.ndarray, probs: np.ndarray, seed: int = 0) -> Interval:
    """Wilson for accuracy, the bootstrap for every other validation score."""
    if metric == "val_accuracy":
        return wilson(int(np.sum(probs.argmax(axis=1) == y)), len(y))
    return bootstrap(y, probs, metric, seed)
