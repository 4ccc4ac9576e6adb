"""What a trial trains, in which phases: the seam between families and the trial loop.

Most families train the model they build, in one phase. A family may supply its own
plan (``Family.planner``): the transfer family trains only a head on cached backbone
features, or unfreezes its backbone after warm-up epochs. The loop runs any plan the
same way, so it never needs to know the family.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Phase:
    end_epoch: int                                   # train until this epoch (exclusive of later ones)
    lr_factor: float = 1.0                           # times the scheduled learning rate
    prepare: Callable[[], None] | None = None        # run before the phase (e.g. unfreeze)
    recompile: bool = False                          # trainable weights changed: compile again


@dataclass
class TrainingPlan:
    fit_model: Any                                   # the keras.Model that model.fit trains
    save_model: Any                                  # the model a checkpoint saves (image in, probabilities out)
    train_x: np.ndarray
    val_x: np.ndarray
    phases: list[Phase]
    info: dict[str, Any] = field(default_factory=dict)   # extra numbers to report (cache hit, ...)


def default_plan(model, config: dict[str, Any], data, max_epochs: int) -> TrainingPlan:
    return TrainingPlan(fit_model=model, save_model=model, train_x=data.train.x, val_x=data.val.x,
                        phases=[Phase(end_epoch=max_epochs)])


def trainable_params(model) -> int:
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
