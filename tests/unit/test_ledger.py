"""Trial bookkeeping: final statuses, best-so-far, rows (pure, no Ray)."""
from __future__ import annotations

import math

import pytest

from orchestrator.store import schema as S
from orchestrator.store.ledger import Ledger

CFG = {"family": "dense", "model": "dense", "seed": 1, "lr": 0.01}


def feed(ledger: Ledger, trial: str, values: list[float], status: str = "running", config=CFG):
    rows = []
    for epoch, value in enumerate(values, 1):
        rows.append(ledger.result(trial, config, {"epoch": epoch, ledger.metric: value, "params": 10,
                                                  "trial_status": status, "time_total_s": float(epoch),
                                                  "timestamp": 1_700_000_000 + epoch}))
    return rows


def test_statuses():
    led = Ledger("r", "val_accuracy", "max", max_epochs=3)
    feed(led, "full", [0.5, 0.6, 0.7])
    feed(led, "asha", [0.2])
    feed(led, "budget", [0.3])
    led.result("big", CFG, {"epoch": 0, "trial_status": "over_budget", "params": 10**9})
    led.result("nan", CFG, {"epoch": 1, "trial_status": "diverged", "train_loss": math.nan})
    led.start("boom", CFG)
    assert led.complete("full", stopped_by_scheduler=False).status == S.COMPLETED
    assert led.complete("asha", stopped_by_scheduler=True).status == S.EARLY_STOPPED
    assert led.complete("budget", stopped_by_scheduler=False).status == S.STOPPED
    assert led.complete("big", stopped_by_scheduler=False).status == S.OVER_BUDGET
    assert led.complete("nan", stopped_by_scheduler=False).status == S.DIVERGED
    rec = led.error("boom", CFG, "ValueError: bad")
    assert rec.status == S.FAILED and rec.error == "ValueError: bad"
    counts = led.counts()
    assert counts[S.COMPLETED] == counts[S.EARLY_STOPPED] == counts[S.FAILED] == 1
    assert led.trials["big"].params == 10**9 and led.trials["big"].epochs == 0


def test_a_full_length_trial_that_ASHA_also_flags_is_completed():
    led = Ledger("r", "val_accuracy", "max", max_epochs=2)
    feed(led, "t", [0.1, 0.2])
    assert led.complete("t", stopped_by_scheduler=True).status == S.COMPLETED


@pytest.mark.parametrize("mode, values, best, epoch", [
    ("max", [0.5, 0.7, 0.6], 0.7, 2),
    ("min", [0.5, 0.7, 0.4], 0.4, 3),
    ("max", [math.nan, 0.2, 0.2], 0.2, 2),   # NaN never best; ties keep the earlier epoch
])
def test_best_epoch_follows_mode(mode, values, best, epoch):
    led = Ledger("r", "val_accuracy", mode, max_epochs=3)
    feed(led, "t", values)
    rec = led.trials["t"]
    assert (rec.best_metric, rec.best_epoch) == (best, epoch)


def test_rows_carry_keys_config_and_metrics():
    led = Ledger("run7", "val_accuracy", "max", max_epochs=3)
    row = feed(led, "t", [0.5])[0]
    assert row[S.RUN_ID] == "run7" and row[S.TRIAL_ID] == "t" and row[S.FAMILY] == "dense"
    assert row["config_lr"] == 0.01 and row["config_seed"] == 1 and "config_family" not in row
    assert row["val_accuracy"] == 0.5 and row[S.EPOCH] == 1 and row["elapsed_seconds"] == 1.0
    assert row["wall_time"].year >= 2023


def test_report_without_epoch_makes_no_row():
    led = Ledger("r", "val_accuracy", "max", max_epochs=3)
    assert led.result("t", CFG, {"epoch": 0, "trial_status": "over_budget"}) is None


def test_best_across_trials_and_pending_count():
    led = Ledger("r", "val_loss", "min", max_epochs=3)
    led.total = 5
    feed(led, "a", [0.9, 0.8])
    feed(led, "b", [0.7])
    assert led.best().trial_id == "b"
    assert led.counts()[S.PENDING] == 3 and led.counts()[S.RUNNING] == 2


def test_interrupt_marks_running_as_stopped():
    led = Ledger("r", "val_accuracy", "max", max_epochs=3)
    feed(led, "a", [0.5])
    led.interrupt_running()
    assert led.trials["a"].status == S.STOPPED and led.trials["a"].ended_at is not None


def test_startup_is_measured_from_driver_start_to_first_epoch():
    led = Ledger("r", "val_accuracy", "max", max_epochs=3)
    rec = led.start("t", CFG)
    t0 = rec.started_at.timestamp()
    led.result("t", CFG, {"epoch": 1, "val_accuracy": 0.5, "first_epoch_at": t0 + 2.5})
    led.result("t", CFG, {"epoch": 2, "val_accuracy": 0.6, "first_epoch_at": t0 + 2.5})
    assert led.trials["t"].startup_seconds == pytest.approx(2.5)
    assert led.trial_rows()[0].startup_seconds == pytest.approx(2.5)


def test_rebuild_trusts_metrics_over_a_lagging_trials_table():
    import pandas as pd

    from orchestrator.store.ledger import from_tables

    trials = pd.DataFrame([{S.TRIAL_ID: "a", S.FAMILY: "dense", S.MODEL: "dense", S.STATUS: S.RUNNING,
                            "epochs": 1, "config_lr": 0.1}])
    metrics = pd.DataFrame([{S.TRIAL_ID: t, S.FAMILY: "dense", S.MODEL: "dense", S.EPOCH: e,
                             "val_accuracy": 0.1 * e, "config_lr": 0.1} for t, n in (("a", 3), ("b", 2))
                            for e in range(1, n + 1)])
    led = from_tables("r", "val_accuracy", "max", 5, trials, metrics)
    assert led.trials["a"].epochs == 3 and led.trials["a"].best_epoch == 3
    assert led.trials["b"].epochs == 2 and led.trials["b"].config["lr"] == 0.1
    assert led.trials["b"].family == "dense"
