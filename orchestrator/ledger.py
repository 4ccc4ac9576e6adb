"""What the driver knows about every trial of a run: pure bookkeeping, no Ray.

The Ray callback feeds it events; it turns them into Parquet rows and decides each
trial's final status:

- ``diverged`` / ``over_budget``: the trial said so;
- ``completed``: it trained ``max_epochs`` epochs;
- ``early_stopped``: the scheduler stopped it;
- ``failed``: it raised (the reason is kept);
- ``stopped``: it ended otherwise (time budget, Ctrl-C).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from orchestrator import schema as S
from orchestrator.ray_space import FAMILY_KEY, MODEL_KEY

_PER_EPOCH = [f.name for f in S.METRIC_FIELDS]


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class TrialRecord:
    trial_id: str
    config: dict[str, Any]
    status: str = S.RUNNING
    reported_status: str = S.RUNNING
    epochs: int = 0
    best_epoch: int | None = None
    best_metric: float | None = None
    params: int | None = None
    train_seconds: float = 0.0
    setup_seconds: float | None = None
    startup_seconds: float | None = None
    started_at: datetime = field(default_factory=_now)
    ended_at: datetime | None = None
    checkpoint: str | None = None
    error: str | None = None
    node_ip: str | None = None
    worker_pid: int | None = None

    @property
    def family(self) -> str:
        return self.config.get(FAMILY_KEY, "")


class Ledger:
    def __init__(self, run_id: str, metric: str, mode: str, max_epochs: int):
        self.run_id, self.metric, self.mode, self.max_epochs = run_id, metric, mode, max_epochs
        self.trials: dict[str, TrialRecord] = {}
        self.total: int | None = None

    def _better(self, value: float, best: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return best is None or (value > best if self.mode == "max" else value < best)

    def start(self, trial_id: str, config: dict[str, Any]) -> TrialRecord:
        rec = self.trials.get(trial_id)
        if rec is None:
            rec = self.trials[trial_id] = TrialRecord(trial_id, dict(config))
        rec.status = S.RUNNING
        return rec

    def result(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> dict[str, Any] | None:
        """Record one report; return its metrics row, or None for a report with no epoch."""
        rec = self.trials.get(trial_id) or self.start(trial_id, config)
        rec.params = result.get("params", rec.params)
        rec.node_ip = result.get("node_ip", rec.node_ip)
        rec.worker_pid = result.get("worker_pid", rec.worker_pid)
        if rec.setup_seconds is None and result.get("setup_seconds") is not None:
            rec.setup_seconds = float(result["setup_seconds"])
        if rec.startup_seconds is None and result.get("first_epoch_at"):
            # driver's trial start to the trial's first epoch: worker spawn, imports, model build
            rec.startup_seconds = max(0.0, float(result["first_epoch_at"]) - rec.started_at.timestamp())
        rec.reported_status = result.get("trial_status", rec.reported_status)
        epoch = int(result.get("epoch") or 0)
        if epoch < 1:
            return None
        rec.epochs = max(rec.epochs, epoch)
        rec.train_seconds = float(result.get("time_total_s", rec.train_seconds))
        value = result.get(self.metric)
        if self._better(value, rec.best_metric):
            rec.best_metric, rec.best_epoch = float(value), epoch
        row = {key: result.get(key) for key in _PER_EPOCH}
        row.update(self._keys(rec))
        row.update({S.CONFIG_PREFIX + k: v for k, v in rec.config.items() if k not in (FAMILY_KEY, MODEL_KEY)})
        row["elapsed_seconds"] = result.get("time_total_s")
        row["wall_time"] = datetime.fromtimestamp(result["timestamp"], timezone.utc) if result.get("timestamp") else _now()
        return row

    def checkpoint(self, trial_id: str, path: str) -> None:
        if trial_id in self.trials:
            self.trials[trial_id].checkpoint = path

    def complete(self, trial_id: str, stopped_by_scheduler: bool) -> TrialRecord:
        rec = self.trials[trial_id]
        if rec.reported_status in (S.DIVERGED, S.OVER_BUDGET):
            rec.status = rec.reported_status
        elif rec.epochs >= self.max_epochs:
            rec.status = S.COMPLETED
        elif stopped_by_scheduler:
            rec.status = S.EARLY_STOPPED
        else:
            rec.status = S.STOPPED
        rec.ended_at = _now()
        return rec

    def error(self, trial_id: str, config: dict[str, Any], message: str) -> TrialRecord:
        rec = self.trials.get(trial_id) or self.start(trial_id, config)
        rec.status, rec.error, rec.ended_at = S.FAILED, message, _now()
        return rec

    def interrupt_running(self) -> None:
        for rec in self.trials.values():
            if rec.status == S.RUNNING:
                rec.status, rec.ended_at = S.STOPPED, _now()

    def _keys(self, rec: TrialRecord) -> dict[str, Any]:
        return {S.RUN_ID: self.run_id, S.TRIAL_ID: rec.trial_id, S.FAMILY: rec.family,
                S.MODEL: rec.config.get(MODEL_KEY, "")}

    def trial_rows(self) -> list[dict[str, Any]]:
        rows = []
        for rec in self.trials.values():
            row = self._keys(rec)
            row.update({S.CONFIG_PREFIX + k: v for k, v in rec.config.items() if k not in (FAMILY_KEY, MODEL_KEY)})
            row.update(status=rec.status, epochs=rec.epochs, best_epoch=rec.best_epoch, metric=self.metric,
                       best_metric=rec.best_metric, params=rec.params, train_seconds=rec.train_seconds,
                       setup_seconds=rec.setup_seconds, startup_seconds=rec.startup_seconds,
                       started_at=rec.started_at, ended_at=rec.ended_at,
                       checkpoint=rec.checkpoint, error=rec.error, node_ip=rec.node_ip,
                       worker_pid=rec.worker_pid)
            rows.append(row)
        return rows

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in S.STATUSES}
        for rec in self.trials.values():
            out[rec.status] += 1
        if self.total is not None:
            out[S.PENDING] = max(0, self.total - len(self.trials))
        return out

    def best(self) -> TrialRecord | None:
        best = None
        for rec in self.trials.values():
            if rec.best_metric is not None and (best is None or self._better(rec.best_metric, best.best_metric)):
                best = rec
        return best
