"""A sweep file's repeat: block runs whatever stopped the sweep: a run interrupted in its
repeat phase resumes that phase, keeping every row; a run interrupted before it resumes
the sweep and then repeats; a Ctrl-C between the two phases is not lost.

Real Ray Tune and Parquet; the trials are TF-free (benchmarks.trivial speaks the trial
protocol) so the test is about the lifecycle, not about training.
"""
from __future__ import annotations

import os
import signal

from benchmarks.trivial import make_trivial_trial
from orchestrator.run.plans import SweepOptions, resume_sweep, run_sweep
from orchestrator.spec.sweep import parse_sweep
from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics, read_trials
from orchestrator.store.records import RunStatus
from ray.tune import Callback

from tests.conftest import read_meta

EPOCHS = 3
SWEEP = """
name: rep
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 300, val_size: 100}}
seed: 2
families:
  dense:
    num_samples: 3
    params: {{lr: {{loguniform: [1e-4, 1e-2]}}}}
scheduler: {{kind: fifo, max_epochs: {epochs}}}
max_concurrent: 2
repeat: {{top_k: 1, seeds: 2}}
"""


def interrupting_trial(marker: str, driver_pid: int, in_repeat: bool = True):
    """The first trial to start of the repeat phase (``in_repeat``; else of the sweep)
    presses Ctrl-C on the driver."""
    trivial = make_trivial_trial(0.2)

    def trial(config, data, settings):
        if bool(config.get("repeat_of")) == in_repeat and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(driver_pid, signal.SIGINT)
        trivial(config, data, settings)

    return trial


def test_an_interrupted_repeat_phase_is_resumed_not_dropped(local_ray, idx_dir, tmp_path):
    text = SWEEP.format(data=idx_dir, epochs=EPOCHS)
    function = interrupting_trial(str(tmp_path / "pressed"), os.getpid())
    first = run_sweep(parse_sweep(text, "rep.yaml"), SweepOptions(results_dir=str(tmp_path / "res"), progress=False,
                                                                   sweep_text=text, trial_function=function))
    assert first.status == RunStatus.INTERRUPTED and (tmp_path / "pressed").exists() and first.phase == "repeat"
    assert len(read_meta(first.run_dir)["repeats"]) == 1

    second = resume_sweep(first.location, SweepOptions(progress=False, trial_function=function))
    assert second.status == RunStatus.FINISHED and second.phase == "repeat"     # "repeat finished in ..."
    trials = read_trials(second.run_dir)
    repeats = trials[trials["config_repeat_of"].notna()]
    assert len(trials) == 5 and len(repeats) == 2, trials[[S.TRIAL_ID, S.STATUS, "config_repeat_of"]]
    assert (trials[S.STATUS] == S.COMPLETED).all()
    metrics = read_metrics(second.run_dir)
    assert len(metrics) == 5 * EPOCHS and not metrics.duplicated([S.TRIAL_ID, S.EPOCH]).any()
    assert set(metrics[S.TRIAL_ID]) == set(trials[S.TRIAL_ID])


def test_a_sweep_resumed_to_its_end_runs_its_repeat_block(local_ray, idx_dir, tmp_path):
    text = SWEEP.format(data=idx_dir, epochs=EPOCHS)
    function = interrupting_trial(str(tmp_path / "pressed"), os.getpid(), in_repeat=False)
    first = run_sweep(parse_sweep(text, "rep.yaml"), SweepOptions(results_dir=str(tmp_path / "res"), progress=False,
                                                                   sweep_text=text, trial_function=function))
    assert first.status == RunStatus.INTERRUPTED and not read_meta(first.run_dir)["repeats"]

    second = resume_sweep(first.location, SweepOptions(progress=False, trial_function=function))
    assert second.status == RunStatus.FINISHED and second.skipped is None
    assert len(read_meta(second.run_dir)["repeats"]) == 1
    trials = read_trials(second.run_dir)
    assert len(trials) == 5 and trials["config_repeat_of"].notna().sum() == 2, trials[[S.TRIAL_ID, S.STATUS]]
    assert (trials[S.STATUS] == S.COMPLETED).all()


class CtrlCAsTheFitEnds(Callback):
    """Presses Ctrl-C (or sends ``signum``) on the driver as the sweep's fit ends, every
    trial done: the run is finished, and the command must not go on (to its repeat phase,
    or its report)."""

    def __init__(self, pressed: list, signum: int = signal.SIGINT):
        self.pressed, self.signum = pressed, signum

    def on_experiment_end(self, trials, **info):
        self.pressed.append(signal.getsignal(self.signum))
        os.kill(os.getpid(), self.signum)


