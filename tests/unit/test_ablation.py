"""search: ablation - configs one factor away from the baseline, and the effects table."""
from __future__ import annotations

import pandas as pd
import pytest

from orchestrator.store import schema as S
from orchestrator.report.ablation import FACTOR_COL, VALUE_COL, factor_effects
from trainables.contract.errors import SweepFileError
from orchestrator.raytune.space import trial_configs
from trainables.contract.keys import FACTOR_KEY, FACTOR_VALUE_KEY, SEED_KEY
from orchestrator.spec.sweep import load_sweep, parse_sweep

SWEEP = """
name: a
dataset: {name: fashion_mnist}
search: ablation
families:
  dense:
    num_samples: 2
    baseline_repeats: 3
    baseline: {lr: 0.001, dropout: 0.0, initializer: glorot_uniform}
    factors: {lr: [0.01, 0.1], batch_norm: [true], initializer: [he_normal]}
"""

IGNORED = {FACTOR_KEY, FACTOR_VALUE_KEY, SEED_KEY}


def differences(config: dict, baseline: dict) -> set[str]:
    return {k for k in baseline if k not in IGNORED and config[k] != baseline[k]}


def test_every_config_differs_from_the_baseline_in_exactly_one_factor():
    configs = trial_configs(parse_sweep(SWEEP, "a.yaml"))
    baselines = [c for c in configs if c[FACTOR_KEY] == "baseline"]
    assert len(baselines) == 3 and len(configs) == 3 + 2 * 4
    base = baselines[0]
    assert all(differences(b, base) == set() for b in baselines)
    assert base["lr"] == 0.001 and base["batch_norm"] is False and base["units"] == 128   # defaults filled
    for c in configs:
        if c[FACTOR_KEY] != "baseline":
            assert differences(c, base) == {c[FACTOR_KEY]}
            assert str(c[c[FACTOR_KEY]]) == c[FACTOR_VALUE_KEY]
    assert len({c[SEED_KEY] for c in configs}) == len(configs)


def test_shipped_ablation_sweep_changes_one_factor_per_run():
    from pathlib import Path

    spec = load_sweep(Path(__file__).parents[2] / "sweeps" / "fashion_ablation.yaml")
    configs = trial_configs(spec)
    base = next(c for c in configs if c[FACTOR_KEY] == "baseline")
    assert {c[FACTOR_KEY] for c in configs} == {"baseline", "lr", "initializer", "batch_norm", "dropout"}
    assert all(len(differences(c, base)) == (c[FACTOR_KEY] != "baseline") for c in configs)


@pytest.mark.parametrize("factors, message", [
    ("{lr: [0.001]}", "families.dense.factors.lr: 0.001 is the baseline's value; list only the alternatives"),
    ("{lr: 0.01}", "families.dense.factors.lr: must be a non-empty list"),
    ("{blocks: [2]}", "families.dense.factors.blocks: not a parameter of family 'dense'"),
    ("{dropout: [2.0]}", "families.dense.factors.dropout: must be <= 0.95, got 2.0"),
    ("{}", "families.dense.factors: needs at least one factor"),
])
def test_ablation_errors(factors, message):
    text = SWEEP.replace("factors: {lr: [0.01, 0.1], batch_norm: [true], initializer: [he_normal]}",
                         f"factors: {factors}")
    with pytest.raises(SweepFileError, match="^a.yaml: " + message.replace("(", r"\(").replace(")", r"\)")):
        parse_sweep(text, "a.yaml")


def test_ablation_refuses_params_and_search_spaces_in_the_baseline():
    with pytest.raises(SweepFileError, match="families.dense.params: unknown key"):
        parse_sweep(SWEEP.replace("    baseline_repeats: 3\n", "    params: {lr: 0.1}\n"), "a.yaml")
    with pytest.raises(SweepFileError, match="families.dense.baseline.lr: a baseline value is a constant"):
        parse_sweep(SWEEP.replace("baseline: {lr: 0.001,", "baseline: {lr: {choice: [0.1, 0.2]},"), "a.yaml")


def test_factor_effects_against_a_known_answer():
    rows = [("baseline", "", 0.80), ("baseline", "", 0.82), ("baseline", "", 0.84),
            ("lr", "0.1", 0.70), ("lr", "0.1", 0.72), ("dropout", "0.5", 0.85), ("dropout", "0.5", None)]
    board = pd.DataFrame([{S.FAMILY: "dense", FACTOR_COL: f, VALUE_COL: v, "score": s} for f, v, s in rows])
    effects = factor_effects(board).set_index(["factor", "value"])
    assert effects.loc[("baseline", ""), "mean"] == pytest.approx(0.82)
    assert effects.loc[("baseline", ""), "std"] == pytest.approx(0.02)
    assert effects.loc[("lr", "0.1"), "delta_vs_baseline"] == pytest.approx(-0.11)
    assert effects.loc[("dropout", "0.5"), "runs"] == 1                       # the unscored run is left out
    assert effects.loc[("dropout", "0.5"), "delta_vs_baseline"] == pytest.approx(0.03)
    assert list(effects.index.get_level_values(0))[0] == "baseline"
