"""The report's figures: which to draw, from the computed tables (``figures`` draws each)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from orchestrator.report import figures as F
from orchestrator.report.ablation import factor_effects, is_ablation
from orchestrator.ranking.leaderboard import board, family_bests
from orchestrator.store import schema as S


def draw(snap, boards, holdout, metric, config_cols, top_k, fig_dir: Path,
          importances: pd.DataFrame | None, findings) -> list[tuple[str, Path]]:
    overall = board(boards)
    ranked = overall[overall["rank"].notna()]
    figs: list[tuple[str, Path]] = []
    top_ids = list(ranked[S.TRIAL_ID].head(max(top_k, 1)))
    figs.append(("Learning curves of the top trials",
                 F.learning_curves(snap.metrics, top_ids, fig_dir / "learning_curves.png")))
    table = holdout.table
    if not table.empty:
        figs.append(("Validation and test accuracy of the evaluated trials",
                     F.test_accuracy_bars(table, fig_dir / "test_accuracy.png")))
        first = table[S.TRIAL_ID].iloc[0]
        shown = ranked[S.TRIAL_ID].iloc[0] if ranked[S.TRIAL_ID].iloc[0] in holdout.probs else first
        row = table[table[S.TRIAL_ID] == shown].iloc[0]
        names = list(holdout.class_names)
        figs.append((f"Confusion matrix of {shown} on the test split",
                     F.confusion_matrix(row["confusion"], names, f"{shown} ({row[S.FAMILY]}), test split",
                                        fig_dir / "confusion_matrix.png")))
        from trainables.training.evaluation import roc_curves

        figs.append((f"ROC curves of {shown} on the test split (one vs rest)",
                     F.roc(roc_curves(holdout.y, holdout.probs[shown]), names,
                           f"{shown} ({row[S.FAMILY]}), test split", fig_dir / "roc.png")))
    figs.append((f"Best {metric} against each hyperparameter",
                 F.hyperparameters(overall, config_cols, metric, fig_dir / "hyperparameters.png")))
    figs.append(("Parallel coordinates of the searched hyperparameters",
                 F.parallel_coordinates(overall, config_cols, metric, fig_dir / "parallel_coordinates.png")))
    figs.append((f"{metric} of every trial by epoch: where ASHA stopped trials",
                 F.asha(snap.metrics, snap.trials, metric, fig_dir / "asha.png")))
    figs.append(("Best result per family", F.best_per_family(family_bests(boards), table, metric,
                                                             fig_dir / "best_per_family.png")))
    if is_ablation(snap.trials):
        figs.append(("One factor at a time: effect on the metric against the baseline",
                     F.factor_effects(factor_effects(overall), metric, fig_dir / "factor_effects.png")))
    if importances is not None and len(importances):
        figs.append(("Hyperparameter importance per family (fANOVA)",
                     F.importance(importances, fig_dir / "importance.png")))
    population = snap.spec.scheduler.population
    if population is not None and len(ranked) and metric == snap.spec.metric:
        from orchestrator.ranking import lineage

        params = [m.name for m in population.mutations]
        winner = ranked.iloc[0]
        sched = lineage.schedule(snap.metrics, winner[S.TRIAL_ID], int(winner["score_epoch"]), params)
        if len(sched):
            figs.append((f"The winner's schedule ({population.kind}): the mutated parameters by epoch, shaded by the "
                         "member that trained the epoch",
                         F.schedule(sched, params, lineage.copies(snap.metrics),
                                    f"{winner[S.TRIAL_ID]}'s weights at epoch {int(winner['score_epoch'])}",
                                    fig_dir / "schedule.png")))
    figs.append((f"The trade-off: validation {metric} against parameters and latency (Pareto fronts)",
                 F.pareto(findings.tradeoff.table, table, metric, fig_dir / "pareto.png")))
    return figs


