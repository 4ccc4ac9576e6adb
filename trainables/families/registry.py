"""Model families registered by name: the built-in ones (``cnn``, ``dense``, ``transfer``,
declared in ``*_params.py``) and any a program registers.

A family (``family.Family``) is its parameter declarations plus ``build(config,
input_shape, num_classes) -> keras.Model``, imported lazily, so listing families or
validating a sweep never imports TensorFlow.
"""
from __future__ import annotations

import importlib

from trainables.families.family import Family


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    _ensure_builtin()
    if family.name in _FAMILIES:
        raise ValueError(f"model family '{family.name}' is registered twice")
    _FAMILIES[family.name] = family
    return family


def _ensure_builtin() -> None:
    # Declarations only: these modules import no TensorFlow.
    from trainables.families import cnn_params, dense_params, transfer_params

    for family in (cnn_params.CNN, dense_params.DENSE, transfer_params.TRANSFER):
        _FAMILIES.setdefault(family.name, family)


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
