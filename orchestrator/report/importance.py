"""Hyperparameter importance per family: Optuna's fANOVA over the trials of a run.

Method: for each family with at least ``MIN_TRIALS`` scored trials and one searched
parameter, the trials (each scored by its best validation metric; early-stopped trials
count with the score they reached) are added to an in-memory Optuna study with the
sweep's distributions, and ``optuna.importance.FanovaImportanceEvaluator`` (random
forest functional ANOVA, 64 trees, fixed seed) apportions the variance of the score.
Needs the ``tpe`` extra (Optuna); without it the report says so and goes on.
"""
from __future__ import annotations

import math

import pandas as pd

from orchestrator.store import schema as S
from trainables.contract.metrics import Mode
from orchestrator.spec.spaces import Constant
from orchestrator.spec.sweep import SweepSpec

MIN_TRIALS = 8
COLUMNS = [S.FAMILY, "parameter", "importance", "trials"]


def _value(distribution, raw):
    from optuna import distributions as d

    if isinstance(distribution, d.CategoricalDistribution):
        return next(c for c in distribution.choices if c == raw or str(c) == str(raw))
    if isinstance(distribution, d.IntDistribution):
        return int(raw)
    return float(raw)


def param_importance(spec: SweepSpec, board: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    from orchestrator.raytune.tpe import to_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for fam in spec.families:
        searched = {k: to_optuna(s) for k, s in fam.space.items() if not isinstance(s, Constant)}
        scored = board[(board[S.FAMILY] == fam.label) & board["score"].notna()]
        if not searched or len(scored) < MIN_TRIALS:
            continue
        study = optuna.create_study(direction=Mode(spec.mode).direction)
        for r in scored.to_dict("records"):
            raw = {k: r.get(S.CONFIG_PREFIX + k) for k in searched}
            if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in raw.values()):
                continue
            params = {k: _value(searched[k], v) for k, v in raw.items()}
            study.add_trial(optuna.trial.create_trial(params=params, distributions=searched,
                                                      value=float(r["score"])))
        importances = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
        rows += [{S.FAMILY: fam.label, "parameter": k, "importance": v, "trials": len(study.trials)}
                 for k, v in importances.items()]
    return pd.DataFrame(rows, columns=COLUMNS)
