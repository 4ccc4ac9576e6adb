"""Model families registered by name.

A family is its parameter declarations plus ``build(config, input_shape,
num_classes) -> keras.Model``. The build function is imported lazily, so listing
families or validating a sweep never imports TensorFlow.
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


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    if family.name in _FAMILIES:
        raise ValueError(f"model family '{family.name}' is registered twice")
    _FAMILIES[family.name] = family
    return family


def _ensure_builtin() -> None:
    # Declarations only: these modules import no TensorFlow.
    from trainables.families import cnn_params, dense_params, transfer_params  # noqa: F401


def get_family(name: str) -> Family:
    _ensure_builtin()
    try:
        return _FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family '{name}' (known: {', '.join(sorted(_FAMILIES))})") from None


def family_names() -> list[str]:
    _ensure_builtin()
    return sorted(_FAMILIES)


def import_builders() -> None:
    """Import every family's model code, registering its custom Keras layers (needed
    before loading a checkpoint that uses them)."""
    for name in family_names():
        importlib.import_module(_FAMILIES[name].builder.split(":")[0])
