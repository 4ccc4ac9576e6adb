"""One runner for every phase of a run: build (or restore) the Tuner, record the phase in
run.json, fit it with the recorder bound, and turn what happened into the run's status,
note and exit code through the outcome table (``lifecycle.outcome``).

A command (``plans.py``, ``extend.py``) holds the run's lock and one Ray session for
its whole length, and runs its phases through ``run_phase``; ``run_phases`` goes on with
the phases the sweep file declares after one that finished (its ``repeat:`` block), and
``settle`` gives the command's last word once Ray has shut down (a Ctrl-C while the
last files were written still stops what the command would do next).
"""
from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from orchestrator.lifecycle.options import SweepOptions
from orchestrator.lifecycle.outcome import Outcome, PhaseEnd, Then, phase_outcome
from orchestrator.lifecycle.stop import Reason, Stop
from orchestrator.raytune.fit import Fit, run_fit, write_failure
from orchestrator.raytune.session import RaySession, silent_returns_allowed
from orchestrator.raytune.tracking import tracker_callbacks
from orchestrator.raytune.tuner import build_tuner, restore_tuner, trainable
from orchestrator.run.phase import EXTENSION, SWEEP, Phase
from orchestrator.run.recorder import Recorder
from orchestrator.spec.sweep import SweepSpec
from orchestrator.store.folder import RunFolder, writing
from orchestrator.store.parquet import RunStore
from orchestrator.store.records import BestTrial, RunMeta, RunStatus, now_iso
from trainables.contract.keys import RUN_FILE
from trainables.contract.status import ALL as STATUSES
from trainables.contract.status import Status


@dataclass
class RunSummary:
    folder: RunFolder
    status: RunStatus
    counts: dict[str, int]
    best: BestTrial | None
    wall_seconds: float
    end: PhaseEnd                      # what happened in the command's last phase
    outcome: Outcome                   # and what it means (lifecycle.outcome)
    unsynced: int = 0                  # files that did not reach the URI
    unsaved: str | None = None         # a final write that failed (the disk is full ...)
    note_override: str | None = None   # the summary's note where the phase declares one (an extension's)

    @property
    def phase(self) -> str:
        return self.end.phase

    @property
    def note(self) -> str | None:
        return self.note_override or self.outcome.note if self.outcome.status == RunStatus.FINISHED \
            else self.outcome.note or self.note_override

    @property
    def skipped(self) -> str | None:
        return self.outcome.skipped

    @property
    def stopped_by(self) -> str | None:
        """"Ctrl-C" or "SIGTERM" when a signal stopped the command (in a phase or after it)."""
        request = self.end.request
        return str(request.reason) if request is not None and request.reason.signal else None

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    @property
    def uri(self) -> str | None:
        return self.folder.uri

    @property
    def location(self) -> str:
        return self.folder.location


@dataclass
class Command:
    """What the phases of one command share."""

    folder: RunFolder
    spec: SweepSpec
    options: SweepOptions
    stop: Stop
    session: RaySession
    data: object                          # the TrialData every trial trains on
    meta: RunMeta                         # run.json as last written
    params: list[tuple[str, str]]
    clock: float = field(default_factory=time.monotonic)   # when the current phase's time began
    started_iso: str = field(default_factory=now_iso)      # when this command's session began
    cache: str | None = None              # the feature cache's name, once started
    _store: RunStore | None = field(default=None, repr=False)

    def store(self) -> RunStore:
        """The run folder's store, made once (a folder whose metrics went bad later can still
        take run.json), and again where the folder is now once it moved."""
        if self._store is None or self._store.run_dir != self.folder.path:
            self._store = RunStore(self.folder.path, self.params, mirror=self.folder.remote)
        return self._store


def run_phase(cmd: Command, phase: Phase) -> RunSummary | None:
    """Run ``phase`` to its end; None when a stop came before a later phase was recorded
    (the run stays as it was)."""
    tuner = phase_tuner(cmd, phase)
    if phase.record is not None and cmd.stop:
        return None
    return fit_phase(cmd, phase, tuner)


def phase_tuner(cmd: Command, phase: Phase):
    """The phase's Tuner: built, or restored from Ray's saved state of the phase."""
    spec, options, folder = cmd.spec, cmd.options, cmd.folder
    if phase.feature_cache and cmd.cache is None:
        cmd.cache = cmd.session.start_feature_cache(spec, cmd.meta.run_id)
    trainable_fn = trainable(spec, cmd.data, cmd.cache if phase.feature_cache else None, phase.done,
                             options.trial_function, dict(phase.continue_from), phase.max_epochs)
    if phase.restore:
        tuner = restore_tuner(folder, trainable_fn, phase.ray_name)
    else:
        callbacks = [*(tracker_callbacks(spec, folder.location) if phase.trackers else ()), *options.extra_callbacks]
        tuner = build_tuner(spec, folder, trainable_fn, searcher=phase.searcher, scheduler=phase.scheduler,
                            num_samples=phase.num_samples, callbacks=callbacks, reuse_workers=options.reuse_workers,
                            ray_name=phase.ray_name)
    return tuner


