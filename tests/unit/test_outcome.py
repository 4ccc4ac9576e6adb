"""The outcome table: how a phase's end (the command's stop, the trials left unfinished,
the time budget, the phase that would follow) becomes the run's status, run.json's note,
the exit code and what the command does next. Every row the integration tests pin
through real stops is a row here."""
from __future__ import annotations

import pytest

from orchestrator.lifecycle.outcome import (PhaseEnd, Then, early_outcome, phase_outcome, report_stopped,
                                            starting_outcome)
from orchestrator.lifecycle.stop import Reason, StopRequest

CTRL_C, SIGTERM = StopRequest(Reason.CTRL_C), StopRequest(Reason.SIGTERM)
DISK = StopRequest(Reason.WRITE_FAILED, "cannot write to the run folder (No space left on device: metrics)")
MOVED = StopRequest(Reason.FOLDER_MOVED, "the run folder was moved to /elsewhere/run while it ran")
REPEAT = "tunefm repeat RUN --top-k 1 --seeds 2"

ROWS = [
    # (what happened, (status, note, exit code, then, says))
    (PhaseEnd("sweep"), ("finished", None, 0, Then.REPORT, None)),
    (PhaseEnd("sweep", next_phase="repeat"), ("finished", None, 0, Then.NEXT_PHASE, None)),
    (PhaseEnd("extension"), ("finished", None, 0, Then.REPORT, None)),
    # the time budget ended the sweep: finished, and its repeat block still runs
    (PhaseEnd("sweep", unfinished=3, budget_spent=True), ("finished", "time budget reached", 0, Then.REPORT, None)),
    (PhaseEnd("sweep", unfinished=3, budget_spent=True, next_phase="repeat"),
     ("finished", "time budget reached", 0, Then.NEXT_PHASE, None)),
    # a stop with trials unfinished: resumable; the report of what there is, where asked
    (PhaseEnd("sweep", CTRL_C, unfinished=2), ("interrupted", "stopped by Ctrl-C", 130, Then.REPORT, None)),
    (PhaseEnd("sweep", SIGTERM, unfinished=2), ("interrupted", "stopped by SIGTERM", 143, Then.REPORT, None)),
    (PhaseEnd("repeat", CTRL_C, unfinished=1), ("interrupted", "stopped by Ctrl-C", 130, Then.REPORT, None)),
    (PhaseEnd("sweep", CTRL_C, before_trials=True, unfinished=3),
     ("interrupted", "stopped by Ctrl-C before this session's trials started", 130, Then.REPORT, None)),
    # the Ctrl-C came before the stopper saw the budget spent: its unfinished trials are the Ctrl-C's
    (PhaseEnd("sweep", CTRL_C, unfinished=2, budget_spent=False), ("interrupted", "stopped by Ctrl-C", 130,
                                                                   Then.REPORT, None)),
    # the fit ended on its own with trials left (Ray Tune, the user's code): resumable, and said
    (PhaseEnd("sweep", unfinished=2), ("interrupted", "stopped: Ray Tune's fit ended with 2 trial(s) unfinished",
                                       130, Then.REPORT, None)),
    # a failed write: always resumable, even when every trial ended or the budget did
    (PhaseEnd("sweep", DISK, unfinished=0), ("interrupted", f"stopped: {DISK.detail}", 130, Then.REPORT, None)),
    (PhaseEnd("sweep", DISK, unfinished=2, budget_spent=True),
     ("interrupted", f"stopped: {DISK.detail}", 130, Then.REPORT, None)),
    # the folder moved away: resumable where it is now; nothing more here
    (PhaseEnd("sweep", MOVED, unfinished=2), ("interrupted", f"stopped: {MOVED.detail}", 130, Then.STOP, None)),
    # every trial ended, then a stop: the run is finished, the command stops there
    (PhaseEnd("sweep", CTRL_C), ("finished", None, 130, Then.STOP, "stopped by Ctrl-C as the sweep ended")),
    (PhaseEnd("sweep", SIGTERM), ("finished", None, 143, Then.STOP, "stopped by SIGTERM as the sweep ended")),
    (PhaseEnd("extension", CTRL_C), ("finished", None, 130, Then.STOP, "stopped by Ctrl-C as the extension ended")),
    (PhaseEnd("sweep", CTRL_C, unfinished=2, budget_spent=True),
     ("finished", "time budget reached", 130, Then.STOP, "stopped by Ctrl-C as the sweep ended")),
    (PhaseEnd("sweep", CTRL_C, next_phase="repeat"),
     ("finished", "its repeat phase did not run: stopped by Ctrl-C before it began", 130, Then.STOP,
      "stopped by Ctrl-C before the repeat phase")),
]


@pytest.mark.parametrize("end, expected", ROWS, ids=[f"{e.phase}-{e.request.reason if e.request else 'none'}-"
                                                     f"{e.unfinished}-{e.budget_spent}-{e.next_phase}"
                                                     for e, _ in ROWS])
def test_the_outcome_table(end, expected):
    out = phase_outcome(end, REPEAT if end.next_phase else None)
    assert (str(out.status), out.note, out.exit_code, out.then, out.says) == expected


def test_a_skipped_phase_gives_the_command_that_runs_it():
    out = phase_outcome(PhaseEnd("sweep", CTRL_C, next_phase="repeat"), REPEAT)
    assert out.skipped == REPEAT
    assert phase_outcome(PhaseEnd("sweep", next_phase="repeat"), REPEAT).skipped is None     # it will run


@pytest.mark.parametrize("request_, drives, says, code", [
    (CTRL_C, True, "stopped by Ctrl-C before any training started; nothing was written", 130),
    (SIGTERM, True, "stopped by SIGTERM before any training started; nothing was written", 143),
    (CTRL_C, False, "stopped by Ctrl-C; what it was writing may be incomplete: run it again", 130),
    (SIGTERM, False, "stopped by SIGTERM; what it was writing may be incomplete: run it again", 143),
])
def test_a_stop_before_a_run_exists_or_in_a_command_that_only_reads(request_, drives, says, code):
    out = early_outcome(request_, drives)
    assert out.status is None and out.says == says and out.exit_code == code and out.then == Then.STOP


def test_a_stop_as_tunefm_starts_and_during_the_report_after_a_run():
    assert starting_outcome(SIGTERM).says == "stopped by SIGTERM as tunefm started; nothing was done"
    assert starting_outcome(SIGTERM).exit_code == 143
    out = report_stopped(CTRL_C, "results/quick/r1")
    assert out.says == "the report was stopped by Ctrl-C; the run is saved: tunefm report results/quick/r1"
    assert out.exit_code == 130


def test_a_stop_seen_only_once_the_report_was_written_does_not_say_it_was_stopped():
    out = report_stopped(CTRL_C, "results/quick/r1", written=True)
    assert out.exit_code == 130 and out.says == "stopped by Ctrl-C as the report ended; the report was written"
