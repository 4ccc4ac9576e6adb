"""Ctrl-C before the first trial (while the data loads, while Ray starts) stops the sweep."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def read_status(run_dir: Path) -> str | None:
    import json

    try:
        return json.loads((run_dir / "run.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.parametrize("signum, delay", [(signal.SIGTERM, 0.5), (signal.SIGTERM, 1.5), (signal.SIGTERM, 3.0),
                                           (signal.SIGINT, 3.0)])
def test_a_stop_at_any_moment_of_a_sweeps_start_is_one_line_and_the_right_exit_code(tmp_path, signum, delay):
    """Whenever it lands (while tunefm imports, while Ray starts, as the run folder is
    made, in the first trial), a SIGTERM or Ctrl-C ends the command with 143 or 130 and says
    why: before the run folder, in one line; after it, in the run's summary with the
    command that resumes it. A SIGTERM 2.5 s in, while Ray started, used to exit 15 without
    a word."""
    data = write_idx_dataset(tmp_path / "data", n_train=300, n_test=60)
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"name: early\ndataset: {{name: fashion_mnist, data_dir: {data}}}\n"
                     "families: {dense: {num_samples: 2}}\nscheduler: {kind: fifo, max_epochs: 40}\n")
    process = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sweep", str(sweep), "--results",
                                str(tmp_path / "res"), "--name", "r", "--no-progress"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(delay)
    if signum == signal.SIGTERM:
        os.kill(process.pid, signum)              # as a batch scheduler or `docker stop` sends it
    else:
        os.killpg(process.pid, signum)            # Ctrl-C: the terminal's whole process group
    out, err = process.communicate(timeout=120)
    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    assert process.returncode == (143 if signum == signal.SIGTERM else 130), out + err
    assert "Traceback" not in err, err
    run = tmp_path / "res" / "early" / "r"
    if read_status(run) is None:                  # before any run folder had its run.json
        lines = [ln for ln in err.strip().splitlines() if ln.startswith("tunefm:")]
        assert lines and lines[-1] in (f"tunefm: stopped by {name} before any training started; nothing was written",
                                       f"tunefm: stopped by {name} as tunefm started; nothing was done"), err
    else:
        assert read_status(run) == "interrupted" and f"resume it:  tunefm resume {run}" in out, out + err
        assert f"sweep interrupted (stopped by {name}" in out, out


WATCH_SIGTERM = """
import os, signal, threading, time
from orchestrator.lifecycle.stop import command_stop
from orchestrator.raytune.session import RaySession

def caught():
    for line in open("/proc/self/status"):
        if line.startswith("SigCgt"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))

seen, done = [], threading.Event()
def watch():
    while not done.is_set():
        seen.append(caught())
        time.sleep(0.002)

with command_stop() as stop:
    threading.Thread(target=watch, daemon=True).start()
    with RaySession(cpus=1, stop=stop):
        time.sleep(0.5)
    time.sleep(0.2)
    done.set()
print("samples", len(seen), "uncaught", seen.count(False))
"""


def test_the_process_catches_sigterm_from_rays_start_to_after_its_shutdown():
    """Ray's core worker reset SIGTERM to the default during ray.shutdown (its C++ crash
    handlers): a SIGTERM in that second killed the command without a word, the run
    recorded but nothing said. Read from the kernel's own record of the process."""
    if not Path("/proc/self/status").exists():
        pytest.skip("reads /proc (Linux)")
    done = subprocess.run([sys.executable, "-c", WATCH_SIGTERM], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    samples, uncaught = (int(v) for v in done.stdout.split()[1::2])
    assert samples > 100 and uncaught == 0, done.stdout


STARTED = ("import sys; from orchestrator.cli.entry import main; print('ready', flush=True); "
           "sys.argv = ['tunefm', 'families']; main()")


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.01, 0.02, 0.04, 0.08])
def test_a_ctrl_c_in_tunefms_first_milliseconds_is_one_line_not_a_traceback(delay):
    """Before the stop token's module was imported (~40 ms after tunefm's code starts), a
    Ctrl-C was Python's KeyboardInterrupt traceback. (Python's own start-up, before any of
    tunefm runs, is not tunefm's: the clock starts once the program is up.)"""
    process = subprocess.Popen([sys.executable, "-c", STARTED], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout.readline().strip() == "ready"
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert process.returncode in (0, 130), (process.returncode, err)
    if process.returncode == 130:
        assert err.strip().splitlines()[-1].startswith("tunefm: stopped by Ctrl-C"), err
