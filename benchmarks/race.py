"""The race against the search alone: what each ships, what the race costs, and whether a
settled verdict holds up.

On the peers' shared Fashion-MNIST task (``benchmarks.peers``: one CNN space, one epoch
budget), one sweep per sampler seed with a ``decide:`` block. Per sweep:

- the model the search alone would ship (the search phase's #1 by validation) and the
  one the race ships (its pick's median-validation run), each scored once on the test
  split (the test split reports; it decided nothing);
- the wall time of the search and of the race;
- for a race that settled (A beats B): a large re-run, ``CONFIRM_SEEDS`` new seeds of A and
  of B in a run of their own; the verdict is confirmed when A's mean validation score
  there is above B's.

Numbers are printed and written, never asserted.
"""
from __future__ import annotations

import tempfile
import time
from datetime import datetime
from typing import Any

from benchmarks.common import r

CONFIRM_SEEDS = 10


def settings(quick: bool) -> dict[str, Any]:
    from benchmarks.peers import settings as peers

    task = peers(quick)
    return {**task, "seeds": task["seeds"][:4] if quick else task["seeds"],
            "decide": {"candidates": 3, "rounds": 12, "equivalence": 0.005}}


def sweep_text(args: dict[str, Any], seed: int) -> str:
    from benchmarks.peers import sweep_text as task

    d = args["decide"]
    return task(args, "bench_race", seed, extra=f"decide: {{candidates: {d['candidates']}, rounds: {d['rounds']}, "
                                                 f"equivalence: {d['equivalence']}}}\n")


def compare(quick: bool) -> dict[str, Any]:
    args = settings(quick)
    rows = [one(args, seed) for seed in args["seeds"]]
    settled = [x for x in rows if x["verdict"] == "settled"]
    unconfirmed = [x for x in settled if not x["confirmed"]]
    return {"settings": {k: v for k, v in args.items() if k != "seeds"}, "seeds": args["seeds"], "runs": rows,
            "settled": len(settled), "settled_unconfirmed": len(unconfirmed),
            "median_search_test": r(_median([x["search_winner_test"] for x in rows]), 4),
            "median_race_test": r(_median([x["race_pick_test"] for x in rows]), 4),
            "median_race_seconds": r(_median([x["race_seconds"] for x in rows])),
            "median_search_seconds": r(_median([x["search_seconds"] for x in rows]))}


def one(args: dict[str, Any], seed: int) -> dict[str, Any]:
    from orchestrator.ranking.leaderboard import board, leaderboards
    from orchestrator.run.plans import SweepOptions, run_sweep
    from orchestrator.search.race import finding
    from orchestrator.spec.sweep import parse_sweep
    from orchestrator.store import schema as S
    from orchestrator.store.snapshot import read_snapshot

    text = sweep_text(args, seed)
    print(f"  race benchmark, seed {seed} ...", flush=True)
    summary = run_sweep(parse_sweep(text, "<benchmark>"),
                        SweepOptions(cpus=2, results_dir=tempfile.mkdtemp(prefix="tunefm-bench-race-"),
                                     progress=False, sweep_text=text))
    snap = read_snapshot(summary.run_dir)
    searched = snap.trials[snap.trials["config_race_of"].isna()] if "config_race_of" in snap.trials else snap.trials
    search_winner = board(leaderboards(searched, snap.metrics, snap.spec.metric, snap.spec.mode))[S.TRIAL_ID].iloc[0]
    race = finding(snap.trials, snap.spec)
    race_started = _seconds(snap.meta.repeats[0].at) if snap.meta.repeats else None
    out = {"seed": seed, "verdict": race.verdict.kind if race else "none", "line": race.line if race else "",
           "search_winner": search_winner, "race_pick": race.run if race else search_winner,
           "search_seconds": r(race_started - _seconds(snap.meta.started_at)) if race_started else None,
           "race_seconds": r(_seconds(snap.meta.ended_at) - race_started) if race_started else 0.0,
           "race_runs": race.runs if race else 0}
    tests = _test_accuracy(snap, [search_winner, out["race_pick"]])
    out.update(search_winner_test=r(tests[search_winner], 4), race_pick_test=r(tests[out["race_pick"]], 4))
    out["confirmed"] = None
    if race is not None and race.verdict.kind == "settled" and race.verdict.leader is not None:
        out.update(confirm(args, snap, race.verdict.leader.better, race.verdict.leader.worse, seed))
    return out


