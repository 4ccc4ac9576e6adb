"""Warm workers on the embedded Ray: Tune's first trials run in the idle workers Ray
prestarts at ``ray.init``, and only as many of those import Keras as trials fit at once."""
from __future__ import annotations

import os
import time
from pathlib import Path


def _idle_workers(tickets: str) -> set[int]:
    """Process ids of this session's idle Ray workers (Linux: their title is ray::IDLE,
    and they inherited the session's ticket folder)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if ((entry / "cmdline").read_bytes().startswith(b"ray::IDLE")
                        and tickets.encode() in (entry / "environ").read_bytes()):
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def _report_worker(config):
    from ray import tune

    from trainables.training import warm

    tune.report({"pid": os.getpid(), "warm": warm._thread is not None})


def test_first_trials_run_in_prestarted_workers_that_import_before_them(tmp_path):
    from ray import tune

    from orchestrator.raytune.session import RaySession

    with RaySession(cpus=2, slots=1) as session:
        idle: set[int] = set()
        deadline = time.monotonic() + 30
        while not (idle and os.listdir(session.tickets)) and time.monotonic() < deadline:
            idle |= _idle_workers(session.tickets)                            # Ray prestarts one per CPU at ray.init
            time.sleep(0.1)
        tuner = tune.Tuner(tune.with_resources(_report_worker, {"cpu": 2}),
                           tune_config=tune.TuneConfig(num_samples=1),
                           run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
        [result] = list(tuner.fit())
        assert result.error is None
        assert result.metrics["pid"] in idle                   # no new worker, no import in its way
        assert result.metrics["warm"]                          # it began importing Keras at start-up
        assert sorted(os.listdir(session.tickets)) == ["0"]    # 2 prestarted workers, 1 trial slot: 1 import
        assert len(_idle_workers(session.tickets)) == 0                       # the other one left rather than idle on
    assert not os.path.exists(session.tickets)


SWEEP = """
name: reuse
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 600, val_size: 200}}
metric: val_accuracy
seed: 3
families:
  dense:
    params:
      units: 16
      lr: {{grid: [0.003, 0.00001, 0.00001, 0.003]}}
scheduler: {{kind: asha, max_epochs: 3, grace_period: 1, reduction_factor: 2}}
resources: {{cpus: 2}}
"""


def test_a_worker_whose_trial_asha_stopped_runs_the_next_trial(tmp_path):
    """One trial slot, so every trial runs in the one reused worker, one after another;
    the slow learners are stopped at their first epoch, while their checkpoint thread
    still holds the report Tune stopped them at. Each stopped trial must end at once:
    Ray waits TUNE_FUNCTION_THREAD_TIMEOUT_S for it and then fails the next trial."""
    from tests.conftest import run_text, write_idx_dataset
    from orchestrator.store import schema as S
    from orchestrator.store.parquet import read_metrics, read_trials

    data = write_idx_dataset(tmp_path / "data", n_train=1200, n_test=100)
    summary = run_text(SWEEP.format(data=data), tmp_path / "results", cpus=2)
    trials = read_trials(summary.run_dir).sort_values("trial_id")
    assert summary.status == "finished"
    assert sorted(trials[S.STATUS]) == [S.COMPLETED, S.COMPLETED, S.EARLY_STOPPED, S.EARLY_STOPPED], \
        trials[[S.STATUS, "error"]].to_string()
    assert (trials[trials[S.STATUS] == S.EARLY_STOPPED]["epochs"] < 3).all()
    assert read_metrics(summary.run_dir)["worker_pid"].nunique() == 1       # all four in one reused worker


def _trials_at_first_start():
    """A Tune callback: how many trials Tune had created when the first one started."""
    from ray.tune import Callback

    class Probe(Callback):
        created: int | None = None

        def on_trial_start(self, iteration, trials, trial, **info):
            if self.created is None:
                self.created = len(trials)

    return Probe()


def test_configs_decided_up_front_are_queued_one_per_cpu_so_every_slot_starts_at_once(tmp_path, monkeypatch):
    """Ray Tune creates at most one trial ahead for any searcher but its own variant generator,
    unless TUNE_MAX_PENDING_TRIALS_PG says otherwise: then the second slot waited for the
    first trial's worker to start before its trial was even created."""
    from benchmarks.trivial import make_trivial_trial
    from tests.conftest import run_text, write_idx_dataset

    text = SWEEP.replace("cpus: 2}", "cpus: 1}").format(data=write_idx_dataset(tmp_path / "data", n_train=1200,
                                                                               n_test=50))
    monkeypatch.delenv("TUNE_MAX_PENDING_TRIALS_PG", raising=False)
    probe = _trials_at_first_start()
    summary = run_text(text, tmp_path / "results", cpus=2, extra_callbacks=(probe,),
                       trial_function=make_trivial_trial(0.01))
    assert summary.status == "finished"
    assert probe.created == 2           # 1 where Ray's own rule applies to tunefm's queue of configs
    assert "TUNE_MAX_PENDING_TRIALS_PG" not in os.environ
