"""The ``tunefm`` command: parse, call a library function, print.

A user error prints one line on stderr and exits with code 2, never a traceback.
"""
from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path

import click

from trainables.contract.errors import UserError

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
    from orchestrator.search.ray_space import trial_configs
    from orchestrator.spec.sweep import load_sweep

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
    from orchestrator.search.preview import preview as run_preview
    from orchestrator.spec.sweep import load_sweep

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
        from orchestrator.store.remote import is_uri

        return value if is_uri(value) else Path(value)


RUN_DIR = _RunLocation()


def _finish(summary, make_report: bool) -> None:
    from orchestrator.cli.text import summary_lines

    for line in summary_lines(summary):
        click.echo(line)
    if make_report and summary.best is not None:
        _print_report(summary.location, top_k=3, metric=None)
    if summary.status != "finished":
        sys.exit(130)


def _command() -> str:
    return shlex.join(["tunefm", *sys.argv[1:]])


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
    from orchestrator.run.plans import SweepOptions, resume_sweep, run_sweep
    from orchestrator.spec.sweep import load_sweep, with_overrides

    if (sweep_file is None) == (resume_dir is None):
        raise UserError("give a SWEEP_FILE to start a run, or --resume RUN_DIR to continue one")
    if resume_dir is not None:
        options = SweepOptions(cpus=cpus, gpus=gpus, address=address, progress=progress, command=_command())
        _finish(resume_sweep(resume_dir, options), make_report)
        return
    overrides = {k: v for k, v in (("num_samples", num_samples), ("max_epochs", max_epochs)) if v is not None}
    spec = with_overrides(load_sweep(sweep_file), **overrides)
    options = SweepOptions(cpus=cpus, gpus=gpus, address=address, results_dir=results_dir,
                           run_name=run_name, reuse_workers=reuse_workers, progress=progress,
                           sweep_text=sweep_file.read_text(), overrides=overrides,
                           command=_command())
    if spec.repeat_top_k:
        click.echo(f"when the sweep finishes, its top {spec.repeat_top_k} are re-run with "
                   f"{spec.repeat_seeds} new seeds each (repeat: in the sweep file)")
    _finish(run_sweep(spec, options), make_report)


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
    from orchestrator.run.plans import SweepOptions, repeat_run

    _finish(repeat_run(run_dir, top_k, seeds, SweepOptions(cpus=cpus, gpus=gpus, address=address,
                                                             progress=progress, command=_command())), make_report)


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
    from orchestrator.run.plans import SweepOptions, resume_sweep

    _finish(resume_sweep(run_dir, SweepOptions(cpus=cpus, gpus=gpus, address=address, progress=progress,
                                               command=_command())), make_report)


from orchestrator.cli import results as _results  # noqa: E402,F401  (registers report, leaderboard)
from orchestrator.cli.results import _print_report  # noqa: E402


if __name__ == "__main__":
    main()
