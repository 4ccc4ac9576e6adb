"""A sweep's tail: the realistic task of issue 31, with idle cores given to the trials
still running (``scheduler.idle_cores: give``, the default) and left idle (``leave``).

    python -m benchmarks.tail                 # seeds 0 and 1, both modes, interleaved (~25-40 min on 2 cores)
    python -m benchmarks.tail --seeds 0 1 2 --docs

The task: Fashion-MNIST, 12,000 training and 3,000 validation images, 27 two-block CNNs
(16-64 filters, up to about 1.7 million parameters), ASHA (grace 1, reduction 3) up to 9
epochs, two 1-core trial slots on the embedded Ray. Each run is a fresh ``tunefm sweep``
process, timed from its start to its exit. From the run's Parquet: every trial's epochs
as bars over time (a figure per run, coloured by the cores each epoch ran on), the share
of the machine's core-time in which no epoch trained while the sweep's trials were not
all done, and the time in which only one trial trained.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, machine, publish

CORES = 2
TAIL_START, TAIL_END = "<!-- tail:start -->", "<!-- tail:end -->"
OUT = REPO / "benchmarks" / "results"


def sweep_text(seed: int, idle_cores: str) -> str:
    return f"""
name: bench_tail_{idle_cores}
dataset: {{name: fashion_mnist, train_size: 12000, val_size: 3000}}
metric: val_accuracy
seed: {seed}
families:
  cnn:
    num_samples: 27
    params:
      blocks: 2
      filters: {{choice: [16, 32, 64]}}
      dense_units: {{choice: [64, 128, 256]}}
      dropout: {{uniform: [0.0, 0.4]}}
      lr: {{loguniform: [3.0e-4, 3.0e-3]}}
      batch_size: 128
scheduler: {{kind: asha, max_epochs: 9, grace_period: 1, reduction_factor: 3, idle_cores: {idle_cores}}}
resources: {{cpus: 1}}
"""


def busy(epochs, cores: int = CORES) -> dict[str, float]:
    """From a run's epoch rows (``wall_time`` at the epoch's report, ``epoch_seconds``,
    ``cpus``, ``trial_id``): the span from the first epoch's start to the last one's end,
    the share of its core-time in which no epoch trained, and the seconds in which
    exactly one trial trained.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"trial_id": ["a", "b", "b"], "cpus": [1.0, 1.0, 2.0], "epoch_seconds": [10.0, 10.0, 5.0],
    ...                      "wall_time": pd.to_datetime([10, 10, 20], unit="s")})
    >>> busy(rows)
    {'span_s': 20.0, 'idle_share': 0.25, 'one_trial_s': 5.0}
    """
    import numpy as np

    end = epochs["wall_time"].map(lambda t: t.timestamp()).to_numpy(dtype=float)
    start = end - epochs["epoch_seconds"].to_numpy(dtype=float)
    cpus = epochs["cpus"].fillna(1.0).to_numpy(dtype=float)
    t0, t1 = float(start.min()), float(end.max())
    edges = np.unique(np.concatenate([start, end]))
    used = one = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        mid = (a + b) / 2
        on = (start <= mid) & (mid < end)
        used += min(cores, float(cpus[on].sum())) * (b - a)
        if epochs["trial_id"].to_numpy()[on].size and len(set(epochs["trial_id"].to_numpy()[on])) == 1:
            one += b - a
    span = t1 - t0
    return {"span_s": round(span, 1), "idle_share": round(float(1 - used / (cores * span)), 3) if span else 0.0,
            "one_trial_s": round(float(one), 1)}


def stalls(epochs) -> tuple[int, float]:
    """Epochs whose worker computed for less than half of their time (the rest it waited),
    and the seconds they waited: ``epoch_seconds - cpu_seconds / cpus``.

    >>> import pandas as pd
    >>> stalls(pd.DataFrame({"epoch_seconds": [10.0, 30.0, 4.0], "cpu_seconds": [9.5, 3.0, 7.0], "cpus": [1, 1, 2]}))
    (1, 27.0)
    """
    if "cpu_seconds" not in epochs or epochs["cpu_seconds"].isna().all():
        return 0, float("nan")
    busy = epochs["cpu_seconds"] / epochs["cpus"].fillna(1.0).clip(lower=1.0)
    slow = epochs[busy < 0.5 * epochs["epoch_seconds"]]
    return int(len(slow)), round(float((slow["epoch_seconds"] - busy[slow.index]).sum()), 1)


def draw(epochs, path: Path, title: str) -> None:
    """A row per worker process (a trial slot; a grown trial restarts in a new one), a bar
    per epoch, trials told apart by shade, coloured by the cores the epoch ran on: the
    gaps in a row are the slot's idle time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = epochs["wall_time"].map(lambda t: t.timestamp())
    start = end - epochs["epoch_seconds"]
    t0 = start.min()
    rows = list(start.groupby(epochs["worker_pid"]).min().sort_values().index)
    trials = {t: i for i, t in enumerate(start.groupby(epochs["trial_id"]).min().sort_values().index)}
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(rows) + 1.4))
    for (_, row), s, e in zip(epochs.iterrows(), start, end):
        grown = (row["cpus"] or 1) > 1
        shade = ("tab:orange", "darkorange") if grown else ("tab:blue", "steelblue")
        ax.barh(rows.index(row["worker_pid"]), e - s, left=s - t0, height=0.7,
                color=shade[trials[row["trial_id"]] % 2], edgecolor="white", linewidth=0.3)
    ax.set_yticks(range(len(rows)), [f"worker {i + 1}" for i in range(len(rows))])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first epoch began (a bar per epoch; blue: 1 core, orange: more)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run_one(seed: int, idle_cores: str, figures: Path) -> dict[str, Any]:
    from orchestrator.store.parquet import read_metrics

    results = tempfile.mkdtemp(prefix="tunefm-tail-")
    sweep = Path(results) / "tail.yaml"
    sweep.write_text(sweep_text(seed, idle_cores))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(sweep), "--results", results,
                           "--name", "run", "--cpus", str(CORES), "--no-progress"],
                          cwd=REPO, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"tunefm sweep exited {done.returncode}: {done.stderr.strip()[-300:]}")
    run_dir = Path(results) / f"bench_tail_{idle_cores}" / "run"
    m = read_metrics(str(run_dir))
    m = m[m["epoch"] > 0]
    grown = m[m["cpus"] > 1]
    restarts = []
    for _, rows in m.sort_values("epoch").groupby("trial_id"):
        cpus = rows["cpus"].fillna(1.0).to_numpy()
        for i in range(1, len(rows)):
            if cpus[i] > cpus[i - 1]:   # the report before the restart, to the first grown epoch's start
                gap = (rows["wall_time"].iloc[i] - rows["wall_time"].iloc[i - 1]).total_seconds()
                restarts.append(round(gap - float(rows["epoch_seconds"].iloc[i]), 1))
    stalled, waited = stalls(m)
    figure = figures / f"tail-{idle_cores}-seed{seed}.png"
    draw(m, figure, f"idle_cores: {idle_cores}, seed {seed}: {wall:.0f} s")
    return {"seed": seed, "idle_cores": idle_cores, "wall_s": round(wall, 1), **busy(m),
            "epochs": int(len(m)), "best_val": round(float(m["val_accuracy"].max()), 4),
            "grown_trials": int(grown["trial_id"].nunique()), "grown_epochs": int(len(grown)), "restarts_s": restarts,
            "stalled_epochs": stalled, "stalled_s": waited,
            "figure": str(figure.relative_to(REPO))}


