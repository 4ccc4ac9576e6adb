"""The overhead floor: how much of the workers' time goes to the trials' own work.

Two sweeps through tunefm's real machinery (embedded Ray, ASHA, the Parquet recorder):

- ``trivial``: many trials that only busy-loop a fixed time per epoch (no TensorFlow), so
  everything else is orchestration;
- ``tiny_keras``: small dense and CNN models on a small Fashion-MNIST subset, where the
  per-trial and per-epoch costs (start-up, checkpoints, reports) weigh the most.

Trial work is the sum of the epochs' own time (training and validation scoring); worker
time is the number of trial slots (CPUs / CPUs per trial) times the wall time, once over
the whole command (Ray start and data loading included) and once over Tune's trial phase
(first trial start to last trial end).
"""
from __future__ import annotations

import tempfile
from typing import Any

from benchmarks.common import r

TRIVIAL = """
name: bench_trivial
dataset: {{name: fashion_mnist, train_size: 200, val_size: 100}}
metric: val_accuracy
seed: 0
families:
  dense:
    num_samples: {trials}
    params:
      lr: {{loguniform: [1.0e-5, 1.0e-1]}}
scheduler: {{kind: asha, max_epochs: {epochs}, grace_period: 1, reduction_factor: 2}}
resources: {{cpus: 1}}
"""

TINY_KERAS = """
name: bench_tiny_keras
dataset: {{name: fashion_mnist, train_size: {train}, val_size: {val}}}
metric: val_accuracy
seed: 0
families:
  dense:
    num_samples: {trials}
    params:
      layers: {{choice: [1, 2]}}
      units: {{choice: [32, 64]}}
      lr: {{loguniform: [1.0e-3, 1.0e-2]}}
  cnn:
    num_samples: {trials}
    params:
      blocks: 1
      filters: {{choice: [4, 8]}}
      dense_units: {{choice: [16, 32]}}
      lr: {{loguniform: [1.0e-3, 1.0e-2]}}
scheduler: {{kind: asha, max_epochs: {epochs}, grace_period: 2, reduction_factor: 2}}
resources: {{cpus: 1}}
"""


def floor(quick: bool, cpus: int = 2) -> dict[str, Any]:
    from benchmarks.trivial import make_trivial_trial

    work = 0.05
    trivial = _sweep(TRIVIAL.format(trials=60 if quick else 200, epochs=4), cpus,
                     trial_function=make_trivial_trial(work))
    trivial["work_per_epoch_seconds"] = work
    text = TINY_KERAS.format(trials=8 if quick else 20, epochs=6, train=3000, val=1000)
    tiny = _sweep(text, cpus)
    tiny["keras_setup"] = keras_own_setup(text, tiny)
    return {"trivial": trivial, "tiny_keras": tiny}


def keras_own_setup(text: str, tiny: dict[str, Any]) -> dict[str, Any]:
    """Keras's own set-up of the sweep's trials (``benchmarks.keras_setup``), and the work
    share the sweep would have if nothing but that stood between its epochs."""
    from benchmarks.keras_setup import measure

    own = measure(text)
    work = tiny["in_epochs_seconds"]
    return {**own, "work_share_if_only_keras_setup": r(work / (work + own["setup_seconds_total"]), 3)}


def _sweep(text: str, cpus: int, trial_function=None) -> dict[str, Any]:
    from orchestrator.store import schema as S
    from orchestrator.run.plans import SweepOptions, run_sweep
    from orchestrator.store.parquet import read_metrics, read_trials
    from orchestrator.spec.sweep import parse_sweep

    spec = parse_sweep(text, "<benchmark>")
    results = tempfile.mkdtemp(prefix="tunefm-bench-")
    summary = run_sweep(spec, SweepOptions(cpus=cpus, results_dir=results, progress=False,
                                           trial_function=trial_function))
    trials, metrics = read_trials(summary.run_dir), read_metrics(summary.run_dir)
    slots = cpus / spec.max_resources().cpus
    work = float(metrics["epoch_seconds"].sum())
    phase = (trials["ended_at"].max() - trials["started_at"].min()).total_seconds()
    spans = (trials["ended_at"] - trials["started_at"]).dt.total_seconds()
    started = trials[trials["startup_seconds"].notna()]
    return {**_breakdown(trials, metrics, phase * slots, work), **{
        "trials": len(trials),
        "epochs": len(metrics),
        "early_stopped": int((trials[S.STATUS] == S.EARLY_STOPPED).sum()),
        "slots": slots,
        "wall_seconds": r(summary.wall_seconds),
        "tune_phase_seconds": r(phase),
        "trial_work_seconds": r(work),
        "work_share_end_to_end": r(work / (summary.wall_seconds * slots), 3),
        "work_share_tune_phase": r(work / (phase * slots), 3),
        "trial_startup_seconds_median": r(started["startup_seconds"].median(), 3),
        "overhead_per_trial_seconds": r((phase * slots - work) / len(trials), 3),
        "overhead_in_trial_per_epoch_seconds": r((spans.sum() - work) / len(metrics), 3),
        "worker_processes": int(metrics["worker_pid"].nunique()),
        "run_dir": str(summary.run_dir),
    }}


def _breakdown(trials, metrics, slot_seconds: float, work: float) -> dict[str, float]:
    """Where the slots' time over the Tune phase went, in seconds summed over slots."""
    spans = (trials["ended_at"] - trials["started_at"]).dt.total_seconds().sum()
    startup = trials["startup_seconds"].fillna(0).sum()        # driver's trial start to first epoch
    setup = trials["setup_seconds"].fillna(0).sum()            # trial entry to first epoch (in the worker)
    first = metrics.sort_values("epoch").drop_duplicates("trial_id")
    imports = float(first["import_seconds"].fillna(0).sum())   # TensorFlow, once per worker process
    return {"slot_seconds": r(slot_seconds),
            "in_epochs_seconds": r(work),
            "worker_import_seconds": r(imports),
            "trial_setup_seconds": r(setup - imports),         # build, compile, restore
            "trial_dispatch_seconds": r(startup - setup),      # Ray: actor start or reset, call
            "between_epochs_seconds": r(spans - startup - work),   # checkpoint, report, scoring bookkeeping
            "between_trials_seconds": r(slot_seconds - spans)}     # idle slot: scheduling, trial hand-over
