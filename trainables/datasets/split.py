"""Seeded, stratified splits and subsets (scikit-learn's, so class balance is kept).

scikit-learn is imported on use: validating a sweep file must stay fast.
"""
from __future__ import annotations

import numpy as np

from trainables.contract.errors import DatasetError


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held) with ``fraction`` of each class in ``held``."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    if fraction <= 0:
        return idx, idx[:0]
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(keep), np.sort(held)


def stratified_subset(y: np.ndarray, size: int | None, seed: int, what: str) -> np.ndarray:
    """Indices of a class-balanced subset of ``size`` (all when None)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    if size is None or size == len(y):
        return idx
    if size > len(y):
        raise DatasetError(f"{what} asks for {size} images but only {len(y)} are available")
    n_classes = len(np.unique(y))
    stratify = y if size >= n_classes and np.bincount(y)[np.unique(y)].min() >= 2 else None
    keep, _ = train_test_split(idx, train_size=size, random_state=seed, stratify=stratify)
    return np.sort(keep)


def refold(data, folds: int, fold: int, seed: int = 0):
    """``data`` (a ``TrialData``) with its training and validation images pooled and split
    again: validation is fold ``fold`` of ``folds`` stratified folds of the pool, training
    the rest. The same ``folds`` and ``seed`` give every trial the same folds; the test
    split is never part of it (a trial never has it)."""
    from sklearn.model_selection import StratifiedKFold

    from trainables.datasets.base import Labeled, TrialData

    x = np.concatenate([data.train.x, data.val.x])
    y = np.concatenate([data.train.y, data.val.y])
    counts = np.bincount(y)
    if counts[counts > 0].min() < folds:
        raise DatasetError(f"a class has fewer than {folds} images in training and validation together: "
                           f"{folds} stratified folds cannot be made (lower decide.resplit)")
    train, val = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))[fold % folds]
    return TrialData(Labeled(x[train], y[train]), Labeled(x[val], y[val]), data.class_names)
