"""The rules a command's arguments follow, for the CLI and the notebook API alike.

Every check raises ``UserError`` with one line that names the argument and the rule, the
way a bad sweep file is refused: ``num_samples: must be a whole number from 1 to 100000,
got -1``. The CLI names the option (``--num-samples``), the API the keyword.
"""
from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any, Iterable

from trainables.contract.errors import UserError


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python's own (``np.float64(1e-3)``
    -> ``0.001``), in dicts and lists too: what YAML and a sweep file can hold."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        try:
            return plain(value.tolist() if getattr(value, "ndim", 0) else item())
        except (TypeError, ValueError):
            return value
    return value


def whole(value: Any, name: str, low: int, high: int | None = None) -> int:
    """A whole number in [low, high] (a bool, 2.5 or "3" is not one)."""
    value = plain(value)
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and low <= value and (high is None or value <= high):
        return int(value)
    upto = f" to {high}" if high is not None else " or more"
    raise UserError(f"{name}: must be a whole number from {low}{upto}, got {value!r}")


def amount(value: Any, name: str, low: float = 0.0, low_open: bool = True) -> float:
    """A number above (or at least) ``low``."""
    value = plain(value)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok and (value > low if low_open else value >= low):
        return float(value)
    raise UserError(f"{name}: must be a number {'above' if low_open else 'of at least'} {low:g}, got {value!r}")


def folder(value: Any, name: str) -> str:
    """A folder's path or URI: a non-empty string or path (None would become './None')."""
    if isinstance(value, Path) or (isinstance(value, str) and value.strip()):
        return str(value)
    raise UserError(f"{name}: must be a folder's path (or a URI), got {value!r}")


def choices(value: Any, name: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """One or more of ``allowed``: a string is one (not its characters), an empty list none."""
    allowed = tuple(allowed)
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(v, str) for v in items):
        raise UserError(f"{name}: give one or more of {', '.join(allowed)}, got {value!r}")
    unknown = [v for v in items if v not in allowed]
    if unknown:
        raise UserError(f"{name}: {unknown[0]!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))
