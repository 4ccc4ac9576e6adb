"""The sweep file's shape, as pydantic models: every key, its type, its range and its
default; a key nobody declared is refused. ``validate`` turns pydantic's errors into the
one line tunefm gives for every bad sweep file::

    sweeps/quick.yaml: scheduler.max_epochs: must be <= 10000, got 20000

What a schema cannot say is checked on the typed data (``sweep.py``): a family's own
parameters and their search spaces, the objectives against the metric, the trial count.
The YAML itself is read strictly first (``yaml_loader``: duplicate keys, non-finite
numbers), which no schema library does.
"""
from __future__ import annotations

import types
from typing import Any, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trainables.contract.errors import SweepFileError
from trainables.contract.metrics import SELECTABLE

SEARCHERS = ("random", "grid", "tpe", "ablation")
SCHEDULERS = ("asha", "fifo", "pbt", "pb2")
COLOR_MODES = ("grayscale", "rgb")
MAX_EPOCHS = 10_000
MAX_IMAGE_SIDE = 1024   # a side larger than this is a typo, or a MemoryError in the making


class Block(BaseModel):
    """A mapping of the sweep file: strict types (no "3" for 3, no true for 1), no unknown key."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def one_of(choices: tuple[str, ...]):
    """A validator for a string key that takes one of ``choices``."""

    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}; got '{value}'")
        return value

    return check


class DatasetBlock(Block):
    name: str
    data_dir: Optional[str] = None
    val_fraction: float = Field(0.2, gt=0, le=0.9)
    train_size: Optional[int] = Field(None, ge=1)
    val_size: Optional[int] = Field(None, ge=1)
    test_fraction: float = Field(0.2, gt=0, le=0.9)
    image_size: Any = None              # an integer or [height, width]: checked in dataset.py
    color_mode: str = "grayscale"
    skip_corrupt: bool = False

    _color_mode = field_validator("color_mode")(one_of(COLOR_MODES))


class ResourcesBlock(Block):
    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)


class FamilyBlock(Block):
    family: Optional[str] = None        # the registered family (default: the label)
    num_samples: int = Field(1, ge=1)
    resources: Optional[ResourcesBlock] = None
    params: dict[str, Any] = {}         # each checked against the family's declarations
    # search: ablation
    baseline: Optional[dict[str, Any]] = None
    factors: Optional[dict[str, Any]] = None
    baseline_repeats: Optional[int] = Field(None, ge=1)


class SchedulerBlock(Block):
    kind: str = "asha"
    max_epochs: int = Field(10, ge=1, le=MAX_EPOCHS)
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(3.0, gt=1)
    brackets: int = Field(1, ge=1)
    idle_cores: str = "give"     # "leave": a trial keeps the cores it started with
    # pbt and pb2 (``population.py`` checks them against the kind and the families)
    perturbation_interval: Optional[int] = Field(None, ge=1)
    quantile: Optional[float] = Field(None, gt=0, le=0.5)
    resample_probability: Optional[float] = Field(None, ge=0, le=1)
    population: Optional[int] = Field(None, ge=2)
    mutate: Optional[dict[str, Any]] = None

    _kind = field_validator("kind")(one_of(SCHEDULERS))
    _idle = field_validator("idle_cores")(one_of(("give", "leave")))


class RepeatBlock(Block):
    top_k: int = Field(3, ge=1)
    seeds: int = Field(3, ge=1)


class DecideBlock(Block):
    """``decide:``: after the search, race the leaders until the winner is settled or a tie is said."""

    candidates: int = Field(4, ge=2, le=12)      # at most this many configurations race
    alpha: float = Field(0.05, gt=0, lt=0.5)     # the error rate of "settled" (and of "tie")
    equivalence: float = Field(0.005, ge=0)      # a difference below this is a tie (the metric's units)
    rounds: int = Field(12, ge=2, le=100)        # seeds per candidate before the race is unsettled
    seconds: Optional[float] = Field(None, gt=0)   # the race's own time budget
    trials: Optional[int] = Field(None, ge=2)      # ... and trial budget
    resplit: Optional[int] = Field(None, ge=2, le=20)   # a new stratified train/validation fold each round, of this many
    prefer: str = "params"                       # a tie's pick: fewest parameters, or lowest latency

    _prefer = field_validator("prefer")(one_of(("params", "latency_ms")))


class MlflowBlock(Block):
    tracking_uri: str
    experiment: Optional[str] = None    # default: the sweep's name
    log_checkpoint: bool = False


class TrackingBlock(Block):
    tensorboard: bool = False
    mlflow: Optional[MlflowBlock] = None


class SweepFile(Block):
    name: str
    description: str = ""
    seed: int = Field(0, ge=0, le=2**32 - 1)
    search: str = "random"
    objectives: Optional[Any] = None    # a list of metric names: checked in sweep.py
    metric: Optional[str] = None        # default: the first objective, else val_accuracy
    mode: Optional[str] = None          # default: the metric's own
    dataset: DatasetBlock
    families: dict[str, FamilyBlock]
    scheduler: SchedulerBlock = SchedulerBlock()
    resources: ResourcesBlock = ResourcesBlock()
    max_params: Optional[int] = Field(None, ge=1)
    max_concurrent: Optional[int] = Field(None, ge=1)
    time_budget_s: Optional[float] = Field(None, gt=0)
    max_failures: int = Field(0, ge=0)
    repeat: Optional[RepeatBlock] = None
    decide: Optional[DecideBlock] = None
    tracking: Optional[TrackingBlock] = None

    _search = field_validator("search")(one_of(SEARCHERS))
    _metric = field_validator("metric")(lambda v: v if v is None else one_of(tuple(SELECTABLE))(v))
    _mode = field_validator("mode")(lambda v: v if v is None else one_of(("max", "min"))(v))



def validate(data: Any, source: str, model: type[Block] = SweepFile) -> Block:
    """``data`` (parsed YAML) as ``model``, or the first problem as one ``SweepFileError``."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        raise SweepFileError(source, key_path(first["loc"]), problem(first, model)) from None


