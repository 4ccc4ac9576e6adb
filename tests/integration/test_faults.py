"""Faults with real Ray: Ctrl-C, a SIGKILLed driver, a killed worker, fractional logical GPUs."""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from ray.tune import Callback

from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics, read_trials
from trainables.contract.errors import UserError
from tests.conftest import read_meta
from orchestrator.raytune.session import worker_runtime_env
from tests.conftest import run_text, write_idx_dataset

ROOT = Path(__file__).parents[2]
EPOCHS = 8   # 4 left a 6 s sweep on a quiet machine: too short to catch mid-trial

SWEEP = """
name: faults
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 3000, val_size: 500}}
seed: 3
families:
  dense:
    num_samples: 3
    params: {{units: 256, layers: 2, lr: {{loguniform: [1e-3, 3e-3]}}, batch_size: 32}}
  cnn:
    num_samples: 3
    params: {{filters: 8, dense_units: 32, batch_size: 32}}
scheduler: {{kind: fifo, max_epochs: {epochs}}}
"""


def start(args: list[str], log: Path) -> subprocess.Popen:
    """A tunefm command in its own session, as a terminal would run it."""
    return subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    """Poll ``predicate``; fail at once if ``process`` (the command it waits on) ended first:
    on a fast machine a sweep can finish before the moment a test means to catch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the command ended (exit {process.returncode}) before {what}")
        try:
            if predicate():
                return
        except (OSError, ValueError):
            pass  # a file mid-rename
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def trials_of(run_dir: Path) -> pd.DataFrame:
    return read_trials(run_dir) if (run_dir / "trials.parquet").exists() else pd.DataFrame()


def progressed(run_dir: Path, done: int, running_epochs: int) -> bool:
    t = trials_of(run_dir)
    if t.empty:
        return False
    return (t[S.STATUS] == S.COMPLETED).sum() >= done and (
        (t[S.STATUS] == S.RUNNING) & (t["epochs"] >= running_epochs)).any()


def test_ctrl_c_then_kill_then_resume_ends_with_every_epoch_once(tmp_path):
    data = write_idx_dataset(tmp_path / "data", n_train=4000, n_test=200)
    sweep_file = tmp_path / "faults.yaml"
    sweep_file.write_text(SWEEP.format(data=data, epochs=EPOCHS))
    run_dir = tmp_path / "res" / "faults" / "run"

    # 1. Ctrl-C (SIGINT to the foreground process group) stops gracefully and says how to resume.
    first = start(["sweep", str(sweep_file), "--results", str(tmp_path / "res"), "--name", "run",
                   "--cpus", "2", "--no-progress"], tmp_path / "first.log")
    wait_for(lambda: progressed(run_dir, done=1, running_epochs=1), 240, "a finished and a running trial",
             first)
    done_before = set(trials_of(run_dir).query("status == 'completed'")[S.TRIAL_ID])
    interrupted_at = datetime.now(timezone.utc)
    os.killpg(first.pid, signal.SIGINT)
    assert first.wait(timeout=120) == 130, (tmp_path / "first.log").read_text()
    out = (tmp_path / "first.log").read_text()
    assert f"resume it:  tunefm resume {run_dir}" in out and "sweep interrupted (stopped by Ctrl-C)" in out
    assert read_meta(run_dir)["status"] == "interrupted" and read_meta(run_dir)["note"] == "stopped by Ctrl-C"

    # 2. The resumed driver is SIGKILLed with its embedded Ray, as in a crash or a reboot.
    second = start(["resume", str(run_dir), "--cpus", "2", "--no-progress"], tmp_path / "second.log")
    before = len(read_metrics(run_dir))
    wait_for(lambda: len(read_metrics(run_dir)) >= before + 2, 240, "progress after resuming", second)
    os.killpg(second.pid, signal.SIGKILL)
    second.wait(timeout=30)
    time.sleep(2)

    # 3. Resume again, to the end.
    third = subprocess.run([sys.executable, "-m", "orchestrator.cli", "resume", str(run_dir), "--cpus", "2",
                            "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stdout + third.stderr
    assert read_meta(run_dir)["status"] == "finished" and len(read_meta(run_dir)["resumed"]) == 2

    trials = read_trials(run_dir)
    assert len(trials) == 6 and (trials[S.STATUS] == S.COMPLETED).all(), trials[[S.TRIAL_ID, S.STATUS]]
    parts = list((run_dir / "metrics").glob("*.parquet"))
    assert len(parts) == 1                                            # compacted
    rows = pq.read_table(parts[0]).to_pandas()
    for tid in trials[S.TRIAL_ID]:                                    # every (trial, epoch) exactly once
        epochs = sorted(rows[rows[S.TRIAL_ID] == tid][S.EPOCH].tolist())
        assert epochs == list(range(1, EPOCHS + 1)), (tid, epochs)
    assert len(rows) == 6 * EPOCHS
    again = rows[rows[S.TRIAL_ID].isin(done_before) & (rows["wall_time"] > interrupted_at)]
    assert again.empty, "trials finished before Ctrl-C were trained again"
    resumed = rows[rows["resumed_from_epoch"].notna()]
    assert len(resumed) > 0                                           # someone continued from a checkpoint
    assert (resumed[S.EPOCH] > resumed["resumed_from_epoch"]).all()
    best = trials.set_index(S.TRIAL_ID)
    for tid, g in rows.groupby(S.TRIAL_ID):
        assert best.loc[tid, "best_metric"] == pytest.approx(g["val_accuracy"].max())


def test_a_resume_whose_ray_state_names_a_deleted_checkpoint_continues_from_the_one_on_disk(tmp_path):
    """Ray saves its state every few seconds but deletes a superseded checkpoint at once:
    a driver killed between the two leaves a state naming a folder that is gone (seen in
    CI as "Could not recover from checkpoint as it does not exist on storage anymore").
    Here the race's outcome is made on purpose: after a Ctrl-C, every checkpoint folder of
    each unfinished trial is renamed, so whichever Ray's state names is gone."""
    data = write_idx_dataset(tmp_path / "data", n_train=4000, n_test=200)
    sweep_file = tmp_path / "faults.yaml"
    epochs = 3 * EPOCHS      # a quiet machine finished 8-epoch trials before the Ctrl-C landed
    sweep_file.write_text(SWEEP.format(data=data, epochs=epochs))
    run_dir = tmp_path / "res" / "faults" / "run"
    first = start(["sweep", str(sweep_file), "--results", str(tmp_path / "res"), "--name", "run",
                   "--cpus", "2", "--no-progress"], tmp_path / "first.log")
    wait_for(lambda: progressed(run_dir, done=0, running_epochs=2), 240, "a trial two epochs in", first)
    os.killpg(first.pid, signal.SIGINT)
    assert first.wait(timeout=120) == 130, (tmp_path / "first.log").read_text()

    trials = trials_of(run_dir)
    unfinished = trials[trials[S.STATUS] != S.COMPLETED][S.TRIAL_ID]
    recorded = read_metrics(run_dir).groupby(S.TRIAL_ID)[S.EPOCH].max()
    moved = {}
    for tid in unfinished:
        for named in (run_dir / "ray" / tid).glob("checkpoint_*"):
            renamed = named.with_name(f"checkpoint_{int(named.name.split('_')[1]) + 100:06d}")
            named.rename(renamed)
            epoch = int(json.loads((renamed / "checkpoint.json").read_text())["epoch"])
            # the trial continues from the newest whose epoch the Parquet holds (a checkpoint
            # written after the last row the driver recorded would lose that row)
            if epoch <= recorded.get(tid, 0):
                moved[tid] = max(moved.get(tid, 0), epoch)
    moved = {tid: epoch for tid, epoch in moved.items() if epoch < epochs}   # stopped after its last epoch: none left
    assert moved, trials[[S.TRIAL_ID, S.STATUS, "epochs"]].to_string()

    again = subprocess.run([sys.executable, "-m", "orchestrator.cli", "resume", str(run_dir), "--cpus", "2",
                            "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    trials = read_trials(run_dir)
    assert (trials[S.STATUS] == S.COMPLETED).all(), trials[[S.TRIAL_ID, S.STATUS, "error"]].to_string()
    rows = read_metrics(run_dir)
    assert len(rows) == 6 * epochs and not rows.duplicated([S.TRIAL_ID, S.EPOCH]).any()   # no epoch lost
    # a trial Ray's state names a checkpoint for continues from the newest one left (one
    # whose first checkpoint came after Ray's last save starts again: Ray knows none)
    resumed = rows[rows[S.TRIAL_ID].isin(list(moved)) & rows["resumed_from_epoch"].notna()]
    assert not resumed.empty, rows[[S.TRIAL_ID, S.EPOCH, "resumed_from_epoch"]].to_string()
    for tid, got in resumed.groupby(S.TRIAL_ID):
        assert set(got["resumed_from_epoch"]) == {moved[tid]}, (tid, moved[tid], got[[S.EPOCH, "resumed_from_epoch"]])


def small_dense_sweep(tmp_path: Path, name: str, trials: int, epochs: int, params: str) -> str:
    """A FIFO sweep of 1-CPU dense trials on 200 images of a small IDX data set written here."""
    data = write_idx_dataset(tmp_path / "data", n_train=1200, n_test=50)
    return (f"name: {name}\n"
            f"dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 200, val_size: 100}}\n"
            "seed: 0\n"
            f"families: {{dense: {{num_samples: {trials}, params: {params}}}}}\n"
            f"scheduler: {{kind: fifo, max_epochs: {epochs}}}\n"
            "resources: {cpus: 1}\n")


class RayLog(logging.Handler):
    """What one of Ray's loggers passes on (after its filters), while in a ``with``."""

    def __init__(self, name: str):
        super().__init__(logging.WARNING)
        self.logger, self.records = logging.getLogger(name), []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self):
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)


