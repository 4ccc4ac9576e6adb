"""Drive a built Tuner to its end and close the run folder, whatever stopped it.

Shared by every plan. Ctrl-C, SIGTERM and a write that fails (a full disk, a folder
made read-only) during the fit all end the same way: status ``interrupted``, what was
computed kept, and the note says why; the caller prints the resume command. A Ctrl-C
or SIGTERM that comes as the fit ends with every trial done leaves the run finished,
and stops what the command would do next (``late_stop``).
"""
from __future__ import annotations

import errno
import platform
import time
from dataclasses import dataclass, replace

from orchestrator.run.live import LiveRun, bind
from orchestrator.run.session import FitSignals, sigterm_as_sigint, tune_signal_handlers_undone
from orchestrator.store.records import BestTrial, RunMeta, RunStatus, now_iso
from trainables.contract.status import ALL as STATUSES
from trainables.contract.status import Status


@dataclass
class RunSummary:
    folder: object                     # the RunFolder
    status: RunStatus
    counts: dict[str, int]
    best: BestTrial | None
    wall_seconds: float
    note: str | None = None            # why it stopped, when not by finishing
    unsynced: int = 0                  # files that did not reach the URI
    unsaved: str | None = None         # a final write that failed (the disk is full ...)
    skipped: str | None = None         # a phase a stop kept from running: the command that runs it
    stopped_by: str | None = None      # "Ctrl-C" or "SIGTERM" that stopped it, or came after the training
    phase: str = "sweep"               # what this session trained: "sweep", "repeat" or "extension"

    @property
    def run_dir(self):
        return self.folder.path

    @property
    def uri(self) -> str | None:
        return self.folder.uri

    @property
    def location(self) -> str:
        return self.folder.location


def os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (Ray wraps what a callback raised), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                                                      errno.EIO, errno.EPERM):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def drive(tuner, live: LiveRun, store, meta: RunMeta, started: float, previous_wall: float = 0.0,
          early=None) -> RunSummary:
    """``tuner.fit()`` with ``live`` bound, then the final flush, compaction and run.json.
    ``previous_wall``: the run's seconds before this session; ``live.budget`` stops the
    sweep when its time budget is spent. ``early``: a ``session.EarlyStop``, the plan's
    handler of Ctrl-C and SIGTERM, also during the fit: a signal it caught, before the
    fit or in it, ends the fit at its next step that has trials (``live.stop_if_asked``),
    so Ray's saved state holds the trials a resume continues."""
    from orchestrator.run.recorder import refusals_unlogged   # with Ray Tune: not for versions()' users

    asked_before = early.requested if early is not None else None   # a stop before this fit
    note = None
    live.early = early
    fit_signals = FitSignals()
    with bind(live), sigterm_as_sigint() as term:
        try:
            with tune_signal_handlers_undone() as fit_signals, refusals_unlogged():
                tuner.fit()
        except KeyboardInterrupt:          # Tune's own handler turned back on: a second Ctrl-C as it saved
            note = "stopped by Ctrl-C"
        except Exception as e:
            failed = os_error_in(e)
            if failed is None:
                raise
            note = f"stopped: cannot write to the run folder ({failed.strerror or failed}: {failed.filename or ''})"
    # the signal that stopped the fit: the plan's handler's, or Tune's own where the user turned that back on
    # (TUNE_DISABLE_SIGINT_HANDLER=0); SIGTERM reaches either as a SIGINT, SIGUSR1 from a failed write is none
    caught = (early.requested if early is not None else None) or \
        ("Ctrl-C" if fit_signals.caught and not live.interrupting else None)
    if term.received:
        caught = "SIGTERM"
    if caught and early is not None:
        early.requested = caught           # what the plan would run after this fit must not run
    if live.write_error is not None:
        failed = live.write_error
        note = f"stopped: cannot write to the run folder ({failed.strerror or failed}: {failed.filename or ''})"
    recorder = live.recorder
    ledger = recorder.ledger if recorder is not None else None
    # counted before finish() marks the trials still running as stopped
    before = ledger.counts() if ledger else {}
    unfinished = before.get(Status.PENDING, 0) + before.get(Status.RUNNING, 0)
    unsaved = None
    try:
        if recorder is not None:
            recorder.finish()
            store = recorder.store or store
        store.compact()
    except OSError as e:
        unsaved = f"{e.strerror or e}: {e.filename or ''}"
        note = note or f"stopped: cannot write to the run folder ({unsaved})"
    counts = ledger.counts() if ledger else {s: 0 for s in STATUSES}
    # a signal or a failed write always leaves something to resume; running out of the
    # time budget with trials unfinished is how a budgeted sweep ends (when the stopper
    # said so: a Ctrl-C seconds before the budget ran out leaves the run resumable)
    budget_spent = live.budget_stopped
    interrupted = note is not None or (unfinished > 0 and not budget_spent)
    if interrupted and note is None and caught:
        note = f"stopped by {caught}" + (" before this session's trials started" if asked_before else "")
    best = ledger.best() if ledger else None
    best_info = None if best is None else BestTrial(best.trial_id, best.family, live.metric,
                                                    float(best.best_metric), int(best.best_epoch))
    wall = time.monotonic() - started
    status = RunStatus.INTERRUPTED if interrupted else RunStatus.FINISHED
    note = note or ("time budget reached" if budget_spent else None)
    meta = meta.with_(status=status, ended_at=now_iso(), wall_seconds=previous_wall + wall,
                      counts={str(k): v for k, v in counts.items() if v}, best=best_info, note=note)
    try:
        store.write_meta(meta)             # for a URI run this also retries any failed upload
    except OSError as e:
        unsaved = unsaved or f"{e.strerror or e}: {e.filename or ''}"
    return RunSummary(live.folder, status, counts, best_info, wall, note, store.unsynced, unsaved, stopped_by=caught)


def late_stop(summary: RunSummary, early) -> RunSummary:
    """``summary`` with the Ctrl-C or SIGTERM that ``early`` (a ``session.EarlyStop``)
    caught after the last fit (while the run's last files were written and Ray shut down):
    the run is what it is, and the command stops there instead of writing its report."""
    if early is None or not early.requested or summary.stopped_by or summary.status != RunStatus.FINISHED:
        return summary
    return replace(summary, stopped_by=early.requested)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("ray", "keras", "tensorflow", "numpy", "pandas", "pyarrow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out
