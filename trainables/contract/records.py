"""The records a trial hands the driver: its epoch report and its checkpoint's metadata.

Frozen dataclasses with ``to_dict``/``from_dict`` and a format version. A field's
``kind`` (``int32``, ``int64``, ``float64``, ``bool``, ``str``) is what the Parquet
schema stores it as, so the metrics table's columns come from here.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

from trainables.contract.metrics import SELECTABLE
from trainables.contract.status import Status


class RecordError(ValueError):
    """A stored record that cannot be read: wrong version, missing or mistyped field."""


def col(kind: str, default: Any = None, stored: bool = True):
    """A record field with its storage kind; ``stored=False`` fields travel but are not columns."""
    return field(default=default, metadata={"kind": kind, "stored": stored})


class Record:
    """``to_dict``/``from_dict`` with a format version, for frozen dataclasses."""

    VERSION: ClassVar[int] = 1
    VERSION_KEY: ClassVar[str] = "format"

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        out[self.VERSION_KEY] = self.VERSION
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "") -> Any:
        """Build from a dict; keys this record does not know (Ray's own) are ignored.
        A newer format, or a missing required field, is a ``RecordError``."""
        if not isinstance(data, Mapping):
            raise RecordError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
        version = data.get(cls.VERSION_KEY, cls.VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise RecordError(f"{where or cls.__name__}: {cls.VERSION_KEY} must be an integer, got {version!r}")
        if version > cls.VERSION:
            raise RecordError(f"{where or cls.__name__}: format {version!r} is newer than this tunefm "
                              f"reads ({cls.VERSION}); upgrade tunefm")
        values = {}
        for f in fields(cls):
            if f.name in data:
                values[f.name] = data[f.name]
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where or cls.__name__}: required field '{f.name}' is missing")
        try:
            return cls(**values)
        except (TypeError, ValueError) as e:
            raise RecordError(f"{where or cls.__name__}: {e}") from None

    def check_types(self, types: Mapping[str, type | tuple[type, ...]], optional: tuple[str, ...] = ()) -> None:
        """``ValueError`` naming the first field whose value is not of its type (None
        allowed for ``optional`` ones); a bool is no number here."""
        for name, kind in types.items():
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
                raise ValueError(f"{name} must be {_kind_name(kind)}, got {value!r}")

    @classmethod
    def columns(cls) -> list[tuple[str, str]]:
        """``(name, kind)`` of the stored fields, in declaration order."""
        return [(f.name, f.metadata["kind"]) for f in fields(cls) if f.metadata.get("stored", False)]


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind) -> str:
    return " or ".join({int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(k, k.__name__)
                       for k in _as_tuple(kind))


def _plain(value: Any) -> Any:
    if isinstance(value, Status):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class EpochReport(Record):
    """What a trial reports to Ray Tune after each epoch (``tune.report(r.to_dict())``).

    ``epoch`` 0 is a report without training (an over-budget model). The metric values
    of a diverged epoch are NaN. Ray adds its own keys (``time_total_s``, ``node_ip``...)
    to the dict it hands the driver; ``from_dict`` ignores them.
    """

    VERSION_KEY: ClassVar[str] = "report_format"

    epoch: int = col("int32", 0)
    trial_status: str = col("str", Status.RUNNING.value)
    train_loss: float | None = col("float64")
    train_accuracy: float | None = col("float64")
    val_loss: float | None = col("float64")
    val_accuracy: float | None = col("float64")
    val_macro_f1: float | None = col("float64")
    val_auc: float | None = col("float64")
    lr: float | None = col("float64")
    epoch_seconds: float | None = col("float64")
    train_seconds: float | None = col("float64")
    setup_seconds: float | None = col("float64")
    import_seconds: float | None = col("float64")
    params: int | None = col("int64")
    trainable_params: int | None = col("int64")
    feature_cache_hit: bool | None = col("bool")     # transfer, frozen: backbone features from the cache
    feature_seconds: float | None = col("float64")   # time to get (or compute) those features
    is_best: bool | None = col("bool")
    worker_pid: int | None = col("int64")
    trials_in_worker: int | None = col("int64")
    resumed_from_epoch: int | None = col("int32")    # set on epochs of a retried or resumed trial
    copied_from: str | None = col("str")             # population-based training: on the first epoch after a
    copied_epoch: int | None = col("int32")          # copy, the donor trial and the epoch of its checkpoint
    optimizer_restored: bool | None = col("bool")    # a trial that started again: its optimizer state came back
    node_id: str | None = col("str")
    gpu_ids: str | None = col("str")                 # GPUs Ray assigned the trial ("0", "0,1", "")
    cpus: float | None = col("float64")              # the cores the trial held for this epoch
    threads: int | None = col("int32")               # TensorFlow's intra-op threads (None: another backend's own)
    cpu_seconds: float | None = col("float64")       # this worker's CPU time over the epoch (every thread)
    steal_seconds: float | None = col("float64")     # CPU time the machine's hypervisor took over it (Linux)
    # travel to the driver, not stored per epoch
    best_epoch: int | None = col("int32", stored=False)
    best_metric: float | None = col("float64", stored=False)
    checkpoint_rank: float | None = col("float64", stored=False)   # Ray keeps the highest-ranked
    reported_at: float | None = col("float64", stored=False)       # the trial's clock (Ray's is whole seconds)
    first_epoch_at: float | None = col("float64", stored=False)    # the driver measures start-up from it
    max_epochs: int | None = col("int32", stored=False)            # the trial's epoch budget (its epochs left)

    def __post_init__(self) -> None:
        Status(self.trial_status)   # a ValueError names an unknown status

    def to_dict(self) -> dict[str, Any]:
        """Selectable metrics with no value are NaN: schedulers compare them as numbers."""
        out = super().to_dict()
        for name in SELECTABLE:
            if out[name] is None:
                out[name] = float("nan")
        return out

    def metric(self, name: str) -> float:
        """The value of a selectable metric, NaN where there is none."""
        value = getattr(self, name)
        return float("nan") if value is None else float(value)

    @property
    def status(self) -> Status:
        return Status(self.trial_status)


@dataclass(frozen=True)
class CheckpointMeta(Record):
    """``checkpoint.json`` beside each checkpoint's weights: what a resume continues from
    and what the report evaluates (``epoch``)."""

    epoch: int = col("int32")
    metric: str = col("str", "")
    value: float | None = col("float64")
    is_best: bool = col("bool", False)
    best: float | None = col("float64")
    best_epoch: int = col("int32", 0)
    improvements: int = col("int64", 0)
    schedule: dict = col("str", None, stored=False)   # the LR schedule's state
    trial_id: str | None = col("str")                 # the trial that trained it (a PBT copier's may be a donor)

    def __post_init__(self) -> None:
        if not isinstance(self.epoch, int) or isinstance(self.epoch, bool) or self.epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {self.epoch!r}")


def finite_or_none(value: Any) -> float | None:
    """JSON has no NaN: a non-finite float is stored as null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
