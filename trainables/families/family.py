"""A model family: its parameter declarations and where its model code lives.

The build function is imported lazily (``"module:function"``), so listing families or
validating a sweep never imports TensorFlow.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from trainables.families.params import TRAINING_PARAMS, ParamSpec


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    params: tuple[ParamSpec, ...]
    builder: str  # "module:function", imported on first build
    planner: str | None = None    # "module:function" -> TrainingPlan; default: train the model as built
    preflight: str | None = None  # "module:function"(config), run on the driver before any trial

    @property
    def all_params(self) -> tuple[ParamSpec, ...]:
        return self.params + TRAINING_PARAMS

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.all_params if p.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.all_params}

    def build(self, config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int,
              load_weights: bool = True):
        """The Keras model for ``config``. ``load_weights=False`` skips pretrained weights
        (same architecture and parameter count; used by previews)."""
        return _resolve(self.builder)(config, input_shape, num_classes, load_weights=load_weights)

    def planner_function(self) -> Callable | None:
        return _resolve(self.planner) if self.planner else None

    def check(self, config: dict[str, Any]) -> None:
        """Driver-side checks of a config before any trial (e.g. weights files exist)."""
        if self.preflight:
            _resolve(self.preflight)(config)


def _resolve(target: str) -> Callable:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)
