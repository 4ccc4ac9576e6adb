"""``tunefm report`` and ``tunefm leaderboard``: readers of a run folder; they never lock it."""
from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.app import RUN_DIR, _user_errors, main
from trainables.contract.errors import UserError


def _print_report(run_dir: Path | str, top_k: int, metric: str | None, out: Path | None = None,
                  allow_changed_data: bool = False, budgets: tuple[str, ...] = ()) -> None:
    from orchestrator.report.build import build_report
    from orchestrator.report.pareto import parse_budget
    from orchestrator.store.remote import is_uri, join

    parsed = tuple(parse_budget(b) for b in budgets)
    result = build_report(run_dir, top_k=top_k, metric=metric, out=out, allow_changed_data=allow_changed_data,
                          budgets=parsed)
    test = f", test accuracy {result.winner_test_accuracy:.4f}" if result.winner_test_accuracy is not None else ""
    click.echo(f"winner: {result.winner} ({result.winner_family}){test}")
    click.echo(f"ranking: {result.ranking}")
    for line in result.budgets:
        click.echo(f"budget: {line}")
    note = f" ({result.status_note})" if result.status_note else ""
    state = f"; sweep still running{note}" if result.running else (f"; the run was interrupted{note}" if note else "")
    click.echo(f"report: {result.report_dir / 'report.html'} ({len(result.figures)} figures, "
               f"{result.seconds:.1f} s{state})")
    if is_uri(run_dir) and out is None:
        click.echo(f"uploaded to {join(str(run_dir), result.report_dir.name)}")


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1),
              help="Evaluate this many top trials overall on the test split (plus each family's best).")
@click.option("--metric", help="Rank by this validation metric instead of the sweep's "
                               "(val_accuracy, val_loss, val_macro_f1, val_auc).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write the report here instead of RUN_DIR/report (e.g. for a read-only run folder).")
@click.option("--allow-changed-data", is_flag=True,
              help="Report although the data set's files changed since the sweep (the report says so in red).")
@click.option("--budget", "budgets", multiple=True, metavar="KEY=LIMIT[,KEY=LIMIT]",
              help="Name the best trial within a budget: params=7000, latency_ms=2 (ms per image at batch 1 on "
                   "this machine) or both; repeat for several budgets.")
@_user_errors
def report(run_dir: Path, top_k: int, metric: str | None, out: Path | None, allow_changed_data: bool,
           budgets: tuple[str, ...]) -> None:
    """Leaderboards, test-split evaluation of the winners, figures, report.md and report.html.

    Reads RUN_DIR's Parquet (a consistent snapshot, also while the sweep runs or after
    its driver died) and writes RUN_DIR/report/. The test split is loaded here and
    nowhere else.
    """
    _print_report(run_dir, top_k, metric, out, allow_changed_data, budgets)


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--family", help="Show this family's board instead of the overall one.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1), help="Rows to show.")
@click.option("--metric", help="Rank by this validation metric instead of the sweep's.")
@_user_errors
def leaderboard(run_dir: Path, family: str | None, top: int, metric: str | None) -> None:
    """Print RUN_DIR's leaderboard as an aligned table (nothing is written)."""
    from orchestrator.report.leaderboard import OVERALL, board, leaderboards, searched_columns
    from orchestrator.store.records import RunStatus
    from orchestrator.store.snapshot import read_snapshot
    from trainables.contract.keys import CONFIG_PREFIX
    from trainables.contract.metrics import SELECTABLE, Mode

    snap = read_snapshot(run_dir)
    if metric is not None and metric not in SELECTABLE:
        raise UserError(f"--metric {metric}: must be one of {', '.join(SELECTABLE)}")
    metric = metric or snap.spec.metric
    mode = snap.spec.mode if metric == snap.spec.metric else Mode.of(metric).name
    cols = [c for c in searched_columns(snap.spec) if c in snap.trials]
    boards = leaderboards(snap.trials, snap.metrics, metric, mode, cols)
    if boards.empty or board(boards)["rank"].isna().all():
        raise UserError(f"{snap.folder.location}: no trial has a {metric} yet ({len(snap.trials)} trials "
                        f"recorded); nothing to rank")
    name = family or OVERALL
    if name not in set(boards["board"]):
        known = ", ".join(sorted(b for b in set(boards["board"]) if b != OVERALL)) or "none yet"
        raise UserError(f"--family {name}: no such family in this run (families: {known})")
    import pandas as pd

    from orchestrator.report.validation import annotate, saved_verdicts
    from orchestrator.store import schema as S
    from trainables.contract.keys import REPORT_DIR

    leader = board(boards)[S.TRIAL_ID].iloc[0]
    said = saved_verdicts(snap.run_dir / REPORT_DIR, leader, metric)
    boards = annotate(boards, metric, snap.meta.data.val, verdict_of=said)
    boards["ci_95"] = [f"[{a:.3f}, {b:.3f}]" if pd.notna(a) and pd.notna(b) else ""
                       for a, b in zip(boards["ci_low"], boards["ci_high"])]
    order = [c for c in boards.columns if c not in ("ci_low", "ci_high", "ci_95", "vs_1")]
    at = order.index("score") + 1
    shown = order[:at] + ["ci_95"] + (["vs_1"] if said and not family else []) + order[at:]
    table = board(boards, name)[shown].head(top).drop(columns="board")
    if family:
        table = table.dropna(axis=1, how="all")
    table = table.rename(columns={"score": metric, "score_epoch": "epoch",
                                  **{c: c.removeprefix(CONFIG_PREFIX) for c in cols}})
    state = "; sweep still running" + (f" ({snap.status_note})" if snap.status_note else "") if snap.running else \
        (f"; interrupted ({snap.status_note or snap.meta.note or 'not all trials ended'})"
         if snap.status == RunStatus.INTERRUPTED else "")
    click.echo(f"{snap.spec.name} / {snap.run_dir.name}: {name} board by {metric} ({mode}){state}")
    click.echo(table.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
    if not family:
        click.echo("vs_1: paired tests of #1 on the validation split, from the last report" if said else
                   f"ties: not tested for today's #1 by {metric}; tunefm report {snap.folder.location} tests them")