class BreakMetricsFolderOnce(Callback):
    """At the ``after``-th result, replace the run's metrics folder by a file: the next
    write into it fails as on a full disk (a real OSError, no stand-in). A file beside
    the results says it happened, so the copy Ray restores on resume does not do it again."""

    def __init__(self, results: Path, after: int):
        self.results, self.after, self.seen = results, after, 0

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.seen += 1
        flag = self.results / "broken"
        if self.seen >= self.after and not flag.exists():
            flag.write_text(",".join(sorted(t.trial_id for t in trials if t.status in ("RUNNING", "PENDING"))))
            run = next(p for p in (self.results / "werr").iterdir() if p.is_dir())
            os.rename(run / "metrics", run / "metrics.away")
            (run / "metrics").write_text("not a folder")


def test_a_failed_write_leaves_the_unfinished_trials_to_the_resume(tmp_path):
    """A write into the run folder fails mid-sweep. The sweep stops, interrupted; once the
    folder is writable again the resume trains every trial to the end, and every epoch
    is recorded. Ending the fit
    through Tune's stopper (its stop_all) marked the running and pending trials
    terminated and the searcher finished: the resume ran nothing and the run stayed
    interrupted (9 of 12 trials never done)."""
    from benchmarks.trivial import make_trivial_trial
    from orchestrator.run.plans import SweepOptions, resume_sweep

    text = small_dense_sweep(tmp_path, "werr", trials=12, epochs=6, params="{lr: {loguniform: [1.0e-5, 1.0e-1]}}")
    results = tmp_path / "res"
    results.mkdir()
    logged = RayLog("ray.tune.execution.tune_controller")
    with logged:
        first = run_text(text, results, cpus=2, trial_function=make_trivial_trial(0.1),
                         extra_callbacks=(BreakMetricsFolderOnce(results, after=14),))
    unfinished = (results / "broken").read_text().split(",")
    # the refused checkpoint is in the note's one line, not also in a traceback of Ray's
    assert not [r for r in logged.records if "Error handling checkpoint" in r.getMessage()]
    assert first.status == "interrupted" and first.note.startswith("stopped: cannot write to the run folder"), first
    assert len(unfinished) >= 2                                         # trials were running or queued at the break
    run = first.run_dir
    os.remove(run / "metrics")
    os.rename(run / "metrics.away", run / "metrics")
    summary = resume_sweep(run, SweepOptions(cpus=2, progress=False, trial_function=make_trivial_trial(0.1)))
    trials = read_trials(run)
    assert summary.status == "finished", summary.note
    assert len(trials) == 12 and (trials[S.STATUS] == S.COMPLETED).all(), trials[[S.TRIAL_ID, S.STATUS]].to_string()
    assert (trials["epochs"] == 6).all()
    rows = read_metrics(run)
    assert set(unfinished) <= set(rows[S.TRIAL_ID])                     # each one trained on after the resume
    # nothing lost: Ray took no checkpoint past the rows on disk, so the epoch whose row
    # was in the failed write was trained again
    assert sorted(rows.groupby(S.TRIAL_ID)[S.EPOCH].apply(sorted).tolist()) == [list(range(1, 7))] * 12


