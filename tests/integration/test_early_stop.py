"""Ctrl-C before the first trial (while the data loads, while Ray starts) stops the sweep."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import write_idx_dataset

ROOT = Path(__file__).parents[2]


def test_ctrl_c_in_the_first_second_stops_and_writes_nothing(tmp_path):
    data = write_idx_dataset(tmp_path / "data", n_train=300, n_test=60)
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"name: early\ndataset: {{name: fashion_mnist, data_dir: {data}}}\n"
                     "families: {dense: {num_samples: 2}}\nscheduler: {kind: fifo, max_epochs: 2}\n")
    process = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sweep", str(sweep), "--results",
                                str(tmp_path / "res"), "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert err.strip().splitlines()[-1] == "tunefm: stopped by Ctrl-C before any training started; nothing was written"
    assert "Traceback" not in err and not (tmp_path / "res" / "early").exists()
