"""The benchmark harness's own logic (no numbers are asserted: these check the arithmetic
that turns measured curves into the table, and the replacement of docs/benchmarks.md's block)."""
from __future__ import annotations

import json

import pytest

from benchmarks.search_stats import first_time, summarize
from benchmarks.common import DOCS, DOCS_END, DOCS_START, REPO, update_docs
from benchmarks.run import FULL_END, FULL_START, RACE_END, RACE_START, markdown


def test_first_time_uses_the_running_best():
    curve = [[5.0, 0.70], [1.0, 0.80], [3.0, 0.60], [9.0, 0.86]]
    assert first_time(curve, 0.75) == 1.0      # sorted by time, the best so far counts
    assert first_time(curve, 0.85) == 9.0
    assert first_time(curve, 0.90) is None


def _run(best, curve, wall=10.0):
    return {"wall_seconds": wall, "epochs_trained": 9, "trials": 3, "best_val_accuracy": best,
            "winner_test_accuracy": best - 0.01, "curve": curve}


def _runs():
    return {"tunefm_asha": [_run(0.90, [[1.0, 0.80], [2.0, 0.897], [4.0, 0.90]]),
                            _run(0.89, [[3.0, 0.89]]), _run(0.80, [[1.0, 0.80]])],
            "a": [_run(0.88, [[3.0, 0.876], [6.0, 0.88]]), _run(0.87, [[5.0, 0.87]]), _run(0.86, [[2.0, 0.86]])],
            "b": [_run(0.86, [[1.5, 0.86]]), _run(0.85, [[1.0, 0.85]]), _run(0.84, [[1.0, 0.84]])]}


def test_the_bar_is_the_median_best_of_the_peers_runs_and_never_counts_as_slowest():
    s = summarize(_runs())
    assert s["bar"] == 0.86                       # median of a's and b's six bests; tunefm's are not the bar
    assert s["bar_minus_half_point"] == 0.855
    ours = s["tools"]["tunefm_asha"]
    assert ours["seconds_to_bar"] == {"median": 3.0, "min": 2.0, "max": None}   # one run never got there
    assert s["tools"]["a"]["seconds_to_bar"] == {"median": 3.0, "min": 2.0, "max": 5.0}
    assert s["tools"]["b"]["seconds_to_bar"] == {"median": None, "min": 1.5, "max": None}
    assert s["tools"]["b"]["best_val_accuracy"] == {"median": 0.85, "min": 0.84, "max": 0.86}
    # 3.0 is not below a's 3.0: not met; b never (median) is slower than anything
    assert s["verdict"]["tunefm_asha"] == {"beats_every_peer": False, "within_half_of_fastest_peer": False}


def test_verdict_met_when_faster_than_every_peer_median():
    runs = _runs()
    runs["tunefm_asha"][1]["curve"] = [[1.0, 0.89]]
    runs["tunefm_asha"][0]["curve"] = [[1.0, 0.90]]
    s = summarize(runs)
    assert s["tools"]["tunefm_asha"]["seconds_to_bar"]["median"] == 1.0
    assert s["verdict"]["tunefm_asha"] == {"beats_every_peer": True, "within_half_of_fastest_peer": True}


def _result():
    runs = _runs()
    return {"date": "2026-11-21 10:00 UTC", "command": "python -m benchmarks.run --quick", "total_minutes": 1.0,
            "machine": {"commit": "abc", "cpu": "cpu", "cores": 2, "memory_gib": 24.0, "gpu": None,
                        "versions": {"ray": "2", "keras": "3", "tensorflow": "2"}},
            "peers": {"task": {"train": 100, "val": 50, "trials": 3, "max_epochs": 3, "space": {}, "batch_size": 8,
                               "seeds": [0, 1, 2]},
                      "runs": runs, "summary": summarize(runs), "figure": "benchmarks/results/quick_search.png"}}


