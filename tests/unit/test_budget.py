"""A sweep's time budget counts the whole run: the sessions before a resume, a killed one
up to its last epoch, and the stopper that ends the fit when it is spent."""
from __future__ import annotations

from datetime import datetime

from orchestrator.lifecycle.budget import Budget, spent_before
from orchestrator.lifecycle.stop import Reason, Stop
from orchestrator.raytune.fit import Fit, FitStop, bound
from tests.conftest import run_meta

T0 = "2026-11-23T16:48:10+00:00"
START = datetime.fromisoformat(T0).timestamp()


def test_a_session_that_ended_wrote_the_total():
    meta = run_meta(status="interrupted", started_at=T0, session_started_at=T0, wall_seconds=2700.0)
    assert spent_before(meta, [START + 5000.0]) == 2700.0     # epochs after do not count again


def test_a_killed_first_session_counts_to_its_last_epoch():
    meta = run_meta(status="running", started_at=T0, session_started_at=T0)
    assert spent_before(meta, [START + 40.0, START + 2700.0, START + 1200.0]) == 2700.0


def test_a_killed_resume_adds_its_part_to_the_sessions_before():
    resumed = "2026-11-23T18:00:00+00:00"
    at = datetime.fromisoformat(resumed).timestamp()
    meta = run_meta(status="running", started_at=T0, resumed=(resumed,), session_started_at=resumed,
                    wall_seconds=1000.0)
    # epochs of the earlier session are already in wall_seconds
    assert spent_before(meta, [START + 900.0, at + 300.0]) == 1300.0


def test_a_killed_session_without_an_epoch_adds_nothing():
    meta = run_meta(status="running", started_at=T0, session_started_at=T0, wall_seconds=None)
    assert spent_before(meta, []) == 0.0


def test_runs_written_before_session_started_at_use_the_last_resume():
    resumed = "2026-11-23T18:00:00+00:00"
    at = datetime.fromisoformat(resumed).timestamp()
    meta = run_meta(status="running", started_at=T0, resumed=(resumed,), wall_seconds=100.0)
    assert spent_before(meta, [START + 50.0, at + 20.0]) == 120.0


def test_runs_written_before_session_started_at_killed_in_a_phase_count_from_it():
    phase = "2026-11-23T19:00:00+00:00"
    at = datetime.fromisoformat(phase).timestamp()
    meta = run_meta(status="running", started_at=T0, repeats=({"top_k": 1, "seeds": 1, "trials": 1, "at": phase},),
                    wall_seconds=500.0)
    assert spent_before(meta, [at + 60.0]) == 560.0


def test_budget_left_and_exhausted():
    b = Budget(total_s=3600.0, spent_before_s=2700.0, started=100.0)
    assert b.left(now=100.0) == 900.0 and not b.exhausted(now=999.0)
    assert b.exhausted(now=1000.0) and b.spent(now=1000.0) == 3600.0


def test_the_stopper_ends_the_fit_once_the_run_spent_its_budget():
    stopper = FitStop()
    spent = Fit({"storage_path": "/x"}, Stop(), listener=None, budget=Budget(60.0, 60.0, 0.0))
    with bound(spent):
        assert stopper.stop_all() and stopper("t1", {})
    assert spent.budget_spent
    left = Fit({"storage_path": "/x"}, Stop(), listener=None, budget=Budget(1e9, 0.0, 0.0))
    with bound(left):
        assert not stopper.stop_all() and not stopper("t1", {})
    assert not stopper.stop_all()        # no fit bound: nothing to stop


def test_a_budget_spent_after_a_ctrl_c_is_not_what_ended_the_fit():
    """The Ctrl-C came first: the unfinished trials are its, and the run stays resumable."""
    pressed = Stop()
    pressed.request(Reason.CTRL_C)
    fit = Fit({"storage_path": "/x"}, pressed, listener=None, budget=Budget(60.0, 60.0, 0.0))
    with bound(fit):
        assert not FitStop().stop_all()
    assert not fit.budget_spent
