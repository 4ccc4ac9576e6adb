"""Every tunefm benchmark in one run, on one machine, written as JSON and a Markdown table.

    python -m benchmarks.run --quick          # 9-30 minutes on 2 cores (5 tools, 5 seeds each)
    python -m benchmarks.run --only peers     # issue 31's realistic task against the peers (~2 h on 2 cores;
                                              # each run is kept in results/full_runs.jsonl as it ends, and a
                                              # stopped run goes on from there)
    python -m benchmarks.run --quick --docs   # also replace the table in docs/benchmarks.md

Sections (``--only`` picks some): ``floor`` (orchestration overhead), ``in_trial`` (a
tunefm trial against a plain model.fit), ``peers`` (the search against KerasTuner,
Optuna and plain Ray Tune; needs ``pip install -e ".[bench]"``), ``race`` (the race
among the leaders against the search alone: what each ships, what the race costs,
whether a settled verdict holds up; not in the default set: ``--only race``, about 15-25
minutes on 2 cores with ``--quick``). ``--quality-run DIR`` adds the summary of a
finished, reported quality sweep (see benchmarks/quality.py). Numbers are printed and
written, never asserted; ``--docs`` (or its old name ``--readme``) replaces docs/benchmarks.md's
block of the sections run (the full peer comparison's also goes into README.md's
benchmark section).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.common import DOCS, REPO, machine, update_docs
from benchmarks.search_stats import STALL_RATIO

SECTIONS = ("floor", "in_trial", "peers", "race")
DEFAULT = ("floor", "in_trial", "peers")
RACE_START, RACE_END = "<!-- race:start -->", "<!-- race:end -->"
FULL_START, FULL_END = "<!-- full:start -->", "<!-- full:end -->"   # the full run's block; --quick's is the default
README = REPO / "README.md"


def preflight(sections: tuple[str, ...], quick: bool, quality_runs: list[str]) -> None:
    """Stop in one line, before anything is measured, on what would fail only at the end."""
    if "peers" in sections:
        from benchmarks.peers import QUICK_TOOLS, TOOLS, missing_peers

        if gaps := missing_peers(QUICK_TOOLS if quick else TOOLS):
            raise SystemExit(f"benchmarks: not installed here: {', '.join(gaps)}; "
                             "pip install -e '.[bench]' (make bench does it)")
    for run_dir in quality_runs:
        evaluated = Path(run_dir) / "report" / "test_eval.parquet"
        if not evaluated.is_file():
            raise SystemExit(f"--quality-run {run_dir}: no {evaluated.relative_to(run_dir)}; "
                             f"run `tunefm report {run_dir}` first")


def run(sections: tuple[str, ...], quick: bool, quality_runs: list[str],
        seeds: list[int] | None = None) -> dict[str, Any]:
    started = time.time()
    out: dict[str, Any] = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                           "command": "python -m benchmarks.run " + " ".join(sys.argv[1:]),
                           "quick": quick, "machine": machine()}
    if "floor" in sections:
        from benchmarks.overhead import floor

        print("overhead floor ...", flush=True)
        out["floor"] = floor(quick)
    if "in_trial" in sections:
        from benchmarks.in_trial import compare

        print("in-trial speed ...", flush=True)
        out["in_trial"] = compare(quick)
    if "peers" in sections:
        from benchmarks.peers import compare as peers

        print("search against peers ...", flush=True)
        out["peers"] = peers(quick, seeds=seeds)
    if "race" in sections:
        from benchmarks.race import compare as race

        print("the race against the search alone ...", flush=True)
        out["race"] = race(quick)
    if quality_runs:
        from benchmarks.quality import summarize

        out["quality"] = [summarize(d) for d in quality_runs]
    out["total_minutes"] = round((time.time() - started) / 60, 1)
    return out


def markdown(res: dict[str, Any], links_from: Path | None = None) -> str:
    """The results as Markdown; ``links_from``: the folder of the page it goes into, which
    the figure's link is made relative to (default: as recorded, relative to the repository)."""
    m = res["machine"]
    lines = [f"Measured {res['date']} with `{res['command'].strip()}` ({_duration(res)}), "
             f"commit {m['commit']}, on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
             f"GPU: {m['gpu'] or 'none'}; Ray {m['versions'].get('ray')}, Keras {m['versions'].get('keras')}, "
             f"TensorFlow {m['versions'].get('tensorflow')}.", ""]
    if "floor" in res:
        lines += _floor(res["floor"])
    if "in_trial" in res:
        lines += _in_trial(res["in_trial"])
    if "peers" in res:
        lines += _peers(res["peers"], links_from)
    if res.get("quality"):
        lines += _quality(res["quality"])
    if "race" in res:
        from benchmarks.race import markdown as race

        lines += race(res["race"])
    return "\n".join(lines).rstrip() + "\n"


