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

    @property
    def all_params(self) -> tuple[ParamSpec, ...]:
        return self.params + TRAINING_PARAMS

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.all_params if p.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.all_params}

    def build(self, config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int):
        module, func = self.builder.split(":")
        build: Callable = getattr(importlib.import_module(module), func)
        return build(config, input_shape, num_classes)


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    if family.name in _FAMILIES:
        raise ValueError(f"model family '{family.name}' is registered twice")
    _FAMILIES[family.name] = family
    return family


def _ensure_builtin() -> None:
    # Declarations only: these modules import no TensorFlow.
    from trainables.families import cnn_params, dense_params  # noqa: F401


def get_family(name: str) -> Family:
    _ensure_builtin()
    try:
        return _FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family '{name}' (known: {', '.join(sorted(_FAMILIES))})") from None


def family_names() -> list[str]:
    _ensure_builtin()
    return sorted(_FAMILIES)
