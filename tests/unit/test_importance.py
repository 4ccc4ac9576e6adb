"""Hyperparameter importance: fANOVA finds the one parameter that matters (real Optuna)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from orchestrator.store import schema as S
from orchestrator.report.importance import param_importance
from orchestrator.spec.sweep import parse_sweep

SWEEP = """
name: i
dataset: {name: fashion_mnist}
families:
  dense:
    num_samples: 40
    params: {lr: {loguniform: [1e-4, 1e-1]}, dropout: {uniform: [0.0, 0.5]}, layers: {choice: [1, 2, 3]}}
  cnn:
    num_samples: 3
    params: {filters: {choice: [8, 16]}}
"""


def test_the_parameter_that_drives_the_score_is_the_most_important():
    rng = np.random.default_rng(0)
    rows = [{S.FAMILY: "dense", "config_lr": 10 ** rng.uniform(-4, -1), "config_dropout": rng.uniform(0, 0.5),
             "config_layers": float(rng.integers(1, 4))} for _ in range(40)]   # float: NaN-able columns
    for r in rows:
        r["score"] = 0.9 - 0.1 * abs(np.log10(r["config_lr"]) + 2.5) + rng.normal(0, 0.002)
    rows += [{S.FAMILY: "cnn", "config_filters": 8, "score": 0.8}] * 3                  # too few: skipped
    table = param_importance(parse_sweep(SWEEP, "i.yaml"), pd.DataFrame(rows))
    assert set(table[S.FAMILY]) == {"dense"} and (table["trials"] == 40).all()
    ranked = table.sort_values("importance", ascending=False)["parameter"].tolist()
    assert ranked[0] == "lr" and table.set_index("parameter").loc["lr", "importance"] > 0.8
    assert abs(table["importance"].sum() - 1) < 1e-6