def readme_worthy(sections: tuple[str, ...], res: dict[str, Any]) -> bool:
    """Whether this run is the README's benchmark section: the full peer comparison alone
    (no other section's tables), over every default seed, no run failed."""
    from benchmarks.peers import settings

    if sections != ("peers",) or res.get("quick") or "peers" not in res:
        return False
    p = res["peers"]
    return set(p["task"].get("seeds", [])) >= set(settings(quick=False)["seeds"]) and not p.get("failed")


def _duration(res: dict[str, Any]) -> str:
    """'12.0 min', or with runs read back from the peers' record, which runs those were and
    which code made them ('... for the runs it made; 4 of 12 runs read back from
    full_runs.jsonl (seed 0: commit 31db0dd, ended ...)'), instead of crediting them to this
    command's minutes."""
    taken = res.get("peers", {}).get("taken_from_record")
    if not taken:
        return f"{res['total_minutes']} min"
    total = sum(len(rs) for rs in res["peers"].get("runs", {}).values())
    made = "no run made" if len(taken["runs"]) >= total else f"{res['total_minutes']} min for the runs it made"
    return f"{made}; {len(taken['runs'])} of {total} runs read back from {taken['file']} ({_provenance(taken['runs'])})"


def _provenance(taken: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for t in taken:
        groups.setdefault(str(t.get("commit") or "commit not recorded"), []).append(t)
    parts = []
    for commit, ts in groups.items():
        ats = sorted(str(t["at"]) for t in ts if t.get("at"))
        when = f", ended {ats[0]}" + (f" to {ats[-1]}" if ats[-1] != ats[0] else "") if ats else ""
        seeds = sorted({t["seed"] for t in ts})
        parts.append(f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}: "
                     f"{commit if commit.startswith('commit') else 'commit ' + commit}{when}")
    return "; ".join(parts)


