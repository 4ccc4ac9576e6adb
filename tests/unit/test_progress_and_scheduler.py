"""The progress line, and per-family ASHA decisions (Ray's real ASHA, no cluster)."""
from __future__ import annotations

from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from orchestrator.store.ledger import Ledger
from orchestrator.run.progress import format_seconds, progress_line
from orchestrator.raytune.scheduler import build_scheduler
from orchestrator.spec.sweep import SchedulerSpec


def test_progress_line_counts_and_best():
    led = Ledger("r", "val_accuracy", "max", max_epochs=2)
    led.total = 5
    cfg = {"family": "cnn", "model": "cnn", "seed": 0}
    led.result("t1", cfg, {"epoch": 1, "val_accuracy": 0.81})
    led.result("t2", cfg, {"epoch": 1, "val_accuracy": 0.85})
    led.complete("t1", stopped_by_scheduler=True)
    led.error("t3", cfg, "boom")
    line = progress_line(led, 65)
    assert line == ("[1:05] 2/5 done, 1 running, 1 stopped early, 1 failed | "
                    "best val_accuracy 0.8500 (cnn, t2)")


def test_format_seconds():
    assert (format_seconds(5), format_seconds(3725)) == ("0:05", "1:02:05")


def trial(tid: str, family: str):
    return SimpleNamespace(trial_id=tid, config={"family": family})


def test_asha_compares_trials_within_their_family_only():
    sched = build_scheduler(SchedulerSpec("asha", max_epochs=8, grace_period=1, reduction_factor=2),
                            "val_accuracy", "max")
    dense = [trial(f"d{i}", "dense") for i in range(3)]
    cnn = [trial(f"c{i}", "cnn") for i in range(3)]
    for t in dense + cnn:
        sched.on_trial_add(None, t)

    def report(t, acc):
        return sched.on_trial_result(None, t, {"training_iteration": 1, "val_accuracy": acc})

    # dense learns fast, cnn slowly: after one epoch every cnn is below every dense.
    assert report(dense[0], 0.80) == TrialScheduler.CONTINUE
    assert report(dense[1], 0.82) == TrialScheduler.CONTINUE
    assert report(cnn[0], 0.40) == TrialScheduler.CONTINUE   # compared with cnn only: first one
    assert report(cnn[1], 0.45) == TrialScheduler.CONTINUE
    assert report(cnn[2], 0.30) == TrialScheduler.STOP       # worst cnn
    assert report(dense[2], 0.70) == TrialScheduler.STOP     # worst dense
    assert sched.stopped_trials == {"c2", "d2"}


def test_fifo_never_stops():
    sched = build_scheduler(SchedulerSpec("fifo", max_epochs=3), "val_accuracy", "max")
    t = trial("a", "dense")
    sched.on_trial_add(None, t)
    assert sched.on_trial_result(None, t, {"training_iteration": 1, "val_accuracy": 0.0}) == TrialScheduler.CONTINUE


def test_idle_cores_leave_turns_the_tail_growth_off_and_give_is_the_default():
    assert build_scheduler(SchedulerSpec("asha", max_epochs=3), "val_accuracy", "max").give_idle_cores
    leave = build_scheduler(SchedulerSpec("fifo", max_epochs=3, idle_cores="leave"), "val_accuracy", "max")
    assert not leave.give_idle_cores