def compare(seeds: list[int], figures: Path = OUT) -> dict[str, Any]:
    figures.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in seeds:
        for mode in ("give", "leave"):          # interleaved: a slow spell lands on both
            print(f"  tail: idle_cores {mode}, seed {seed} ...", flush=True)
            runs.append(run_one(seed, mode, figures))
            print("   ", json.dumps(runs[-1]), flush=True)
    return {"runs": runs}


def markdown(res: dict[str, Any]) -> str:
    import statistics

    lines = [f"Measured {res['date']}, commit {res['machine']['commit']}, {res['machine']['cpu']} "
             f"({res['machine']['cores']} cores); `{res['command']}`.", "",
             "| idle_cores | seed | whole sweep | epochs trained | core-time idle | one trial alone | "
             "trials grown (restart) | stalled epochs (s waited) | best val |", "|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        lines.append(f"| {r['idle_cores']} | {r['seed']} | {r['wall_s']:.0f} s | {r['epochs']} | "
                     f"{r['idle_share']:.1%} | {r['one_trial_s']:.0f} s | {r['grown_trials']}"
                     f"{_restarts(r)} | {r['stalled_epochs']} ({r['stalled_s']:.0f} s) | {r['best_val']:.4f} |")
    for mode in ("give", "leave"):
        rs = [r for r in res["runs"] if r["idle_cores"] == mode]
        if rs:
            lines.append(f"| **{mode}, median** | | **{statistics.median(r['wall_s'] for r in rs):.0f} s** | | "
                         f"**{statistics.median(r['idle_share'] for r in rs):.1%}** | "
                         f"{statistics.median(r['one_trial_s'] for r in rs):.0f} s | | | |")
    where = res.get("links_from", str(REPO))
    lines += ["", "Timelines: " + ", ".join(
        f"[{Path(r['figure']).name}]({os.path.relpath(REPO / r['figure'], where)})" for r in res["runs"])]
    return "\n".join(lines) + "\n"


def _restarts(r: dict[str, Any]) -> str:
    gaps = r.get("restarts_s") or []
    return f" ({min(gaps):.1f}-{max(gaps):.1f} s)" if gaps else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--docs", action="store_true", help="replace docs/benchmarks.md's tail block")
    args = parser.parse_args()
    figures = REPO / "docs" / "img" if args.docs else OUT   # the docs page links its figures
    res = {"links_from": str(REPO / "docs" if args.docs else OUT),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "command": "python -m benchmarks.tail " + " ".join(sys.argv[1:]), "machine": machine(),
           **compare(args.seeds, figures)}
    publish(res, "tail", markdown(res), (TAIL_START, TAIL_END) if args.docs else None)


if __name__ == "__main__":
    main()