def test_markdown_gives_median_and_range_and_the_verdict():
    text = markdown(_result())
    assert ("| tunefm_asha | 10 | 9 | 0.8900 (0.8000-0.9000) | 0.8800 (0.7900-0.8900) | 3.0 (2.0-never) "
            "| 3.0 (2.0-never) |") in text, text
    assert "| b | 10 | 9 | 0.8500 (0.8400-0.8600) | 0.8400 (0.8300-0.8500) | never (1.5-never) | never (1.5-never) |" \
        in text, text
    assert "Target (tunefm_asha): median time to the peers' median best below every peer's median: not met" in text
    assert "![anytime curves](benchmarks/results/quick_search.png)" in text
    # on the docs page and beside the figure, the link is relative to where the Markdown lies
    assert "![anytime curves](../benchmarks/results/quick_search.png)" in markdown(_result(), links_from=DOCS.parent)
    assert "![anytime curves](quick_search.png)" in markdown(_result(), links_from=REPO / "benchmarks" / "results")


def test_the_figure_draws_every_run(tmp_path):
    from benchmarks.curves import best_so_far, draw

    assert best_so_far([[3.0, 0.7], [1.0, 0.8], [2.0, 0.9]]) == ([1.0, 2.0], [0.8, 0.9])
    out = draw(_result()["peers"], tmp_path / "curves.png")
    assert out.stat().st_size > 10_000


def test_update_docs_replaces_only_the_marked_section(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(f"intro\n{DOCS_START}\nold table\n{DOCS_END}\nafter\n")
    update_docs("new table\n", page)
    assert page.read_text() == f"intro\n{DOCS_START}\nnew table\n{DOCS_END}\nafter\n"
    page.write_text("no markers\n")
    with pytest.raises(SystemExit, match="no <!-- benchmarks:start -->"):
        update_docs("x\n", page)


def test_the_docs_page_holds_both_marked_blocks():
    text = DOCS.read_text()
    assert DOCS == REPO / "docs" / "benchmarks.md"
    for start, end in ((DOCS_START, DOCS_END), (RACE_START, RACE_END), (FULL_START, FULL_END)):
        assert text.count(start) == 1 and text.count(end) == 1 and text.index(start) < text.index(end)
    readme = (REPO / "README.md").read_text()   # the full comparison is also the README's benchmark section
    assert readme.count(FULL_START) == 1 and readme.count(FULL_END) == 1
    assert readme.index(FULL_START) < readme.index(FULL_END)


def test_gpu_epoch_extras_are_the_trials_additions_as_a_share_of_its_epoch():
    from benchmarks.gpu_epoch import extras_share, render

    row = {"model": "m", "params": 10, "jit_compile": "auto", "fit_s": 0.9, "fit_batch_hook_s": 1.2,
           "val_256_s": 0.06, "val_1024_s": 0.02, "val_4096_s": 0.01, "score_s": 0.01, "save_keras_s": 0.03,
           "save_weights_s": 0.02}
    assert extras_share(row, 256) == pytest.approx(0.1)
    assert extras_share(row, 1024) == pytest.approx(0.06 / 0.96)
    assert render("h", [row]).splitlines()[-1].endswith("| 10.0% | 6.2% |")


def test_the_in_trial_target_is_judged_on_the_median_and_the_fastest_epochs_are_context():
    side = {"epoch_seconds": 2.6, "cadence_seconds": 2.61, "first_epoch_seconds": 3.0, "val_accuracy_last": 0.8}
    result = {**_result(), "in_trial": {
        "train_images": 3000, "val_images": 1000, "epochs": 6, "threads": 2, "repeats": 3,
        "config": {"blocks": 2, "filters": 32, "dense_units": 128, "batch_size": 128},
        "plain": side, "tunefm": {**side, "cadence_seconds": 2.7}, "epoch_ratio": 1.0, "cadence_ratio": 1.035,
        "cadence_ratios": [1.035, 0.7, 1.3], "fastest_ratio": 0.99, "fastest_ratios": [0.99, 0.98, 1.01]}}
    text = markdown(result)
    assert "median of 3 runs: not met (1.035; each run's: 1.035, 0.7, 1.3;" in text, text
    assert "leave alone: 0.99 (each run's: 0.99, 0.98, 1.01)." in text, text


def test_a_missing_peer_library_or_unreported_quality_run_stops_the_benchmark_before_it_starts(tmp_path, monkeypatch):
    import importlib.util

    from benchmarks import peers
    from benchmarks.run import preflight

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "keras_tuner" else real(name, *a))
    assert peers.missing_peers(peers.QUICK_TOOLS) == ["keras_tuner_hyperband (keras_tuner)"]
    assert peers.missing_peers(("tunefm_asha",)) == []
    with pytest.raises(SystemExit, match=r"not installed here: keras_tuner_hyperband \(keras_tuner\); pip install"):
        preflight(("floor", "peers"), True, [])
    preflight(("floor",), True, [])          # no peers asked: nothing to check
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(SystemExit, match=r"--quality-run .*run: no report/test_eval.parquet; run `tunefm report"):
        preflight(("floor",), True, [str(run_dir)])
    (run_dir / "report").mkdir()
    (run_dir / "report" / "test_eval.parquet").write_bytes(b"")
    preflight(("floor",), True, [str(run_dir)])


