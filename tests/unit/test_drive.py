"""How a phase of a run ends: the runner's fit_phase with the real callback, recorder,
ledger and Parquet store, and a stand-in for Ray's Tuner that plays the events Ray would
send (the integration tests run the real one)."""
from __future__ import annotations

import contextlib
import errno
import signal
import time

import pytest

from orchestrator.lifecycle.budget import Budget
from orchestrator.lifecycle.options import SweepOptions
from orchestrator.lifecycle.stop import Reason, Stop
from orchestrator.raytune.callback import FitCallback
from orchestrator.raytune.fit import FitStop
from orchestrator.raytune.scheduler import build_scheduler
from orchestrator.run.phase import Phase
from orchestrator.run.runner import Command, fit_phase, settle
from orchestrator.spec.sweep import SchedulerSpec, parse_sweep
from orchestrator.store import schema as S
from orchestrator.store.folder import create
from orchestrator.store.parquet import RunStore, read_trials
from orchestrator.store.records import RunStatus
from tests.conftest import read_meta, run_meta
from trainables.contract.records import EpochReport

CONFIG = {"family": "dense", "model": "dense", "seed": 1}
SPEC = parse_sweep("name: s\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n", "s.yaml")


class Trial:
    def __init__(self, trial_id: str):
        self.trial_id, self.config = trial_id, dict(CONFIG)


class PlayedTuner:
    """Plays what Ray Tune's controller calls: setup, trials started, results, the
    stopper (unless ``ask_stopper`` is off: a Ctrl-C came first); ``pressed`` requests a
    stop of the command mid-fit (as the signal handler would); then ``ending`` (return
    normally, or raise)."""

    def __init__(self, callback: FitCallback, started: int, complete: int, ending=None, ask_stopper=True,
                 pressed: Reason | None = None, stop: Stop | None = None):
        self.callback, self.started, self.complete, self.ending = callback, started, complete, ending
        self.ask_stopper, self.pressed, self.stop = ask_stopper, pressed, stop

    def fit(self):
        for s in (signal.SIGINT, signal.SIGUSR1):    # as Tune's fit does, and leaves them set
            signal.signal(s, lambda signum, frame: None)
        c = self.callback
        c.setup()
        trials = [Trial(f"t{i}") for i in range(self.started)]
        for t in trials:
            c.on_trial_start(0, trials, t)
            c.on_trial_result(0, trials, t, EpochReport(epoch=1, val_accuracy=0.5).to_dict())
        if self.pressed is not None:
            self.stop.request(self.pressed)
            c.on_step_begin(0, trials)           # the fit's next step: it ends there
        for t in trials[:self.complete]:
            c.on_trial_complete(0, trials, t)
        if self.ask_stopper:
            FitStop().stop_all()
        if self.ending is not None:
            raise self.ending


class NoSession:
    def queue_ahead(self, up_front: bool):
        return contextlib.nullcontext()


def play(tmp_path, total: int, started: int, complete: int, ending=None, budget=None, ask_stopper=True,
         pressed=None, stop=None):
    folder = create(tmp_path / "res", "s", "r")
    meta = run_meta(trials=total)
    RunStore(folder.path, []).write_meta(meta)
    stop = stop or Stop()
    scheduler = build_scheduler(SchedulerSpec("fifo", max_epochs=1), "val_accuracy", "max")
    cmd = Command(folder, SPEC, SweepOptions(progress=False), stop, NoSession(), None, meta, [])
    now = time.monotonic()
    phase = Phase("sweep", 0, 1, total=total, restore=True,
                  budget=None if budget is None else Budget(budget, 0.0, now))
    tuner = PlayedTuner(FitCallback(scheduler), started, complete, ending, ask_stopper, pressed, stop)
    return fit_phase(cmd, phase, tuner)


def test_every_trial_ended_is_finished(tmp_path):
    summary = play(tmp_path, total=2, started=2, complete=2)
    assert summary.status == RunStatus.FINISHED and summary.note is None and summary.exit_code == 0
    assert summary.best.trial_id == "t0" and summary.counts[S.COMPLETED] == 2


def test_a_ctrl_c_while_every_trial_was_running_is_interrupted(tmp_path):
    summary = play(tmp_path, total=2, started=2, complete=0, pressed=Reason.CTRL_C)
    assert summary.status == RunStatus.INTERRUPTED and summary.note == "stopped by Ctrl-C"
    assert summary.exit_code == 130 and summary.stopped_by == "Ctrl-C"
    trials = read_trials(summary.run_dir)
    assert (trials[S.STATUS] == S.STOPPED).all()
    assert read_meta(summary.run_dir)["note"] == "stopped by Ctrl-C"


