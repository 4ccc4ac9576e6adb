"""Population-based training against tunefm's ASHA default on the peers' shared task.

    python -m benchmarks.population              # 3 seeds x (asha, pbt, pb2), ~10 minutes on 2 cores
    python -m benchmarks.population --docs       # also replace docs/benchmarks.md's population block

The task is ``benchmarks.peers``'s quick one (Fashion-MNIST, 3,000 training and 1,000
validation images, the same CNN space, 8 configurations, up to 4 epochs, two 1-core trial
slots). ASHA is tunefm's default (grace 1, reduction 3, two brackets); PBT and PB2 train
the 8 configurations as one population to 4 epochs, stepping every epoch, mutating the
learning rate and dropout in the space's own ranges. Each run is a fresh process timed
from its start; the bar is the peers' median best validation accuracy recorded in
benchmarks/results/quick.json (the search comparison's), so the time to it is comparable
with that table's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from benchmarks.common import REPO, machine, publish, run_child

KINDS = ("asha", "pbt", "pb2")
START, END = "<!-- population:start -->", "<!-- population:end -->"


def sweep_text(args: dict[str, Any]) -> str:
    from benchmarks.peers import sweep_text as peers_text

    text = peers_text(args, f"bench_{args['kind']}", args["seed"], "random", 1)
    if args["kind"] == "asha":
        return text
    head = text.split("scheduler:")[0]
    return head + f"""scheduler:
  kind: {args['kind']}
  max_epochs: {args['max_epochs']}
  perturbation_interval: 1
  mutate:
    lr: {{loguniform: [3.0e-4, 3.0e-3]}}
    dropout: {{uniform: [0.0, 0.4]}}
resources: {{cpus: 1}}
"""


def child(args: dict[str, Any]) -> dict[str, Any]:
    """One run (``benchmarks.population_child``, a fresh process)."""
    from benchmarks.peers import run_tunefm

    answer = run_tunefm({**args, "tool": f"tunefm_{args['kind']}"}, sweep_text(args))
    return {**answer, "kind": args["kind"]}


def compare(seeds: list[int]) -> dict[str, Any]:
    from benchmarks.peers import settings
    from benchmarks.search_stats import first_time

    task = {k: v for k, v in settings(True).items() if k != "seeds"}
    bar = None
    quick = REPO / "benchmarks" / "results" / "quick.json"
    if quick.is_file():
        bar = json.loads(quick.read_text()).get("peers", {}).get("summary", {}).get("bar")
    runs = []
    for seed in seeds:
        for kind in KINDS:                       # interleaved: a slow spell lands on every kind
            print(f"  population: {kind} seed {seed} ...", flush=True)
            run = run_child("benchmarks.population_child", {**task, "kind": kind, "seed": seed}, timeout=1800)
            run["seconds_to_bar"] = None if bar is None else first_time(run["curve"], bar)
            run.pop("curve", None)
            run.pop("epochs", None)
            runs.append(run)
            print("   ", json.dumps({k: run[k] for k in ("kind", "seed", "wall_seconds", "epochs_trained",
                                                        "best_val_accuracy", "winner_test_accuracy",
                                                        "seconds_to_bar")}), flush=True)
    return {"task": task, "bar": bar, "runs": runs}


def markdown(res: dict[str, Any]) -> str:
    def med(kind: str, key: str, digits: int) -> str:
        values = [r[key] for r in res["runs"] if r["kind"] == kind]
        if any(v is None for v in values) or not values:
            reached = [v for v in values if v is not None]
            return f"{len(reached)}/{len(values)} reached" if values else "n/a"
        return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"

    t = res["task"]
    lines = [f"Measured {res['date']}, commit {res['machine']['commit']}, {res['machine']['cpu']} "
             f"({res['machine']['cores']} cores); `{res['command']}`. The peers' quick task: "
             f"{t['train']:,d}/{t['val']:,d} images, {t['trials']} configurations, up to {t['max_epochs']} epochs, "
             f"two 1-core slots; the bar is the peers' median best validation accuracy of the search "
             f"comparison ({res['bar']}). Each cell: median (min-max) over {len({r['seed'] for r in res['runs']})} "
             "seeds.", "",
             "| scheduler | whole sweep s | epochs trained | best val acc | winner's test acc | s to the bar |",
             "|---|---|---|---|---|---|"]
    for kind in KINDS:
        lines.append(f"| {kind} | {med(kind, 'wall_seconds', 0)} | {med(kind, 'epochs_trained', 0)} "
                     f"| {med(kind, 'best_val_accuracy', 4)} | {med(kind, 'winner_test_accuracy', 4)} "
                     f"| {med(kind, 'seconds_to_bar', 1)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--docs", action="store_true", help="replace docs/benchmarks.md's population block")
    args = parser.parse_args()
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "command": "python -m benchmarks.population " + " ".join(sys.argv[1:]), "machine": machine(),
           **compare(args.seeds)}
    publish(res, "population", markdown(res), (START, END) if args.docs else None)


if __name__ == "__main__":
    main()
