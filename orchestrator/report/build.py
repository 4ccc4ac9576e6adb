"""``tunefm report``: leaderboards, the winners on the test split, figures, Markdown and HTML.

Writes ``RUN_DIR/report/``::

    leaderboard.parquet   overall and per-family boards (column ``board``)
    test_eval.parquet     the evaluated trials on the held-out test split
    validation_eval.parquet  the top trials' checkpoints on the validation split, with intervals
    ties.parquet          #1 against each of the next ones: paired tests on the validation split
    tradeoff.parquet      score, parameters and latency of each trial; Pareto-front flags
    inference_costs.parquet  latency measured on this machine (reused by later reports)
    figures/*.png
    report.md, report.html
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestrator.report.content import Findings, budget_line, report_content
from orchestrator.report.document import write_html, write_markdown
from orchestrator.report.draw import draw
from orchestrator.ranking.leaderboard import board, leaderboards, searched_columns, select_for_evaluation
from orchestrator.report.pareto import Budget
from orchestrator.ranking.ties import headline
from orchestrator.report.tradeoff import trade_off
from orchestrator.report.validation import (TIES_FILE, VALIDATION_FILE, annotate, evaluate_validation, tests_table,
                                             verdicts)
from orchestrator.store.data_check import data_changes
from orchestrator.store import schema as S
from orchestrator.store.parquet import atomic_write_table, writable_dir
from orchestrator.store.snapshot import Snapshot, read_snapshot
from trainables.contract.errors import NoResultYet, UserError
from trainables.contract.keys import REPEAT_COL, REPORT_DIR
from trainables.contract.metrics import SELECTABLE, Mode

TRADEOFF_FILE = "tradeoff.parquet"
SWEEP_EDITED = "the run's frozen sweep.yaml was edited after the run started, so it may not describe its trials"


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
    ranking: str = ""                  # "#1 (...) and #2 (...) are tied on validation (McNemar exact, p=...)"
    budgets: list[str] = field(default_factory=list)   # the best trial within each --budget
    verdict: str | None = None         # the race's verdict and cost, when a race ran
    winner_test_seeds: tuple[float, ...] = ()   # the shipped configuration's test accuracy over its race seeds
    warnings: tuple[str, ...] = ()     # what makes the numbers doubtful (the report shows them in red)


def _metric_and_mode(snap: Snapshot, metric: str | None) -> tuple[str, str]:
    if metric is None:
        return snap.spec.metric, snap.spec.mode
    if metric not in SELECTABLE:
        raise UserError(f"--metric {metric}: must be one of {', '.join(SELECTABLE)}")
    return metric, Mode.of(metric).name


def _no_result_error(snap: Snapshot) -> NoResultYet:
    counts = snap.trials[S.STATUS].value_counts().to_dict() if not snap.trials.empty else {}
    said = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items())) or "no trials yet"
    errors = snap.trials["error"].dropna() if "error" in snap.trials else pd.Series(dtype=str)
    first = f"; first error: {errors.iloc[0]}" if len(errors) else ""
    return NoResultYet(f"{snap.run_dir}: no trial has a validation result yet ({said}); nothing to report{first}",
                       snap.running)


def writable_report_dir(snap: Snapshot, out: str | Path | None) -> Path:
    """``out`` or RUN/report, checked by a real write: a read-only run folder is refused
    in one line that names ``--out``."""
    target = Path(out).expanduser() if out is not None else snap.run_dir / REPORT_DIR
    hint = "choose another --out DIR" if out is not None else "write the report elsewhere with --out DIR"
    own = snap.run_dir / REPORT_DIR
    writable_dir(target, "the report", hint, allowed_in_run=own)
    return writable_dir(target / "figures", "the report", hint, allowed_in_run=own).parent


def build_report(run_dir: str | Path, top_k: int = 3, metric: str | None = None,
                 out: str | Path | None = None, allow_changed_data: bool = False,
                 budgets: tuple[Budget, ...] = (), refresh_seconds: int | None = None) -> ReportResult:
    """Write the report of the run at ``run_dir`` (a path or a URI) into ``out``
    (default RUN/report; a URI run's report is also uploaded beside it). What the data
    loaders notice on the way is among the report's warnings, once."""
    from trainables.datasets import notes

    with notes.collected() as noticed:
        return _build_report(run_dir, top_k, metric, out, allow_changed_data, budgets, refresh_seconds, noticed)


def _build_report(run_dir, top_k, metric, out, allow_changed_data, budgets, refresh_seconds,
                  noticed: list[str]) -> ReportResult:
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
    ranked = overall[overall["rank"].notna()]
    validation = evaluate_validation(snap, list(zip(ranked[S.TRIAL_ID], ranked["rank"].astype(int))), metric, mode,
                                     dict(zip(ranked[S.TRIAL_ID], ranked["score"])), folder.remote, top_k)
    boards = annotate(boards, metric, snap.meta.data.val, validation.table, verdicts(validation.tests))
    tradeoff = trade_off(snap, ranked, mode, out, folder.remote, budgets)
    race = _race(snap, tradeoff) if metric == snap.spec.metric else None

    chosen_ids = select_for_evaluation(boards, top_k)
    top = set(overall[S.TRIAL_ID].head(top_k))
    chosen = [(tid, "top-k" if tid in top else "family best") for tid in chosen_ids]
    chosen += [(tid, "repeats") for tid in _repeated_trials(overall) if tid not in chosen_ids]
    if race is not None:
        from orchestrator.search.race import runs_of

        chosen += [(tid, "race: the shipped configuration's seeds") for tid in runs_of(snap.trials, race.chosen)[S.TRIAL_ID]
                   if tid not in {t for t, _ in chosen}]
    chosen += [(tid, why) for tid, why in tradeoff.members() if tid not in {t for t, _ in chosen}]

    from orchestrator.report.holdout import evaluate

    holdout = evaluate(snap, chosen, folder.remote)
    ranks = overall.set_index(S.TRIAL_ID)["rank"]
    evaluated = holdout.table
    if not evaluated.empty:
        evaluated.insert(1, "rank_overall", evaluated[S.TRIAL_ID].map(ranks).astype("Int64"))
    try:
        atomic_write_table(out / "leaderboard.parquet", _arrow(boards))
        atomic_write_table(out / "test_eval.parquet", _arrow(evaluated))
        atomic_write_table(out / VALIDATION_FILE, _arrow(validation.table))
        atomic_write_table(out / TIES_FILE, _arrow(tests_table(validation.tests)))
        atomic_write_table(out / TRADEOFF_FILE, _arrow(tradeoff.table))

        winner = _winner(board(boards), race)
        importances = _importances(snap, overall, metric)
        findings = Findings(validation, tradeoff, race)
        figures = draw(snap, boards, holdout, metric, config_cols, top_k, out / "figures", importances, findings)
        content = report_content(snap, boards, holdout, winner, metric, mode, config_cols, figures, importances,
                                 findings)
        content.alarms += [f"the data set changed since the sweep: {c}; the validation intervals and paired tests "
                           "and the test scores below are on today's files, not the sweep's" for c in changed]
        content.alarms += [f"data: {w}" for w in dict.fromkeys([*snap.meta.data.warnings, *noticed])]
        content.alarms += [f"part of this run trained on changed data (--allow-changed-data): {c}"
                           for c in snap.meta.data_changes]
        if not snap.running and winner[S.TRIAL_ID] in holdout.missing:
            content.alarms.append(f"the winner {winner[S.TRIAL_ID]} has no test score: {holdout.missing[winner[S.TRIAL_ID]]}")
        if folder.sweep_edited():
            content.alarms.append(f"{SWEEP_EDITED}; this report reads it as it is now")
        if snap.running and refresh_seconds:
            content.refresh_seconds = refresh_seconds      # --watch: the open page follows the sweep
        write_markdown(content, out / "report.md")
        write_html(content, out / "report.html")
    except OSError as e:      # a full disk, a path taken by a folder: one line, not a traceback
        raise UserError(f"{out}: cannot write the report ({e.strerror or e}{': ' + e.filename if e.filename else ''}); "
                        "free space or remove what is in the way, then run tunefm report again") from None
    if folder.remote is not None and out == snap.run_dir / REPORT_DIR:
        folder.remote.upload_tree(out, base=Path(snap.run_dir))
    w_eval = evaluated[evaluated[S.TRIAL_ID] == winner[S.TRIAL_ID]] if not evaluated.empty else evaluated
    return ReportResult(out, winner[S.TRIAL_ID], winner[S.FAMILY],
                        float(w_eval["test_accuracy"].iloc[0]) if len(w_eval) else None,
                        [p for _, p in figures], time.monotonic() - started, snap.running,
                        snap.status_note, headline(validation.tests, validation.why_none),
                        [budget_line(b, row, metric, tradeoff.measured) for b, row in tradeoff.budgets],
                        race.line if race else None, seed_scores(snap, evaluated, race), tuple(content.alarms))


def _race(snap: Snapshot, tradeoff):
    """The race's finding, a tie picked by latency where the report measured it."""
    from orchestrator.search.race import finding

    if snap.spec.decide is None:
        return None
    latency = {}
    if "ms_per_image_batch1" in tradeoff.table:
        latency = tradeoff.table.dropna(subset=["ms_per_image_batch1"]).set_index(S.TRIAL_ID)["ms_per_image_batch1"]
        latency = {str(k): float(v) for k, v in latency.items()}
    return finding(snap.trials, snap.spec, latency, snap.folder.location)


def _winner(overall: pd.DataFrame, race) -> pd.Series:
    """The board's #1; when a race ran, the run it ships (the race decides, not one seed's score)."""
    if race is not None:
        picked = overall[overall[S.TRIAL_ID] == race.run]
        if len(picked):
            return picked.iloc[0]
    return overall.iloc[0]


def seed_scores(snap: Snapshot, evaluated: pd.DataFrame, race) -> tuple[float, ...]:
    """The shipped configuration's test accuracy, one per race run (the test split reports)."""
    if race is None or evaluated.empty:
        return ()
    from orchestrator.search.race import runs_of

    ids = set(runs_of(snap.trials, race.chosen)[S.TRIAL_ID])
    return tuple(float(v) for v in evaluated[evaluated[S.TRIAL_ID].isin(ids)]["test_accuracy"])


def _repeated_trials(overall: pd.DataFrame) -> list[str]:
    """Every run (original and repeats) of a configuration that was re-run over seeds."""
    from orchestrator.search.repeats import config_group

    groups = config_group(overall)
    repeated = set(groups[groups != overall[S.TRIAL_ID]])
    return overall[groups.isin(repeated)][S.TRIAL_ID].tolist()


def _importances(snap: Snapshot, overall: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """fANOVA importance when Optuna is installed and the metric is the sweep's (None otherwise)."""
    from orchestrator.raytune.tpe import optuna_available

    if not optuna_available() or metric != snap.spec.metric:
        return None
    from orchestrator.report.importance import param_importance

    return param_importance(snap.spec, overall)


def _arrow(df: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