def fit_phase(cmd: Command, phase: Phase, tuner) -> RunSummary:
    """Record the phase in run.json, fit ``tuner`` with the recorder bound, and write how it
    ended."""
    spec, options, folder, stop = cmd.spec, cmd.options, cmd.folder, cmd.stop
    meta = cmd.meta
    if phase.record is not None:
        meta = meta.with_(repeats=(*meta.repeats, phase.record), note=None)
    cmd.meta = meta.with_(status=RunStatus.RUNNING, session_started_at=cmd.started_iso)
    store = cmd.store()
    with writing(folder):
        store.write_meta(cmd.meta)
    recorder = Recorder(folder, tuple(cmd.params), spec.metric, spec.mode, phase.max_epochs, phase.total, stop,
                        options.progress, drop=phase.drop)
    fit = Fit(folder.storage(), stop, recorder, phase.budget, phase.recorded_epochs, _history(cmd, phase))
    asked_before = bool(stop)
    queue = cmd.session.queue_ahead(queues_ahead(spec, phase))
    with queue, silent_returns_allowed() if phase.done else contextlib.nullcontext():
        run_fit(tuner, fit)
    return _end_phase(cmd, phase, recorder, fit, asked_before)


def _history(cmd: Command, phase: Phase) -> dict:
    """What the run recorded before this fit, for its ASHA to start from (a resume, an
    extension), or its population to go on from (a resume of a PBT sweep): family -> trial
    -> epoch -> metric. Empty for a FIFO phase."""
    if cmd.spec.scheduler.kind not in ("asha", "pbt", "pb2") or phase.kind not in (SWEEP, EXTENSION):
        return {}
    from orchestrator.search.extension import histories
    from orchestrator.store import schema as S
    from orchestrator.store.parquet import read_metrics, read_trials

    trials = read_trials(cmd.folder.path)
    if cmd.spec.scheduler.population is not None and len(trials):
        # a population goes on with the members that will train again; one that ended (its
        # last epoch, diverged, over budget) must not set the next step back to its epoch
        trials = trials[~trials[S.STATUS].isin([S.COMPLETED, S.DIVERGED, S.OVER_BUDGET, S.EARLY_STOPPED])]
    metrics = read_metrics(cmd.folder.path)
    if cmd.spec.scheduler.population is not None and len(metrics):
        metrics = metrics[metrics[S.TRIAL_ID].isin(trials[S.TRIAL_ID])]
    return histories(metrics, trials, cmd.spec.metric)


def queues_ahead(spec: SweepSpec, phase: Phase) -> bool:
    """Whether Tune may create the phase's trials ahead of their start, one per CPU
    (``session.queue_ahead``): when its configs are decided before it starts, unless
    ``max_concurrent`` already makes Ray queue that many. A restored phase keeps the value
    Ray saved with its state."""
    return phase.up_front and not spec.max_concurrent and not phase.restore


def _end_phase(cmd: Command, phase: Phase, recorder: Recorder, fit: Fit, asked_before: bool) -> RunSummary:
    stop = cmd.stop
    before = recorder.counts()            # counted before finish() marks the trials still running as stopped
    unfinished = before.get(Status.PENDING, 0) + before.get(Status.RUNNING, 0) + _not_started(cmd, phase)
    unsaved = None
    try:
        ledger = recorder.finish()
        if not stop.has(Reason.WRITE_FAILED, Reason.FOLDER_MOVED):
            cmd.store().compact()
    except OSError as e:
        ledger = recorder.ledger
        unsaved = f"{e.strerror or e}: {e.filename or ''}"
        stop.request(Reason.WRITE_FAILED, write_failure(e))
    if stop.has(Reason.FOLDER_MOVED):
        _left_behind(cmd.folder, phase.ray_name)
        moved = recorder.moved_to()
        cmd.folder = RunFolder(Path(moved)) if moved else cmd.folder
    follows = _follows(cmd, phase)
    best = ledger.best() if ledger else None
    end = PhaseEnd(phase.kind, stop.requested, before_trials=asked_before and stop.requested is not None,
                   unfinished=unfinished, budget_spent=fit.budget_spent, next_phase=follows if best else None,
                   where=cmd.folder.location)
    outcome = phase_outcome(end, _skip_command(cmd, end.next_phase))
    counts = ledger.counts() if ledger else {s: 0 for s in STATUSES}
    best_info = None if best is None else BestTrial(best.trial_id, best.family, cmd.spec.metric,
                                                    float(best.best_metric), int(best.best_epoch))
    conclusion = None
    if phase.conclude is not None and outcome.status == RunStatus.FINISHED:
        conclusion = phase.conclude(cmd)       # e.g. the race's verdict, read from the files just written
    if cmd.spec.scheduler.population is not None and outcome.status == RunStatus.FINISHED:
        # a population ended by its time budget: Tune stops its members without telling the scheduler
        from orchestrator.raytune.population import remove_copies

        remove_copies(cmd.folder.storage(), phase.ray_name)
    now = time.monotonic()
    wall = now - cmd.clock
    cmd.clock = now
    cmd.meta = cmd.meta.with_(status=outcome.status, ended_at=now_iso(),
                              wall_seconds=(cmd.meta.wall_seconds or 0.0) + wall,
                              counts={str(k): v for k, v in counts.items() if v}, best=best_info,
                              note="; ".join(n for n in (conclusion, outcome.note) if n) or None)
    store = cmd.store()
    if stop.has(Reason.FOLDER_MOVED) and not recorder.moved_to():
        unsaved = unsaved or "the run folder is gone: run.json could not be written"
    else:
        try:
            store.write_meta(cmd.meta)     # for a URI run this also retries any failed upload
        except OSError as e:
            unsaved = unsaved or f"{e.strerror or e}: {e.filename or ''}"
    return RunSummary(cmd.folder, outcome.status, counts, best_info, wall, end, outcome, store.unsynced, unsaved,
                      note_override=cmd.meta.note if conclusion else phase.note)


