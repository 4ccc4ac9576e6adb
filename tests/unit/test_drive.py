"""How a plan's run ends: drive() with the real recorder, ledger and Parquet store, and a
stand-in for Ray's Tuner that plays the callbacks Ray would call."""
from __future__ import annotations

import errno
import signal
import time

from orchestrator.run.budget import Budget
from orchestrator.run.drive import drive
from orchestrator.run.live import LiveRun, run_stopper
from orchestrator.run.recorder import RunRecorder
from orchestrator.search.scheduler import build_scheduler
from orchestrator.spec.sweep import SchedulerSpec
from orchestrator.store import schema as S
from orchestrator.store.folder import create
from orchestrator.store.parquet import RunStore, read_trials
from orchestrator.store.records import RunStatus
from tests.conftest import run_meta
from trainables.contract.records import EpochReport

CONFIG = {"family": "dense", "model": "dense", "seed": 1}


class Trial:
    def __init__(self, trial_id: str):
        self.trial_id, self.config = trial_id, dict(CONFIG)


class PlayedTuner:
    """Plays what Ray Tune's controller calls: setup, trials started, results, the
    stopper (unless ``ask_stopper`` is off: a Ctrl-C came first); then ``ending``
    (return normally, as after a first Ctrl-C; or raise)."""

    def __init__(self, recorder: RunRecorder, started: int, complete: int, ending=None, ask_stopper=True):
        self.recorder, self.started, self.complete, self.ending = recorder, started, complete, ending
        self.ask_stopper = ask_stopper

    def fit(self):
        for s in (signal.SIGINT, signal.SIGUSR1):    # as Tune's fit does, and leaves them set
            signal.signal(s, lambda signum, frame: None)
        r = self.recorder
        r.setup()
        trials = [Trial(f"t{i}") for i in range(self.started)]
        for t in trials:
            r.on_trial_start(0, trials, t)
            r.on_trial_result(0, trials, t, EpochReport(epoch=1, val_accuracy=0.5).to_dict())
        for t in trials[:self.complete]:
            r.on_trial_complete(0, trials, t)
        if self.ask_stopper:
            run_stopper().stop_all()
        if self.ending is not None:
            raise self.ending


def drive_played(tmp_path, total: int, started: int, complete: int, ending=None, budget=None, ask_stopper=True):
    folder = create(tmp_path / "res", "s", "r")
    store = RunStore(folder.path, [])
    meta = run_meta(trials=total)
    store.write_meta(meta)
    recorder = RunRecorder(build_scheduler(SchedulerSpec("fifo", max_epochs=1), "val_accuracy", "max"))
    now = time.monotonic()
    live = LiveRun(folder, (), "val_accuracy", "max", 1, total, progress=False,
                   budget=None if budget is None else Budget(budget, 0.0, now))
    return drive(PlayedTuner(recorder, started, complete, ending, ask_stopper), live, store, meta, now)


def test_every_trial_ended_is_finished(tmp_path):
    summary = drive_played(tmp_path, total=2, started=2, complete=2)
    assert summary.status == RunStatus.FINISHED and summary.note is None
    assert summary.best.trial_id == "t0" and summary.counts[S.COMPLETED] == 2


def test_stopped_while_every_trial_was_running_is_interrupted(tmp_path):
    """A first Ctrl-C returns from fit normally; the trials still running are what count."""
    summary = drive_played(tmp_path, total=2, started=2, complete=0)
    assert summary.status == RunStatus.INTERRUPTED
    trials = read_trials(summary.run_dir)
    assert (trials[S.STATUS] == S.STOPPED).all()


def test_stopped_with_trials_never_started_is_interrupted(tmp_path):
    assert drive_played(tmp_path, total=3, started=1, complete=1).status == RunStatus.INTERRUPTED


def test_an_error_that_is_no_write_failure_is_raised(tmp_path):
    import pytest

    with pytest.raises(RuntimeError, match="a bug"):
        drive_played(tmp_path, total=1, started=1, complete=0, ending=RuntimeError("a bug"))


def test_the_time_budget_ending_a_sweep_is_finished(tmp_path):
    summary = drive_played(tmp_path, total=3, started=2, complete=0, budget=0.0)
    assert summary.status == RunStatus.FINISHED and summary.note == "time budget reached"


def test_trials_unfinished_with_budget_left_is_interrupted(tmp_path):
    summary = drive_played(tmp_path, total=3, started=2, complete=0, budget=3600.0)
    assert summary.status == RunStatus.INTERRUPTED and summary.note is None


def test_a_ctrl_c_before_the_stopper_saw_the_budget_spent_stays_resumable(tmp_path):
    """The budget ran out while the fit was ending on a Ctrl-C: the stopper never fired,
    so the unfinished trials are the Ctrl-C's, not the budget's."""
    summary = drive_played(tmp_path, total=3, started=2, complete=0, budget=0.0, ask_stopper=False)
    assert summary.status == RunStatus.INTERRUPTED and summary.note is None


def test_a_failed_write_is_interrupted_even_past_the_budget_and_keeps_the_counts(tmp_path):
    wrapped = RuntimeError("Ray Tune: a callback failed")    # as Ray wraps what a callback raised
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device", "metrics/part-000009.parquet")
    summary = drive_played(tmp_path, total=2, started=2, complete=1, ending=wrapped, budget=0.0)
    assert summary.status == RunStatus.INTERRUPTED
    assert summary.note == "stopped: cannot write to the run folder (No space left on device: metrics/part-000009.parquet)"
    assert summary.counts[S.COMPLETED] == 1 and summary.counts[S.STOPPED] == 1 and summary.best is not None


def test_the_signal_handlers_fit_set_are_undone_so_a_later_ctrl_c_is_not_lost(tmp_path):
    """Tune leaves its SIGINT and SIGUSR1 handlers set after fit: a Ctrl-C between a sweep
    and its repeat phase would set a flag of the finished fit and be lost."""
    mine = {s: (lambda signum, frame: None) for s in (signal.SIGINT, signal.SIGUSR1)}
    before = {s: signal.signal(s, h) for s, h in mine.items()}
    try:
        drive_played(tmp_path, total=1, started=1, complete=1)
        assert {s: signal.getsignal(s) for s in mine} == mine
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def test_a_late_stop_marks_only_a_finished_run():
    """An interrupted run already stops the command (exit 130, the resume command); only a
    finished one needs the stop carried to what the command would do next."""
    from orchestrator.run.drive import RunSummary, late_stop
    from orchestrator.run.session import EarlyStop

    pressed = EarlyStop(requested="Ctrl-C")
    finished = RunSummary(None, RunStatus.FINISHED, {}, None, 1.0)
    assert late_stop(finished, pressed).stopped_by == "Ctrl-C"
    assert late_stop(finished, EarlyStop()).stopped_by is None
    assert late_stop(RunSummary(None, RunStatus.INTERRUPTED, {}, None, 1.0), pressed).stopped_by is None
