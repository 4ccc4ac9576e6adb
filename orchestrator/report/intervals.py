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
        if math.isnan(self.low) or math.isnan(self.high):
            return ""
        return f"[{self.low:.{digits}f}, {self.high:.{digits}f}]"


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


# Fast forms of the two bootstrapped scores: a thousand resamples of sklearn's own
# functions would take seconds per trial; these agree with sklearn (tests check it).
def macro_f1(y: np.ndarray, pred: np.ndarray, classes: int) -> float:
    cm = np.bincount(y * classes + pred, minlength=classes * classes).reshape(classes, classes)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(axis=0) + cm.sum(axis=1)
    f1 = np.divide(2 * tp, denom, out=np.zeros(classes), where=denom > 0)
    return float(f1.mean())


def macro_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """One-vs-rest AUC (Mann-Whitney, ties counted half) averaged over classes with both kinds."""
    from scipy.stats import rankdata

    aucs = []
    for c in range(probs.shape[1]):
        pos = y == c
        n_pos, n_neg = int(pos.sum()), int(len(y) - pos.sum())
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = rankdata(probs[:, c])
        aucs.append((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else float("nan")


Statistic = Callable[[np.ndarray, np.ndarray], float]   # (labels, probabilities) -> score


def statistic_for(metric: str, classes: int) -> Statistic:
    """The validation score ``metric`` computed from labels and probabilities."""
    if metric == "val_accuracy":
        return lambda y, p: float(np.mean(p.argmax(axis=1) == y))
    if metric == "val_macro_f1":
        return lambda y, p: macro_f1(y, p.argmax(axis=1), classes)
    if metric == "val_auc":
        return macro_auc
    if metric == "val_loss":
        return lambda y, p: float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0)).mean())
    raise ValueError(f"no statistic for {metric!r}")


def resample_indices(n: int, seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """``resamples`` x ``n`` image indices drawn with replacement; the same seed, the same draws."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap(y: np.ndarray, probs: np.ndarray, statistic: Statistic, seed: int = 0,
              resamples: int = RESAMPLES, level: float = LEVEL) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over the images."""
    if len(y) == 0:
        return NO_INTERVAL
    values = np.array([statistic(y[i], probs[i]) for i in resample_indices(len(y), seed, resamples)])
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
    return bootstrap(y, probs, statistic_for(metric, probs.shape[1]), seed)