class InterruptSessions(Callback):
    """At the ``after``-th result of a session, stop the fit as Ctrl-C does (SIGUSR1,
    which Tune's fit catches like SIGINT): in as many sessions as there are flag files.
    A resume runs the copy Ray saved with the run, which counts from zero again."""

    def __init__(self, flags: tuple[Path, ...], after: int):
        self.flags, self.after, self.seen, self.fired = flags, after, 0, False

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.seen += 1
        todo = [f for f in self.flags if not f.exists()]
        if self.seen >= self.after and todo and not self.fired:
            self.fired = True
            todo[0].write_text("1")
            signal.raise_signal(signal.SIGUSR1)


def test_a_resume_sets_aside_a_newest_state_cut_short_and_continues_from_the_one_before(tmp_path, capfd):
    """A driver killed while Ray copied its experiment state into the run folder leaves
    that file empty (seen once in CI: the next resume failed with a JSON error). The
    state before it names checkpoints the second session deleted: tunefm's own trials
    (not a stand-in), whose checkpoints the resume can replace by newer ones."""
    from orchestrator.run.plans import SweepOptions, resume_sweep

    text = small_dense_sweep(tmp_path, "cut", trials=8, epochs=5,
                             params="{units: 16, lr: {loguniform: [1.0e-4, 1.0e-2]}}")
    first = run_text(text, tmp_path / "res", cpus=2,
                     extra_callbacks=(InterruptSessions((tmp_path / "first", tmp_path / "second"), after=8),))
    assert first.status == "interrupted"
    run = first.run_dir
    # a copy whose only state was cut short: one line, nothing to continue from
    lone = tmp_path / "lone"
    shutil.copytree(run, lone, symlinks=True)
    next((lone / "ray").glob("experiment_state-*.json")).write_text("")
    with pytest.raises(UserError, match="Ray saved no readable experiment state before the run stopped"):
        resume_sweep(lone, SweepOptions(cpus=2, progress=False))
    second = resume_sweep(run, SweepOptions(cpus=2, progress=False))
    assert second.status == "interrupted" and (tmp_path / "second").exists()
    states = sorted((run / "ray").glob("experiment_state-*.json"))
    assert len(states) == 2                                  # one per session
    states[-1].write_text("")                                # the second session's, cut short
    capfd.readouterr()
    summary = resume_sweep(run, SweepOptions(cpus=2, progress=False))
    assert "Ray's newest saved state was cut short" in capfd.readouterr().err
    assert (run / "ray" / (states[-1].name + ".unreadable")).is_file()
    trials, rows = read_trials(run), read_metrics(run)
    assert summary.status == "finished", summary.note
    assert len(trials) == 8 and (trials[S.STATUS] == S.COMPLETED).all(), trials[[S.TRIAL_ID, S.STATUS]].to_string()
    assert sorted(rows.groupby(S.TRIAL_ID)[S.EPOCH].apply(sorted).tolist()) == [list(range(1, 6))] * 8


