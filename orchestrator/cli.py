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
            flag = "  OVER max_params" if row.over_budget else ""
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in row.searched.items())
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
@click.argument("sweep_file", type=SWEEP_FILE)
@click.option("--cpus", type=click.FloatRange(min=0, min_open=True),
              help="CPUs of the embedded Ray (default: all cores).")
@click.option("--gpus", type=click.FloatRange(min=0), help="GPUs of the embedded Ray (default: detected).")
@click.option("--address", help="Run on an existing Ray cluster: 'auto' or 'ray://host:port'.")
@click.option("--results", "results_dir", default="results", show_default=True,
              type=click.Path(file_okay=False), help="Folder that receives <sweep>/<run id>/.")
@click.option("--name", "run_name", help="Run id (default: the start time, e.g. 20261121-093000).")
@click.option("--num-samples", type=click.IntRange(min=1), help="Override every family's num_samples.")
@click.option("--max-epochs", type=click.IntRange(min=1), help="Override scheduler.max_epochs.")
@click.option("--reuse-workers/--no-reuse-workers", default=True, show_default=True,
              help="Run many trials per worker process (imports TensorFlow once per worker).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show the live progress line.")
@_user_errors
def sweep(sweep_file: Path, cpus, gpus, address, results_dir, run_name, num_samples, max_epochs,
          reuse_workers, progress) -> None:
    """Run the sweep in SWEEP_FILE and write every epoch of every trial to Parquet.

    Trials run on the embedded local Ray unless --address names a cluster. When it
    ends, the run folder and the command that reports it are printed.
    """
    from orchestrator.runner import SweepOptions, run_sweep, summary_lines
    from orchestrator.sweep import load_sweep, with_overrides

    spec = with_overrides(load_sweep(sweep_file), num_samples=num_samples, max_epochs=max_epochs)
    options = SweepOptions(cpus=cpus, gpus=gpus, address=address, results_dir=results_dir,
                           run_name=run_name, reuse_workers=reuse_workers, progress=progress,
                           sweep_text=sweep_file.read_text(),
                           command=shlex.join(["tunefm", *sys.argv[1:]]))
    summary = run_sweep(spec, options)
    for line in summary_lines(summary):
        click.echo(line)
    if summary.status != "finished":
        sys.exit(130)


if __name__ == "__main__":
    main()
