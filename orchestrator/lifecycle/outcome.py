"""How a phase of a run ends, as one pure table: from what happened (the command's stop
request, the phase, the trials left unfinished, whether the time budget ended it) to
the run's status, run.json's note, the exit code and what the command does next.

Every command that trains goes through ``phase_outcome``; a stop before the run folder
exists, and one in a command that only reads, through ``early_outcome``. Nothing else
decides an exit code or a note. ``tests/unit/test_outcome.py`` holds the table.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from orchestrator.lifecycle.stop import Reason, StopRequest
from orchestrator.store.records import RunStatus

EXIT_OK = 0
EXIT_CTRL_C = 130        # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
EXIT_SIGTERM = 143       # 128 + SIGTERM


class Then(str, Enum):
    """What the command does after the phase."""

    NEXT_PHASE = "next phase"     # the sweep file's repeat: block, then the report
    REPORT = "report"             # the report where asked (--report): of a finished run, or of
                                  # what an interrupted one holds so far (then the exit code)
    STOP = "stop"                 # nothing more: a stop came once the run had ended

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PhaseEnd:
    """What happened in one phase of a run (a fit), read after it."""

    phase: str                          # "sweep", "repeat", "extension", "race" ...
    request: StopRequest | None = None  # the command's stop, first reason, if any came by the end
    before_trials: bool = False         # ... it came before this session's trials started
    unfinished: int = 0                 # trials still running or pending when the fit ended
    budget_spent: bool = False          # the time budget ended the fit (before any stop request)
    next_phase: str | None = None       # the phase the command would run next, if any
    where: str = ""                     # the run's location, for the commands the note gives


@dataclass(frozen=True)
class Outcome:
    status: RunStatus | None            # None: no run folder was made
    note: str | None                    # run.json's note: why the run is as it is
    exit_code: int
    then: Then
    says: str | None = None             # one line for the terminal, when the status line does not say why
    skipped: str | None = None          # the command that runs a phase the stop kept from running


def exit_code(request: StopRequest | None) -> int:
    if request is None:
        return EXIT_OK
    return EXIT_SIGTERM if request.reason == Reason.SIGTERM else EXIT_CTRL_C


def stopped_note(request: StopRequest) -> str:
    """run.json's note for a stop: ``stopped by Ctrl-C``, ``stopped: cannot write ...``."""
    if request.reason.signal:
        return f"stopped by {request.reason}"
    return f"stopped: {request.detail or request.reason}"


def phase_outcome(end: PhaseEnd, skip_command: str | None = None) -> Outcome:
    """The table. ``skip_command``: what the user runs for ``end.next_phase`` when a stop
    keeps the command from running it."""
    request = end.request
    code = exit_code(request)
    if request is not None and request.reason == Reason.FOLDER_MOVED:
        # nothing more is written at the old place; the run resumes where it is now
        return Outcome(RunStatus.INTERRUPTED, stopped_note(request), code, Then.STOP)
    if request is not None and request.reason == Reason.WRITE_FAILED:
        # nothing more could be recorded: always something left to resume (the last writes at least)
        return Outcome(RunStatus.INTERRUPTED, stopped_note(request), code, Then.REPORT)
    if end.unfinished and not end.budget_spent:
        if request is None:      # the fit ended on its own with trials unfinished (Ray Tune, the user's code)
            note = f"stopped: Ray Tune's fit ended with {end.unfinished} trial(s) unfinished"
            return Outcome(RunStatus.INTERRUPTED, note, EXIT_CTRL_C, Then.REPORT)
        note = stopped_note(request) + (" before this session's trials started" if end.before_trials else "")
        return Outcome(RunStatus.INTERRUPTED, note, code, Then.REPORT)
    note = "time budget reached" if end.budget_spent else None
    if request is None:
        return Outcome(RunStatus.FINISHED, note, EXIT_OK, Then.NEXT_PHASE if end.next_phase else Then.REPORT)
    # every trial ended (or the budget ended them), and then a stop came: the run is what it
    # is, and the command stops here instead of going on to its next phase or its report
    if end.next_phase:
        note = f"its {end.next_phase} phase did not run: stopped by {request.reason} before it began"
        return Outcome(RunStatus.FINISHED, note, code, Then.STOP,
                       says=f"stopped by {request.reason} before the {end.next_phase} phase", skipped=skip_command)
    return Outcome(RunStatus.FINISHED, note, code, Then.STOP, says=f"stopped by {request.reason} as the {end.phase} ended")


def early_outcome(request: StopRequest, drives: bool) -> Outcome:
    """A stop before any run folder existed (``drives``: sweep, resume, repeat, extend),
    or in a command that only reads (report, export, compare ...)."""
    if drives:
        says = f"stopped by {request.reason} before any training started; nothing was written"
    else:
        says = f"stopped by {request.reason}; what it was writing may be incomplete: run it again"
    return Outcome(None, None, exit_code(request) or EXIT_CTRL_C, Then.STOP, says=says)


def starting_outcome(request: StopRequest) -> Outcome:
    """A stop while tunefm itself starts, before any command runs."""
    return Outcome(None, None, exit_code(request) or EXIT_CTRL_C, Then.STOP,
                   says=f"stopped by {request.reason} as tunefm started; nothing was done")


def report_stopped(request: StopRequest, location: str, written: bool = False) -> Outcome:
    """A stop during the report that follows a run (--report): the run itself is saved.
    ``written``: the stop was seen only once the report was done (its handler ran where
    Python could not raise), so the report stands."""
    if written:
        return Outcome(None, None, exit_code(request) or EXIT_CTRL_C, Then.STOP,
                       says=f"stopped by {request.reason} as the report ended; the report was written")
    return Outcome(None, None, exit_code(request) or EXIT_CTRL_C, Then.STOP,
                   says=f"the report was stopped by {request.reason}; the run is saved: tunefm report {location}")
