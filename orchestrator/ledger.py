"""What the driver knows about every trial of a run: pure bookkeeping, no Ray.

The Ray callback feeds it events; it turns them into Parquet rows and decides each
trial's final status:

- ``diverged`` / ``over_budget``: the trial said so;
- ``completed``: it trained ``max_epochs`` epochs;
- ``early_stopped``: the scheduler stopped it;
- ``failed``: it raised (the reason is kept);
- ``stopped``: it ended otherwise (time budget, Ctrl-C).

A trial that restarts from an earlier checkpoint (a retry, a resumed run) reports an
epoch it reported before; the ledger rewinds to it, so best-so-far and epoch counts
describe the run that finally happened. ``from_tables`` rebuilds a ledger from a run
folder when a sweep is resumed.
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
    checkpoint: str | None = None          # the best epoch's checkpoint (the report evaluates it)
    last_checkpoint: str | None = None     # the latest one (retries and resumes continue from it)
    error: str | None = None
    failures: int = 0
    node_ip: str | None = None
    node_id: str | None = None
    worker_pid: int | None = None
    history: dict[int, float] = field(default_factory=dict)   # epoch -> metric value
    keep_status: bool = False   # done before a resume: Ray may restart it, but it is not run again

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
        if rec.status in S.DONE_STATUSES:
            rec.keep_status = True
            return rec
        rec.status = S.RUNNING
        return rec

    def result(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> dict[str, Any] | None:
        """Record one report; return its metrics row, or None for a report with no epoch."""
        rec = self.trials.get(trial_id) or self.start(trial_id, config)
        rec.params = result.get("params", rec.params)
        rec.node_ip = result.get("node_ip", rec.node_ip)
        rec.node_id = result.get("node_id", rec.node_id)
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
        if epoch <= rec.epochs:
            self._rewind(rec, epoch)
        rec.epochs = epoch
        rec.train_seconds = float(result.get("time_total_s", rec.train_seconds))
        value = result.get(self.metric)
        rec.history[epoch] = float("nan") if value is None else float(value)
        self._rebest(rec)
        row = {key: result.get(key) for key in _PER_EPOCH}
        row.update(self._keys(rec))
        row.update({S.CONFIG_PREFIX + k: v for k, v in rec.config.items() if k not in (FAMILY_KEY, MODEL_KEY)})
        row["elapsed_seconds"] = result.get("time_total_s")
        # the trial's own report time (Ray's "timestamp" is whole seconds)
        at = result.get("reported_at") or result.get("timestamp")
        row["wall_time"] = datetime.fromtimestamp(float(at), timezone.utc) if at else _now()
        return row

    def _rewind(self, rec: TrialRecord, epoch: int) -> None:
        """The trial restarted at ``epoch``: what it reported from there on is superseded."""
        rec.history = {e: v for e, v in rec.history.items() if e < epoch}
        if rec.best_epoch is not None and rec.best_epoch >= epoch:
            rec.checkpoint = None
        self._rebest(rec)

    def _rebest(self, rec: TrialRecord) -> None:
        rec.best_metric = rec.best_epoch = None
        for epoch in sorted(rec.history):
            if self._better(rec.history[epoch], rec.best_metric):
                rec.best_metric, rec.best_epoch = rec.history[epoch], epoch

    def checkpoint(self, trial_id: str, path: str, epoch: int | None, is_best: bool) -> None:
        rec = self.trials.get(trial_id)
        if rec is None:
            return
        rec.last_checkpoint = path
        if is_best or (epoch is not None and epoch == rec.best_epoch):
            rec.checkpoint = path

    def recover(self, trial_id: str, config: dict[str, Any], reason: str) -> TrialRecord:
        """The trial failed and Ray retries it from its last checkpoint."""
        rec = self.trials.get(trial_id) or self.start(trial_id, config)
        rec.failures += 1
        rec.error = f"retry {rec.failures}: {reason}"
        return rec

    def complete(self, trial_id: str, stopped_by_scheduler: bool) -> TrialRecord:
        rec = self.trials[trial_id]
        if rec.keep_status:
            return rec
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
        rec.failures += 1
        rec.status, rec.error, rec.ended_at = S.FAILED, message, _now()
        return rec

    def drop(self, trial_ids) -> None:
        for tid in trial_ids:
            self.trials.pop(tid, None)

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
                       checkpoint=rec.checkpoint, last_checkpoint=rec.last_checkpoint, error=rec.error,
                       failures=rec.failures, node_ip=rec.node_ip, node_id=rec.node_id,
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


def from_tables(run_id: str, metric: str, mode: str, max_epochs: int, trials, metrics) -> Ledger:
    """Rebuild a ledger from a run folder's trials table and metrics (for ``resume``)."""
    import pandas as pd

    ledger = Ledger(run_id, metric, mode, max_epochs)
    history: dict[str, dict[int, float]] = {}
    if not metrics.empty:
        for row in metrics[[S.TRIAL_ID, S.EPOCH, metric]].itertuples(index=False):
            history.setdefault(row[0], {})[int(row[1])] = float(row[2])
        # The metrics are flushed before Ray can checkpoint past them; the trials table is
        # rewritten every few seconds. Trials the table has not caught up with come from
        # their first metrics row.
        known = set(trials[S.TRIAL_ID]) if not trials.empty else set()
        extra = metrics[~metrics[S.TRIAL_ID].isin(known)].drop_duplicates(S.TRIAL_ID)
        if len(extra):
            keep = [S.TRIAL_ID, S.FAMILY, S.MODEL, *[c for c in extra.columns if c.startswith(S.CONFIG_PREFIX)]]
            extra = extra[keep].assign(**{S.STATUS: S.RUNNING, "epochs": 0})
            trials = extra if trials.empty else pd.concat([trials, extra], ignore_index=True)

    def value(row, key, default=None):
        v = row.get(key, default)
        return default if v is None or (not isinstance(v, str) and pd.isna(v)) else v

    for row in trials.to_dict("records"):
        config = {FAMILY_KEY: row[S.FAMILY], MODEL_KEY: row[S.MODEL]}
        config.update({k[len(S.CONFIG_PREFIX):]: v for k, v in row.items()
                       if k.startswith(S.CONFIG_PREFIX) and not (not isinstance(v, str) and pd.isna(v))})
        seen = history.get(row[S.TRIAL_ID], {})
        epochs = max([int(value(row, "epochs", 0)), *seen])
        rec = TrialRecord(row[S.TRIAL_ID], config, status=row[S.STATUS],
                          epochs=epochs, params=value(row, "params"),
                          train_seconds=float(value(row, "train_seconds", 0.0)),
                          setup_seconds=value(row, "setup_seconds"), startup_seconds=value(row, "startup_seconds"),
                          started_at=value(row, "started_at", _now()), ended_at=value(row, "ended_at"),
                          checkpoint=value(row, "checkpoint"), last_checkpoint=value(row, "last_checkpoint"),
                          error=value(row, "error"), failures=int(value(row, "failures", 0)),
                          node_ip=value(row, "node_ip"), node_id=value(row, "node_id"),
                          worker_pid=value(row, "worker_pid"),
                          history=dict(seen))
        rec.reported_status = rec.status if rec.status in (S.DIVERGED, S.OVER_BUDGET) else S.RUNNING
        ledger._rebest(rec)
        ledger.trials[rec.trial_id] = rec
    return ledger
