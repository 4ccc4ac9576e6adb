"""Cost-aware promotions (issue 31, item 2): which ASHA rule reaches a given accuracy
soonest on the realistic task, measured by replaying recorded learning curves.

    python -m benchmarks.promotions collect --seeds 0 1   # ~25 minutes a seed on 2 cores
    python -m benchmarks.promotions simulate --docs       # seconds: every rule, 200 replays

One real sweep per rule and seed takes 6-10 minutes here and says little (ASHA's
verdicts follow the order in which trials arrive), so the curves are recorded once:
``collect`` trains the realistic task's 27 sampled CNNs (``benchmarks.peers``' full task:
12,000/3,000 images, two-block CNNs of up to 1.7 million parameters) to 9 epochs each,
with no early stopping, on tunefm's two 1-thread slots, and appends every trial's
per-epoch validation accuracy and seconds to benchmarks/results/curves.jsonl (one sampler
seed per run; a seed already there is skipped). ``simulate`` replays a sweep of 27 trials
drawn from those curves in a random order, 200 times per rule, under each rule of
``rules`` (``promotion_sim``: Ray Tune's own ASHA deciding, the recorded seconds as the
clock), and gives per rule the whole sweep's time, the time to the bar (the peers' median
best validation accuracy of the full peer comparison) and the best validation accuracy.
Two more rows replay the benchmark's rule over draws tilted to cheap models (each curve
drawn with probability ~ params^-tilt, ``TILTS``): proposals that know what a model
costs, over the same recorded pool.

What the replay leaves out: the idle cores tunefm gives the last trials (it counts every
epoch at one thread), and the restarts that costs; both are the same for every rule.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import machine, publish, run_child
from benchmarks.promotion_sim import Curve, Replay, Rule, cost_tilted_draw, replay

CURVES = Path(__file__).resolve().parent / "results" / "curves.jsonl"
START, END = "<!-- promotions:start -->", "<!-- promotions:end -->"
REPLAYS = 200
SLOTS = 2
TILTS = (0.5, 1.0)   # cost-aware proposals: a model 16x the parameters drawn 4x / 16x less often


def task() -> dict[str, Any]:
    from benchmarks.peers import settings

    return {k: v for k, v in settings(quick=False).items() if k != "seeds"}


def task_key(t: dict[str, Any]) -> str:
    return json.dumps(t, sort_keys=True)


# ---- collect: the curves -------------------------------------------------------------

def sweep_text(t: dict[str, Any], seed: int) -> str:
    """The peers' full task as tunefm runs it, with no early stopping and no growth (every
    epoch's seconds are one thread's)."""
    from benchmarks.peers import sweep_text as peers_text

    head = peers_text(t, "bench_curves", seed, "random", 1).split("scheduler:")[0]
    return head + f"scheduler: {{kind: fifo, max_epochs: {t['max_epochs']}, idle_cores: leave}}\nresources: {{cpus: 1}}\n"


def collect_child(args: dict[str, Any]) -> dict[str, Any]:
    """Child: one seed's sweep; every trial's curve."""
    import tempfile

    from orchestrator.run.plans import SweepOptions, run_sweep
    from orchestrator.spec.sweep import parse_sweep
    from orchestrator.store.parquet import read_metrics

    text = sweep_text(args["task"], args["seed"])
    summary = run_sweep(parse_sweep(text, "<benchmark>"),
                        SweepOptions(cpus=2, results_dir=tempfile.mkdtemp(prefix="tunefm-curves-"), progress=False,
                                     sweep_text=text))
    m = read_metrics(summary.run_dir)
    m = m[m["epoch"] > 0].sort_values(["trial_id", "epoch"])
    curves = []
    # in the order the trials started (the sampler's): the replay of that order is the one
    # real sweep of the same seed there is to compare with (``fidelity``)
    began = {trial: (rows["wall_time"].iloc[0].timestamp() - float(rows["epoch_seconds"].iloc[0])
                     - _seconds(rows["setup_seconds"].iloc[0])) for trial, rows in m.groupby("trial_id")}
    for trial, rows in sorted(m.groupby("trial_id"), key=lambda kv: began[kv[0]]):
        config = {k[len("config_"):]: _plain(rows[k].iloc[0]) for k in ("config_filters", "config_dense_units",
                                                                          "config_dropout", "config_lr")}
        curves.append({"trial": f"s{args['seed']}-{trial}", "params": int(rows["params"].iloc[0]), "config": config,
                       "setup": _seconds(rows["setup_seconds"].iloc[0]),
                       "val": [round(float(v), 4) for v in rows["val_accuracy"]],
                       "seconds": [round(float(s), 3) for s in rows["epoch_seconds"]]})
    return {"curves": curves}


def _seconds(x) -> float:
    """A recorded duration; missing (None, NaN) is 0 (the replay refuses NaN)."""
    import math

    return 0.0 if x is None or not math.isfinite(float(x)) else float(x)


def _plain(x):
    return x.item() if hasattr(x, "item") else x


def collect(seeds: list[int]) -> None:
    t = task()
    have = {seed for seed, _ in load(t)}
    for seed in seeds:
        if seed in have:
            print(f"  curves: seed {seed}: recorded in {CURVES.name}", flush=True)
            continue
        print(f"  curves: seed {seed} ...", flush=True)
        answer = run_child("benchmarks.promotions_child", {"task": t, "seed": seed}, timeout=5400)
        short = [c["trial"] for c in answer["curves"] if len(c["val"]) != t["max_epochs"]]
        if short:
            raise SystemExit(f"curves: seed {seed}: {len(short)} trials ended before epoch {t['max_epochs']} "
                             f"(e.g. {short[0]}); nothing recorded")
        CURVES.parent.mkdir(parents=True, exist_ok=True)
        with CURVES.open("a") as f:
            for c in answer["curves"]:
                f.write(json.dumps({"task": task_key(t), "seed": seed, **c}) + "\n")
        print(f"  curves: seed {seed}: {len(answer['curves'])} trials, "
              f"{answer['process_wall_seconds']:.0f} s", flush=True)


def load(t: dict[str, Any]) -> list[tuple[int, Curve]]:
    """(seed, curve) for every curve recorded for task ``t``; a line that is not JSON, or not
    a curve, stops it in one line naming the line."""
    out = []
    if not CURVES.is_file():
        return out
    key = task_key(t)
    for n, line in enumerate(CURVES.read_text().splitlines(), 1):
        try:
            row = json.loads(line)
        except ValueError:
            raise SystemExit(f"{CURVES}: line {n} is not JSON")
        if row.get("task") == key:
            try:
                if int(row["params"]) <= 0:
                    raise ValueError(f"params must be a model's parameter count > 0, got {row['params']}")
                out.append((int(row["seed"]), Curve(row["trial"], tuple(row["val"]), tuple(row["seconds"]),
                                                    float(row["setup"]), int(row["params"]))))
            except (KeyError, TypeError, ValueError) as e:
                raise SystemExit(f"{CURVES}: line {n}: {e}") from None
    return out


# ---- simulate: the rules --------------------------------------------------------------

def rules(curves: list[Curve], max_epochs: int) -> tuple[Rule, ...]:
    """The rules compared. "seconds" rungs start at the median trial's epoch, so their first
    rung costs what tunefm's costs on average; the cost weights give a trial 8 times
    slower per epoch (the space's range here) a 2.1% or 6.0% handicap."""
    typical = statistics.median(sum(c.seconds) / len(c.seconds) for c in curves)
    return (
        Rule("ASHA, grace 1, 1 bracket (the benchmark's)"),
        Rule("ASHA, grace 1, 2 brackets", brackets=2),
        Rule("ASHA, grace 3", grace=min(3, max_epochs)),
        Rule("no early stopping", grace=max_epochs),
        Rule("accuracy per cost, w 0.01", cost_weight=0.01),
        Rule("accuracy per cost, w 0.03", cost_weight=0.03),
        Rule(f"time rungs ({typical:.1f} s, x3)", clock="seconds", grace=round(typical, 1)),
        Rule(f"time rungs ({typical:.1f} s, x3), 2 brackets", clock="seconds", grace=round(typical, 1), brackets=2),
    )


def peers_bar() -> float | None:
    """The peers' median best validation accuracy of the full peer comparison's runs."""
    from benchmarks.peers import RECORD_FULL, recorded, settings
    from benchmarks.search_stats import peers_bar as bar

    runs: dict[str, list] = {}
    for (tool, _), run in recorded(RECORD_FULL, settings(quick=False)).items():
        runs.setdefault(tool, []).append(run)
    return bar(runs)


def simulate(curves: list[Curve], trials: int, max_epochs: int, bar: float, replays: int = REPLAYS,
             slots: int = SLOTS) -> dict[str, Any]:
    """Per rule, the spread over ``replays`` replays (each ``trials`` curves drawn without
    replacement in a random order; the same draws for every rule)."""
    import numpy as np

    if len(curves) < trials:
        raise SystemExit(f"curves: {len(curves)} recorded, a replay needs {trials}; run collect for more seeds")
    rng = np.random.default_rng(0)
    draws = [(list(rng.choice(len(curves), size=trials, replace=False)), int(rng.integers(2**31)))
             for _ in range(replays)]
    longest = max(sum(c.seconds) for c in curves)     # one rung layout for every draw
    out = {}
    for rule in rules(curves, max_epochs):
        runs = [replay([curves[i] for i in order], rule, slots, seed, longest) for order, seed in draws]
        out[rule.name] = summarize(runs, bar)
    # the proposals' side: the benchmark's ASHA over draws tilted to cheap models (each
    # replay keeps its uniform twin's ASHA seed)
    base = rules(curves, max_epochs)[0]
    params = [c.params for c in curves]
    tilted_rng = np.random.default_rng(1)
    for tilt in TILTS:
        rule = dataclasses.replace(base, name=f"{base.name}; proposals tilted to cheap models (p ~ params^-{tilt:g})")
        runs = [replay([curves[i] for i in cost_tilted_draw(params, trials, tilt, tilted_rng)], rule, slots,
                       seed, longest) for _, seed in draws]
        out[rule.name] = summarize(runs, bar)
    return out


def fidelity(recorded: list[tuple[int, Curve]], max_epochs: int) -> list[dict[str, Any]]:
    """Per collected seed: the replay of its trials in the order they started under the
    benchmark's rule, beside tunefm's real run of that seed in the full peer comparison
    (same sampler seed, so the same configurations; the real run also gave its idle cores
    to the last trials, which the replay does not). ASHA's brackets are drawn afresh."""
    from benchmarks.peers import RECORD_FULL, settings
    from benchmarks.peers import recorded as runs_recorded

    real = {seed: run for (tool, seed), run in runs_recorded(RECORD_FULL, settings(quick=False)).items()
            if tool == "tunefm"}
    rule = rules([c for _, c in recorded], max_epochs)[0]
    out = []
    for seed in sorted({s for s, _ in recorded}):
        r = replay([c for s, c in recorded if s == seed], rule, SLOTS, seed)
        row = {"seed": seed, "replay_wall_seconds": round(r.wall - r.first_start, 1), "replay_epochs": len(r.epochs),
               "replay_best_val": round(r.best, 4)}
        if seed in real:
            # from its first epoch's start, as the replay's clock (the real one also counts
            # the process's start, imports and data loading before it)
            began = min((e[1] for e in real[seed].get("epochs") or []), default=0.0)
            ended = max((e[2] for e in real[seed].get("epochs") or []), default=real[seed]["wall_seconds"])
            row.update(real_wall_seconds=round(ended - began, 1), real_epochs=real[seed]["epochs_trained"],
                       real_best_val=real[seed]["best_val_accuracy"])
        out.append(row)
    return out


def cost_and_accuracy(curves: list[Curve]) -> dict[str, Any]:
    """Whether cheap configurations are as good here: Spearman's rank correlation between
    a curve's median seconds per epoch and its best validation accuracy, and the median of
    both in each third of the curves by cost (cheapest first)."""
    import numpy as np
    from scipy.stats import spearmanr

    cost = np.array([statistics.median(c.seconds) for c in curves])
    best = np.array([max(c.val) for c in curves])
    thirds = np.array_split(np.argsort(cost, kind="stable"), 3)
    return {"spearman": round(float(spearmanr(cost, best).statistic), 2),
            "thirds": [{"seconds_per_epoch": round(float(np.median(cost[i])), 1),
                        "best_val_accuracy": round(float(np.median(best[i])), 4), "curves": len(i)} for i in thirds]}


def summarize(runs: list[Replay], bar: float) -> dict[str, Any]:
    """Per rule: the whole sweep, the time to the bar and to half a point below it (the
    peer table's second bar: ``search_stats.HALF_POINT``), the best accuracy seen."""
    from benchmarks.search_stats import HALF_POINT

    reached = [r.first_time(bar) for r in runs]
    near = [r.first_time(bar - HALF_POINT) for r in runs]
    return {"replays": len(runs), "wall_seconds": band([r.wall for r in runs]),
            "seconds_to_bar": band(reached), "reached_bar": sum(t is not None for t in reached) / len(runs),
            "seconds_to_bar_minus_half_point": band(near),
            "reached_bar_minus_half_point": sum(t is not None for t in near) / len(runs),
            "best_val_accuracy": band([r.best for r in runs]),
            "epochs_trained": band([len(r.epochs) for r in runs])}


def band(values: list[float | None]) -> dict[str, float | None]:
    """Median and 10th/90th percentiles (lower interpolation: values that occurred); None
    is "never" (infinitely late) and stays None."""
    import numpy as np

    x = np.array([np.inf if v is None else float(v) for v in values])

    def back(q: float) -> float | None:
        v = float(np.percentile(x, q, method="lower"))
        return None if np.isinf(v) else round(v, 4)

    return {"median": back(50), "p10": back(10), "p90": back(90)}


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [(f"Measured {res['date']}, commit {m['commit']}, {m['cpu']} ({m['cores']} cores); "
              f"`python -m benchmarks.promotions simulate --docs` over {res['curves']} curves recorded by "
              f"`collect` (sampler seeds {', '.join(map(str, res['seeds']))}). Each row: {res['replays']} replays "
              f"of a {res['trials']}-trial sweep on {SLOTS} one-thread slots, the same draws for every rule (the "
              "proposals rows draw their own, tilted to cheap models); "
              f"median (10th-90th percentile). The bar is the peers' median best validation accuracy "
              f"({res['bar']})."), "",
             ("| rule | whole sweep s | epochs trained | best val acc | s to the bar (replays reaching it) | "
              f"s to the bar - 0.005 ({res['bar'] - 0.005:.4f}; replays reaching it) |"),
             "|---|---|---|---|---|---|"]
    for name, s in res["rules"].items():
        lines.append(f"| {name} | {_cell(s['wall_seconds'], 0)} | {_cell(s['epochs_trained'], 0)} | "
                     f"{_cell(s['best_val_accuracy'], 4)} | {_cell(s['seconds_to_bar'], 0)} "
                     f"({s['reached_bar']:.0%}) | {_cell(s['seconds_to_bar_minus_half_point'], 0)} "
                     f"({s['reached_bar_minus_half_point']:.0%}) |")
    if "cost_and_accuracy" in res:
        ca = res["cost_and_accuracy"]
        lines += ["", (f"Cost and quality of the recorded curves: Spearman's rank correlation between an epoch's "
                       f"seconds and the best validation accuracy, {ca['spearman']}; by thirds of the curves "
                       f"from cheapest, median " + ", ".join(f"{t['best_val_accuracy']:.4f} at {t['seconds_per_epoch']} "
                                                              f"s an epoch" for t in ca["thirds"]) + ".")]
    lines += ["", ("The replay against the real sweep: each collected seed's trials in the order they started, "
                   "under the first rule, beside tunefm's run of that seed in the full peer comparison (which "
                   "also gave the last trials its idle cores)."), "",
              "| seed | replay: first epoch to last, s | epochs | best val | real: first epoch to last, s | epochs | best val |",
              "|---|---|---|---|---|---|---|"]
    for f in res["fidelity"]:
        lines.append(f"| {f['seed']} | {f['replay_wall_seconds']:.0f} | {f['replay_epochs']} | "
                     f"{f['replay_best_val']:.4f} | {_na(f.get('real_wall_seconds'), 0)} | "
                     f"{_na(f.get('real_epochs'), 0)} | {_na(f.get('real_best_val'), 4)} |")
    return "\n".join(lines) + "\n"


def _na(x, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _cell(s: dict[str, Any], digits: int) -> str:
    def fmt(x):
        return "never" if x is None else f"{x:.{digits}f}"

    return f"{fmt(s['median'])} ({fmt(s['p10'])}-{fmt(s['p90'])})"


def main() -> None:
    import time

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("collect", "simulate"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--replays", type=int, default=REPLAYS)
    parser.add_argument("--bar", type=float, help="the accuracy to reach (default: the peers' median best)")
    parser.add_argument("--docs", action="store_true", help="replace docs/benchmarks.md's promotions block")
    args = parser.parse_args()
    if args.step == "collect":
        collect(args.seeds)
        return
    t = task()
    recorded = load(t)
    bar = args.bar if args.bar is not None else peers_bar()
    if bar is None:
        raise SystemExit("no bar: run python -m benchmarks.run --only peers first, or give --bar")
    curves = [c for _, c in recorded]
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(), "bar": bar,
           "curves": len(curves), "seeds": sorted({s for s, _ in recorded}), "trials": t["trials"],
           "replays": args.replays,
           "rules": simulate(curves, t["trials"], t["max_epochs"], bar, args.replays),
           "fidelity": fidelity(recorded, t["max_epochs"]), "cost_and_accuracy": cost_and_accuracy(curves)}
    publish(res, "promotions", markdown(res), (START, END) if args.docs else None)


if __name__ == "__main__":
    main()
