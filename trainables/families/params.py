"""Typed parameter declarations shared by every model family.

A family declares its own ``ParamSpec``s; every family also takes the training
parameters below (optimizer, learning rate, schedule, augmentation...). The sweep
schema checks sweep values against these declarations, and ``tunefm families`` prints
them, so one list is the truth for both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_KINDS = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str  # int | float | str | bool
    default: Any
    help: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    # may change between epochs of one trial (population-based training): the model is
    # rebuilt with the new value and takes the old weights as they are (no layer gains or
    # loses a weight: dropout, augmentation, penalties, the optimizer's settings)
    mutable: bool = False

    def check(self, value: Any) -> str | None:
        """Return what is wrong with ``value`` for this parameter, or None."""
        ok_types = _KINDS[self.kind]
        if isinstance(value, bool) and self.kind != "bool":
            ok = False
        else:
            ok = isinstance(value, ok_types)
        if not ok:
            return f"must be {self.kind}, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}; got {value!r}"
        if self.low is not None and value < self.low:
            return f"must be >= {self.low}, got {value!r}"
        if self.high is not None and value > self.high:
            return f"must be <= {self.high}, got {value!r}"
        return None

    def describe(self) -> str:
        rng = ""
        mutable = "; mutable during training" if self.mutable else ""
        if self.choices is not None:
            rng = " {" + "|".join(map(str, self.choices)) + "}"
        elif self.low is not None or self.high is not None:
            rng = f" [{'' if self.low is None else self.low}..{'' if self.high is None else self.high}]"
        return f"{self.name} ({self.kind}{rng}, default {self.default!r}{mutable}): {self.help}"


def P(name: str, kind: str, default: Any, help: str, **kw: Any) -> ParamSpec:
    return ParamSpec(name, kind, default, help, **kw)


ACTIVATIONS = ("relu", "gelu", "elu", "selu", "swish", "tanh", "sigmoid", "leaky_relu")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                "lecun_normal", "random_normal", "random_uniform", "zeros")

TRAINING_PARAMS: tuple[ParamSpec, ...] = (
    P("optimizer", "str", "adam", "optimizer", choices=("adam", "adamw", "sgd", "rmsprop")),
    P("lr", "float", 1e-3, "initial learning rate", low=0.0, mutable=True),
    P("momentum", "float", 0.9, "momentum (sgd, rmsprop)", low=0.0, high=1.0, mutable=True),
    P("batch_size", "int", 128, "mini-batch size", low=1),
    P("weight_decay", "float", 0.0, "decoupled weight decay (all optimizers)", low=0.0, mutable=True),
    P("lr_schedule", "str", "constant", "learning-rate schedule over the epochs",
      choices=("constant", "step", "cosine", "plateau")),
    P("lr_step_every", "int", 5, "step schedule: epochs between drops", low=1),
    P("lr_step_factor", "float", 0.5, "step schedule: multiply lr by this at each drop", low=0.0, high=1.0),
    P("lr_min_factor", "float", 0.0, "cosine schedule: final lr as a fraction of lr", low=0.0, high=1.0),
    P("lr_plateau_patience", "int", 2, "plateau schedule: epochs without val_loss improvement", low=1),
    P("lr_plateau_factor", "float", 0.5, "plateau schedule: multiply lr by this on a plateau", low=0.0, high=1.0),
    P("label_smoothing", "float", 0.0, "label smoothing of the training loss", low=0.0, high=0.5, mutable=True),
    P("aug_flip", "str", "none", "random flips", choices=("none", "horizontal", "vertical", "horizontal_and_vertical")),
    P("aug_rotation", "float", 0.0, "random rotation, fraction of a full turn", low=0.0, high=0.5, mutable=True),
    P("aug_zoom", "float", 0.0, "random zoom, fraction", low=0.0, high=0.9, mutable=True),
    P("aug_translation", "float", 0.0, "random translation, fraction of size", low=0.0, high=0.9, mutable=True),
    P("aug_contrast", "float", 0.0, "random contrast factor", low=0.0, high=1.0, mutable=True),
    P("aug_brightness", "float", 0.0, "random brightness factor", low=0.0, high=1.0, mutable=True),
    P("aug_erasing", "float", 0.0, "random erasing: probability that an image has one random patch "
      "(2-33% of its area) replaced by noise", low=0.0, high=1.0, mutable=True),
)
