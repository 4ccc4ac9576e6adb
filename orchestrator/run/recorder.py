"""The run's recorder: what a fit tells (``raytune.fit.FitListener``) goes into the
ledger, the Parquet tables and the progress line.

Made afresh by every session that drives the run: ``setup`` rebuilds its ledger from
the run folder's files, so a resumed run carries on from exactly what the files say,
wherever the folder is now. Every write into the folder goes through ``_write``: the
first that fails (a full disk, a folder made read-only), or finds the folder moved
away, asks the command to stop (``lifecycle.stop``); later writes are skipped, and a
checkpoint whose epochs could not be written is refused, so Ray keeps the one before
and a resume trains that epoch again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from orchestrator.lifecycle.stop import Reason, Stop
from orchestrator.raytune.fit import CheckpointRefused, write_failure
from orchestrator.run.progress import ProgressPrinter
from orchestrator.store.checkpoints import fill_checkpoints
from orchestrator.store.folder import FolderWatch, RunFolder
from orchestrator.store.ledger import Ledger, from_tables
from orchestrator.store.parquet import RunStore, read_metrics, read_trials
from trainables.contract.keys import FAMILY_KEY, MODEL_KEY

FLUSH_SECONDS = 5.0
COMPACT_PARTS = 200   # merge small metric parts during long runs
REFUSING = (Reason.WRITE_FAILED, Reason.FOLDER_MOVED)


REASON_CHARS = 160      # of a failure's reason on the terminal; the run keeps it whole


def failure_line(trial_id: str, config: dict, reason: str, where: str) -> str:
    """E.g. ``trial 542caf29 (dense) failed: ValueError: bad shape (traceback: RUN/ray/…/error.txt)``.

    >>> line = failure_line("t1", {"family": "cnn"}, "ValueError: " + "x" * 200, "r/error.txt")
    >>> line[:32], line[-30:]
    ('trial t1 (cnn) failed: ValueErro', 'xxxx… (traceback: r/error.txt)')
    """
    first = reason.strip().splitlines()[0] if reason.strip() else "no message"
    if len(first) > REASON_CHARS:
        first = first[:REASON_CHARS - 1] + "…"
    family = config.get(FAMILY_KEY) or config.get(MODEL_KEY, "?")
    return f"trial {trial_id} ({family}) failed: {first} (traceback: {where})"


@dataclass
class Recorder:
    folder: RunFolder
    params: tuple[tuple[str, str], ...]
    metric: str
    mode: str
    max_epochs: int
    total: int | None                         # trials the run will have, for the progress line (None: open)
    stop: Stop                                # the command's stop token
    progress: bool = True
    drop: frozenset[str] = frozenset()        # trials Ray's saved state never saw: discarded
    ledger: Ledger | None = field(default=None, init=False)
    store: RunStore | None = field(default=None, init=False)
    _printer: ProgressPrinter | None = field(default=None, init=False)
    _watch: FolderWatch | None = field(default=None, init=False)
    _moved_to: str | None = field(default=None, init=False)
    _last_flush: float = field(default_factory=time.monotonic, init=False)

    # --- the fit's events --------------------------------------------------------------------
    def setup(self) -> None:
        folder = self.folder
        run_id = folder.meta().run_id
        trials, metrics = read_trials(folder.path), read_metrics(folder.path)
        if trials.empty and metrics.empty:
            self.ledger = Ledger(run_id, self.metric, self.mode, self.max_epochs)
        else:   # a resume, a later phase, or a trials table that was lost: the metrics rebuild it
            self.ledger = from_tables(run_id, self.metric, self.mode, self.max_epochs, trials, metrics)
            fill_checkpoints(self.ledger, folder)
        self.ledger.total = self.total
        self.store = RunStore(folder.path, list(self.params), mirror=folder.remote)
        self._watch = FolderWatch(folder.path)
        if self.drop:
            self.ledger.drop(self.drop)
            self._write(lambda: (self.store.compact(exclude=self.drop),
                                 self.store.write_trials(self.ledger.trial_rows())))
        self._printer = ProgressPrinter(self.ledger, enabled=self.progress)

    def trial_started(self, trial_id: str, config: dict) -> None:
        self.ledger.start(trial_id, config)

    def trial_result(self, trial_id: str, config: dict, result: dict) -> None:
        row = self.ledger.result(trial_id, config, result)
        if row is not None:
            self.store.append_metrics([row])

    def checkpoint(self, trial_id: str, path_on_storage: str, meta) -> None:
        # Ray's next experiment snapshot may reference this checkpoint, and a resume continues
        # after it: the epochs it covers must be on disk first, or a crash loses their rows.
        self._write(self.store.flush_metrics)
        if self.stop.has(*REFUSING):
            # They are not: Ray is to neither take this checkpoint nor drop the one before it
            # (it skips both when a callback raises), so a resume trains the epoch again.
            raise CheckpointRefused(f"trial {trial_id}: checkpoint not taken, its epoch is not recorded "
                                    f"({self.stop.requested.detail if self.stop.requested else ''})")
        self.ledger.checkpoint(trial_id, self.folder.relative(path_on_storage),
                               meta.epoch if meta else None, bool(meta and meta.is_best))
        if self.store.parts() > COMPACT_PARTS:
            self._write(self.store.compact)

    def trial_recovered(self, trial_id: str, config: dict, reason: str, traceback_at: str) -> None:
        self.ledger.recover(trial_id, config, reason)
        self._persist(force=True)
        self._tell(trial_id, config, reason, traceback_at, "; it is tried again")

    def trial_completed(self, trial_id: str, stopped_by_scheduler: bool) -> None:
        self.ledger.complete(trial_id, stopped_by_scheduler)
        self._persist(force=True)

    def trial_failed(self, trial_id: str, config: dict, reason: str, traceback_at: str) -> None:
        if self._moved():          # Ray could not store its checkpoint where the folder was: not the trial's fault
            return                 # it stays unfinished, and a resume trains it on
        self.ledger.error(trial_id, config, reason)
        self._persist(force=True)
        self._tell(trial_id, config, reason, traceback_at)

    def _tell(self, trial_id: str, config: dict, reason: str, traceback_at: str, then: str = "") -> None:
        """One line for a trial's failure, instead of Ray's traceback (which stays in the run)."""
        try:
            where = f"{self.folder.location}/{self.folder.relative(traceback_at)}"
        except RuntimeError:
            where = traceback_at
        if self._printer is not None:
            self._printer.say(failure_line(trial_id, config, reason, where) + then)

    def step(self) -> None:
        self._persist()
        self._printer.tick()

    def flush(self) -> None:
        self._persist(force=True)

    # --- reading it -------------------------------------------------------------------------
    def recorded(self, trial_id: str):
        """The trial as recorded so far (None before setup or for an unknown id)."""
        return self.ledger.trials.get(trial_id) if self.ledger is not None else None

    def counts(self) -> dict[str, int]:
        return self.ledger.counts() if self.ledger is not None else {}

    def moved_to(self) -> str | None:
        """Where the run folder is now, once it was moved away ("" when that cannot be told);
        None while it is where it was."""
        if self._moved_to is None and self._watch is not None:
            self._moved_to = self._watch.moved()
        return self._moved_to

    # --- writing ----------------------------------------------------------------------------
    def _moved(self) -> bool:
        """Whether the folder was moved away (the first time: the command's stop)."""
        if self.stop.has(Reason.FOLDER_MOVED):
            return True
        moved = self.moved_to()
        if moved is None:
            return False
        where = f"moved to {moved}" if moved else "moved or deleted"
        self.stop.request(Reason.FOLDER_MOVED, f"the run folder was {where} while it ran")
        return True

    def _write(self, action) -> None:
        """Every write into the folder: none once one failed or the folder moved away."""
        if self.stop.has(*REFUSING) or self._moved():
            return
        try:
            action()
        except OSError as e:
            self.stop.request(Reason.WRITE_FAILED, write_failure(e))

    def _persist(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self._write(lambda: (self.store.flush_metrics(), self.store.write_trials(self.ledger.trial_rows())))
            self._last_flush = time.monotonic()

    def finish(self) -> Ledger | None:
        """Flush and close; returns the ledger (None if the fit never set it up). A write
        that fails here (a full disk) raises OSError: the caller's to report. Nothing is
        written into a folder that moved away."""
        if self.ledger is None:
            return None
        self.ledger.interrupt_running()
        self._printer.close()
        if self._watch is not None:
            self._watch.close()
        if not self.stop.has(*REFUSING):
            self.store.flush_metrics()
            self.store.write_trials(self.ledger.trial_rows())
        return self.ledger