def _floor(f: dict[str, Any]) -> list[str]:
    lines = ["**Overhead floor** (2 trial slots; work = the epochs' own time; share = work / (slots x wall))", "",
             "| sweep | trials | epochs | wall s | Tune phase s | trial work s | work share, whole command "
             "| work share, Tune phase | trial start-up median s | overhead per trial s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in f.items():
        label = {"trivial": f"trivial, {s.get('work_per_epoch_seconds')} s busy CPU per epoch, no TF",
                 "tiny_keras": "tiny Keras (dense + 1-block CNN, 3k images)"}.get(name, name)
        lines.append(f"| {label} | {s['trials']} | {s['epochs']} | {s['wall_seconds']} | {s['tune_phase_seconds']} "
                     f"| {s['trial_work_seconds']} | {_pct(s['work_share_end_to_end'])} "
                     f"| {_pct(s['work_share_tune_phase'])} | {s['trial_startup_seconds_median']} "
                     f"| {s['overhead_per_trial_seconds']} |")
    lines += ["", "Where the slots' time went over the Tune phase (seconds, summed over slots):", "",
              "| sweep | slots x phase | in epochs | TF import (per worker) | trial set-up | Ray dispatch "
              "| between epochs (checkpoint, report) | between trials |", "|---|---|---|---|---|---|---|---|"]
    for name, s in f.items():
        if "slot_seconds" in s:
            lines.append(f"| {name} | {s['slot_seconds']} | {s['in_epochs_seconds']} | {s['worker_import_seconds']} "
                         f"| {s['trial_setup_seconds']} | {s['trial_dispatch_seconds']} "
                         f"| {s['between_epochs_seconds']} | {s['between_trials_seconds']} |")
    tiny = f.get("tiny_keras")
    if tiny:
        share = tiny["work_share_tune_phase"]
        lines += ["", f"Target: at least 90% of worker time in the tiny-Keras trials' own work: "
                      f"{_pct(share)} over the Tune phase ({'met' if share >= 0.9 else 'not met'}), "
                      f"{_pct(tiny['work_share_end_to_end'])} over the whole command (Ray start-up included)."]
        own = tiny.get("keras_setup")
        if own:
            lines += ["", f"Keras's own set-up of the same {own['trials']} configurations in one process, no "
                          f"orchestrator (clear, seed, build, compile, training state, `fit` up to its first "
                          f"epoch; `python -m benchmarks.keras_setup`): {own['setup_seconds_median']} s per trial "
                          f"(median), {own['setup_seconds_total']} s in all, against the sweep's "
                          f"{tiny['trial_setup_seconds']} s of trial set-up; the first epoch's trace of the train "
                          f"step, inside the work above, adds {own['first_epoch_extra_seconds_median']} s per "
                          f"trial. With nothing but that set-up outside the epochs, the Tune-phase share would "
                          f"be {_pct(own['work_share_if_only_keras_setup'])}."]
    return lines + [""]


def _in_trial(t: dict[str, Any]) -> list[str]:
    p, o = t["plain"], t["tunefm"]
    c = t["config"]
    return [f"**In-trial speed** (CNN blocks={c['blocks']} filters={c['filters']} dense={c['dense_units']}, "
            f"batch {c['batch_size']}, {t['train_images']} training and {t['val_images']} validation images, "
            f"{t['threads']} threads, {t['epochs']} epochs; per run the median over epochs after the first, "
            f"then the median of {t.get('repeats', 1)} runs of each side)", "",
            "| | epoch s (train + validation) | cadence s (epoch end to epoch end) | first epoch s | last val acc |",
            "|---|---|---|---|---|",
            f"| plain `model.fit` script | {p['epoch_seconds']} | {p['cadence_seconds']} | {p['first_epoch_seconds']} "
            f"| {p['val_accuracy_last']} |",
            f"| tunefm trial | {o['epoch_seconds']} | {o['cadence_seconds']} | {o['first_epoch_seconds']} "
            f"| {o['val_accuracy_last']} |",
            f"| tunefm / plain | {t['epoch_ratio']} | {t['cadence_ratio']} | | |", "",
            f"Target: tunefm / plain cadence at most 1.00, median of {t.get('repeats', 1)} runs: "
            f"{'met' if t['cadence_ratio'] <= 1.0 else 'not met'} ({t['cadence_ratio']}; each run's: "
            f"{', '.join(map(str, t.get('cadence_ratios', [t['cadence_ratio']])))}; tunefm's includes its "
            f"per-epoch checkpoint and report)."
            + (f" Each side's fastest epoch (train + validation), which this machine's stalls leave alone: "
               f"{t['fastest_ratio']} (each run's: {', '.join(map(str, t['fastest_ratios']))})."
               if "fastest_ratio" in t else ""), ""]


def _peers(p: dict[str, Any], links_from: Path | None = None) -> list[str]:
    task, summary = p["task"], p["summary"]
    seeds = task.get("seeds", [0])
    lines = [f"**Search against peers** (Fashion-MNIST, {task['train']} training / {task['val']} validation "
             f"images, full test set; CNN space {json.dumps(task['space'])}, batch {task['batch_size']}; "
             f"{task['trials']} configurations and up to {task['max_epochs']} epochs each, "
             f"KerasTuner's Hyperband picks its own count; {len(seeds)} sampler seeds per tool, "
             f"each run a fresh process on the same data split). Each cell: median over seeds (min-max).", "",
             f"Bars: the peers' median best validation accuracy ({summary['bar']}, the median over every run "
             f"of every tool but tunefm's) and 0.5 points below it ({summary['bar_minus_half_point']}); "
             "\"never\" where a run did not reach it.", "",
             "| tool | wall s | epochs trained | best val acc | winner's test acc | s to the bar "
             "| s to 0.5 pt below the bar | slot-time idle | epochs over 2x their trial's median |", "|---|---|---|---|---|---|---|---|---|"]
    for tool, row in summary["tools"].items():
        idle = row.get("idle_slot_share") or {"median": None, "min": None, "max": None}
        lines.append(f"| {tool} | {_cell(row['wall_seconds'], 0)} | {_cell(row['epochs_trained'], 0)} "
                     f"| {_cell(row['best_val_accuracy'], 4)} | {_cell(row['winner_test_accuracy'], 4)} "
                     f"| {_cell(row['seconds_to_bar'], 1)} | {_cell(row['seconds_to_bar_minus_half_point'], 1)} "
                     f"| {_share(idle)} | {_stalls(row.get('stalled_epochs'))} |")
    for run, why in p.get("failed", {}).items():
        lines.append(f"| {run} | failed: {why} | | | | | | | |")
    if p.get("figure"):
        figure = p["figure"]
        if links_from is not None:
            figure = Path(os.path.relpath(REPO / figure, links_from)).as_posix()
        lines += ["", f"![anytime curves]({figure})"]
    if p.get("timeline"):
        timeline = p["timeline"]
        if links_from is not None:
            timeline = Path(os.path.relpath(REPO / timeline, links_from)).as_posix()
        lines += ["", "Slot-time idle: the share of each run's slot-time, from its first epoch's start to its "
                      "last one's end, in which a slot trained nothing (KerasTuner and Optuna: one process, "
                      "one slot of both threads; tunefm and Ray Tune: two 1-core slots). Epochs over "
                      f"{STALL_RATIO:g}x their trial's median: stalls, counted among a trial's epochs at one "
                      "thread count after its first there (which traces), where there are 3 or more.", "",
                  f"![one run of each tool over time]({timeline})"]
    for tool, t in summary.get("targets", {}).items():
        wall, test, idle = t["wall_seconds"], t["winner_test_accuracy"], t["idle_slot_share"]
        lines += ["", f"Targets ({tool}), medians over seeds: whole sweep at most the fastest peer's "
                      f"({_num(wall['ours'], 0)} s against {_peer(wall, 0, ' s')}): "
                      f"{_met(wall['met'])}; winner's test accuracy at least the best peer's "
                      f"({_num(test['ours'], 4)} against {_peer(test, 4)}): "
                      f"{_met(test['met'])}; slot-time idle under {idle['target']:.0%} "
                      f"({_pct(idle['ours'])}): {_met(idle['met'])}."]
    for tool, v in summary.get("verdict", {}).items():
        lines += ["", f"Target ({tool}): median time to the peers' median best below every peer's median: "
                      f"{'met' if v['beats_every_peer'] else 'not met'}; within half the fastest peer's: "
                      f"{'met' if v['within_half_of_fastest_peer'] else 'not met'}."]
    return lines + [""]


def _met(met: bool | None) -> str:
    return "not measured" if met is None else "met" if met else "not met"


def _peer(target: dict[str, Any], digits: int, unit: str = "") -> str:
    if target["peer_tool"] is None:
        return "no peer measured"
    return f"{target['peer_tool']}'s {_num(target['peer'], digits)}{unit}"


def _num(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _stalls(s: dict[str, Any] | None) -> str:
    if not s or s.get("median") is None:
        return "n/a"
    return f"{s['median']:g}" if s["min"] == s["max"] else f"{s['median']:g} ({s['min']:g}-{s['max']:g})"


def _cell(s: dict[str, Any], digits: int) -> str:
    def fmt(x):
        if x is None:
            return "never"
        return f"{x:.{digits}f}" if digits else f"{x:.0f}"

    if s["median"] is None and s["min"] is None:
        return "never"
    if s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}-{fmt(s['max'])})"