def key_path(loc: tuple) -> str:
    """``("families", "dense", "num_samples")`` -> ``families.dense.num_samples``; list
    positions as ``[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problem(error: dict, model: type[Block]) -> str:
    """The rule broken, in tunefm's words."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    got = type_name(value)
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"unknown key (allowed here: {', '.join(sorted(allowed_keys(model, error['loc'][:-1])))})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping, got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {got}"
    if kind in ("string_type", "string_sub_type"):
        return f"must be a string, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {got}"
    if kind == "list_type":
        return f"must be a list, got {got}"
    for bound, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if bound in ctx:
            return f"must be {sign} {_number(ctx[bound])}, got {value}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return error["msg"]


def allowed_keys(model: type[Block], loc: tuple) -> list[str]:
    """The keys the mapping at ``loc`` takes (the model's fields, following dicts of models)."""
    annotation: Any = model
    for part in loc:
        inner = _model_in(annotation)
        if inner is not None and isinstance(part, str) and part in inner.model_fields:
            annotation = inner.model_fields[part].annotation
            continue
        annotation = _dict_value(annotation)     # a key of a dict[str, Model]: its value type
        if annotation is None:
            return []
    annotation = _model_in(annotation)
    return list(annotation.model_fields) if annotation is not None else []


def _model_in(annotation: Any):
    """The model class an annotation names (through Optional), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        return next((a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return None


def _dict_value(annotation: Any):
    if get_origin(annotation) is dict:
        return get_args(annotation)[1]
    return None


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def keys(model: type[Block] = SweepFile, prefix: str = "") -> list[str]:
    """Every key path the schema declares (``scheduler.max_epochs`` ...): what the docs
    must name. Mappings of user-named entries show as ``<name>`` (``families.<name>.params``)."""
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        inner = _model_in(info.annotation)
        value = _dict_value(info.annotation) if inner is None else None
        if inner is not None:
            out += keys(inner, path + ".")
        elif value is not None and _model_in(value) is not None:
            out += keys(_model_in(value), path + ".<name>.")
    return out