def test_a_ctrl_c_between_the_sweep_and_its_repeat_phase_skips_the_repeat_and_says_how(local_ray, idx_dir,
                                                                                        tmp_path):
    text = SWEEP.format(data=idx_dir, epochs=EPOCHS)
    pressed: list = []
    summary = run_sweep(parse_sweep(text, "rep.yaml"),
                        SweepOptions(results_dir=str(tmp_path / "res"), progress=False, sweep_text=text,
                                     trial_function=make_trivial_trial(0.05),
                                     extra_callbacks=(CtrlCAsTheFitEnds(pressed),)))
    assert pressed, "the sweep's fit never returned"
    assert summary.status == RunStatus.FINISHED, summary.note
    assert summary.skipped == f"tunefm repeat {summary.location} --top-k 1 --seeds 2"
    assert summary.stopped_by == "Ctrl-C"       # the command stops there: no report
    meta = read_meta(summary.run_dir)
    assert meta["status"] == "finished" and not meta["repeats"]
    assert meta["note"] == "its repeat phase did not run: stopped by Ctrl-C before it began"
    assert len(read_trials(summary.run_dir)) == 3


def test_a_ctrl_c_as_the_last_fit_ends_leaves_the_run_finished_and_stops_the_command(local_ray, idx_dir, tmp_path):
    """Pressed while the run's last files are written and Ray shuts down: nothing is left
    to stop but what the command would do next (the report), and it is not lost."""
    text = SWEEP.format(data=idx_dir, epochs=EPOCHS).replace("repeat: {top_k: 1, seeds: 2}\n", "")
    pressed: list = []
    summary = run_sweep(parse_sweep(text, "rep.yaml"),
                        SweepOptions(results_dir=str(tmp_path / "res"), progress=False, sweep_text=text,
                                     trial_function=make_trivial_trial(0.05),
                                     extra_callbacks=(CtrlCAsTheFitEnds(pressed),)))
    assert pressed and summary.status == RunStatus.FINISHED and summary.note is None
    assert summary.stopped_by == "Ctrl-C" and summary.skipped is None
    assert read_meta(summary.run_dir)["status"] == "finished"


class CtrlCAtTheLastTrialsEnd(Callback):
    """Presses Ctrl-C when the last trial completes: the fit still ends with every trial
    done."""

    def __init__(self, trials: int):
        self.left = trials

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.left -= 1
        if self.left == 0:
            os.kill(os.getpid(), signal.SIGINT)


def test_a_ctrl_c_in_a_fit_whose_trials_all_end_still_stops_the_plan(local_ray, idx_dir, tmp_path):
    text = SWEEP.format(data=idx_dir, epochs=EPOCHS)
    summary = run_sweep(parse_sweep(text, "rep.yaml"),
                        SweepOptions(results_dir=str(tmp_path / "res"), progress=False, sweep_text=text,
                                     trial_function=make_trivial_trial(0.05),
                                     extra_callbacks=(CtrlCAtTheLastTrialsEnd(3),)))
    assert summary.status == RunStatus.FINISHED and summary.counts[S.COMPLETED] == 3, summary
    assert summary.stopped_by == "Ctrl-C" and summary.skipped is not None
    assert not read_meta(summary.run_dir)["repeats"]


ASHA_SWEEP = """
name: asha_resume
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 300, val_size: 100}}
search: grid
max_concurrent: 1
families:
  dense: {{params: {{lr: {{grid: [1.0e-3, 0.5]}}}}}}
scheduler: {{kind: asha, max_epochs: 4, grace_period: 1, reduction_factor: 2}}
"""


class CtrlCAfterTheFirstTrial(Callback):
    def __init__(self, flag):
        self.flag = flag

    def on_trial_complete(self, iteration, trials, trial, **info):
        if not self.flag.exists():
            self.flag.write_text("1")
            os.kill(os.getpid(), signal.SIGINT)


def asha_run(idx_dir, tmp_path, name: str, callbacks=()):
    text = ASHA_SWEEP.format(data=idx_dir)
    return run_sweep(parse_sweep(text, "asha.yaml"),
                     SweepOptions(results_dir=str(tmp_path / name), progress=False, sweep_text=text,
                                  trial_function=make_trivial_trial(0.01), extra_callbacks=callbacks))


def test_a_resumed_run_early_stops_what_the_uninterrupted_run_stops(local_ray, idx_dir, tmp_path):
    """Ray's saved state holds the scheduler as it was built: a resumed run's ASHA had
    forgotten every result before the stop, and trained to the end trials it stops."""
    whole = asha_run(idx_dir, tmp_path, "whole")
    statuses = read_trials(whole.run_dir).sort_values("config_lr")[S.STATUS].tolist()
    assert statuses == [S.COMPLETED, S.EARLY_STOPPED]            # lr 0.5 stopped at the first rung
    first = asha_run(idx_dir, tmp_path, "cut", callbacks=(CtrlCAfterTheFirstTrial(tmp_path / "pressed"),))
    assert first.status == RunStatus.INTERRUPTED, first.note
    done = read_trials(first.run_dir)
    assert done[S.STATUS].tolist() == [S.COMPLETED] or (done[S.STATUS] != S.EARLY_STOPPED).all()
    again = resume_sweep(first.location, SweepOptions(progress=False, trial_function=make_trivial_trial(0.01)))
    assert again.status == RunStatus.FINISHED, again.note
    resumed = read_trials(again.run_dir).sort_values("config_lr")
    assert resumed[S.STATUS].tolist() == statuses, resumed[[S.TRIAL_ID, "config_lr", S.STATUS, "epochs"]]
    assert resumed["epochs"].tolist() == read_trials(whole.run_dir).sort_values("config_lr")["epochs"].tolist()