@pytest.fixture(scope="module")
def ray_with_logical_gpu():
    import ray

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env=worker_runtime_env())
    yield
    ray.shutdown()


class KillWorkerOnce(Callback):
    """SIGKILL the worker process of one trial right after its first epoch (mid second epoch)."""

    def __init__(self):
        self.killed: str | None = None

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if self.killed is None and result.get("epoch") == 2 and trial.config["family"] == "cnn":
            self.killed = trial.trial_id
            os.kill(result["worker_pid"], signal.SIGKILL)


def test_a_killed_worker_is_retried_from_its_checkpoint(tmp_path, ray_with_logical_gpu):
    data = write_idx_dataset(tmp_path / "data", n_train=4000, n_test=100)
    text = SWEEP.format(data=data, epochs=3).replace("num_samples: 3", "num_samples: 1") + "max_failures: 1\n"
    killer = KillWorkerOnce()
    summary = run_text(text, tmp_path / "res", extra_callbacks=(killer,))
    assert killer.killed is not None and summary.status == "finished"
    trials = read_trials(summary.run_dir).set_index(S.TRIAL_ID)
    victim = trials.loc[killer.killed]
    assert victim[S.STATUS] == S.COMPLETED and victim["failures"] == 1
    assert victim["error"].startswith("retry 1: ") and "died" in victim["error"].lower(), victim["error"]
    rows = read_metrics(summary.run_dir)
    mine = rows[rows[S.TRIAL_ID] == killer.killed].sort_values(S.EPOCH)
    assert mine[S.EPOCH].tolist() == [1, 2, 3]
    assert mine["resumed_from_epoch"].tolist()[1:] == [1, 1] and mine["worker_pid"].nunique() == 2


def meeting_trial(folder: str, timeout: float = 240.0):
    """tunefm's own trial, entered only once two trials have started: a trial shorter than
    a new worker's start would otherwise end first, and Tune (reusing workers) would hand
    its worker to the next trial, never running two at once however the GPU is split.
    A sweep that cannot place two trials at once fails its trials after ``timeout``."""
    from trainables.training.trial import run_trial

    def trial(config, data, settings):
        from ray import tune

        open(os.path.join(folder, tune.get_context().get_trial_id()), "w").close()
        deadline = time.monotonic() + timeout
        while len(os.listdir(folder)) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("no second trial started beside this one")
            time.sleep(0.05)
        run_trial(config, data, settings)

    return trial


