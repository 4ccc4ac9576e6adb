"""A sweep's time_budget_s is the run's, not each command's: a driver SIGKILLed part way
through, then resumed, trains only for what the budget has left (Ray Tune's own budget
starts from zero again in a resumed fit)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics
from tests.conftest import read_meta, write_idx_dataset
from tests.integration.test_faults import ROOT, start, wait_for

BUDGET = 60.0
KILL_AFTER = 20.0     # seconds of the first session's epochs before the SIGKILL
SLACK = 10.0          # for the epoch under way when the stopper fires

# trials far longer than the test: only the budget ends this sweep
SWEEP = """
name: budget
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 2000, val_size: 300}}
seed: 5
time_budget_s: {budget}
families:
  cnn:
    num_samples: 4
    params: {{filters: 8, dense_units: 32, batch_size: 64}}
scheduler: {{kind: fifo, max_epochs: 500}}
resources: {{cpus: 1}}
"""


def epochs_since(run_dir, iso: str) -> float:
    """Seconds from ``iso`` to the latest epoch recorded (0 when none is)."""
    rows = read_metrics(run_dir)
    if rows.empty:
        return 0.0
    start_ts = datetime.fromisoformat(iso).timestamp()
    return max(0.0, max(t.timestamp() for t in rows[S.WALL_TIME]) - start_ts)


def test_a_resume_after_a_kill_trains_only_what_the_budget_has_left(tmp_path):
    data = write_idx_dataset(tmp_path / "data", n_train=3000, n_test=100)
    sweep_file = tmp_path / "budget.yaml"
    sweep_file.write_text(SWEEP.format(data=data, budget=BUDGET))
    run_dir = tmp_path / "res" / "budget" / "run"

    first = start(["sweep", str(sweep_file), "--results", str(tmp_path / "res"), "--name", "run",
                   "--cpus", "2", "--no-progress"], tmp_path / "first.log")
    wait_for(lambda: epochs_since(run_dir, read_meta(run_dir)["started_at"]) >= KILL_AFTER, 240,
             f"{KILL_AFTER:.0f} s of epochs", first)
    assert first.poll() is None, (tmp_path / "first.log").read_text()
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    killed = read_meta(run_dir)
    assert killed["status"] == "running"          # the killed driver could not write its end
    spent = epochs_since(run_dir, killed["started_at"])
    assert spent >= KILL_AFTER
    time.sleep(2)

    resumed = subprocess.run([sys.executable, "-m", "orchestrator.cli", "resume", str(run_dir), "--cpus", "2",
                              "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    meta = read_meta(run_dir)
    assert meta["status"] == "finished" and meta["note"] == "time budget reached", meta
    assert len(meta["resumed"]) == 1 and meta["session_started_at"] == meta["resumed"][0]
    # the run's wall time counts the killed session up to its last epoch, then the resume
    assert meta["wall_seconds"] >= BUDGET
    # with a fresh budget the resume would have trained for another 60 s; it had what the
    # killed session left (at most 40 s), counted from the command's start
    assert epochs_since(run_dir, meta["resumed"][0]) < BUDGET - spent + SLACK, resumed.stdout
