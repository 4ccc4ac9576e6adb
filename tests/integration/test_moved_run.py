"""A run folder handled as users do: SIGTERM, moved, copied, two resumes at once, a killed
driver reported, then resumed where it is now. Real Ray, real Keras, the real CLI."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from orchestrator.store import schema as S
from orchestrator.store.folder import RunFolder
from orchestrator.store.parquet import read_metrics
from tests.conftest import read_meta, write_idx_dataset
from tests.integration.test_faults import ROOT, start, trials_of, wait_for

EPOCHS, TRIALS = 6, 4   # long enough to catch a resume mid-trial on a quiet machine
SWEEP = """
name: moving
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 2000, val_size: 300}}
seed: 5
families:
  dense:
    num_samples: {trials}
    params: {{units: 128, layers: 2, lr: {{loguniform: [1e-3, 3e-3]}}, batch_size: 32}}
scheduler: {{kind: fifo, max_epochs: {epochs}}}
max_concurrent: 2
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=400)


def files_of(folder: Path) -> dict[str, float]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}


def completed(run: Path) -> int:
    trials = trials_of(run)
    return 0 if trials.empty else int((trials[S.STATUS] == S.COMPLETED).sum())


def assert_complete_here(run: Path) -> None:
    trials = trials_of(run)
    shown = [c for c in (S.TRIAL_ID, S.STATUS, "error") if c in trials.columns]
    assert len(trials) == TRIALS and (trials[S.STATUS] == S.COMPLETED).all(), trials[shown].to_string()
    metrics = read_metrics(run)
    assert len(metrics) == TRIALS * EPOCHS and not metrics.duplicated([S.TRIAL_ID, S.EPOCH]).any()
    for column in ("checkpoint", "last_checkpoint"):
        for tid, rel in zip(trials[S.TRIAL_ID], trials[column]):
            assert isinstance(rel, str), (column, tid, trials.drop(columns=["config_seed"]).to_string())
            assert not Path(rel).is_absolute() and (run / rel / "model.keras").is_file(), rel


def test_sigterm_move_copy_race_kill_report_resume(tmp_path):
    data = write_idx_dataset(tmp_path / "data", n_train=2600, n_test=200)
    sweep_file = tmp_path / "moving.yaml"
    sweep_file.write_text(SWEEP.format(data=data, epochs=EPOCHS, trials=TRIALS))
    run = tmp_path / "res" / "moving" / "run"

    # 1. SIGTERM, as a batch scheduler or `docker stop` sends it to the driver alone, stops like Ctrl-C.
    first = start(["sweep", str(sweep_file), "--results", str(tmp_path / "res"), "--name", "run", "--cpus", "2",
                   "--no-progress"], tmp_path / "first.log")
    wait_for(lambda: completed(run) >= 1, 300, "a finished trial", first)
    os.kill(first.pid, signal.SIGTERM)
    assert first.wait(timeout=120) == 143             # 128 + SIGTERM, as a shell reports it
    log = (tmp_path / "first.log").read_text()
    assert "sweep interrupted (stopped by SIGTERM)" in log and f"resume it:  tunefm resume {run}" in log, log
    assert "Traceback" not in log, log
    meta = read_meta(run)
    assert meta["status"] == "interrupted" and meta["note"] == "stopped by SIGTERM"
    assert RunFolder(run).driver() is None

    # 2. The folder is copied, then moved: neither remembers where it was made.
    copy, moved = tmp_path / "copy", tmp_path / "elsewhere" / "moved"
    shutil.copytree(run, copy, symlinks=True)
    moved.parent.mkdir()
    os.rename(run, moved)

    # 3. Resume the moved folder; a second resume of it meanwhile is refused, naming the holder.
    second = start(["resume", str(moved), "--cpus", "2", "--no-progress"], tmp_path / "second.log")
    wait_for(lambda: RunFolder(moved).driver() is not None, 120, "the resume to hold the lock", second)
    race = cli("resume", str(moved), "--cpus", "2", "--no-progress")
    assert race.returncode == 2 and len(race.stderr.strip().splitlines()) == 1, race.stderr
    assert f"another tunefm is driving this run (pid {second.pid} on " in race.stderr

    # 4. The resuming driver is killed outright; the report shows what it has and says so.
    wait_for(lambda: len(read_metrics(moved)) > len(read_metrics(copy)), 300, "new epochs in the moved folder",
             second)
    os.killpg(second.pid, signal.SIGKILL)
    second.wait(timeout=60)
    report = cli("report", str(moved), "--top-k", "1")
    assert report.returncode == 0, report.stderr
    assert "the run was interrupted (its driver stopped without a word" in report.stdout, report.stdout
    board = cli("leaderboard", str(moved))
    assert board.returncode == 0 and "interrupted (its driver stopped" in board.stdout, board.stderr

    # 5. Resumed where it is now, it ends with every trial, once, and nothing outside it.
    before_copy = files_of(copy)
    third = cli("resume", str(moved), "--cpus", "2", "--no-progress")
    assert third.returncode == 0, third.stdout + third.stderr
    assert_complete_here(moved)
    assert read_meta(moved)["status"] == "finished"
    assert files_of(copy) == before_copy          # the copy was not written by the moved run

    # 6. The copy resumes on its own too, and writes nothing into the moved folder.
    before_moved = files_of(moved)
    fourth = cli("resume", str(copy), "--cpus", "2", "--no-progress")
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
    assert_complete_here(copy)
    assert files_of(moved) == before_moved


def test_a_folder_moved_while_its_sweep_runs_stops_there_and_is_resumed_where_it_is_now(tmp_path):
    """Moving a run folder away while its sweep runs: the sweep stops (nothing more can be
    recorded where it was), run.json in the moved folder says so, the command names the
    new place and no half-empty folder is made again at the old one (it used to be, and
    the printed resume command pointed there). The moved folder then resumes to its end."""
    data = write_idx_dataset(tmp_path / "data", n_train=2600, n_test=200)
    sweep_file = tmp_path / "moving.yaml"
    sweep_file.write_text(SWEEP.format(data=data, epochs=EPOCHS, trials=TRIALS))
    run = tmp_path / "res" / "moving" / "run"
    first = start(["sweep", str(sweep_file), "--results", str(tmp_path / "res"), "--name", "run", "--cpus", "2",
                   "--no-progress"], tmp_path / "first.log")
    wait_for(lambda: completed(run) >= 1, 300, "a finished trial", first)
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    os.rename(run, moved)
    assert first.wait(timeout=120) == 130
    log = (tmp_path / "first.log").read_text()
    note = f"stopped: the run folder was moved to {moved} while it ran"
    assert f"sweep interrupted ({note})" in log and f"resume it:  tunefm resume {moved}" in log, log
    assert "Traceback" not in log, log
    assert not run.exists(), sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))
    meta = read_meta(moved)
    assert meta["status"] == "interrupted" and meta["note"] == note

    again = cli("resume", str(moved), "--cpus", "2", "--no-progress")
    assert again.returncode == 0, again.stdout + again.stderr
    assert_complete_here(moved)
    assert not run.exists()
