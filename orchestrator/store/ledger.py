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

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from orchestrator.store import schema as S
from orchestrator.store.records import TrialRow
from trainables.contract.keys import CONFIG_PREFIX, FAMILY_KEY, MODEL_KEY, SCHEDULE_KEY
from trainables.contract.metrics import Mode
from trainables.contract.records import EpochReport
from trainables.contract.status import Status

_PER_EPOCH = [name for name, _ in EpochReport.columns()]
# what Ray Tune adds to every result the driver sees
RAY_ELAPSED, RAY_TIMESTAMP, RAY_NODE_IP, RAY_CONFIG = "time_total_s", "timestamp", "node_ip", "config"


def in_force(config: dict[str, Any], epoch: int) -> dict[str, Any]:
    """The configuration an epoch ran with: a replayed schedule's values at that epoch.

    >>> in_force({"lr": 0.01, "schedule": '{"lr": [[1, 0.1], [3, 0.01]]}'}, 2)["lr"]
    0.1
    """
    if not config.get(SCHEDULE_KEY):
        return config
    from trainables.training.replay import steps_of, value_at

    try:
        steps = steps_of(config)
    except ValueError:
        return config
    return {**config, **{p: value_at(s, epoch) for p, s in steps.items()}}


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class TrialRecord:
    trial_id: str
    config: dict[str, Any]
    status: Status = Status.RUNNING
    reported_status: Status = Status.RUNNING
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
        self.run_id, self.metric, self.max_epochs = run_id, metric, max_epochs
        self.mode = Mode(mode)
        self.trials: dict[str, TrialRecord] = {}
        self.total: int | None = None

    def _better(self, value: float | None, best: float | None) -> bool:
        return self.mode.better(value, best)

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
        """Record one Ray result (an ``EpochReport`` plus Ray's keys); return its metrics
        row, or None for a report with no epoch."""
        report = EpochReport.from_dict(result, f"trial {trial_id}'s report")
        rec = self.trials.get(trial_id) or self.start(trial_id, config)
        ran = result.get(RAY_CONFIG)
        if isinstance(ran, dict) and ran:
            # the configuration the epoch ran with: a PBT member's changes when it copies
            # another (Ray's trial config is already the next one when this result arrives)
            rec.config = dict(ran)
        rec.params = report.params if report.params is not None else rec.params
        rec.node_ip = result.get(RAY_NODE_IP, rec.node_ip)
        rec.node_id = report.node_id or rec.node_id
        rec.worker_pid = report.worker_pid or rec.worker_pid
        if rec.setup_seconds is None and report.setup_seconds is not None:
            rec.setup_seconds = float(report.setup_seconds)
        if rec.startup_seconds is None and report.first_epoch_at:
            # driver's trial start to the trial's first epoch: worker spawn, imports, model build
            rec.startup_seconds = max(0.0, float(report.first_epoch_at) - rec.started_at.timestamp())
        rec.reported_status = report.status
        if report.epoch < 1:
            return None
        if report.epoch <= rec.epochs:
            self._rewind(rec, report.epoch)
        rec.epochs = report.epoch
        elapsed = result.get(RAY_ELAPSED)
        rec.train_seconds = float(elapsed if elapsed is not None else rec.train_seconds)
        rec.history[report.epoch] = report.metric(self.metric)
        self._rebest(rec)
        stored = report.to_dict()
        row = {key: stored[key] for key in _PER_EPOCH}
        row.update(self._keys(rec))
        row.update({CONFIG_PREFIX + k: v for k, v in in_force(rec.config, report.epoch).items()
                    if k not in (FAMILY_KEY, MODEL_KEY)})
        row[S.ELAPSED] = elapsed
        row[S.NODE_IP] = rec.node_ip
        # the trial's own report time (Ray's "timestamp" is whole seconds)
        at = report.reported_at or result.get(RAY_TIMESTAMP)
        row[S.WALL_TIME] = datetime.fromtimestamp(float(at), timezone.utc) if at else _now()
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

    def trial_row(self, rec: TrialRecord) -> TrialRow:
        config = {k: v for k, v in rec.config.items() if k not in (FAMILY_KEY, MODEL_KEY)}
        return TrialRow(self.run_id, rec.trial_id, rec.family, rec.config.get(MODEL_KEY, ""), config,
                        status=rec.status, epochs=rec.epochs, best_epoch=rec.best_epoch, metric=self.metric,
                        best_metric=rec.best_metric, params=rec.params, train_seconds=rec.train_seconds,
                        setup_seconds=rec.setup_seconds, startup_seconds=rec.startup_seconds,
                        started_at=rec.started_at, ended_at=rec.ended_at, checkpoint=rec.checkpoint,
                        last_checkpoint=rec.last_checkpoint, error=rec.error, failures=rec.failures,
                        node_ip=rec.node_ip, node_id=rec.node_id, worker_pid=rec.worker_pid)

    def trial_rows(self) -> list[TrialRow]:
        return [self.trial_row(rec) for rec in self.trials.values()]

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
            keep = [S.TRIAL_ID, S.FAMILY, S.MODEL, *[c for c in ("params",) if c in extra.columns],
                    *[c for c in extra.columns if c.startswith(S.CONFIG_PREFIX)]]
            extra = extra[keep].assign(**{S.STATUS: S.RUNNING, "epochs": 0})
            # a trial whose metrics reach max_epochs completed, whatever else the lost table said
            reached = extra[S.TRIAL_ID].map(metrics.groupby(S.TRIAL_ID)[S.EPOCH].max()) >= max_epochs
            extra.loc[reached.to_numpy(), S.STATUS] = S.COMPLETED
            trials = extra if trials.empty else pd.concat([trials, extra], ignore_index=True)

    def present(v) -> bool:
        return v is not None and (isinstance(v, str) or not pd.isna(v))

    for raw in trials.to_dict("records"):
        row = TrialRow.from_dict({S.RUN_ID: run_id, **_row_record(raw, present)}, "trials.parquet")
        config = {FAMILY_KEY: row.family, MODEL_KEY: row.model, **row.config}
        seen = history.get(row.trial_id, {})
        rec = TrialRecord(row.trial_id, config, status=row.status, epochs=max([row.epochs or 0, *seen]),
                          params=row.params, train_seconds=float(row.train_seconds or 0.0),
                          setup_seconds=row.setup_seconds, startup_seconds=row.startup_seconds,
                          started_at=row.started_at or _now(), ended_at=row.ended_at,
                          checkpoint=row.checkpoint, last_checkpoint=row.last_checkpoint, error=row.error,
                          failures=int(row.failures or 0), node_ip=row.node_ip, node_id=row.node_id,
                          worker_pid=row.worker_pid, history=dict(seen))
        rec.reported_status = rec.status if rec.status in (S.DIVERGED, S.OVER_BUDGET) else S.RUNNING
        ledger._rebest(rec)
        ledger.trials[rec.trial_id] = rec
    return ledger


def _row_record(raw: dict[str, Any], present) -> dict[str, Any]:
    """A trials-table row (config_* columns, NaN for missing) as ``TrialRow.from_dict`` input."""
    out = {k: v for k, v in raw.items() if not k.startswith(CONFIG_PREFIX) and present(v)}
    out["config"] = {k[len(CONFIG_PREFIX):]: v for k, v in raw.items() if k.startswith(CONFIG_PREFIX) and present(v)}
    for key in ("started_at", "ended_at"):
        if key in out and hasattr(out[key], "to_pydatetime"):
            out[key] = out[key].to_pydatetime()
    return out
