"""Classification metrics from predicted probabilities: pure numpy / scikit-learn.

Shared by the trial loop (validation, every epoch) and the report (test split).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    loss: float
    accuracy: float
    macro_f1: float
    auc: float


def crossentropy(y: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(probs[np.arange(len(y)), y].astype(np.float64), 1e-7, 1.0)
    return float(-np.log(p).mean())


def macro_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """One-vs-rest ROC AUC averaged over the classes that have positives and negatives."""
    from sklearn.metrics import roc_auc_score

    aucs = [roc_auc_score(y == c, probs[:, c]) for c in range(probs.shape[1])
            if 0 < np.sum(y == c) < len(y)]
    return float(np.mean(aucs)) if aucs else float("nan")


def score(y: np.ndarray, probs: np.ndarray) -> Scores:
    from sklearn.metrics import f1_score

    if len(y) == 0 or not np.all(np.isfinite(probs)):
        nan = float("nan")
        return Scores(nan, nan, nan, nan)
    pred = probs.argmax(axis=1)
    labels = np.arange(probs.shape[1])
    return Scores(
        loss=crossentropy(y, probs),
        accuracy=float(np.mean(pred == y)),
        macro_f1=float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        auc=macro_auc(y, probs),
    )
