"""``tunefm report``: leaderboards, the winners on the test split, figures, Markdown and HTML.

Writes ``RUN_DIR/report/``::

    leaderboard.parquet   overall and per-family boards (column ``board``)
    test_eval.parquet     the evaluated trials on the held-out test split
    figures/*.png
    report.md, report.html
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from orchestrator.report import figures as F
from orchestrator.store import schema as S
from orchestrator.report.ablation import factor_effects, is_ablation
from trainables.contract.keys import REPEAT_COL
from trainables.contract.errors import UserError
from orchestrator.report.leaderboard import OVERALL, board, family_bests, leaderboards, searched_columns, select_for_evaluation
from trainables.contract.metrics import SELECTABLE, Mode
from orchestrator.report.document import ReportContent, write_html, write_markdown
from orchestrator.report.provenance import provenance_lines
from orchestrator.run.data_check import data_changes
from orchestrator.store.records import RunStatus
from orchestrator.store.snapshot import Snapshot, read_snapshot
from orchestrator.store.parquet import atomic_write_table

from trainables.contract.keys import REPORT_DIR


@dataclass(frozen=True)
class ReportResult:
    report_dir: Path
    winner: str
    winner_family: str
    winner_test_accuracy: float | None
    figures: list[Path]
    seconds: float
    running: bool
    status_note: str | None = None     # e.g. "interrupted: its driver stopped without a word"


def _metric_and_mode(snap: Snapshot, metric: str | None) -> tuple[str, str]:
    if metric is None:
        return snap.spec.metric, snap.spec.mode
    if metric not in SELECTABLE:
        raise UserError(f"--metric {metric}: must be one of {', '.join(SELECTABLE)}")
    return metric, Mode.of(metric).name


def _no_result_error(snap: Snapshot) -> UserError:
    counts = snap.trials[S.STATUS].value_counts().to_dict() if not snap.trials.empty else {}
    said = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items())) or "no trials yet"
    errors = snap.trials["error"].dropna() if "error" in snap.trials else pd.Series(dtype=str)
    first = f"; first error: {errors.iloc[0]}" if len(errors) else ""
    return UserError(f"{snap.run_dir}: no trial has a validation result yet ({said}); nothing to report{first}")


def writable_report_dir(snap: Snapshot, out: str | Path | None) -> Path:
    """``out`` or RUN/report, checked by a real write: a read-only run folder is refused
    in one line that names ``--out``."""
    import tempfile

    target = Path(out).expanduser() if out is not None else snap.run_dir / REPORT_DIR
    try:
        (target / "figures").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as e:
        hint = "choose another --out DIR" if out is not None else "write the report elsewhere with --out DIR"
        raise UserError(f"{target}: cannot write the report there ({e.strerror or e}); {hint}") from None
    return target


def build_report(run_dir: str | Path, top_k: int = 3, metric: str | None = None,
                 out: str | Path | None = None, allow_changed_data: bool = False) -> ReportResult:
    """Write the report of the run at ``run_dir`` (a path or a URI) into ``out``
    (default RUN/report; a URI run's report is also uploaded beside it)."""
    from orchestrator.store.folder import RunFolder

    started = time.monotonic()
    folder = RunFolder.open(run_dir)   # a URI run is read from a local copy, its report uploaded after
    snap = read_snapshot(folder)
    changed = data_changes(snap.meta, snap.spec, folder.location, allow_changed_data)
    metric, mode = _metric_and_mode(snap, metric)
    config_cols = [c for c in searched_columns(snap.spec) if c in snap.trials]
    if REPEAT_COL in snap.trials and snap.trials[REPEAT_COL].notna().any():
        config_cols.append(REPEAT_COL)   # which rows re-run another trial's configuration
    boards = leaderboards(snap.trials, snap.metrics, metric, mode, config_cols)
    overall = board(boards)
    if overall.empty or overall["rank"].isna().all():
        raise _no_result_error(snap)

    out = writable_report_dir(snap, out)
    chosen_ids = select_for_evaluation(boards, top_k)
    top = set(overall[S.TRIAL_ID].head(top_k))
    chosen = [(tid, "top-k" if tid in top else "family best") for tid in chosen_ids]
    chosen += [(tid, "repeats") for tid in _repeated_trials(overall) if tid not in chosen_ids]

    from orchestrator.report.holdout import evaluate

    holdout = evaluate(snap, chosen, folder.remote)
    ranks = overall.set_index(S.TRIAL_ID)["rank"]
    evaluated = holdout.table
    if not evaluated.empty:
        evaluated.insert(1, "rank_overall", evaluated[S.TRIAL_ID].map(ranks).astype("Int64"))
    atomic_write_table(out / "leaderboard.parquet", _arrow(boards))
    atomic_write_table(out / "test_eval.parquet", _arrow(evaluated))

    winner = overall.iloc[0]
    importances = _importances(snap, overall, metric)
    figures = _draw(snap, boards, holdout, metric, config_cols, top_k, out / "figures", importances)
    content = _content(snap, boards, holdout, winner, metric, mode, config_cols, figures, importances)
    content.alarms += [f"the data set changed since the sweep: {c}; the test scores below are on today's "
                       "files, not the sweep's" for c in changed]
    content.alarms += [f"part of this run trained on changed data (--allow-changed-data): {c}"
                       for c in snap.meta.data_changes]
    write_markdown(content, out / "report.md")
    write_html(content, out / "report.html")
    if folder.remote is not None and out == snap.run_dir / REPORT_DIR:
        folder.remote.upload_tree(out, base=Path(snap.run_dir))
    w_eval = evaluated[evaluated[S.TRIAL_ID] == winner[S.TRIAL_ID]] if not evaluated.empty else evaluated
    return ReportResult(out, winner[S.TRIAL_ID], winner[S.FAMILY],
                        float(w_eval["test_accuracy"].iloc[0]) if len(w_eval) else None,
                        [p for _, p in figures], time.monotonic() - started, snap.running,
                        snap.status_note)


def _repeated_trials(overall: pd.DataFrame) -> list[str]:
    """Every run (original and repeats) of a configuration that was re-run over seeds."""
    from orchestrator.search.repeats import config_group

    groups = config_group(overall)
    repeated = set(groups[groups != overall[S.TRIAL_ID]])
    return overall[groups.isin(repeated)][S.TRIAL_ID].tolist()


def _importances(snap: Snapshot, overall: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """fANOVA importance when Optuna is installed and the metric is the sweep's (None otherwise)."""
    from orchestrator.search.tpe import optuna_available

    if not optuna_available() or metric != snap.spec.metric:
        return None
    from orchestrator.report.importance import param_importance

    return param_importance(snap.spec, overall)


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


def _arrow(df: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)


def _draw(snap, boards, holdout, metric, config_cols, top_k, fig_dir: Path,
          importances: pd.DataFrame | None) -> list[tuple[str, Path]]:
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
    return figs


def _count(value) -> str:
    return f"{int(value):,d}" if pd.notna(value) else "an unrecorded number of"


def _content(snap, boards, holdout, winner, metric, mode, config_cols, figures, importances) -> ReportContent:
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
        ("winner", f"{winner[S.TRIAL_ID]} ({winner[S.FAMILY]}): {metric} {winner['score']:.4f} at epoch "
                   f"{int(winner['score_epoch'])}, {_count(winner['params'])} parameters"),
    ]
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
        notes.append("The winner has no checkpoint to evaluate (it may still be running its first epoch).")
    wrow = trials.set_index(S.TRIAL_ID).loc[winner[S.TRIAL_ID]]
    config = {"family": wrow[S.FAMILY], "model": wrow[S.MODEL]}
    config.update({c.removeprefix(S.CONFIG_PREFIX): wrow[c] for c in trials.columns
                   if c.startswith(S.CONFIG_PREFIX) and pd.notna(wrow[c])})
    show = ["rank", S.TRIAL_ID, S.FAMILY, "score", "score_epoch", "params", "train_seconds", S.STATUS, *config_cols]
    rename = {"score": metric, "score_epoch": "epoch", **{c: c.removeprefix(S.CONFIG_PREFIX) for c in config_cols}}
    tables = [("Leaderboard: overall (top 20)", board(boards)[show].head(20).rename(columns=rename))]
    for fam in sorted(b for b in boards["board"].unique() if b != OVERALL):
        fam_board = board(boards, fam)
        cols = [c for c in show if c == S.FAMILY or not c.startswith(S.CONFIG_PREFIX) or fam_board[c].notna().any()]
        tables.append((f"Leaderboard: {fam} (top 10)", fam_board[cols].head(10).rename(columns=rename)))
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
        summary.append(("lead", verdict))
    if importances is None:
        notes.append("Hyperparameter importance needs Optuna: pip install 'tunefm[tpe]'.")
    elif len(importances):
        tables.append(("Hyperparameter importance (fANOVA over each family's scored trials; Optuna)",
                       importances))
    bad = trials[trials[S.STATUS].isin([S.FAILED, S.DIVERGED, S.OVER_BUDGET])]
    if len(bad):
        tables.append(("Trials that did not train to a result", bad[[S.TRIAL_ID, S.FAMILY, S.STATUS, "epochs",
                                                                    "params", "error"]]))
    return ReportContent(f"tunefm report: {snap.spec.name}", summary, config, scores, tables, figures, notes)
