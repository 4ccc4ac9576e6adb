"""One fit of a Tuner, and the hooks by which the command's stop reaches it.

Ray Tune pickles the callback, the scheduler and the stopper into its experiment state
and hands back those copies on ``Tuner.restore``: they cannot be given new arguments,
and the run folder may have moved since. So ``run_fit`` binds this session's ``Fit``
(where the folder is now, the command's stop token, the time budget, the recorder) for
the length of ``Tuner.fit``, which calls them on this thread, and they look it up.

How a fit ends early:
- a stop the command was asked for (Ctrl-C, SIGTERM, a failed write ...): at the fit's
  next step that has trials, ``end_fit_if_asked`` ends it as Tune ends it on a Ctrl-C
  (SIGUSR1, which Tune's fit always catches). Ray saves its state with the unfinished
  trials still running or pending, and a resume continues them. A fit stopped before it
  created a trial leaves a state Ray cannot restore (its ``_restore_trials`` reads
  ``trials[0]``), hence the wait for one;
- the sweep's time budget: the stopper ends every trial (``budget_spent``); that is how a
  budgeted sweep finishes, not a stop.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import signal
import sys
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Protocol

from ray import tune

from orchestrator.lifecycle.budget import Budget
from orchestrator.lifecycle.stop import Reason, Stop, handlers_kept
from orchestrator.raytune import private


class CheckpointRefused(OSError):
    """The recorder's refusal of a checkpoint whose epochs could not be written: Ray then
    neither takes it nor drops the one before it (it skips both when a callback raises)."""


class _Explained(logging.Filter):
    """Drops what Ray logs about a stop the run's note already gives in one line, and its
    list of the trials that did not complete (the recorder named each as it failed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        if isinstance(exc, CheckpointRefused):
            return False
        if str(record.msg).startswith(private.TRIALS_INCOMPLETE_MESSAGE):
            return False
        return not (record.levelno >= logging.ERROR and _folder_moved())


def _folder_moved() -> bool:
    from orchestrator.lifecycle.stop import current as command

    stop, fit = command(), current()
    return bool(stop is not None and stop.has(Reason.FOLDER_MOVED)) or \
        (fit is not None and fit.listener.moved_to() is not None)


@contextlib.contextmanager
def explained_unlogged() -> Iterator[None]:
    """Leave out of Ray's log, for the length of a Ray session, the tracebacks of a stop
    the run's note gives in one line: a refused checkpoint (a failed write: an ERROR with the trial's
    whole result), and the trials that failed because the run folder was moved away
    (Ray could no longer store their checkpoints where it was)."""
    hide = _Explained()
    loggers = [logging.getLogger(name) for name in (private.TUNE_CONTROLLER_LOGGER, private.RAY_WORKER_LOGGER, private.TUNE_RUN_LOGGER)]
    for logger in loggers:
        logger.addFilter(hide)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(hide)


class FitListener(Protocol):
    """What the fit tells the run (``orchestrator.run.recorder.Recorder``)."""

    def setup(self) -> None: ...
    def trial_started(self, trial_id: str, config: dict) -> None: ...
    def trial_result(self, trial_id: str, config: dict, result: dict) -> None: ...
    def checkpoint(self, trial_id: str, path_on_storage: str, meta) -> None: ...
    def trial_recovered(self, trial_id: str, config: dict, reason: str, traceback_at: str) -> None: ...
    def trial_completed(self, trial_id: str, stopped_by_scheduler: bool) -> None: ...
    def trial_failed(self, trial_id: str, config: dict, reason: str, traceback_at: str) -> None: ...
    def step(self) -> None: ...
    def flush(self) -> None: ...
    def moved_to(self) -> str | None: ...


@dataclass
class Fit:
    storage: dict                              # Ray's storage_path (and filesystem): the run folder now
    stop: Stop                                 # the command's stop token
    listener: FitListener                      # the recorder of this session
    budget: Budget | None = None               # the sweep's time budget, over all its sessions
    recorded_epochs: Mapping[str, int] = field(default_factory=dict)   # a resume: each trial's last epoch on disk
    history: Mapping[str, Mapping[str, Mapping[int, float]]] = field(default_factory=dict)
    # what the run recorded before this fit, family -> trial -> epoch -> metric: the scheduler starts from it
    ended: bool = False                        # end_fit_if_asked ended the fit
    budget_spent: bool = False                 # the stopper ended it: the time budget ran out (before any stop)


_FIT: ContextVar[Fit | None] = ContextVar("tunefm_fit", default=None)


def current() -> Fit | None:
    return _FIT.get()


def run_fit(tuner, fit: Fit) -> None:
    """``tuner.fit()`` with ``fit`` bound. A write into the run folder that fails in a
    callback (Ray wraps what it raised) is the command's stop, not a traceback."""
    token = _FIT.set(fit)
    try:
        with handlers_kept():
            tuner.fit()
    except Exception as e:
        failed = os_error_in(e)
        if failed is None:
            raise
        fit.stop.request(Reason.WRITE_FAILED, write_failure(failed))
    finally:
        _FIT.reset(token)


def write_failure(error: OSError) -> str:
    """The note's words for a write into the run folder that failed."""
    return f"cannot write to the run folder ({error.strerror or error}: {error.filename or ''})"


def os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (Ray wraps what a callback raised), if it is one a full,
    read-only or broken disk raises."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                                                      errno.EIO, errno.EPERM):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def end_fit_if_asked() -> None:
    """Called at every step of the fit that has trials: end it once the command was asked
    to stop, as Tune ends it on a Ctrl-C (SIGUSR1, whose handler Tune's fit sets)."""
    fit = current()
    if fit is None or fit.ended or not fit.stop:
        return
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGUSR1"):
        return              # no handler can be set off the main thread: the stopper ends the fit instead
    if not callable(signal.getsignal(signal.SIGUSR1)):     # no handler: the signal would end the process
        return
    fit.ended = True
    signal.raise_signal(signal.SIGUSR1)


def _should_stop() -> bool:
    fit = current()
    if fit is None:
        return False
    if fit.budget is not None and not fit.stop and fit.budget.exhausted():
        fit.budget_spent = True
    # a stop the fit could not be ended for as Ctrl-C ends it (a fit off the main thread):
    # the stopper ends it, marking its trials terminated
    return fit.budget_spent or (bool(fit.stop) and not fit.ended and
                                threading.current_thread() is not threading.main_thread())


class FitStop(tune.Stopper):
    """Ends every trial once the sweep's time budget is spent (Ray's own ``time_budget_s``
    starts from zero again in a resumed fit). Pickled with the run; it reads the fit bound
    now, so a restored run asks today's session."""

    def __call__(self, trial_id, result) -> bool:
        return _should_stop()

    def stop_all(self) -> bool:
        return _should_stop()


@contextlib.contextmanager
def bound(fit: Fit) -> Iterator[Fit]:
    """``fit`` bound without running a Tuner (tests, and the scheduler seen alone)."""
    token = _FIT.set(fit)
    try:
        yield fit
    finally:
        _FIT.reset(token)
