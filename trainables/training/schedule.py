"""Learning-rate schedules, epoch by epoch. Pure apart from the plateau tracker's memory."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def scheduled_lr(config: dict[str, Any], epoch: int, max_epochs: int) -> float:
    """The learning rate for 0-based ``epoch`` under a stateless schedule.

    >>> scheduled_lr({"lr": 0.1, "lr_schedule": "step", "lr_step_every": 2, "lr_step_factor": 0.5}, 4, 10)
    0.025
    """
    base, kind = float(config["lr"]), config.get("lr_schedule", "constant")
    if kind == "step":
        return base * float(config["lr_step_factor"]) ** (epoch // int(config["lr_step_every"]))
    if kind == "cosine":
        floor = base * float(config.get("lr_min_factor", 0.0))
        progress = epoch / max(1, max_epochs - 1)
        return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return base  # constant, and plateau before any plateau


@dataclass
class PlateauTracker:
    """Reduce-on-plateau: multiply the rate by ``factor`` after ``patience`` epochs
    without a lower validation loss."""

    factor: float
    patience: int
    best: float = math.inf
    waited: int = 0
    scale: float = 1.0
    history: list[float] = field(default_factory=list)

    def update(self, val_loss: float) -> float:
        self.history.append(val_loss)
        if val_loss < self.best - 1e-12:
            self.best, self.waited = val_loss, 0
        else:
            self.waited += 1
            if self.waited >= self.patience:
                self.scale *= self.factor
                self.waited = 0
        return self.scale


class LearningRate:
    """The schedule a trial follows: ``rate(epoch)`` before the epoch, ``observe`` after."""

    def __init__(self, config: dict[str, Any], max_epochs: int):
        self.config, self.max_epochs = config, max_epochs
        self.plateau = (PlateauTracker(float(config["lr_plateau_factor"]), int(config["lr_plateau_patience"]))
                        if config.get("lr_schedule") == "plateau" else None)

    def rate(self, epoch: int) -> float:
        lr = scheduled_lr(self.config, epoch, self.max_epochs)
        return lr * (self.plateau.scale if self.plateau else 1.0)

    def observe(self, val_loss: float) -> None:
        if self.plateau and math.isfinite(val_loss):
            self.plateau.update(val_loss)

    def state(self) -> dict[str, Any]:
        p = self.plateau
        return {} if p is None else {"best": p.best, "waited": p.waited, "scale": p.scale}

    def restore(self, state: dict[str, Any]) -> None:
        if self.plateau is not None and state:
            self.plateau.best, self.plateau.waited, self.plateau.scale = state["best"], state["waited"], state["scale"]
