"""The benchmark harness's own logic (no numbers are asserted: these check the arithmetic
that turns measured curves into the table, and the README replacement)."""
from __future__ import annotations

import pytest

from benchmarks.peers import _first_time, summarize
from benchmarks.run import README_END, README_START, markdown, update_readme


def test_first_time_uses_the_running_best():
    curve = [[5.0, 0.70], [1.0, 0.80], [3.0, 0.60], [9.0, 0.86]]
    assert _first_time(curve, 0.75) == 1.0      # sorted by time, the best so far counts
    assert _first_time(curve, 0.85) == 9.0
    assert _first_time(curve, 0.90) is None


def test_summarize_measures_every_tool_against_the_peers_best():
    rows = {"tunefm_asha": {"best_val_accuracy": 0.90, "curve": [[1.0, 0.80], [2.0, 0.897], [4.0, 0.90]]},
            "a": {"best_val_accuracy": 0.88, "curve": [[3.0, 0.876], [6.0, 0.88]]},
            "b": {"best_val_accuracy": 0.86, "curve": [[1.5, 0.86]]}}
    summarize(rows)
    assert {row["peers_best_val_accuracy"] for row in rows.values()} == {0.88}   # tunefm's own best is not the bar
    assert rows["tunefm_asha"]["seconds_to_within_half_point_of_own_best"] == 2.0
    assert rows["tunefm_asha"]["seconds_to_within_half_point_of_peers_best"] == 2.0
    assert rows["a"]["seconds_to_within_half_point_of_own_best"] == 3.0
    assert rows["a"]["seconds_to_within_half_point_of_peers_best"] == 3.0
    assert rows["b"]["seconds_to_within_half_point_of_own_best"] == 1.5
    assert rows["b"]["seconds_to_within_half_point_of_peers_best"] is None


def _result():
    tool = {"wall_seconds": 10.0, "trials": 3, "epochs_trained": 9, "best_val_accuracy": 0.9,
            "winner_test_accuracy": 0.88, "curve": [[2.0, 0.9]]}
    tools = {"tunefm_asha": dict(tool), "optuna_tpe_hyperband": {**tool, "curve": [[5.0, 0.9]]}}
    summarize(tools)
    return {"date": "2026-11-21 10:00 UTC", "command": "python -m benchmarks.run --quick", "total_minutes": 1.0,
            "machine": {"commit": "abc", "cpu": "cpu", "cores": 2, "memory_gib": 24.0, "gpu": None,
                        "versions": {"ray": "2", "keras": "3", "tensorflow": "2"}},
            "peers": {"task": {"train": 100, "val": 50, "trials": 3, "max_epochs": 3, "space": {}, "batch_size": 8},
                      "tools": tools}}


def test_markdown_states_whether_the_search_target_was_met():
    text = markdown(_result())
    assert "| tunefm_asha | 10.0 | 3 | 9 | 0.9 | 0.88 | 2.0 | 2.0 |" in text
    assert "in less wall time than every peer: met (tunefm 2.0 s; optuna_tpe_hyperband 5.0)." in text


def test_update_readme_replaces_only_the_marked_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\nafter\n")
    update_readme("new table\n", readme)
    assert readme.read_text() == f"intro\n{README_START}\nnew table\n{README_END}\nafter\n"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="no <!-- benchmarks:start -->"):
        update_readme("x\n", readme)
