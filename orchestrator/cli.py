"""The ``tunefm`` command: parse, call a library function, print.

A user error prints one line on stderr and exits with code 2, never a traceback.
"""
from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path

import click

from orchestrator.errors import UserError

EXIT_USER_ERROR = 2


def _user_errors(func):
    """Turn ``UserError`` into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as e:
            click.echo(f"tunefm: error: {e}", err=True)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


SWEEP_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tunefm")
def main() -> None:
    """Hyperparameter sweeps over Keras image classifiers, on Ray Tune.

    \b
    Typical use:
      tunefm validate sweeps/quick.yaml     check a sweep file, train nothing
      tunefm preview sweeps/quick.yaml      sample configs, count parameters
      tunefm sweep sweeps/quick.yaml        run it; every epoch lands in Parquet
      tunefm families                       model families and their parameters
    """


@main.command()
@click.argument("sweep_file", type=SWEEP_FILE)
@_user_errors
def validate(sweep_file: Path) -> None:
    """Check SWEEP_FILE and print what it would run; trains nothing."""
    from orchestrator.ray_space import trial_configs
    from orchestrator.sweep import load_sweep

    spec = load_sweep(sweep_file)
    configs = trial_configs(spec)
    per_family = {f.label: sum(c["family"] == f.label for c in configs) for f in spec.families}
    click.echo(f"{sweep_file}: ok. sweep '{spec.name}' on {spec.dataset.name}: {len(configs)} trials "
               f"({', '.join(f'{k} {v}' for k, v in per_family.items())}), "
               f"{spec.scheduler.kind} up to {spec.scheduler.max_epochs} epochs, "
               f"{spec.mode} {spec.metric}")


@main.command()
@click.argument("sweep_file", type=SWEEP_FILE)
@click.option("-n", "--per-family", default=3, show_default=True, type=click.IntRange(min=1),
              help="Configs to sample per family.")
@_user_errors
def preview(sweep_file: Path, per_family: int) -> None:
    """Sample a few configs per family of SWEEP_FILE and count their parameters (builds, never trains)."""
    from orchestrator.preview import preview as run_preview
    from orchestrator.sweep import load_sweep

    spec = load_sweep(sweep_file)
    rows, totals = run_preview(spec, per_family)
    for label, total in totals.items():
        click.echo(f"{label}: {total} trials")
        for row in (r for r in rows if r.family == label):
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in row.searched.items())
            if row.error:
                click.echo(f"  #{row.index}  does not build: {row.error.splitlines()[0]}  {values}")
                continue
            flag = "  OVER max_params" if row.over_budget else ""
            click.echo(f"  #{row.index}  {row.params:>10,d} params{flag}  {values}")


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@main.command()
@click.argument("name", required=False)
@_user_errors
def families(name: str | None) -> None:
    """List the model families and each one's parameters (or only NAME's)."""
    from trainables.families import family_names, get_family
    from trainables.families.params import TRAINING_PARAMS

    names = family_names()
    if name is not None:
        if name not in names:
            raise UserError(f"unknown model family '{name}' (known: {', '.join(names)})")
        names = [name]
    for fam_name in names:
        fam = get_family(fam_name)
        click.echo(f"{fam.name}: {fam.summary}")
        for p in fam.params:
            click.echo(f"  {p.describe()}")
    click.echo("every family also takes:")
    for p in TRAINING_PARAMS:
        click.echo(f"  {p.describe()}")


@main.command()
@click.argument("backbones", nargs=-1)
@_user_errors
def weights(backbones: tuple[str, ...]) -> None:
    """Download ImageNet weights of BACKBONES (default: all) into the Keras cache.

    Run it on a machine with internet; it prints where each file is, so you can copy
    the files into ~/.keras/models/ of an offline machine. Files already cached are
    only listed.
    """
    from trainables.families.backbones import BACKBONES, download

    for name in backbones or tuple(BACKBONES):
        if name not in BACKBONES:
            raise UserError(f"unknown backbone '{name}' (known: {', '.join(BACKBONES)})")
        click.echo(f"{name}: {download(name)}")


def _cluster_options(func):
    func = click.option("--address", help="Run on an existing Ray cluster: 'auto' or 'host:port'.")(func)
    func = click.option("--gpus", type=click.FloatRange(min=0),
                        help="GPUs of the embedded Ray (default: detected; more than exist is an error).")(func)
    func = click.option("--cpus", type=click.FloatRange(min=0, min_open=True),
                        help="CPUs of the embedded Ray (default: all cores).")(func)
    func = click.option("--progress/--no-progress", default=True, show_default=True,
                        help="Show the live progress line.")(func)
    func = click.option("--report", "make_report", is_flag=True,
                        help="Write the report (tunefm report) when the sweep ends.")(func)
    return func


class _RunLocation(click.ParamType):
    """A run folder: a local path, or a URI (s3://, gs://...) kept as written."""

    name = "RUN_DIR"

    def convert(self, value, param, ctx):
        from orchestrator.remote import is_uri

        return value if is_uri(value) else Path(value)


RUN_DIR = _RunLocation()


def _finish(summary, make_report: bool) -> None:
    from orchestrator.runner import summary_lines

    for line in summary_lines(summary):
        click.echo(line)
    if make_report and summary.best is not None:
        _print_report(summary.location, top_k=3, metric=None)
    if summary.status != "finished":
        sys.exit(130)


@main.command()
@click.argument("sweep_file", type=SWEEP_FILE, required=False)
@_cluster_options
@click.option("--results", "results_dir", default="results", show_default=True,
              help="Folder that receives <sweep>/<run id>/: a local or shared path, or a URI "
                   "(s3://bucket/prefix, gs://...) that every node of a cluster can reach.")
@click.option("--name", "run_name", help="Run id (default: the start time, e.g. 20261121-093000).")
@click.option("--num-samples", type=click.IntRange(min=1), help="Override every family's num_samples.")
@click.option("--max-epochs", type=click.IntRange(min=1), help="Override scheduler.max_epochs.")
@click.option("--reuse-workers/--no-reuse-workers", default=True, show_default=True,
              help="Run many trials per worker process (imports TensorFlow once per worker).")
@click.option("--resume", "resume_dir", type=RUN_DIR,
              help="Continue the interrupted run in this folder instead (same as tunefm resume).")
@_user_errors
def sweep(sweep_file: Path | None, cpus, gpus, address, results_dir, run_name, num_samples, max_epochs,
          reuse_workers, progress, make_report, resume_dir) -> None:
    """Run the sweep in SWEEP_FILE and write every epoch of every trial to Parquet.

    Trials run on the embedded local Ray unless --address names a cluster. When it
    ends, the run folder and the command that reports it are printed. A first Ctrl-C
    stops gracefully and prints the command that resumes the run.
    """
    from orchestrator.runner import SweepOptions, resume_sweep, run_sweep
    from orchestrator.sweep import load_sweep, with_overrides

    if (sweep_file is None) == (resume_dir is None):
        raise UserError("give a SWEEP_FILE to start a run, or --resume RUN_DIR to continue one")
    if resume_dir is not None:
        options = SweepOptions(cpus=cpus, gpus=gpus, address=address, progress=progress)
        _finish(resume_sweep(resume_dir, options), make_report)
        return
    overrides = {k: v for k, v in (("num_samples", num_samples), ("max_epochs", max_epochs)) if v is not None}
    spec = with_overrides(load_sweep(sweep_file), **overrides)
    options = SweepOptions(cpus=cpus, gpus=gpus, address=address, results_dir=results_dir,
                           run_name=run_name, reuse_workers=reuse_workers, progress=progress,
                           sweep_text=sweep_file.read_text(), overrides=overrides,
                           command=shlex.join(["tunefm", *sys.argv[1:]]))
    summary = run_sweep(spec, options)
    if spec.repeat_top_k and summary.status == "finished" and summary.best is not None:
        from orchestrator.runner import repeat_run, summary_lines

        for line in summary_lines(summary)[:2]:
            click.echo(line)
        click.echo(f"repeating the top {spec.repeat_top_k} with {spec.repeat_seeds} new seeds each")
        summary = repeat_run(summary.location, spec.repeat_top_k, spec.repeat_seeds,
                             SweepOptions(cpus=cpus, gpus=gpus, address=address, progress=progress))
    _finish(summary, make_report)


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1),
              help="Repeat this many of the best configurations.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1),
              help="New seeds (runs) per configuration.")