def test_fractional_gpus_are_scheduled_on_logical_gpus(tmp_path, ray_with_logical_gpu):
    data = write_idx_dataset(tmp_path / "data", n_train=4000, n_test=100)
    text = (SWEEP.format(data=data, epochs=2).replace("num_samples: 3", "num_samples: 2")
            + "resources: {cpus: 0.5, gpus: 0.5}\n")
    (tmp_path / "started").mkdir()
    summary = run_text(text, tmp_path / "res", trial_function=meeting_trial(str(tmp_path / "started")))
    trials = read_trials(summary.run_dir)
    assert (trials[S.STATUS] == S.COMPLETED).all()
    assert set(read_metrics(summary.run_dir)["gpu_ids"]) == {"0"}      # each trial saw the one logical GPU
    spans = [(r.started_at, r.ended_at) for r in trials.itertuples()]
    overlap = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert overlap == 2                                                # two halves of one GPU, never more


def test_a_sigterm_as_the_last_fit_ends_is_the_commands_stop_not_rays_exit(tmp_path):
    """``ray.init`` sets a SIGTERM handler that exits the process (``sys.exit(15)``): it used
    to end the plan inside its last writes (run.json left running). The command's one
    handler is back after ``ray.init``: a SIGTERM as the fit ends leaves the run finished
    and stops only what the command would do next."""
    from benchmarks.trivial import make_trivial_trial
    from tests.integration.test_repeat_resume import CtrlCAsTheFitEnds

    text = small_dense_sweep(tmp_path, "term", trials=2, epochs=2, params="{lr: {loguniform: [1.0e-5, 1.0e-1]}}")
    pressed: list = []
    summary = run_text(text, tmp_path / "res", cpus=2, trial_function=make_trivial_trial(0.05),
                       extra_callbacks=(CtrlCAsTheFitEnds(pressed, signal.SIGTERM),))
    assert pressed and summary.status == "finished" and summary.stopped_by == "SIGTERM", summary.note
    assert summary.exit_code == 143 and summary.outcome.says == "stopped by SIGTERM as the sweep ended"
    assert json.loads((summary.run_dir / "run.json").read_text())["status"] == "finished"


class CtrlCInSetup(Callback):
    """Presses Ctrl-C as Tune sets up its callbacks: inside the fit, before any trial.
    Once: Ray saves the callback with the run and sets it up again in the resume."""

    def __init__(self, marker: Path):
        self.marker = marker

    def setup(self, **info):
        if not self.marker.exists():
            self.marker.write_text("1")
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("when", ["before the fit", "in the fit, before its first trial"])
def test_a_ctrl_c_before_any_trial_leaves_a_run_a_resume_finishes(tmp_path, monkeypatch, when):
    """After the run folder exists: while the plan builds its Tuner, or inside the fit
    before Tune created a trial. The first used to skip the fit (Ray saved no state), the
    second to leave a state without trials (Ray's restore fails on it): either way the run
    said "resume it" and could not be resumed. The fit now ends at its first step that has
    trials, with Ray's state saved."""
    from benchmarks.trivial import make_trivial_trial
    from orchestrator.run import runner
    from orchestrator.run.plans import SweepOptions, resume_sweep

    real, callbacks = runner.build_tuner, ()

    def pressed_first(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)          # caught by the plan's handler: remembered
        return real(*args, **kwargs)

    if when == "before the fit":
        monkeypatch.setattr(runner, "build_tuner", pressed_first)
    else:
        callbacks = (CtrlCInSetup(tmp_path / "pressed"),)
    text = small_dense_sweep(tmp_path, "early", trials=3, epochs=2, params="{lr: {loguniform: [1.0e-5, 1.0e-1]}}")
    first = run_text(text, tmp_path / "res", cpus=2, trial_function=make_trivial_trial(0.05),
                     extra_callbacks=callbacks)
    monkeypatch.undo()
    assert first.status == "interrupted" and first.note.startswith("stopped by Ctrl-C"), first
    assert len(read_metrics(first.run_dir)) == 0
    second = resume_sweep(first.run_dir, SweepOptions(cpus=2, progress=False,
                                                      trial_function=make_trivial_trial(0.05)))
    assert second.status == "finished", second
    trials = read_trials(second.run_dir)
    assert len(trials) == 3 and (trials[S.STATUS] == S.COMPLETED).all()
    assert sorted(read_metrics(second.run_dir).groupby(S.TRIAL_ID)[S.EPOCH].apply(sorted).tolist()) == [[1, 2]] * 3
