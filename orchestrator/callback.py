"""The driver-side Ray Tune callback: feeds the ledger, writes Parquet, shows progress.

Ray pickles callbacks into the experiment state and gives them back on
``Tuner.restore``; the recorder therefore keeps only plain settings across pickling
and rebuilds its ledger from the run folder in ``setup``, so a resumed sweep carries
on from exactly what the files say.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ray.tune import Callback

from orchestrator.ledger import Ledger, from_tables
from orchestrator.progress import ProgressPrinter
from orchestrator.scheduler import PerFamilyScheduler
from orchestrator.store import TRIALS_FILE, RunStore, read_metrics, read_trials

FLUSH_SECONDS = 5.0
COMPACT_PARTS = 200   # merge small metric parts during long runs


def error_reason(trial) -> str:
    """The last line of the trial's latest traceback, e.g. ``ValueError: bad shape``."""
    text = ""
    try:
        if trial.error_file and Path(trial.error_file).exists():
            text = Path(trial.error_file).read_text(errors="replace")
    except OSError:
        pass
    blocks = text.split("Failure # ")
    lines = [ln.strip() for ln in blocks[-1].splitlines()[1:] if ln.strip()]
    for line in reversed(lines):
        if ("Error" in line or "Exception" in line) and not line.startswith(("File ", "^")):
            return line[:2000]
    return lines[-1][:2000] if lines else "the trial failed without an error message"


def checkpoint_meta(checkpoint) -> dict:
    """The trial's ``checkpoint.json`` (epoch, is_best), read through the checkpoint's filesystem."""
    from trainables.training.trial import META_FILE

    try:
        with checkpoint.filesystem.open_input_stream(f"{checkpoint.path}/{META_FILE}") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return {}


@dataclass(frozen=True)
class RunSettings:
    run_dir: str
    params: list[tuple[str, str]]
    metric: str
    mode: str
    max_epochs: int
    total: int
    remote: str | None = None     # the run folder's URI, when it lives on one (run_dir is its staging copy)


class RunRecorder(Callback):
    def __init__(self, settings: RunSettings, scheduler: PerFamilyScheduler, progress: bool = True):
        self.settings, self.scheduler, self.show_progress = settings, scheduler, progress
        self._runtime()

    def _runtime(self) -> None:
        self.ledger: Ledger | None = None
        self.store: RunStore | None = None
        self.progress: ProgressPrinter | None = None
        self._last_flush = time.monotonic()

    def __getstate__(self) -> dict:
        return {"settings": self.settings, "scheduler": self.scheduler, "show_progress": self.show_progress}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._runtime()

    def relocate(self, run_dir: Path, progress: bool, drop: frozenset[str] = frozenset(),
                 remote: str | None = None) -> None:
        """After a restore: the run folder may have moved (``remote``: the URI it was
        resumed from), the terminal may differ, and trials Ray's saved state never saw
        (``drop``) are discarded: Ray runs their configs again under new trial ids."""
        from dataclasses import replace

        self.settings = replace(self.settings, run_dir=str(run_dir), remote=remote)
        self.show_progress = progress
        self._drop = frozenset(drop)

    def setup(self, **info) -> None:
        s = self.settings
        run_dir = Path(s.run_dir)
        if (run_dir / TRIALS_FILE).exists():
            self.ledger = from_tables(run_dir.name, s.metric, s.mode, s.max_epochs,
                                      read_trials(run_dir), read_metrics(run_dir))
        else:
            self.ledger = Ledger(run_dir.name, s.metric, s.mode, s.max_epochs)
        self.ledger.total = s.total
        self.store = RunStore(run_dir, s.params, mirror=self._mirror())
        drop = getattr(self, "_drop", frozenset())
        if drop:
            self.ledger.drop(drop)
            self.store.compact(exclude=drop)
            self.store.write_trials(self.ledger.trial_rows())
        self.progress = ProgressPrinter(self.ledger, enabled=self.show_progress)

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
        meta = checkpoint_meta(checkpoint)
        self.ledger.checkpoint(trial.trial_id, self._relative(checkpoint.path), meta.get("epoch"),
                               bool(meta.get("is_best")))
        # Ray's next experiment snapshot may reference this checkpoint, and a resume continues
        # after it: the epochs it covers must be on disk first, or a crash loses their rows.
        self.store.flush_metrics()
        if self.store.parts() > COMPACT_PARTS:
            self.store.compact()

    def _mirror(self):
        if not self.settings.remote:
            return None
        from orchestrator.remote import Remote

        return Remote(self.settings.remote)

    def _relative(self, path: str) -> str:
        """Checkpoints are recorded relative to the run folder, so the folder can move."""
        if self.settings.remote:
            return self._mirror().relative(path)
        run_dir = Path(self.settings.run_dir).resolve()
        try:
            return Path(path).resolve().relative_to(run_dir).as_posix()
        except ValueError:
            return path

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self.ledger.recover(trial.trial_id, trial.config, error_reason(trial))
        self._persist(force=True)

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

    def finish(self) -> Ledger | None:
        """Flush and close; returns the ledger (None if the experiment never set up)."""
        if self.ledger is None:
            return None
        self.ledger.interrupt_running()
        self.store.flush_metrics()
        self.store.write_trials(self.ledger.trial_rows())
        self.progress.close()
        return self.ledger