@_cluster_options
@_user_errors
def repeat(run_dir: Path, top_k: int, seeds: int, cpus, gpus, address, progress, make_report) -> None:
    """Re-run the best configurations of RUN_DIR with new seeds, to the full epoch budget.

    The runs land in the same Parquet (config column repeat_of names the original
    trial); the report then shows mean and std per configuration and whether the
    leader is statistically tied with the runner-up (Welch's t-test).
    """
    from orchestrator.runner import SweepOptions, repeat_run

    _finish(repeat_run(run_dir, top_k, seeds, SweepOptions(cpus=cpus, gpus=gpus, address=address,
                                                             progress=progress)), make_report)


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@_cluster_options
@_user_errors
def resume(run_dir: Path, cpus, gpus, address, progress, make_report) -> None:
    """Continue the interrupted run in RUN_DIR (Ctrl-C, a killed driver, a reboot).

    Finished trials are not run again; unfinished ones continue from their last
    checkpoint; trials that never started start. The Parquet ends with exactly one
    row per trial and epoch.
    """
    from orchestrator.runner import SweepOptions, resume_sweep

    _finish(resume_sweep(run_dir, SweepOptions(cpus=cpus, gpus=gpus, address=address, progress=progress)),
            make_report)


def _print_report(run_dir: Path | str, top_k: int, metric: str | None) -> None:
    from orchestrator.remote import is_uri, join
    from orchestrator.report import build_report

    result = build_report(run_dir, top_k=top_k, metric=metric)
    test = f", test accuracy {result.winner_test_accuracy:.4f}" if result.winner_test_accuracy is not None else ""
    click.echo(f"winner: {result.winner} ({result.winner_family}){test}")
    click.echo(f"report: {result.report_dir / 'report.html'} ({len(result.figures)} figures, "
               f"{result.seconds:.1f} s{'; sweep still running' if result.running else ''})")
    if is_uri(run_dir):
        click.echo(f"uploaded to {join(str(run_dir), result.report_dir.name)}")


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1),
              help="Evaluate this many top trials overall on the test split (plus each family's best).")
