"""The metrics a sweep may select on, and the one place that knows which way is better.

The sweep's ``metric`` must be a validation metric: selection and early stopping never
look at the test split.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# name -> mode used when a sweep names the metric without a mode
SELECTABLE: dict[str, str] = {
    "val_accuracy": "max",
    "val_loss": "min",
    "val_macro_f1": "max",
    "val_auc": "max",
}


@dataclass(frozen=True)
class Mode:
    """``max`` or ``min``: answers "is this better?" for every caller.

    >>> Mode("max").better(0.9, 0.8), Mode("min").better(0.9, 0.8), Mode("max").better(float("nan"), None)
    (True, False, False)
    """

    name: str

    def __post_init__(self) -> None:
        if self.name not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {self.name!r}")

    @classmethod
    def of(cls, metric: str) -> "Mode":
        return cls(SELECTABLE[metric])

    def better(self, value: float | None, best: float | None) -> bool:
        """``value`` beats ``best`` (None: nothing yet). None and NaN never win."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if best is None or (isinstance(best, float) and math.isnan(best)):
            return True
        return value > best if self.name == "max" else value < best

    @property
    def ascending(self) -> bool:
        """Sort order that puts the best first."""
        return self.name == "min"

    @property
    def direction(self) -> str:
        """Optuna's word for it."""
        return "maximize" if self.name == "max" else "minimize"

    def __str__(self) -> str:
        return self.name
