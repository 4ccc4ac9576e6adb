"""A trial's configuration back from its trials-table row, with each value's own type.

A ``config_*`` column shared by families holds NaN where a family has no such parameter,
so integers come back as floats (``kernel_size`` 3.0, which Keras refuses); the family's
declared parameter kinds restore them.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.store import schema as S
from trainables.contract.keys import FAMILY_KEY, MODEL_KEY


def missing(v: Any) -> bool:
    """An empty cell: None, NA or NaN."""
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def row_config(row: pd.Series, with_keys: bool = True) -> dict[str, Any]:
    """``{family, model, **config}`` of a trials-table row (``with_keys=False``: config only)."""
    from trainables.families import get_family

    kinds = {p.name: p.kind for p in get_family(str(row[S.MODEL])).all_params}
    out: dict[str, Any] = {FAMILY_KEY: row[S.FAMILY], MODEL_KEY: row[S.MODEL]} if with_keys else {}
    for col, value in row.items():
        if not str(col).startswith(S.CONFIG_PREFIX) or missing(value):
            continue
        key = str(col).removeprefix(S.CONFIG_PREFIX)
        value = value.item() if isinstance(value, np.generic) else value
        kind = kinds.get(key)
        if kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif kind == "bool" and not isinstance(value, bool) and value in (0, 1):
            value = bool(value)
        out[key] = value
    return out


def what_was_chosen(config: dict[str, Any], spec, label: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial's configuration as a reader wants it: (the parameters its sweep searched,
    with their values; the others that differ from the family's defaults). The rest is the
    family's defaults."""
    from orchestrator.spec.spaces import Constant
    from trainables.families import get_family

    family = next((f for f in spec.families if f.label == label), None)
    if family is None:
        return {}, {}
    defaults = get_family(family.family).defaults()
    searched = [k for k, space in family.space.items() if not isinstance(space, Constant)]
    chosen = {k: config[k] for k in searched if k in config}
    changed = {k: v for k, v in config.items()
               if k in defaults and k not in chosen and not _same(v, defaults[k])}
    return chosen, changed


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b