@click.option("--metric", help="Rank by this validation metric instead of the sweep's "
                               "(val_accuracy, val_loss, val_macro_f1, val_auc).")
@_user_errors
def report(run_dir: Path, top_k: int, metric: str | None) -> None:
    """Leaderboards, test-split evaluation of the winners, figures, report.md and report.html.

    Reads RUN_DIR's Parquet (a consistent snapshot, also while the sweep runs) and
    writes RUN_DIR/report/. The test split is loaded here and nowhere else.
    """
    _print_report(run_dir, top_k, metric)


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--family", help="Show this family's board instead of the overall one.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1), help="Rows to show.")
@click.option("--metric", help="Rank by this validation metric instead of the sweep's.")
@_user_errors
def leaderboard(run_dir: Path, family: str | None, top: int, metric: str | None) -> None:
    """Print RUN_DIR's leaderboard as an aligned table (nothing is written)."""
    from orchestrator.leaderboard import OVERALL, board, leaderboards, searched_columns
    from orchestrator.metrics import SELECTABLE
    from orchestrator.remote import localize
    from orchestrator.snapshot import read_snapshot

    snap = read_snapshot(localize(run_dir))
    if metric is not None and metric not in SELECTABLE:
        raise UserError(f"--metric {metric}: must be one of {', '.join(SELECTABLE)}")
    metric = metric or snap.spec.metric
    mode = snap.spec.mode if metric == snap.spec.metric else SELECTABLE[metric]
    cols = [c for c in searched_columns(snap.spec) if c in snap.trials]
    boards = leaderboards(snap.trials, snap.metrics, metric, mode, cols)
    name = family or OVERALL
    if name not in set(boards["board"]):
        known = ", ".join(sorted(b for b in set(boards["board"]) if b != OVERALL)) or "none yet"
        raise UserError(f"--family {name}: no such family in this run (families: {known})")
    table = board(boards, name).head(top).drop(columns="board")
    if family:
        table = table.dropna(axis=1, how="all")
    table = table.rename(columns={"score": metric, "score_epoch": "epoch",
                                  **{c: c.removeprefix("config_") for c in cols}})
    click.echo(f"{snap.spec.name} / {snap.run_dir.name}: {name} board by {metric} ({mode})"
               + ("; sweep still running" if snap.running else ""))
    click.echo(table.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
