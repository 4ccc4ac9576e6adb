"""--watch follows a real running sweep: the report is rewritten while it runs, the page
refreshes itself until the run ends, and the watch then stops by itself."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import write_idx_dataset

pytestmark = pytest.mark.integration

SWEEP = """
name: watched
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 600, val_size: 150}}
seed: 4
families:
  cnn: {{num_samples: 3, params: {{filters: {{choice: [16, 24]}}, dense_units: 32, lr: 0.003}}}}
scheduler: {{kind: fifo, max_epochs: 12}}
resources: {{cpus: 1}}
max_concurrent: 1
"""


def test_report_and_leaderboard_watch_a_running_sweep(tmp_path):
    data = write_idx_dataset(tmp_path / "data", n_train=1000, n_test=60)
    (tmp_path / "s.yaml").write_text(SWEEP.format(data=data))
    cli = [sys.executable, "-m", "orchestrator.cli"]
    sweep = subprocess.Popen([*cli, "sweep", str(tmp_path / "s.yaml"), "--results", str(tmp_path / "res"),
                              "--name", "r", "--no-progress", "--cpus", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = tmp_path / "res" / "watched" / "r"
    board = watched = sweep
    try:
        deadline = time.monotonic() + 120
        while not (run / "run.json").is_file() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert (run / "run.json").is_file(), "the sweep never created its run folder"
        board = subprocess.Popen([*cli, "leaderboard", str(run), "--watch", "3"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        watched = subprocess.Popen([*cli, "report", str(run), "--watch", "3", "--out", str(tmp_path / "rep")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        page, refreshing_seen = tmp_path / "rep" / "report.html", False
        # every version of the page until the watch ends by itself: a page written while
        # the sweep ran may land just after it ended, and stays until the next rewrite
        deadline = time.monotonic() + 600
        while (sweep.poll() is None or watched.poll() is None) and time.monotonic() < deadline:
            refreshing_seen |= page.is_file() and "http-equiv='refresh'" in page.read_text()
            time.sleep(0.2)
        assert sweep.returncode == 0, sweep.stdout.read()
        board_out, board_err = board.communicate(timeout=300)
        watched_out, watched_err = watched.communicate(timeout=300)
        assert board.returncode == 0 and watched.returncode == 0, (board_err, watched_err)
    finally:
        for p in (sweep, board, watched):
            p.kill()
    # the leaderboard was printed while the sweep ran, then once more after it ended
    heads = [line for line in board_out.splitlines() if line.startswith("watched / r: overall board")]
    assert any("sweep still running" in h for h in heads) or "waiting for a first result" in board_out
    assert "sweep still running" not in heads[-1]
    # the report: rewritten at least once while running, and a final time after the run ended
    rewrites = [line for line in watched_out.splitlines() if line.startswith("[") and "report: " in line]
    assert len(rewrites) >= 2 and "sweep still running" in rewrites[0] and "still running" not in rewrites[-1]
    assert refreshing_seen                               # while it ran, the open page reloaded itself
    html = page.read_text()
    assert "http-equiv='refresh'" not in html           # the finished run's page stops reloading
    assert "3 completed" in (tmp_path / "rep" / "report.md").read_text()
