"""Beat the notebook: the MNIST course notebook's best hand design under 7,000 parameters
against ``sweeps/mnist_budget.yaml``, both on Fashion-MNIST (same shapes; MNIST cannot be
downloaded here) and on the same split.

    python -m benchmarks.notebook                      # 3 seeds of the design, a 6-minute sweep (~12 min on 2 cores)
    python -m benchmarks.notebook --seeds 0 1 2 --minutes 6 --docs

The design: conv 12 filters 5x5, max-pool 2, conv 23 filters 4x4, max-pool 3, flatten,
softmax (6,831 parameters), trained the notebook's way: Adam (learning rate 0.001),
batch 128, 15 epochs, every training image, no early stopping; its test accuracy after
the 15th epoch. Built with tunefm's own ``cnn`` family (``kernel_step``, ``pool_size``,
``pool_step``, ``padding: valid``, ``global_pooling: none``); the sweep's space holds
designs of its shape (5x5 then 4x4 kernels, pools of 2 then 3, flatten), though not its
odd 23 filters. The sweep: the budget sweep's file, with Fashion-MNIST and a time budget, reported;
its winner (chosen on validation) scored on the test split by the report.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import REPO, machine, publish, r, run_child

NB_START, NB_END = "<!-- notebook:start -->", "<!-- notebook:end -->"
DESIGN = {"blocks": 2, "filters": 12, "filter_growth": 23 / 12, "kernel_size": 5, "kernel_step": -1,
          "pool_size": 2, "pool_step": 1, "padding": "valid", "global_pooling": "none", "dense_units": 0,
          "dropout": 0.0, "batch_size": 128, "lr": 1e-3, "optimizer": "adam"}
EPOCHS = 15


def design_config(seed: int) -> dict[str, Any]:
    from trainables.families import get_family

    return {**get_family("cnn").defaults(), **DESIGN, "model": "cnn", "seed": seed}


def sweep_text(minutes: float, seed: int) -> str:
    spec = yaml.safe_load((REPO / "sweeps" / "mnist_budget.yaml").read_text())
    spec.update(name="notebook_budget", dataset={"name": "fashion_mnist"}, seed=seed, time_budget_s=int(minutes * 60))
    return yaml.safe_dump(spec, sort_keys=False)


def run_sweep(minutes: float, seed: int) -> dict[str, Any]:
    from benchmarks.quality import summarize

    results = Path(tempfile.mkdtemp(prefix="tunefm-notebook-"))
    (results / "s.yaml").write_text(sweep_text(minutes, seed))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(results / "s.yaml"), "--results",
                           str(results), "--name", "run", "--cpus", "2", "--no-progress", "--report"],
                          cwd=REPO, capture_output=True, text=True, timeout=int(minutes * 60) + 1800)
    if done.returncode != 0:
        raise RuntimeError(f"tunefm sweep exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return {"seed": seed, "wall_s": r(time.perf_counter() - started, 1),
            **summarize(results / "notebook_budget" / "run")}


def markdown(res: dict[str, Any]) -> str:
    import statistics

    d, s = res["design"], res["sweeps"]
    lines = [f"Measured {res['date']}, commit {res['machine']['commit']}, {res['machine']['cpu']} "
             f"({res['machine']['cores']} cores); `{res['command']}`. Fashion-MNIST, 48,000 training "
             "and 12,000 validation images, the 10,000 test images.", "",
             "| | parameters | training | test accuracy |", "|---|---|---|---|"]
    for x in d:
        lines.append(f"| notebook design, seed {x['seed']} (15 epochs) | {x['params']:,} | {x['train_s']:.0f} s | "
                     f"{x['test_accuracy']:.4f} |")
    for x in s:
        lines.append(f"| budget sweep, seed {x['seed']}: winner {x['winner_trial']} ({x['trials']} trials, "
                     f"{x['time_budget_minutes']} min budget) | {x['winner_params']:,} | {x['wall_s']:.0f} s "
                     f"(report included) | {x['winner_test_accuracy']:.4f} |")
    lines.append(f"| **median: design / sweep** | | | **{statistics.median(x['test_accuracy'] for x in d):.4f} / "
                 f"{statistics.median(x['winner_test_accuracy'] for x in s):.4f}** |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--docs", action="store_true", help="replace docs/benchmarks.md's notebook block")
    args = parser.parse_args()
    res: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "command": "python -m benchmarks.notebook " + " ".join(sys.argv[1:]), "machine": machine()}
    res["design"] = []
    for seed in args.seeds:
        print(f"  notebook design, seed {seed} ...", flush=True)
        res["design"].append(run_child("benchmarks.notebook_design", {"seed": seed}, timeout=3600))
        print("   ", json.dumps(res["design"][-1]), flush=True)
    res["sweeps"] = []
    for seed in args.sweep_seeds:
        print(f"  budget sweep, seed {seed}, {args.minutes} min ...", flush=True)
        res["sweeps"].append(run_sweep(args.minutes, seed))
        print("   ", json.dumps(res["sweeps"][-1]), flush=True)
    publish(res, "notebook", markdown(res), (NB_START, NB_END) if args.docs else None)


if __name__ == "__main__":
    main()