def _quality(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["**Quality runs** (winner chosen by validation accuracy; test set touched only by the report)", "",
             "| sweep | command | data | sweep wall min | trials | winner params | winner val acc "
             "| winner test acc | test macro F1 |", "|---|---|---|---|---|---|---|---|---|"]
    for q in rows:
        lines.append(f"| {q['sweep']} | `{q['command']}` | {q['dataset']} {q['train_images']}/{q['val_images']} "
                     f"| {q['sweep_wall_minutes']} | {q['trials']} | {q['winner_params']:,} "
                     f"| {q['winner_val_accuracy']} | {q['winner_test_accuracy']} | {q['winner_test_macro_f1']} |")
    return lines + [""]


def _share(s: dict[str, Any]) -> str:
    if s["median"] is None:
        return "n/a"
    if s["min"] == s["max"]:
        return _pct(s["median"])
    return f"{_pct(s['median'])} ({_pct(s['min'])}-{_pct(s['max'])})"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _na(x) -> str:
    return "never" if x is None else str(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller task, fewer trials, 5 tools (9-30 minutes on 2 cores)")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    parser.add_argument("--quality-run", action="append", default=[], metavar="RUN_DIR",
                        help="add a finished, reported quality run's summary (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", help="the peers' sampler seeds (default: 5 quick, 3 full)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="where the JSON and Markdown go")
    parser.add_argument("--docs", "--readme", dest="docs", action="store_true",
                        help="replace the marked block of docs/benchmarks.md with these results (--readme: its old name)")
    args = parser.parse_args()
    sections = tuple(args.only) if args.only else DEFAULT
    preflight(sections, args.quick, args.quality_run)
    res = run(sections, args.quick, args.quality_run, args.seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = ("quick" if args.quick else "full") + ("_race" if sections == ("race",) else "")
    if "peers" in res:
        from benchmarks.curves import draw

        figure = draw(res["peers"], out / f"{stem}_search.png").resolve()
        res["peers"]["figure"] = figure.relative_to(REPO).as_posix() if figure.is_relative_to(REPO) else str(figure)
        from benchmarks.timelines import draw as timelines

        if (timeline := timelines(res["peers"], out / f"{stem}_timelines.png")) is not None:
            timeline = timeline.resolve()
            res["peers"]["timeline"] = (timeline.relative_to(REPO).as_posix() if timeline.is_relative_to(REPO)
                                        else str(timeline))
    table = markdown(res, links_from=out.resolve())   # its figure link works from out/
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / f"{stem}.md").write_text(table)
    print("\n" + table)
    print(f"written: {out / (stem + '.json')}, {out / (stem + '.md')}")
    if args.docs:
        page = markdown(res, links_from=DOCS.parent)
        if sections == ("race",):
            update_docs(page, start=RACE_START, end=RACE_END)
        elif not args.quick:
            update_docs(page, start=FULL_START, end=FULL_END)
            if readme_worthy(sections, res):   # the full comparison is also the README's benchmark section
                update_docs(markdown(res, links_from=README.parent), page=README, start=FULL_START, end=FULL_END)
                print(f"{README.relative_to(REPO)} table replaced")
            elif "peers" in res:
                print(f"{README.relative_to(REPO)} left as it is: its section is the full peer comparison alone, "
                      f"every default seed (python -m benchmarks.run --only peers --docs)")
        else:
            update_docs(page)
        print(f"{DOCS.relative_to(REPO)} table replaced")


if __name__ == "__main__":
    main()
