"""Warm workers on the embedded Ray: Tune's first trials run in the idle workers Ray
prestarts at ``ray.init``, and only as many of those import Keras as trials fit at once."""
from __future__ import annotations

import os
import time
from pathlib import Path


def _idle_workers() -> set[int]:
    """Process ids of Ray's idle workers on this machine (Linux: their title is ray::IDLE)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::IDLE"):
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

    from orchestrator.run.session import RaySession, tune_environment

    with tune_environment(), RaySession(cpus=2, slots=1) as session:
        idle: set[int] = set()
        deadline = time.monotonic() + 30
        while not (idle and os.listdir(session.tickets)) and time.monotonic() < deadline:
            idle |= _idle_workers()                            # Ray prestarts one per CPU at ray.init
            time.sleep(0.1)
        tuner = tune.Tuner(tune.with_resources(_report_worker, {"cpu": 2}),
                           tune_config=tune.TuneConfig(num_samples=1),
                           run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
        [result] = list(tuner.fit())
        assert result.error is None
        assert result.metrics["pid"] in idle                   # no new worker, no import in its way
        assert result.metrics["warm"]                          # it began importing Keras at start-up
        assert sorted(os.listdir(session.tickets)) == ["0"]    # 2 prestarted workers, 1 trial slot: 1 import
        assert len(_idle_workers()) == 0                       # the other one left rather than idle on
    assert not os.path.exists(session.tickets)
