"""Data-set settings and the arrays a sweep hands to its trials."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DataSpec:
    """The ``dataset:`` section of a sweep file.

    ``data_dir`` is where to look first (for ``folder`` it is the image root).
    ``image_size``/``color_mode`` apply to folders; IDX data sets are 28x28 grayscale.
    """

    name: str
    data_dir: str | None = None
    val_fraction: float = 0.2
    train_size: int | None = None
    val_size: int | None = None
    test_fraction: float = 0.2
    image_size: tuple[int, int] | None = None
    color_mode: str = "grayscale"
    seed: int = 0
    skip_corrupt: bool = False       # folder: skip unreadable images (counted in a warning) instead of stopping


@dataclass(frozen=True)
class Labeled:
    """Images as uint8 NHWC and integer labels."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class TrialData:
    """What every trial receives through the object store: train and validation only.

    The test split is deliberately absent; only the report loads it.
    """

    train: Labeled
    val: Labeled
    class_names: tuple[str, ...]
    warnings: tuple[str, ...] = ()      # what the loaders noticed (``datasets.notes``), for the user

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
