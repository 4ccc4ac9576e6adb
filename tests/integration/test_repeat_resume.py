"""A run interrupted during its repeat phase resumes that phase, and keeps every row.

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


def interrupting_trial(marker: str, driver_pid: int):
    """The first repeat trial to start presses Ctrl-C on the driver."""
    trivial = make_trivial_trial(0.2)

    def trial(config, data, settings):
        if config.get("repeat_of") and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(driver_pid, signal.SIGINT)
        trivial(config, data, settings)

    return trial


def test_an_interrupted_repeat_phase_is_resumed_not_dropped(local_ray, idx_dir, tmp_path):
    text = SWEEP.format(data=idx_dir, epochs=EPOCHS)
    function = interrupting_trial(str(tmp_path / "pressed"), os.getpid())
    first = run_sweep(parse_sweep(text, "rep.yaml"), SweepOptions(results_dir=str(tmp_path / "res"), progress=False,
                                                                   sweep_text=text, trial_function=function))
    assert first.status == RunStatus.INTERRUPTED and (tmp_path / "pressed").exists()
    assert len(read_meta(first.run_dir)["repeats"]) == 1

    second = resume_sweep(first.location, SweepOptions(progress=False, trial_function=function))
    assert second.status == RunStatus.FINISHED
    trials = read_trials(second.run_dir)
    repeats = trials[trials["config_repeat_of"].notna()]
    assert len(trials) == 5 and len(repeats) == 2, trials[[S.TRIAL_ID, S.STATUS, "config_repeat_of"]]
    assert (trials[S.STATUS] == S.COMPLETED).all()
    metrics = read_metrics(second.run_dir)
    assert len(metrics) == 5 * EPOCHS and not metrics.duplicated([S.TRIAL_ID, S.EPOCH]).any()
    assert set(metrics[S.TRIAL_ID]) == set(trials[S.TRIAL_ID])
