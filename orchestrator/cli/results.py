"""``tunefm report`` and ``tunefm leaderboard``: readers of a run folder; they never lock it."""
from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.app import OUT_DIR, RUN_DIR, _user_errors, main


def _print_report(run_dir: Path | str, top_k: int, metric: str | None, out: Path | None = None,
                  allow_changed_data: bool = False, budgets: tuple[str, ...] = (), watch: int | None = None) -> bool:
    from orchestrator.report.build import build_report
    from orchestrator.report.pareto import parse_budget
    from orchestrator.store.remote import is_uri, join

    parsed = tuple(parse_budget(b) for b in budgets)
    result = build_report(run_dir, top_k=top_k, metric=metric, out=out, allow_changed_data=allow_changed_data,
                          budgets=parsed, refresh_seconds=watch)
    test = f", test accuracy {result.winner_test_accuracy:.4f}" if result.winner_test_accuracy is not None else ""
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.verdict:
        click.echo(f"verdict: {result.verdict}")
    if len(result.winner_test_seeds) > 1:
        import statistics

        seeds = result.winner_test_seeds
        test = (f", test accuracy {statistics.mean(seeds):.4f} ± {statistics.stdev(seeds):.4f} over its "
                f"{len(seeds)} race seeds")
    click.echo(f"winner: {result.winner} ({result.winner_family}){test}")
    click.echo(f"ranking: {result.ranking}")
    for line in result.budgets:
        click.echo(f"budget: {line}")
    note = f" ({result.status_note})" if result.status_note else ""
    state = f"; sweep still running{note}" if result.running else (f"; the run was interrupted{note}" if note else "")
    import time

    stamp = f"[{time.strftime('%H:%M:%S')}] " if watch else ""
    click.echo(f"{stamp}report: {result.report_dir / 'report.html'} ({len(result.figures)} figures, "
               f"{result.seconds:.1f} s{state})")
    if is_uri(run_dir) and out is None:
        click.echo(f"uploaded to {join(str(run_dir), result.report_dir.name)}")
    return result.running


class _Seconds(click.IntRange):
    """``--watch``'s optional value: click takes the next word for it, so ``--watch RUN``
    reads the run folder as seconds; say so, and how to write it."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not _number(value):
            self.fail(f"{value!r} is not a number of seconds; put the run first ('tunefm {ctx.info_name} "
                      f"RUN --watch') or give the seconds ('--watch 30 RUN')", param, ctx)
        return super().convert(value, param, ctx)


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


WATCH = click.option("--watch", type=_Seconds(min=1), is_flag=False, flag_value=30, default=None,
                     metavar="[SECONDS]", help="Redo this every SECONDS (default 30) while the sweep runs; "
                                               "stop when it ends (or on Ctrl-C).")


def _watch(once, seconds: int | None) -> None:
    """Run ``once`` (returns: is the sweep still running?), again every ``seconds`` while it runs."""
    import time

    from orchestrator.lifecycle.stop import Stopped
    from trainables.contract.errors import NoResultYet

    while True:
        try:
            running = once()
        except NoResultYet as e:
            if not (seconds and e.running):
                raise
            click.echo(f"[{time.strftime('%H:%M:%S')}] waiting for a first result ({e})")
            running = True
        if not (seconds and running):
            return
        try:
            time.sleep(seconds)
        except (KeyboardInterrupt, Stopped):
            click.echo("stopped watching; the sweep goes on")
            raise SystemExit(0) from None      # the watch's own end: not a stop of what it wrote


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1),
              help="Evaluate this many top trials overall on the test split (plus each family's best).")
@click.option("--metric", help="Rank by this validation metric instead of the sweep's "
                               "(val_accuracy, val_loss, val_macro_f1, val_auc).")
@click.option("--out", type=OUT_DIR,
              help="Write the report here instead of RUN_DIR/report (e.g. for a read-only run folder).")
@click.option("--allow-changed-data", is_flag=True,
              help="Report although the data set's files changed since the sweep (the report says so in red).")
@click.option("--budget", "budgets", multiple=True, metavar="KEY=LIMIT[,KEY=LIMIT]",
              help="Name the best trial within a budget: params=7000, latency_ms=2 (ms per image at batch 1 on "
                   "this machine), latency_ms_batch256=0.1, or several comma-separated; repeat for several "
                   "budgets.")
@WATCH
@_user_errors
def report(run_dir: Path, top_k: int, metric: str | None, out: Path | None, allow_changed_data: bool,
           budgets: tuple[str, ...], watch: int | None) -> None:
    """Leaderboards, test-split evaluation of the winners, figures, report.md and report.html.

    Reads RUN_DIR's Parquet (a consistent snapshot, also while the sweep runs or after
    its driver died) and writes RUN_DIR/report/. The test split is loaded here and
    nowhere else.
    """
    _watch(lambda: _print_report(run_dir, top_k, metric, out, allow_changed_data, budgets, watch), watch)


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--family", help="Show this family's board instead of the overall one.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1), help="Rows to show.")
@click.option("--metric", help="Rank by this validation metric instead of the sweep's.")
@WATCH
@_user_errors
def leaderboard(run_dir: Path, family: str | None, top: int, metric: str | None, watch: int | None) -> None:
    """Print RUN_DIR's leaderboard as an aligned table (nothing is written)."""
    import sys

    from orchestrator.report.terminal import leaderboard_text

    def once() -> bool:
        text = leaderboard_text(run_dir, family, top, metric)
        if watch and sys.stdout.isatty():
            click.clear()
        for line in text.lines:
            click.echo(line)
        return text.running

    _watch(once, watch)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=RUN_DIR)
@click.option("--out", type=OUT_DIR, default=Path("compare"),
              show_default=True, help="Folder for compare.md, compare.html and the figure.")
@click.option("--metric", help="Rank every run by this validation metric (default: the first run's).")
@_user_errors
def compare(run_dirs: tuple[Path, ...], out: Path, metric: str | None) -> None:
    """Compare two or more runs: differing settings, best trials with intervals, anytime
    curves, and each winner's test accuracy (from its report)."""
    from orchestrator.report.compare import compare as compare_runs, write_comparison
    from orchestrator.store.parquet import writable_dir

    writable_dir(out, "the comparison", "choose another --out DIR")     # before any work
    c = compare_runs(list(run_dirs), metric)
    click.echo(f"{len(c.views)} runs, ranked by {c.metric} ({c.mode})")
    if c.warning:
        click.echo(f"warning: {c.warning}", err=True)
    for v in c.views:
        click.echo(f"{v.name}: {v.verdict}")
    click.echo("settings that differ:")
    click.echo(c.differences.to_string(index=False) if len(c.differences) else "  none")
    click.echo("best trials (overall and per family):")
    click.echo(c.bests.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
    click.echo("anytime:")
    click.echo(c.curves.to_string(index=False, na_rep="never", float_format=lambda v: f"{v:.4g}"))
    missing = [v.name for v in c.views if v.winner_test is None]
    if missing:
        click.echo(f"no test accuracy for {', '.join(missing)}: tunefm report evaluates a run's winner")
    md, page = write_comparison(c, out)
    click.echo(f"comparison: {page}")