def test_a_sigterm_exits_143(tmp_path):
    summary = play(tmp_path, total=2, started=2, complete=0, pressed=Reason.SIGTERM)
    assert summary.note == "stopped by SIGTERM" and summary.exit_code == 143


def test_a_stop_before_the_fit_says_so(tmp_path):
    early = Stop()
    early.request(Reason.CTRL_C)
    summary = play(tmp_path, total=2, started=1, complete=0, stop=early)
    assert summary.status == RunStatus.INTERRUPTED
    assert summary.note == "stopped by Ctrl-C before this session's trials started"


def test_a_fit_that_ends_on_its_own_with_trials_unfinished_is_interrupted_and_says_so(tmp_path):
    """No stop was asked for, yet the fit returned with trials unfinished (Tune's own end,
    or the user's code raising SIGUSR1): resumable, and run.json says why."""
    summary = play(tmp_path, total=3, started=1, complete=1)
    assert summary.status == RunStatus.INTERRUPTED and summary.exit_code == 130
    assert summary.note == "stopped: Ray Tune's fit ended with 2 trial(s) unfinished"


def test_an_error_that_is_no_write_failure_is_raised(tmp_path):
    with pytest.raises(RuntimeError, match="a bug"):
        play(tmp_path, total=1, started=1, complete=0, ending=RuntimeError("a bug"))


def test_the_time_budget_ending_a_sweep_is_finished(tmp_path):
    summary = play(tmp_path, total=3, started=2, complete=0, budget=0.0)
    assert summary.status == RunStatus.FINISHED and summary.note == "time budget reached"
    assert summary.exit_code == 0


def test_trials_unfinished_with_budget_left_is_interrupted(tmp_path):
    summary = play(tmp_path, total=3, started=2, complete=0, budget=3600.0)
    assert summary.status == RunStatus.INTERRUPTED


def test_a_ctrl_c_before_the_stopper_saw_the_budget_spent_stays_resumable(tmp_path):
    """The budget ran out while the fit was ending on a Ctrl-C: the stopper never fired,
    so the unfinished trials are the Ctrl-C's, not the budget's."""
    summary = play(tmp_path, total=3, started=2, complete=0, budget=0.0, ask_stopper=False, pressed=Reason.CTRL_C)
    assert summary.status == RunStatus.INTERRUPTED and summary.note == "stopped by Ctrl-C"


def test_a_failed_write_is_interrupted_even_past_the_budget_and_keeps_the_counts(tmp_path):
    wrapped = RuntimeError("Ray Tune: a callback failed")    # as Ray wraps what a callback raised
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device", "metrics/part-000009.parquet")
    summary = play(tmp_path, total=2, started=2, complete=1, ending=wrapped, budget=0.0)
    assert summary.status == RunStatus.INTERRUPTED
    assert summary.note == "stopped: cannot write to the run folder (No space left on device: metrics/part-000009.parquet)"
    assert summary.counts[S.COMPLETED] == 1 and summary.counts[S.STOPPED] == 1 and summary.best is not None


def test_the_signal_handlers_fit_set_are_undone_so_a_later_ctrl_c_is_not_lost(tmp_path):
    """Tune leaves its SIGINT and SIGUSR1 handlers set after fit: a Ctrl-C between a sweep
    and its repeat phase would set a flag of the finished fit and be lost."""
    mine = {s: (lambda signum, frame: None) for s in (signal.SIGINT, signal.SIGUSR1)}
    before = {s: signal.signal(s, h) for s, h in mine.items()}
    try:
        play(tmp_path, total=1, started=1, complete=1)
        assert {s: signal.getsignal(s) for s in mine} == mine
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def test_a_stop_after_the_last_phase_stops_a_finished_run_only(tmp_path):
    """An interrupted run already stops the command (exit 130, the resume command); a
    finished one is stopped before what the command would do next (its report)."""
    finished = play(tmp_path / "a", total=1, started=1, complete=1)
    late = Stop()
    late.request(Reason.CTRL_C)
    settled = settle(finished, late)
    assert settled.stopped_by == "Ctrl-C" and settled.exit_code == 130 and settled.status == RunStatus.FINISHED
    assert settled.outcome.says == "stopped by Ctrl-C as the sweep ended"
    assert settle(finished, Stop()).stopped_by is None
    interrupted = play(tmp_path / "b", total=1, started=1, complete=0, pressed=Reason.SIGTERM)
    assert settle(interrupted, late).stopped_by == "SIGTERM"      # the first reason stays
