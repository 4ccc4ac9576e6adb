"""The driver's records of a run: ``run.json`` (RunMeta) and a trials-table row (TrialRow).

Frozen dataclasses with a format version (``Record``); changed with
``dataclasses.replace``, read in one place (``RunFolder.meta``), never indexed by a
literal key.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Mapping

from trainables.contract.keys import config_column
from trainables.contract.records import Record, RecordError, col
from trainables.contract.status import Status
from trainables.datasets.provenance import DataProvenance


class RunStatus(str, Enum):
    RUNNING = "running"            # a driver holds the run's lock (or held it when it died)
    FINISHED = "finished"
    INTERRUPTED = "interrupted"    # Ctrl-C, SIGTERM, a full disk: resume continues it

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def versions() -> dict[str, str]:
    """Python's and the libraries' versions, as run.json and a model card record them."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("ray", "keras", "tensorflow", "numpy", "pandas", "pyarrow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


@dataclass(frozen=True)
class DataSummary(Record):
    train: int = 0
    val: int = 0
    classes: tuple[str, ...] = ()
    input_shape: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()       # what the loaders noticed (mixed image sizes, absent classes ...)

    def __post_init__(self) -> None:
        self.check_types({"train": int, "val": int, "classes": (list, tuple), "input_shape": (list, tuple),
                          "warnings": (list, tuple)})
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))


@dataclass(frozen=True)
class BestTrial(Record):
    trial_id: str
    family: str
    metric: str
    value: float
    epoch: int

    def __post_init__(self) -> None:
        self.check_types({"trial_id": str, "family": str, "metric": str, "value": (int, float), "epoch": int})


@dataclass(frozen=True)
class RepeatPhase(Record):
    """A phase of a run after its sweep: ``tunefm repeat`` (kind "repeat"), ``tunefm extend``
    (kind "extend") or the race among the leaders (kind "race": ``trials`` is then its
    budget; it runs as many as it needs). Its Ray state is in ``ray-repeat-<n>`` either way."""

    top_k: int
    seeds: int
    trials: int
    at: str = field(default_factory=now_iso)
    kind: str = "repeat"
    max_epochs: int | None = None               # extend --max-epochs: the phase's epoch budget
    drawn: dict = field(default_factory=dict)   # extend: family -> configurations drawn from its stream
    continued: tuple[str, ...] = ()             # extend --max-epochs: earlier trials trained on

    def __post_init__(self) -> None:
        self.check_types({"top_k": int, "seeds": int, "trials": int, "at": str, "kind": str, "drawn": Mapping,
                          "max_epochs": int}, optional=("max_epochs",))
        if self.kind not in ("repeat", "extend", "race"):
            raise ValueError(f"kind must be repeat, extend or race, got {self.kind!r}")
        object.__setattr__(self, "continued", tuple(str(t) for t in self.continued))