def confirm(args: dict[str, Any], snap, better: str, worse: str, seed: int) -> dict[str, Any]:
    """``CONFIRM_SEEDS`` new seeds of each of the two configurations, in a run of their own."""
    import yaml

    from orchestrator.run.plans import SweepOptions, run_sweep
    from orchestrator.search.row_config import row_config
    from orchestrator.spec.sweep import parse_sweep
    from orchestrator.store import schema as S
    from orchestrator.store.parquet import read_trials

    table = snap.trials.set_index(S.TRIAL_ID)
    families = {}
    for label, tid in (("better", better), ("worse", worse)):
        config = row_config(table.loc[tid], with_keys=False)
        params = {k: v for k, v in config.items() if k not in ("seed", "race_of", "race_round", "fold", "folds",
                                                                "repeat_of")}
        families[label] = {"family": "cnn", "num_samples": CONFIRM_SEEDS, "params": params}
    spec = {"name": "bench_race_confirm", "seed": 10_000 + seed,
            "dataset": {"name": "fashion_mnist", "train_size": args["train"], "val_size": args["val"]},
            "families": families, "scheduler": {"kind": "fifo", "max_epochs": args["max_epochs"]},
            "resources": {"cpus": 1}}
    text = yaml.safe_dump(spec, sort_keys=False)
    summary = run_sweep(parse_sweep(text, "<benchmark>"),
                        SweepOptions(cpus=2, results_dir=tempfile.mkdtemp(prefix="tunefm-bench-confirm-"),
                                     progress=False, sweep_text=text))
    trials = read_trials(summary.run_dir)
    means = trials.groupby(S.FAMILY)["best_metric"].mean()
    return {"confirm_better_mean": r(float(means["better"]), 4), "confirm_worse_mean": r(float(means["worse"]), 4),
            "confirmed": bool(means["better"] > means["worse"])}


def _test_accuracy(snap, trial_ids: list[str]) -> dict[str, float]:
    from orchestrator.report.holdout import evaluate

    held = evaluate(snap, [(t, "benchmark") for t in dict.fromkeys(trial_ids)])
    return dict(zip(held.table["trial_id"], held.table["test_accuracy"]))


def _seconds(iso: str | None) -> float:
    return datetime.fromisoformat(iso).timestamp() if iso else time.time()


def _median(values: list) -> float | None:
    import statistics

    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def markdown(res: dict[str, Any]) -> list[str]:
    s = res["settings"]
    lines = [f"**The race against the search alone** (`--only race`; the peers' task: {s['train']:,d}/{s['val']:,d} "
             f"images, {s['trials']} CNN trials, ASHA to {s['max_epochs']} epochs, then a race of up to "
             f"{s['decide']['candidates']} leaders, {s['decide']['rounds']} rounds at most; one sweep per sampler "
             f"seed; a settled verdict re-run with {CONFIRM_SEEDS} new seeds of each side):", "",
             "| seed | search's pick (test) | race's pick (test) | verdict | search s | race s | race runs | "
             "re-run confirms |", "|---|---|---|---|---|---|---|---|"]
    for x in res["runs"]:
        confirmed = "-" if x["confirmed"] is None else ("yes" if x["confirmed"] else
                                                        f"no ({x['confirm_better_mean']} vs {x['confirm_worse_mean']})")
        lines.append(f"| {x['seed']} | {x['search_winner']} ({x['search_winner_test']}) | {x['race_pick']} "
                     f"({x['race_pick_test']}) | {x['verdict']} | {x['search_seconds']} | {x['race_seconds']} | "
                     f"{x['race_runs']} | {confirmed} |")
    lines += ["", f"Median test accuracy shipped: search alone {res['median_search_test']}, race "
                  f"{res['median_race_test']}; the race took a median {res['median_race_seconds']} s beyond a "
                  f"median {res['median_search_seconds']} s of search. Settled: {res['settled']} of "
                  f"{len(res['runs'])} races; settled but not confirmed by the re-run: {res['settled_unconfirmed']}.",
              ""]
    for x in res["runs"]:
        lines.append(f"- seed {x['seed']}: {x['line']}")
    return lines