class NothingToRun(Exception):
    """A declared phase has nothing to train (the race: fewer than two candidates); the
    message says why, and the run goes on to what follows."""


def run_phases(cmd: Command, summary: RunSummary, declare: Callable[[Command, str], Phase]) -> RunSummary:
    """The phases the sweep file declares after ``summary``'s, while each finishes and no
    stop came: ``declare(cmd, kind)`` gives the next one. A stop before the next phase is
    recorded leaves the run finished without it: run.json's note and the summary say so,
    with the command that runs it."""
    while summary.outcome.then == Then.NEXT_PHASE:
        kind = summary.end.next_phase
        try:
            phase = None if cmd.stop else declare(cmd, kind)
        except NothingToRun as e:
            summary = _nothing(cmd, summary, kind, str(e))
            continue
        result = run_phase(cmd, phase) if phase is not None else None
        if result is None:
            return _skipped(cmd, summary)
        summary = result
    return summary


def _nothing(cmd: Command, summary: RunSummary, kind: str, why: str) -> RunSummary:
    """``kind`` had nothing to run: the run is as the last phase left it, run.json's note
    says why, and the command goes on to what follows ``kind``."""
    from orchestrator.run.phase import follows

    note = f"no {kind} phase: {why}"
    unsaved = summary.unsaved
    try:
        cmd.store().write_meta(cmd.folder.meta().with_(note=note))
    except OSError as e:
        unsaved = unsaved or f"{e.strerror or e}: {e.filename or ''}"
    after = follows(kind, cmd.spec, cmd.options.repeat)
    end = replace(summary.end, next_phase=after)
    return replace(summary, end=end, outcome=phase_outcome(end, _skip_command(cmd, after)), unsaved=unsaved,
                   note_override=note)


def _skipped(cmd: Command, summary: RunSummary) -> RunSummary:
    end = replace(summary.end, request=cmd.stop.requested)
    outcome = phase_outcome(end, summary.outcome.skipped or _skip_command(cmd, end.next_phase))
    unsaved = summary.unsaved
    try:
        cmd.store().write_meta(cmd.folder.meta().with_(note=outcome.note))
    except OSError as e:
        unsaved = unsaved or f"{e.strerror or e}: {e.filename or ''}"
    return replace(summary, end=end, outcome=outcome, unsaved=unsaved)


def settle(summary: RunSummary, stop: Stop) -> RunSummary:
    """The command's last word: a stop that came after its last phase ended (while the
    run's last files were written, or Ray shut down) stops what it would do next."""
    if summary.end.request is not None or stop.requested is None:
        return summary
    end = replace(summary.end, request=stop.requested)
    return replace(summary, end=end, outcome=phase_outcome(end, summary.outcome.skipped))


def _follows(cmd: Command, phase: Phase) -> str | None:
    from orchestrator.run.phase import follows

    return follows(phase.kind, cmd.spec, cmd.options.repeat)


def _skip_command(cmd: Command, kind: str | None) -> str | None:
    if kind == "repeat":
        return f"tunefm repeat {cmd.folder.location} --top-k {cmd.spec.repeat_top_k} --seeds {cmd.spec.repeat_seeds}"
    if kind == "race":
        return f"tunefm extend {cmd.folder.location} --race"
    return None


def _not_started(cmd: Command, phase: Phase) -> int:
    """Trials a phase of no fixed size had yet to start when its fit ended: a stop can come
    between two of a race's rounds, with none running. (A phase with a ``total`` counts
    them as pending.)"""
    return max(0, phase.left(cmd)) if phase.left is not None else 0


def _left_behind(folder: RunFolder, ray_name: str) -> None:
    """The run folder moved away while it ran; Ray went on writing its phase folder at the
    old place. What it made there (no run.json: only Ray's files) is removed, and the old
    folder too once empty; anything else found there is left alone."""
    old = folder.path
    if folder.uri is not None or (old / RUN_FILE).exists():
        return
    shutil.rmtree(old / ray_name, ignore_errors=True)
    with contextlib.suppress(OSError):
        old.rmdir()


__all__ = ["Command", "RunSummary", "run_phase", "phase_tuner", "fit_phase", "run_phases", "settle"]
