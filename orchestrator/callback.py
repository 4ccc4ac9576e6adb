"""The driver-side Ray Tune callback: feeds the ledger, writes Parquet, shows progress."""
from __future__ import annotations

import time
from pathlib import Path

from ray.tune import Callback

from orchestrator.ledger import Ledger
from orchestrator.progress import ProgressPrinter
from orchestrator.scheduler import PerFamilyScheduler
from orchestrator.store import RunStore

FLUSH_SECONDS = 5.0


def error_reason(trial) -> str:
    """The last line of the trial's traceback, e.g. ``ValueError: bad shape``."""
    text = ""
    try:
        if trial.error_file and Path(trial.error_file).exists():
            text = Path(trial.error_file).read_text(errors="replace")
    except OSError:
        pass
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Failure #")]
    for line in reversed(lines):
        if ("Error" in line or "Exception" in line) and not line.startswith(("File ", "^")):
            return line[:2000]
    return lines[-1][:2000] if lines else "the trial failed without an error message"


class RunRecorder(Callback):
    def __init__(self, ledger: Ledger, store: RunStore, scheduler: PerFamilyScheduler,
                 progress: ProgressPrinter):
        self.ledger, self.store, self.scheduler, self.progress = ledger, store, scheduler, progress
        self._last_flush = time.monotonic()

    def _persist(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.store.flush_metrics()
            self.store.write_trials(self.ledger.trial_rows())
            self._last_flush = time.monotonic()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.ledger.start(trial.trial_id, trial.config)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        row = self.ledger.result(trial.trial_id, trial.config, result)
        if row is not None:
            self.store.append_metrics([row])

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        self.ledger.checkpoint(trial.trial_id, checkpoint.path)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.ledger.complete(trial.trial_id, trial.trial_id in self.scheduler.stopped_trials)
        self._persist(force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.ledger.error(trial.trial_id, trial.config, error_reason(trial))
        self._persist(force=True)

    def on_step_end(self, iteration, trials, **info) -> None:
        self._persist()
        self.progress.tick()

    def on_experiment_end(self, trials, **info) -> None:
        self._persist(force=True)