def test_the_floor_table_gives_keras_own_set_up_beside_the_sweep_s():
    from benchmarks.run import _floor

    tiny = {"trials": 16, "epochs": 70, "wall_seconds": 11.0, "tune_phase_seconds": 7.4, "trial_work_seconds": 11.0,
            "work_share_end_to_end": 0.5, "work_share_tune_phase": 0.74, "trial_startup_seconds_median": 0.1,
            "overhead_per_trial_seconds": 0.24, "slot_seconds": 14.8, "in_epochs_seconds": 11.0,
            "worker_import_seconds": 0.96, "trial_setup_seconds": 1.54, "trial_dispatch_seconds": 0.06,
            "between_epochs_seconds": 0.74, "between_trials_seconds": 0.52,
            "keras_setup": {"trials": 16, "setup_seconds_total": 1.2, "setup_seconds_median": 0.063,
                            "first_epoch_extra_seconds_median": 0.146, "work_share_if_only_keras_setup": 0.902}}
    text = "\n".join(_floor({"tiny_keras": tiny}))
    assert "74.0% over the Tune phase (not met)" in text
    assert "0.063 s per trial (median), 1.2 s in all, against the sweep's 1.54 s of trial set-up" in text
    assert "the Tune-phase share would be 90.2%" in text


def test_a_kept_run_comes_back_with_its_commit_and_the_table_says_which_runs_it_did_not_make(tmp_path, capsys):
    from benchmarks.peers import keep, recorded

    record, task = tmp_path / "runs.jsonl", {"train": 100, "seeds": [0, 1]}
    keep(record, task, {"tool": "a", "seed": 0, "wall_seconds": 5.0}, commit="abc1234")
    keep(record, {**task, "train": 200}, {"tool": "a", "seed": 1}, commit="other")   # another task: not this table's
    first = json.loads(record.read_text().splitlines()[0])
    with record.open("a") as f:   # a line kept before lines carried their commit
        f.write(json.dumps({"task": first["task"], "run": {"tool": "b", "seed": 0}}) + "\n")
    with record.open("a") as f:   # a line cut short by a kill mid-write, and one without its run
        f.write('{"task": "x", "run": {"tool"\n' + json.dumps({"task": first["task"]}) + "\n")
    done = recorded(record, task)
    assert set(done) == {("a", 0), ("b", 0)}
    assert done[("a", 0)]["recorded"]["commit"] == "abc1234" and done[("a", 0)]["wall_seconds"] == 5.0
    assert done[("b", 0)]["recorded"] == {}
    said = capsys.readouterr().out
    assert "runs.jsonl line 4 is not a recorded run (JSONDecodeError" in said and "line 5 is not a recorded run (KeyError" in said

    res = _result()
    res["peers"]["taken_from_record"] = {"file": "runs.jsonl", "runs": [
        {"tool": "a", "seed": 0, "commit": "abc1234", "at": "2026-12-06 01:00 UTC"},
        {"tool": "b", "seed": 0, "commit": "abc1234", "at": "2026-12-06 01:10 UTC"},
        {"tool": "b", "seed": 1}]}
    header = markdown(res).splitlines()[0]
    assert "(1.0 min for the runs it made; 3 of 9 runs read back from runs.jsonl (seed 0: commit abc1234, " \
           "ended 2026-12-06 01:00 UTC to 2026-12-06 01:10 UTC; seed 1: commit not recorded))" in header, header
    assert "read back" not in markdown(_result()).splitlines()[0]
    every = [{"tool": t, "seed": i} for t in ("tunefm_asha", "a", "b") for i in range(3)]
    res["peers"]["taken_from_record"] = {"file": "runs.jsonl", "runs": every}
    assert "(no run made; 9 of 9 runs read back from runs.jsonl (seeds 0, 1, 2: commit not recorded))" \
        in markdown(res).splitlines()[0]


