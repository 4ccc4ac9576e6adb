"""Trial start-up with and without worker reuse, and the epoch time of quick.yaml's CNN.

    python -m benchmarks.startup [--sweep sweeps/quick.yaml] [--cpus 2]

Runs the sweep twice on the embedded Ray (reuse on, then off) and prints, from the
run's own Parquet: sweep wall time, trial start-up (driver's trial start to the trial's
first epoch: worker spawn, imports, model build), and per-family epoch times.
"""
from __future__ import annotations

import argparse
import json
import tempfile

from orchestrator.store import schema as S
from orchestrator.run.plans import SweepOptions, run_sweep
from orchestrator.store.parquet import read_metrics, read_trials
from orchestrator.spec.sweep import load_sweep


def measure(sweep: str, cpus: float, reuse: bool, results: str) -> dict:
    summary = run_sweep(load_sweep(sweep), SweepOptions(cpus=cpus, results_dir=results, reuse_workers=reuse,
                                                          progress=False))
    trials, metrics = read_trials(summary.run_dir), read_metrics(summary.run_dir)
    started = trials[trials["startup_seconds"].notna()]
    first_rows = metrics[metrics[S.EPOCH] == 1]
    later_epochs = metrics[metrics[S.EPOCH] >= 2]   # epoch 1 includes tracing the train step
    return {
        "reuse_workers": reuse,
        "wall_seconds": round(summary.wall_seconds, 1),
        "trials": len(trials),
        "worker_processes": int(metrics["worker_pid"].nunique()),
        "startup_seconds_median": round(float(started["startup_seconds"].median()), 2),
        "startup_seconds_mean": round(float(started["startup_seconds"].mean()), 2),
        "startup_seconds_max": round(float(started["startup_seconds"].max()), 2),
        "tf_import_seconds_mean_first_trials": round(float(
            first_rows[first_rows["trials_in_worker"] == 1]["import_seconds"].mean()), 2),
        "epoch_seconds_median_by_family": {
            fam: round(float(g["epoch_seconds"].median()), 2) for fam, g in later_epochs.groupby(S.FAMILY)},
        "first_epoch_seconds_median_by_family": {
            fam: round(float(g["epoch_seconds"].median()), 2) for fam, g in first_rows.groupby(S.FAMILY)},
        "run_dir": str(summary.run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="sweeps/quick.yaml")
    parser.add_argument("--cpus", type=float, default=2)
    parser.add_argument("--results", default=None, help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    results = args.results or tempfile.mkdtemp(prefix="tunefm-bench-")
    rows = [measure(args.sweep, args.cpus, reuse, results) for reuse in (True, False)]
    print(json.dumps(rows, indent=2))
    print("\n| worker reuse | sweep wall s | worker processes | trial start-up median / mean / max s |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {'on' if r['reuse_workers'] else 'off'} | {r['wall_seconds']} | {r['worker_processes']} | "
              f"{r['startup_seconds_median']} / {r['startup_seconds_mean']} / {r['startup_seconds_max']} |")


if __name__ == "__main__":
    main()