@dataclass(frozen=True)
class RunMeta(Record):
    """``run.json``. Paths inside a run folder are never stored here: they are derived
    from where the folder is now (``RunFolder``). ``source`` only says where the sweep
    file came from; the run reads its frozen copy."""

    run_id: str
    sweep: str
    metric: str
    mode: str
    max_epochs: int
    trials: int
    status: RunStatus = RunStatus.RUNNING
    started_at: str = field(default_factory=now_iso)
    source: str | None = None
    command: str = ""
    overrides: dict = field(default_factory=dict)
    reuse_workers: bool = True
    address: str | None = None
    remote: str | None = None          # the URI the run lives at (this folder is then its local copy)
    data: DataSummary = field(default_factory=DataSummary)
    versions: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)   # the parsed sweep, for reading; the run uses sweep.yaml
    resumed: tuple[str, ...] = ()
    repeats: tuple[RepeatPhase, ...] = ()
    ended_at: str | None = None
    wall_seconds: float | None = None  # the run's wall time: at a session's start, that of the ones before
    session_started_at: str | None = None   # when the latest session (sweep, resume, repeat, extend) began
    counts: dict = field(default_factory=dict)
    best: BestTrial | None = None
    note: str | None = None            # why it ended as it did (time budget, SIGTERM, disk full...)
    sweep_sha256: str | None = None    # of the frozen sweep.yaml: resume refuses an edited one
    provenance: DataProvenance | None = None   # the files every split was read from, hashed
    data_changes: tuple[str, ...] = ()         # changes a resume or repeat went on with (--allow-changed-data)

    def __post_init__(self) -> None:
        self.check_types({"run_id": str, "sweep": str, "metric": str, "mode": str, "max_epochs": int, "trials": int,
                          "started_at": str, "source": str, "command": str, "reuse_workers": bool, "address": str,
                          "remote": str, "resumed": (list, tuple), "repeats": (list, tuple), "ended_at": str,
                          "wall_seconds": (int, float), "session_started_at": str, "note": str, "sweep_sha256": str,
                          "overrides": Mapping, "versions": Mapping, "spec": Mapping, "counts": Mapping},
                         optional=("source", "address", "remote", "ended_at", "wall_seconds", "session_started_at",
                                   "note", "sweep_sha256"))
        object.__setattr__(self, "status", RunStatus(self.status))
        if not isinstance(self.data, DataSummary):
            object.__setattr__(self, "data", DataSummary.from_dict(self.data, "data"))
        if self.best is not None and not isinstance(self.best, BestTrial):
            object.__setattr__(self, "best", BestTrial.from_dict(self.best, "best"))
        if self.provenance is not None and not isinstance(self.provenance, DataProvenance):
            object.__setattr__(self, "provenance", DataProvenance.from_dict(self.provenance, "provenance"))
        object.__setattr__(self, "resumed", tuple(self.resumed))
        object.__setattr__(self, "data_changes", tuple(str(c) for c in self.data_changes))
        object.__setattr__(self, "repeats", tuple(r if isinstance(r, RepeatPhase) else RepeatPhase.from_dict(r, "repeats")
                                                  for r in self.repeats))

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["status"] = self.status.value
        out["data"] = self.data.to_dict()
        out["best"] = self.best.to_dict() if self.best else None
        out["provenance"] = self.provenance.to_dict() if self.provenance else None
        out["repeats"] = [r.to_dict() for r in self.repeats]
        return out

    def with_(self, **changes: Any) -> "RunMeta":
        return replace(self, **changes)


@dataclass(frozen=True)
class TrialRow(Record):
    """One row of ``trials.parquet``: the keys, ``config`` (stored as ``config_*``
    columns) and the stored fields (``TrialRow.columns()``)."""

    run_id: str
    trial_id: str
    family: str
    model: str
    config: dict = field(default_factory=dict)
    status: Status = col("str", Status.RUNNING)
    epochs: int = col("int32", 0)
    best_epoch: int | None = col("int32")
    metric: str = col("str", "")
    best_metric: float | None = col("float64")
    params: int | None = col("int64")
    train_seconds: float = col("float64", 0.0)
    setup_seconds: float | None = col("float64")      # trial entry to first epoch, inside the worker
    startup_seconds: float | None = col("float64")    # driver's trial start to first epoch (spawn included)
    started_at: datetime | None = col("timestamp")
    ended_at: datetime | None = col("timestamp")
    checkpoint: str | None = col("str")               # the best epoch's checkpoint, relative to the run folder
    last_checkpoint: str | None = col("str")          # the latest epoch's (what a retry resumes from)
    error: str | None = col("str")
    failures: int = col("int32", 0)                   # failed attempts (retried or final)
    node_ip: str | None = col("str")
    node_id: str | None = col("str")
    worker_pid: int | None = col("int64")

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))

    def to_row(self) -> dict[str, Any]:
        """The flat Parquet row: keys, ``config_*`` columns, stored fields."""
        row = {k: getattr(self, k) for k in ("run_id", "trial_id", "family", "model")}
        row.update({config_column(k): v for k, v in self.config.items()})
        row.update({name: getattr(self, name) for name, _ in self.columns()})
        row["status"] = self.status.value
        return row


__all__ = ["RunStatus", "RunMeta", "DataSummary", "BestTrial", "RepeatPhase", "TrialRow",
           "RecordError", "col", "now_iso"]