def test_only_the_complete_peer_comparison_becomes_the_readmes_section():
    from benchmarks.run import readme_worthy

    full = {"quick": False, "peers": {"task": {"seeds": [0, 1, 2]}, "failed": {}}}
    assert readme_worthy(("peers",), full)
    assert not readme_worthy(("floor", "in_trial", "peers"), full)                    # other sections' tables
    assert not readme_worthy(("peers",), {**full, "peers": {"task": {"seeds": [0]}, "failed": {}}})
    assert not readme_worthy(("peers",), {**full, "peers": {**full["peers"], "failed": {"optuna seed 1": "x"}}})
    assert not readme_worthy(("peers",), {**full, "quick": True})


def test_a_stalled_epoch_is_one_over_twice_its_trials_median_at_the_same_thread_count():
    from benchmarks.search_stats import stalled_epochs

    steady = [["a", 0, 30, 1]] + [["a", 30 + 10 * i, 40 + 10 * i, 1] for i in range(4)]   # a first epoch that traces
    assert stalled_epochs(steady) == 0
    assert stalled_epochs(steady + [["a", 70, 95, 1]]) == 1                              # 25 s against 10 s
    assert stalled_epochs(steady + [["a", 70, 85, 1]]) == 0                              # 15 s: slow, not stalled
    # the same trial grown to two slots: its own first epoch there and its own median
    grown = [["a", 100, 140, 2, 2]] + [["a", 140 + 5 * i, 145 + 5 * i, 2, 2] for i in range(3)]
    assert stalled_epochs(steady + grown) == 0
    assert stalled_epochs([["b", 0, 1, 1], ["b", 1, 2, 1], ["b", 2, 30, 1]]) == 0        # too few epochs to judge
    # a slot count written as None is one slot, as in idle_share
    assert stalled_epochs(steady + [["a", 70, 95, 1, None]]) == 1


def test_the_table_gives_issue_31s_targets_against_the_peer_each_is_held_to():
    res = _result()
    for run, (wall, test, idle) in zip(res["peers"]["runs"]["tunefm_asha"], ((90, 0.90, 0.01), (100, 0.89, 0.03),
                                                                              (300, 0.80, 0.2))):
        run.update(wall_seconds=wall, winner_test_accuracy=test, idle_slot_share=idle)
    for tool, walls in (("a", (120, 150, 200)), ("b", (110, 90, 400))):
        for run, wall in zip(res["peers"]["runs"][tool], walls):
            run["wall_seconds"] = wall
    res["peers"]["summary"] = s = summarize(res["peers"]["runs"])
    t = s["targets"]["tunefm_asha"]
    assert t["wall_seconds"] == {"ours": 100.0, "peer": 110.0, "peer_tool": "b", "met": True}
    assert t["winner_test_accuracy"]["peer_tool"] == "a" and t["winner_test_accuracy"]["met"] is True
    assert t["idle_slot_share"]["met"] is True
    text = markdown(res)
    assert ("Targets (tunefm_asha), medians over seeds: whole sweep at most the fastest peer's (100 s against b's "
            "110 s): met; winner's test accuracy at least the best peer's (0.8900 against a's 0.8600): met; "
            "slot-time idle under 5% (3.0%): met.") in text, text
    res["peers"]["runs"]["tunefm_asha"][1]["idle_slot_share"] = 0.06
    assert summarize(res["peers"]["runs"])["targets"]["tunefm_asha"]["idle_slot_share"]["met"] is False
    # a run without a test accuracy: no median to hold to the peers (not a "never" that could win)
    res["peers"]["runs"]["tunefm_asha"][2]["winner_test_accuracy"] = None
    assert summarize(res["peers"]["runs"])["targets"]["tunefm_asha"]["winner_test_accuracy"]["met"] is None
    res["peers"]["runs"]["tunefm_asha"][2]["winner_test_accuracy"] = 0.80
    res["peers"]["runs"]["a"][0]["winner_test_accuracy"] = None          # that peer drops out; b is the best left
    assert summarize(res["peers"]["runs"])["targets"]["tunefm_asha"]["winner_test_accuracy"]["peer_tool"] == "b"
    only_ours = summarize({"tunefm_asha": res["peers"]["runs"]["tunefm_asha"]})
    res["peers"]["summary"] = only_ours
    assert "against no peer measured): not measured" in markdown(res)
