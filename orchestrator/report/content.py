"""The report's text and tables (``ReportContent``), from what ``build`` computed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from orchestrator.report.ablation import factor_effects, is_ablation
from orchestrator.report.document import ReportContent
from orchestrator.ranking.leaderboard import OVERALL, board
from orchestrator.report.provenance import provenance_lines
from orchestrator.ranking.ties import headline
from orchestrator.store import schema as S
from orchestrator.store.records import RunStatus

if TYPE_CHECKING:
    from orchestrator.report.pareto import Budget
    from orchestrator.report.tradeoff import TradeOff
    from orchestrator.report.validation import ValidationEval


@dataclass(frozen=True)
class Findings:
    """What the report computed beyond the leaderboards: how sure, and at what cost."""

    validation: ValidationEval
    tradeoff: TradeOff
    race: object | None = None        # search.race.Finding, when a race ran


def budget_line(budget: Budget, row: pd.Series | None, metric: str, measured: int | None = None) -> str:
    """``measured``: how many trials have a latency (a latency budget without any is said so)."""
    if row is None:
        if measured == 0 and any(k != "params" for k, _ in budget.limits):
            return f"within {budget.text}: no trial's latency could be measured (no readable checkpoint)"
        return f"within {budget.text}: no scored trial fits"
    units = {"params": lambda r: f"{int(r['params']):,d} parameters",
             "latency_ms": lambda r: f"{r['ms_per_image_batch1']:.3g} ms per image at batch 1",
             "latency_ms_batch256": lambda r: f"{r['ms_per_image_batch256']:.3g} ms per image at batch 256"}
    cost = ", ".join(units[k](row) for k, _ in budget.limits)
    return f"within {budget.text}: {row[S.TRIAL_ID]} ({row[S.FAMILY]}), {metric} {row['score']:.4f}, {cost}"


def _repeats_section(overall: pd.DataFrame, evaluated: pd.DataFrame, metric: str, mode: str):
    from orchestrator.search.repeats import config_group, repeat_summary, tie_verdict

    table = repeat_summary(overall, evaluated)
    if table.empty:
        return None
    groups = overall.assign(config=config_group(overall))
    scores = {c: groups[groups["config"] == c]["score"].tolist() for c in table["config"]}
    verdict = tie_verdict(scores, mode)
    text = verdict.sentence(metric) if verdict else "fewer than two configurations have two or more runs"
    return table, text


def _interval_text(row: pd.Series, metric: str, images: int) -> str:
    if pd.isna(row.get("ci_low")) or pd.isna(row.get("ci_high")):
        return ""
    how = f"Wilson, {images:,d} images" if metric == "val_accuracy" else "bootstrap over the images"
    return f" (95% interval [{row['ci_low']:.4f}, {row['ci_high']:.4f}], {how})"


def _ci(low: pd.Series, high: pd.Series) -> list[str]:
    from orchestrator.ranking.intervals import ci_text

    return [ci_text(a, b) for a, b in zip(low, high)]


def _board_tables(boards: pd.DataFrame, metric: str, config_cols: list[str]) -> list[tuple[str, pd.DataFrame]]:
    show = ["rank", S.TRIAL_ID, S.FAMILY, "score", "95% interval", "vs #1", "score_epoch", "params",
            "train_seconds", S.STATUS, *config_cols]
    rename = {"score": metric, "score_epoch": "epoch", **{c: c.removeprefix(S.CONFIG_PREFIX) for c in config_cols}}
    boards = boards.assign(**{"95% interval": _ci(boards["ci_low"], boards["ci_high"]), "vs #1": boards["vs_1"]})
    tables = [("Leaderboard: overall (top 20)", board(boards)[show].head(20).rename(columns=rename))]
    for fam in sorted(b for b in boards["board"].unique() if b != OVERALL):
        fam_board = board(boards, fam)
        cols = [c for c in show if c != "vs #1" and (c == S.FAMILY or not c.startswith(S.CONFIG_PREFIX)
                                                     or fam_board[c].notna().any())]
        tables.append((f"Leaderboard: {fam} (top 10)", fam_board[cols].head(10).rename(columns=rename)))
    return tables


def _uncertainty_tables(validation: ValidationEval) -> list[tuple[str, pd.DataFrame]]:
    from orchestrator.report.validation import tests_table

    if not validation.tests:
        return []
    return [(f"Is #1 ahead? Paired tests on the same {validation.images:,d} validation images",
             tests_table(validation.tests))]


def _uncertainty_notes(validation: ValidationEval) -> list[str]:
    notes = []
    if validation.tests:
        notes.append("Two questions, two tests. The paired test above asks whether #1's trained model is better "
                     "than the next ones on the validation images the sweep chose it with (p >= 0.05: tied; "
                     "the test split plays no part). #1 was picked on these same images, so a small p is "
                     "optimistic: 'tied' is the reliable verdict, 'ahead' the hopeful one. Whether the lead "
                     "would survive new seeds is the other question: tunefm repeat re-trains the top "
                     "configurations and compares them with Welch's t-test over the seeds.")
    drift = validation.table[(validation.table["recorded"] - validation.table["recomputed"]).abs() > 1e-6]
    for _, r in drift.iterrows():
        notes.append(f"{r[S.TRIAL_ID]}: its checkpoint scores {r['recomputed']:.4f} on the validation split, the "
                     f"sweep recorded {r['recorded']:.4f}: the checkpoint is not the epoch that was scored (a --metric "
                     "other than the sweep's, or a run still writing it), or the data changed since the sweep.")
    return notes


def _tradeoff_tables(tradeoff: TradeOff, evaluated: pd.DataFrame, metric: str) -> list[tuple[str, pd.DataFrame]]:
    test = evaluated.set_index(S.TRIAL_ID)["test_accuracy"] if len(evaluated) else pd.Series(dtype=float)
    out = []
    for name, what in (("params", "parameters"), ("latency", "milliseconds per image at batch 1")):
        front = tradeoff.front(name)
        if front.empty:
            continue
        shown = front[[S.TRIAL_ID, S.FAMILY, "rank", "score", "params", "ms_per_image_batch1",
                       "ms_per_image_batch256"]].assign(test_accuracy=front[S.TRIAL_ID].map(test))
        threads = int(front["threads"].dropna().iloc[0]) if front["threads"].notna().any() else None
        on = f", {threads} thread(s)" if threads else ""
        out.append((f"The trade-off: best {metric} for its {what} (Pareto front; latency on this machine{on})",
                    shown.rename(columns={"score": metric})))
    return out


def _phases_table(meta) -> pd.DataFrame:
    rows = [{"phase": 0, "kind": "sweep", "at": meta.started_at, "trials": meta.trials, "max_epochs": meta.max_epochs,
             "what": ""}]
    for n, p in enumerate(meta.repeats, start=1):
        what = (f"top {p.top_k} x {p.seeds} seeds" if p.kind == "repeat" else
                ", ".join(filter(None, [", ".join(f"{k}: {v} drawn" for k, v in p.drawn.items()),
                                        f"continued {', '.join(p.continued)}" if p.continued else ""])))
        rows.append({"phase": n, "kind": p.kind, "at": p.at, "trials": p.trials, "max_epochs": p.max_epochs,
                     "what": what})
    return pd.DataFrame(rows)


def _race_runs(trials: pd.DataFrame, candidate: str) -> list[str]:
    from orchestrator.search.race import runs_of

    return runs_of(trials, candidate)[S.TRIAL_ID].tolist()


def _race_note(race, spec) -> str:
    d = spec.decide
    varied = "the seed (initialisation, shuffling, augmentation, dropout)" + \
        (f" and the training/validation split ({d.resplit} stratified folds)" if d.resplit else "")
    return (f"The race: each round trains every candidate still in it again, with {varied} new in each round and "
            f"the same for all of them. After every round a candidate is out once another is shown better by an "
            f"anytime-valid t-test (an e-value; Bonferroni over the pairs): a race of identical configurations "
            f"ends 'settled' with probability at most {d.alpha:g}, however many rounds it runs, and a 'tie' "
            f"(every pair shown within {d.equivalence:g}) is wrong with probability at most {d.alpha:g}. The "
            f"interval is the 95% anytime-valid interval of the mean difference.")


def _population(snap, winner, metric: str):
    """A PBT or PB2 sweep's summary lines, the winner's schedule and the copies made; None
    for other schedulers (or a report ranked by another metric than the population's)."""
    population = snap.spec.scheduler.population
    if population is None or metric != snap.spec.metric:
        return None
    from orchestrator.ranking import lineage

    params = [m.name for m in population.mutations]
    copies = lineage.copies(snap.metrics)
    sched = lineage.schedule(snap.metrics, winner[S.TRIAL_ID], int(winner["score_epoch"]), params)
    trainers = list(dict.fromkeys(sched[lineage.TRAINED_BY]))
    lines = [("population", f"{population.kind}: {len(copies)} copies over the sweep; the winner's weights at "
                            f"epoch {int(winner['score_epoch'])} were trained by "
                            f"{' then '.join(trainers) if trainers else 'no recorded epoch'}"),
             *[("schedule", line) for line in lineage.describe(lineage.changes(sched, params))]]
    return lines, sched, copies


def _count(value) -> str:
    return f"{int(value):,d}" if pd.notna(value) else "an unrecorded number of"


def report_content(snap, boards, holdout, winner, metric, mode, config_cols, figures, importances,
                   findings: Findings) -> ReportContent:
    trials, meta = snap.trials, snap.meta
    counts = trials[S.STATUS].value_counts()
    count_text = ", ".join(f"{counts.get(s, 0)} {s.label}" for s in S.STATUSES if counts.get(s, 0))
    status = snap.status.value + (f": {snap.status_note}" if snap.status_note else "")
    summary = [
        ("run", f"{snap.spec.name} / {snap.run_dir.name} ({status})"),
        ("data", f"{snap.spec.dataset.name}: {meta.data.train} train, {meta.data.val} validation images; "
                 f"test split {len(holdout.y)} images, used only here"),
        *provenance_lines(meta, holdout),
        ("trials", f"{len(trials)}: {count_text}"),
        ("training time", f"{trials['train_seconds'].fillna(0).sum():.0f} s over all trials"
                          + (f"; sweep wall time {meta.wall_seconds:.0f} s" if meta.wall_seconds else "")),
        ("selection", f"best {metric} ({mode}) on the validation split"),
        ("winner", f"{winner[S.TRIAL_ID]} ({winner[S.FAMILY]}): {metric} {winner['score']:.4f}"
                   f"{_interval_text(winner, metric, meta.data.val)} at epoch {int(winner['score_epoch'])}, "
                   f"{_count(winner['params'])} parameters"),
        ("ranking", headline(findings.validation.tests, findings.validation.why_none)),
        *[("budget", budget_line(b, row, metric, findings.tradeoff.measured)) for b, row in findings.tradeoff.budgets],
    ]
    race = findings.race
    if race is not None:
        summary[0:0] = [("verdict", race.line),
                        ("shipped", f"{winner[S.TRIAL_ID]}: {race.run_why}; configuration {race.chosen}, {race.why}")]
        seeds = holdout.table[holdout.table[S.TRIAL_ID].isin(_race_runs(trials, race.chosen))]["test_accuracy"] \
            if not holdout.table.empty else pd.Series(dtype=float)
        if len(seeds):
            spread = f" ± {seeds.std(ddof=1):.4f} (sd)" if len(seeds) > 1 else ""
            summary.insert(2, ("on the test split", f"mean test accuracy {seeds.mean():.4f}{spread} over the "
                                                    f"{len(seeds)} race seed(s) of {race.chosen}; the test split "
                                                    "reports, it decided nothing"))
    notes = []
    if snap.running:
        notes.append("The sweep is still running" + (f" ({snap.status_note})" if snap.status_note else "")
                     + ": this report is a snapshot of the trials recorded so far.")
    elif snap.status_note:
        notes.append(f"The run was interrupted ({snap.status_note}): this report covers the trials with a "
                     f"scored epoch and a checkpoint; tunefm resume {snap.folder.location} continues it.")
    elif snap.status == RunStatus.INTERRUPTED:
        notes.append(f"The run was interrupted ({snap.meta.note or 'stopped before all trials ended'}); "
                     f"tunefm resume {snap.folder.location} continues it.")
    if metric != snap.spec.metric:
        notes.append(f"Ranked by {metric}, but checkpoints hold each trial's best epoch by the sweep's "
                     f"metric ({snap.spec.metric}).")
    table = holdout.table
    scores = {}
    w = table[table[S.TRIAL_ID] == winner[S.TRIAL_ID]] if not table.empty else table
    if len(w):
        r = w.iloc[0]
        scores = {k: r[k] for k in ("test_accuracy", "test_loss", "test_precision_macro", "test_recall_macro",
                                    "test_f1_macro", "test_precision_weighted", "test_recall_weighted",
                                    "test_f1_weighted", "test_auc_macro", "val_accuracy", "val_test_gap")}
        scores.update({f"accuracy: {n}": a for n, a in zip(r["class_names"], r["test_per_class_accuracy"])})
    else:
        why = holdout.missing.get(winner[S.TRIAL_ID]) or "it saved no checkpoint"
        notes.append(f"The winner has no test score: {why}.")
    wrow = trials.set_index(S.TRIAL_ID).loc[winner[S.TRIAL_ID]]
    config = {"family": wrow[S.FAMILY], "model": wrow[S.MODEL]}
    config.update({c.removeprefix(S.CONFIG_PREFIX): wrow[c] for c in trials.columns
                   if c.startswith(S.CONFIG_PREFIX) and pd.notna(wrow[c])})
    if meta.repeats:
        from orchestrator.store.folder import trial_phases

        phase_of = trial_phases(snap.run_dir, len(meta.repeats))
        boards = boards.assign(phase=boards[S.TRIAL_ID].map(phase_of).astype("Int64"))
        config_cols = ["phase", *config_cols]
    tables = _board_tables(boards, metric, config_cols)
    if race is not None:
        tables.insert(0, (f"The race: each candidate's {metric} per round (every candidate of a round: the same "
                          f"seed{', the same fold' if snap.spec.decide and snap.spec.decide.resplit else ''})",
                          race.rounds.reset_index()))
        notes.append(_race_note(race, snap.spec))
    if meta.repeats:
        tables.append(("Phases: the sweep, then each repeat or extension (column phase of the leaderboards)",
                       _phases_table(meta)))
    population = _population(snap, winner, metric)
    if population is not None:
        lines, schedule_table, copies_table = population
        summary += lines
        tables.insert(0, ("The winner's schedule: who trained each epoch of its weights, and the mutated "
                          "parameters in force", schedule_table))
        tables.append(("The population: who copied whom (each copier continued from the donor's checkpoint of "
                       "that epoch, with its own new parameters)", copies_table))
    tables += _uncertainty_tables(findings.validation)
    notes += _uncertainty_notes(findings.validation)
    tables += _tradeoff_tables(findings.tradeoff, table, metric)
    if snap.running and findings.tradeoff.measured:
        notes.append("Latency was measured while the sweep trained beside it: noisy, and not kept; a report "
                     "after the run ends measures it again.")
    if findings.tradeoff.unmeasured:
        notes.append(f"{findings.tradeoff.unmeasured} scored trial(s) have no latency: no readable checkpoint, "
                     "or beyond the best 200; they are on the size front only.")
    if not table.empty:
        tables.append(("Evaluated on the held-out test split", table[[
            S.TRIAL_ID, "rank_overall", S.FAMILY, "selected_as", "checkpoint_epoch", "val_accuracy", "test_accuracy",
            "test_f1_macro", "test_auc_macro", "val_test_gap"]]))
    if is_ablation(trials):
        tables.insert(0, (f"One factor at a time: mean {metric} against the repeated baseline",
                          factor_effects(board(boards))))
    repeated = _repeats_section(board(boards), table, metric, mode)
    if repeated is not None:
        summary_table, verdict = repeated
        tables.insert(0, (f"Winners re-run over seeds: mean and std of {metric} and test accuracy", summary_table))
        summary.append(("over seeds", verdict))
    if importances is None:
        notes.append("Hyperparameter importance needs Optuna: pip install 'tunefm[tpe]'.")
    elif len(importances):
        tables.append(("Hyperparameter importance (fANOVA over each family's scored trials; Optuna)",
                       importances))
    bad = trials[trials[S.STATUS].isin([S.FAILED, S.DIVERGED, S.OVER_BUDGET])]
    if len(bad):
        tables.append(("Trials that did not train to a result", bad[[S.TRIAL_ID, S.FAMILY, S.STATUS, "epochs",
                                                                    "params", "error"]]))
    from orchestrator.search.row_config import row_config, what_was_chosen

    chosen, changed = what_was_chosen(row_config(wrow.rename(winner[S.TRIAL_ID]), with_keys=False), snap.spec,
                                      str(wrow[S.FAMILY]))
    return ReportContent(f"tunefm report: {snap.spec.name}", summary, config, scores, tables, figures, notes,
                         winner_chosen=chosen, winner_changed=changed)
