"""A consistent view of a run folder, also while its sweep is still writing, or after
its driver died.

The trials table is rewritten after the metric parts it describes, so metric rows can
be ahead of it, never behind; while a driver runs, the snapshot keeps only the rows
the trials table accounts for. When the driver died without a word (no one holds the
run's lock, yet run.json says ``running``), or the trials table misses trials that the
metrics have, the metrics are the truth: the trials are rebuilt from them as the
recorder would have, running ones counted as stopped, and each trial's checkpoints are
found in the folder itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from orchestrator.store.folder import RunFolder
from orchestrator.spec.sweep import SweepSpec
from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics, read_trials
from orchestrator.store.records import RunMeta, RunStatus
from trainables.contract.errors import UserError
from trainables.contract.keys import RACE_COL, RUN_FILE, TRIALS_FILE
from trainables.contract.status import Status


@dataclass(frozen=True)
class Snapshot:
    folder: RunFolder
    meta: RunMeta
    spec: SweepSpec
    trials: pd.DataFrame
    metrics: pd.DataFrame
    status: RunStatus                  # running only while a live driver holds the lock
    status_note: str | None = None     # e.g. the driver died without a word

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    @property
    def running(self) -> bool:
        return self.status == RunStatus.RUNNING


def read_snapshot(run: RunFolder | str | Path) -> Snapshot:
    folder = run if isinstance(run, RunFolder) else RunFolder.open(run)
    meta, spec = folder.meta(), folder.spec()
    status, note = folder.status()
    trials, metrics = read_trials(folder.path), read_metrics(folder.path)
    rebuilt = not metrics.empty and _lags(trials, metrics)     # then the statuses come from the metrics
    contradiction = None if rebuilt else finished_contradiction(meta, spec, trials)
    if contradiction:           # run.json says finished; the tables say otherwise: they are the truth
        status, note = RunStatus.INTERRUPTED, f"its {RUN_FILE} says finished, but {contradiction}"
    if status != RunStatus.RUNNING and not metrics.empty and (note is not None or _lags(trials, metrics)):
        trials = _rebuilt_trials(folder, meta, spec, trials, metrics)
    if not trials.empty and not metrics.empty:
        epochs = trials.set_index(S.TRIAL_ID)["epochs"]
        limit = metrics[S.TRIAL_ID].map(epochs)
        metrics = metrics[limit.notna() & (metrics[S.EPOCH] <= limit)].reset_index(drop=True)
    return Snapshot(folder, meta, spec, trials, metrics, status, note)


def finished_contradiction(meta: RunMeta, spec: SweepSpec, trials: pd.DataFrame) -> str | None:
    """Why run.json's ``finished`` cannot be true of the trials table (run.json was edited,
    or copied from another run), or None. Every trial of a finished run ended on its own;
    only a time budget stops trials, and leaves some never started."""
    if meta.status != RunStatus.FINISHED:
        return None
    counts = trials[S.STATUS].value_counts().to_dict() if len(trials) else {}
    still = counts.get(Status.RUNNING, 0) + counts.get(Status.PENDING, 0)
    budget = spec.time_budget_s is not None
    raced = trials[RACE_COL].notna() & (trials[RACE_COL] != "") if RACE_COL in trials else None
    if raced is not None and spec.decide is not None and spec.decide.seconds is not None and len(trials):
        # the race's own time budget stops its last runs: not a contradiction either
        counts[Status.STOPPED] = int(((trials[S.STATUS] == Status.STOPPED) & ~raced).sum())
    stopped = 0 if budget else counts.get(Status.STOPPED, 0)
    # a race runs as many trials as it needs (its record holds its budget)
    drawn = meta.trials + sum(p.trials for p in meta.repeats if p.kind != "race")
    planned = len(trials) - (int(raced.sum()) if raced is not None and len(trials) else 0)
    missing = 0 if budget else max(0, drawn - planned)
    why = [f"{still} trial(s) are still running or pending" if still else "",
           f"{stopped} trial(s) were stopped before their end" if stopped else "",
           f"{missing} of its {drawn} trials never started" if missing else ""]
    return "; ".join(w for w in why if w) or None


def check_finished(folder: RunFolder, meta: RunMeta, spec: SweepSpec) -> None:
    """Refuse to build on a finished run whose trials table is gone (the metrics cannot
    tell an early stop from a stop) or contradicts its run.json."""
    if not folder.file(TRIALS_FILE).is_file():
        raise UserError(f"{folder.file(TRIALS_FILE)} is missing: the finished trials' statuses are only there; "
                        "restore it from a copy of the run")
    why = finished_contradiction(meta, spec, read_trials(folder.path))
    if why:
        raise UserError(f"{folder.file(RUN_FILE)} says the run finished, but {why}: it was edited or comes from "
                        "another run; restore it from a copy of the run (or set its status to \"interrupted\" "
                        "to resume the run)")


def _lags(trials: pd.DataFrame, metrics: pd.DataFrame) -> bool:
    """The trials table misses trials the metrics have (it was lost, or deleted to mend it)."""
    return trials.empty or not set(metrics[S.TRIAL_ID]) <= set(trials[S.TRIAL_ID])


def _rebuilt_trials(folder: RunFolder, meta: RunMeta, spec: SweepSpec, trials, metrics) -> pd.DataFrame:
    from orchestrator.store.ledger import from_tables
    from orchestrator.store.checkpoints import fill_checkpoints

    ledger = from_tables(meta.run_id, spec.metric, spec.mode, spec.scheduler.max_epochs, trials, metrics)
    ledger.interrupt_running()
    fill_checkpoints(ledger, folder)
    rows = [row.to_row() for row in ledger.trial_rows()]
    return pd.DataFrame(rows) if rows else trials
