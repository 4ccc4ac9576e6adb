"""Winners re-run over seeds: configs to repeat, summaries, and the tie verdict."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestrator.store import schema as S
from orchestrator.search.repeats import repeat_configs, repeat_summary, tie_verdict
from trainables.contract.keys import REPEAT_COL


def test_repeat_configs_copy_the_config_with_new_distinct_seeds():
    trials = pd.DataFrame([
        {S.TRIAL_ID: "a", S.FAMILY: "dense", S.MODEL: "dense", "config_seed": 5, "config_lr": 0.01,
         "config_layers": 2.0, "config_filters": np.nan, REPEAT_COL: None},
        {S.TRIAL_ID: "b", S.FAMILY: "cnn", S.MODEL: "cnn", "config_seed": 6, "config_lr": 0.1,
         "config_layers": np.nan, "config_filters": 8.0, REPEAT_COL: None},
        {S.TRIAL_ID: "c", S.FAMILY: "cnn", S.MODEL: "cnn", "config_seed": 7, "config_lr": 0.2,
         "config_layers": np.nan, "config_filters": 16.0, REPEAT_COL: None}])
    overall = pd.DataFrame({S.TRIAL_ID: ["b", "a", "c"], "rank": pd.array([1, 2, pd.NA], dtype="Int64"),
                            REPEAT_COL: [None, None, None]})
    configs = repeat_configs(trials, overall, top_k=2, seeds=3, base_seed=1)
    assert [c["repeat_of"] for c in configs] == ["b"] * 3 + ["a"] * 3
    assert all(c["lr"] == 0.1 and c["filters"] == 8 and "layers" not in c for c in configs[:3])
    assert all(c["family"] == "dense" and c["layers"] == 2 for c in configs[3:])
    seeds = [c["seed"] for c in configs]
    assert len(set(seeds)) == 6 and not {5, 6} & set(seeds)
    assert configs == repeat_configs(trials, overall, top_k=2, seeds=3, base_seed=1)      # reproducible


def test_tie_verdict_with_known_answers():
    clear = tie_verdict({"a": [0.90, 0.91, 0.90, 0.91], "b": [0.80, 0.81, 0.80, 0.79]}, "max")
    assert clear.leader == "a" and not clear.tied and clear.p_value < 0.001
    noisy = tie_verdict({"a": [0.90, 0.85, 0.88], "b": [0.87, 0.86, 0.89]}, "max")
    assert noisy.tied and noisy.p_value > 0.5
    lower = tie_verdict({"a": [0.3, 0.31], "b": [0.5, 0.52]}, "min")
    assert lower.leader == "a"
    assert "Welch's t-test p = " in clear.sentence("val_accuracy") and "a real lead" in clear.sentence("x")
    assert tie_verdict({"a": [0.9, 0.9], "b": [0.8]}, "max") is None          # one side has one run


def test_repeat_summary_groups_runs_by_configuration():
    overall = pd.DataFrame({S.TRIAL_ID: ["a", "r1", "r2", "b"], S.FAMILY: ["dense"] * 4,
                            "score": [0.80, 0.82, 0.84, 0.70], REPEAT_COL: [None, "a", "a", None]})
    evaluated = pd.DataFrame({S.TRIAL_ID: ["a", "r1", "r2"], "test_accuracy": [0.78, 0.80, 0.82]})
    table = repeat_summary(overall, evaluated)
    assert table["config"].tolist() == ["a"]                                    # b was not repeated
    row = table.iloc[0]
    assert row["runs"] == 3 and row["val_mean"] == pytest.approx(0.82) and row["val_std"] == pytest.approx(0.02)
    assert row["test_mean"] == pytest.approx(0.80) and row["test_runs"] == 3
