"""Search-space values of a sweep file, as typed data.

In YAML a parameter is either a constant (``lr: 0.001``) or a one-key mapping naming
its distribution::

    lr: {loguniform: [1.0e-4, 1.0e-2]}   # low, high; 0 < low < high
    dropout: {uniform: [0.0, 0.5]}       # low <= high
    units: {randint: [32, 256]}          # integers, both ends included
    optimizer: {choice: [adam, sgd]}     # sampled
    batch_size: {grid: [64, 128]}        # every value, times num_samples

Translation to Ray Tune's types lives in ``orchestrator.raytune.space``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

from orchestrator.spec.schema import type_name


@dataclass(frozen=True)
class Constant:
    value: Any


@dataclass(frozen=True)
class Choice:
    values: tuple


@dataclass(frozen=True)
class Grid:
    values: tuple


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float


@dataclass(frozen=True)
class RandInt:
    """Integers from ``low`` to ``high``, both included."""

    low: int
    high: int


Space = Union[Constant, Choice, Grid, Uniform, LogUniform, RandInt]
SPACE_TYPES = ("choice", "grid", "uniform", "loguniform", "randint")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_space(raw: Any) -> Space:
    """Turn one YAML value into a ``Space``; raise ``ValueError`` with the rule broken."""
    if not isinstance(raw, dict):
        return Constant(raw)
    if len(raw) != 1:
        raise ValueError(f"a search space is a mapping with one key out of {', '.join(SPACE_TYPES)}; "
                         f"got keys {', '.join(map(str, raw))}")
    (kind, args), = raw.items()
    if kind not in SPACE_TYPES:
        raise ValueError(f"unknown search-space type '{kind}' (known: {', '.join(SPACE_TYPES)})")
    if not isinstance(args, list) or not args:
        raise ValueError(f"{kind} needs a non-empty list, got {type_name(args)}")
    if kind in ("choice", "grid"):
        return (Choice if kind == "choice" else Grid)(tuple(args))
    if len(args) != 2 or not all(_number(a) for a in args):
        raise ValueError(f"{kind} needs [low, high] as two numbers, got {args}")
    low, high = args
    if kind == "uniform":
        if not low <= high:
            raise ValueError(f"uniform needs low <= high, got low={low}, high={high}")
        return Uniform(float(low), float(high))
    if kind == "loguniform":
        if not 0 < low < high:
            raise ValueError(f"loguniform needs 0 < low < high, got low={low}, high={high}")
        return LogUniform(float(low), float(high))
    if not (isinstance(low, int) and isinstance(high, int)) or not low <= high:
        raise ValueError(f"randint needs integers low <= high, got low={low}, high={high}")
    return RandInt(low, high)


def values_to_check(space: Space) -> list[Any]:
    """The concrete values a parameter's type rules must accept for this space."""
    if isinstance(space, Constant):
        return [space.value]
    if isinstance(space, (Choice, Grid)):
        return list(space.values)
    return [space.low, space.high]
