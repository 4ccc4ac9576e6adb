"""The driver-side Ray Tune callback: feeds the ledger, writes Parquet, shows progress.

Ray pickles callbacks into the experiment state and gives them back on
``Tuner.restore``. The recorder therefore pickles nothing but its scheduler (whose
stop decisions it reads) and, in ``setup``, binds to the live run (``run.live``) and
rebuilds its ledger from the run folder, so a resumed sweep carries on from exactly
what the files say, wherever the folder is now.
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Iterator

from ray.tune import Callback

from orchestrator.run import live as live_run
from orchestrator.run.ledger import Ledger, from_tables
from orchestrator.run.progress import ProgressPrinter
from orchestrator.search.scheduler import PerFamilyScheduler
from orchestrator.store.checkpoints import fill_checkpoints
from orchestrator.store.parquet import RunStore, read_metrics, read_trials
from trainables.contract.keys import CHECKPOINT_META_FILE
from trainables.contract.records import CheckpointMeta, RecordError

FLUSH_SECONDS = 5.0
COMPACT_PARTS = 200   # merge small metric parts during long runs
# Ray Tune's logger of what a callback's on_checkpoint raised (with the whole result).
TUNE_CONTROLLER_LOGGER = "ray.tune.execution.tune_controller"


class CheckpointRefused(OSError):
    """``on_checkpoint``'s refusal of a checkpoint whose epochs could not be written."""


class _RefusalsUnlogged(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        return not isinstance(exc, CheckpointRefused)


@contextlib.contextmanager
def refusals_unlogged() -> Iterator[None]:
    """Leave out of Ray's log what it logs when ``on_checkpoint`` refuses a checkpoint
    (an ERROR with a traceback and the trial's whole result): the refusal is part of
    stopping on a failed write, which the run's note and summary give in one line."""
    logger, hide = logging.getLogger(TUNE_CONTROLLER_LOGGER), _RefusalsUnlogged()
    logger.addFilter(hide)
    try:
        yield
    finally:
        logger.removeFilter(hide)


def error_reason(trial) -> str:
    """The last line of the trial's latest error, e.g. ``ValueError: bad shape``: from
    ``Trial.error_file`` (the driver's copy, written before this callback runs), else
    ``Trial.get_error()`` (the copy in the run folder, which may not be synced yet)."""
    text = ""
    try:
        if trial.error_file and Path(trial.error_file).exists():
            text = Path(trial.error_file).read_text(errors="replace")
        else:
            text = str(trial.get_error() or "")
    except OSError:
        pass
    latest = text.split("Failure # ")[-1]   # the file keeps every failure of a retried trial
    lines = [ln.strip() for ln in latest.splitlines()[1 if "Failure # " in text else 0:] if ln.strip()]
    for line in reversed(lines):
        if ("Error" in line or "Exception" in line) and not line.startswith(("File ", "^")):
            return line[:2000]
    return lines[-1][:2000] if lines else "the trial failed without an error message"


def checkpoint_meta(checkpoint) -> CheckpointMeta | None:
    """The trial's ``checkpoint.json``, read through the checkpoint's filesystem."""
    try:
        with checkpoint.filesystem.open_input_stream(f"{checkpoint.path}/{CHECKPOINT_META_FILE}") as f:
            return CheckpointMeta.from_dict(json.loads(f.read()), CHECKPOINT_META_FILE)
    except (OSError, ValueError, RecordError):
        return None


class RunRecorder(Callback):
    def __init__(self, scheduler: PerFamilyScheduler):
        self.scheduler = scheduler
        self._runtime()

    def _runtime(self) -> None:
        self.live: live_run.LiveRun | None = None
        self.ledger: Ledger | None = None
        self.store: RunStore | None = None
        self.progress: ProgressPrinter | None = None
        self._last_flush = time.monotonic()

    def __getstate__(self) -> dict:
        return {"scheduler": self.scheduler}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._runtime()

    def setup(self, **info) -> None:
        live = self.live = live_run.current()
        live.recorder = self
        folder = live.folder
        run_id = folder.meta().run_id
        trials, metrics = read_trials(folder.path), read_metrics(folder.path)
        if trials.empty and metrics.empty:
            self.ledger = Ledger(run_id, live.metric, live.mode, live.max_epochs)
        else:   # a resume, a repeat phase, or a trials table that was lost: the metrics rebuild it
            self.ledger = from_tables(run_id, live.metric, live.mode, live.max_epochs, trials, metrics)
            fill_checkpoints(self.ledger, folder)
        self.ledger.total = live.total
        self.store = RunStore(folder.path, list(live.params), mirror=folder.remote)
        if live.drop:
            self.ledger.drop(live.drop)
            self.store.compact(exclude=live.drop)
            self.store.write_trials(self.ledger.trial_rows())
        self.progress = ProgressPrinter(self.ledger, enabled=live.progress)

    def on_step_begin(self, iteration, trials, **info) -> None:
        if trials:      # Ray cannot restore a saved state that holds no trial: stop once it has some
            live_run.stop_if_asked(self.live)

    def _write(self, action) -> None:
        """Every write into the folder: the first that fails (a full disk, a folder made
        read-only) is kept and ends the fit (``live.stop_for_write_error``); later ones
        are skipped, so Ray's log is not flooded and the drive reports it once."""
        if self.live.write_error is not None:
            return
        try:
            action()
        except OSError as e:
            live_run.stop_for_write_error(self.live, e)

    def _persist(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self._write(lambda: (self.store.flush_metrics(), self.store.write_trials(self.ledger.trial_rows())))
            self._last_flush = time.monotonic()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.ledger.start(trial.trial_id, trial.config)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        row = self.ledger.result(trial.trial_id, trial.config, result)
        if row is not None:
            self.store.append_metrics([row])

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        # Ray's next experiment snapshot may reference this checkpoint, and a resume continues
        # after it: the epochs it covers must be on disk first, or a crash loses their rows.
        self._write(self.store.flush_metrics)
        if self.live.write_error is not None:
            # They are not: Ray is to neither take this checkpoint nor drop the one before it
            # (it skips both when a callback raises), so a resume trains the epoch again.
            raise CheckpointRefused(f"trial {trial.trial_id}: checkpoint not taken, its epoch is not recorded "
                          f"({self.live.write_error})")
        meta = checkpoint_meta(checkpoint)
        self.ledger.checkpoint(trial.trial_id, self.live.folder.relative(checkpoint.path),
                               meta.epoch if meta else None, bool(meta and meta.is_best))
        if self.store.parts() > COMPACT_PARTS:
            self._write(self.store.compact)

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
        """Flush and close; returns the ledger (None if the experiment never set up).
        A write that fails here (a full disk) is the caller's to report."""
        if self.ledger is None:
            return None
        self.ledger.interrupt_running()
        self.progress.close()
        self.store.flush_metrics()
        self.store.write_trials(self.ledger.trial_rows())
        return self.ledger

