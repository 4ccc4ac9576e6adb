"""A consistent view of a run folder, also while its sweep is still writing.

The trials table is rewritten after the metric parts it describes, so metric rows can
be ahead of it, never behind; the snapshot keeps only the rows the trials table
accounts for (its trials, up to their recorded epoch count).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator import schema as S
from orchestrator.errors import UserError
from orchestrator.store import RUN_FILE, SWEEP_FILE, TRIALS_FILE, read_meta, read_metrics, read_trials
from orchestrator.sweep import SweepSpec, parse_sweep


@dataclass(frozen=True)
class Snapshot:
    run_dir: Path
    meta: dict[str, Any]
    spec: SweepSpec
    trials: pd.DataFrame
    metrics: pd.DataFrame

    @property
    def running(self) -> bool:
        return self.meta.get("status") == "running"


def read_snapshot(run_dir: str | Path) -> Snapshot:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    for name in (RUN_FILE, SWEEP_FILE):
        if not (run_dir / name).is_file():
            raise UserError(f"{run_dir}: not a tunefm run folder (no {name})")
    meta = read_meta(run_dir)
    spec = parse_sweep((run_dir / SWEEP_FILE).read_text(), str(run_dir / SWEEP_FILE))
    trials = read_trials(run_dir) if (run_dir / TRIALS_FILE).exists() else pd.DataFrame()
    metrics = read_metrics(run_dir)
    if not trials.empty and not metrics.empty:
        epochs = trials.set_index(S.TRIAL_ID)["epochs"]
        limit = metrics[S.TRIAL_ID].map(epochs)
        metrics = metrics[limit.notna() & (metrics[S.EPOCH] <= limit)].reset_index(drop=True)
        metrics = metrics.drop_duplicates([S.TRIAL_ID, S.EPOCH], keep="last")
    return Snapshot(run_dir, meta, spec, trials, metrics)
