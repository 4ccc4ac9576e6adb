"""Commands that drive a run (and hold its lock): sweep, resume, repeat."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from orchestrator.cli.app import RUN_DIR, SWEEP_FILE, _user_errors, main
from orchestrator.cli.results import _print_report
from orchestrator.spec.sweep import MAX_EPOCHS, MAX_TRIALS
from trainables.contract.errors import UserError


def _cluster_options(func):
    func = click.option("--address", help="Run on an existing Ray cluster: 'auto' or 'host:port'.")(func)
    func = click.option("--gpus", type=click.IntRange(min=0, max=1024),
                        help="GPUs of the embedded Ray (default: detected; more than exist is an error).")(func)
    func = click.option("--cpus", type=click.IntRange(min=1, max=100_000),
                        help="CPUs of the embedded Ray (default: all cores).")(func)
    func = click.option("--progress/--no-progress", default=True, show_default=True,
                        help="Show the live progress line.")(func)
    func = click.option("--report", "make_report", is_flag=True,
                        help="Write the report (tunefm report) when the sweep ends.")(func)
    return func


ALLOW_CHANGED_DATA = click.option(
    "--allow-changed-data", is_flag=True,
    help="Go on although the data set's files changed since the sweep (the report then says so in red).")


def _finish(summary, make_report: bool, allow_changed_data: bool = False) -> None:
    """Print what the run became and do what its outcome says next: the report where asked
    (``--report``), then exit with the outcome's code (``lifecycle.outcome``)."""
    from orchestrator.cli.text import summary_lines
    from orchestrator.lifecycle.outcome import Then, report_stopped
    from orchestrator.lifecycle.stop import Stopped, command_stop

    for line in summary_lines(summary):
        click.echo(line)
    outcome = summary.outcome
    if outcome.says:
        unreported = make_report and outcome.then == Then.STOP and not outcome.skipped
        click.echo(f"tunefm: {outcome.says}" + ("; no report written" if unreported else ""), err=True)
    if outcome.then != Then.STOP and make_report and summary.best is None:
        said = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in summary.counts.items() if n) or "no trials"
        click.echo(f"tunefm: no report written: no trial has a validation result ({said})", err=True)
    if outcome.then != Then.STOP and make_report and summary.best is not None:
        written = False
        try:
            with command_stop(interrupt=True) as stop:
                mark = stop.mark()
                _print_report(summary.location, top_k=3, metric=None, allow_changed_data=allow_changed_data)
                written = True
                stop.check(since=mark)     # a Ctrl-C its handler raised where Python drops it (in a finalizer)
        except Stopped as e:           # the run is saved; only its report was cut short (unless written)
            stopped = report_stopped(e.request, summary.location, written)
            click.echo(f"tunefm: {stopped.says}", err=True)
            sys.exit(stopped.exit_code)
    if outcome.exit_code:
        sys.exit(outcome.exit_code)


def _command() -> str:
    return shlex.join(["tunefm", *sys.argv[1:]])


@main.command()
@click.argument("sweep_file", type=SWEEP_FILE, required=False)
@_cluster_options
@click.option("--results", "results_dir", default="results", show_default=True,
              help="Folder that receives <sweep>/<run id>/: a local or shared path, or a URI "
                   "(s3://bucket/prefix, gs://...) that every node of a cluster can reach.")
@click.option("--name", "run_name", help="Run id (default: the start time, e.g. 20261121-093000).")
@click.option("--num-samples", type=click.IntRange(min=1, max=MAX_TRIALS), help="Override every family's num_samples.")
@click.option("--max-epochs", type=click.IntRange(min=1, max=MAX_EPOCHS), help="Override scheduler.max_epochs.")
@click.option("--reuse-workers/--no-reuse-workers", default=True, show_default=True,
              help="Run many trials per worker process (imports TensorFlow once per worker).")
@click.option("--tensorboard", is_flag=True, default=None,
              help="Write TensorBoard event files under the run folder (tracking.tensorboard).")
@click.option("--mlflow-uri", help="Log each trial as an MLflow run at this tracking URI (tracking.mlflow).")
@click.option("--mlflow-experiment", help="MLflow experiment name (default: the sweep's name).")
@click.option("--decide", is_flag=True, default=None,
              help="After the search, race the leaders on new seeds until the winner is settled, a tie is shown, "
                   "or the race's budget runs out (the sweep file's decide: block, or its defaults).")
@click.option("--resume", "resume_dir", type=RUN_DIR,
              help="Continue the interrupted run in this folder instead (same as tunefm resume).")
@ALLOW_CHANGED_DATA
@_user_errors
def sweep(sweep_file: Path | None, cpus, gpus, address, results_dir, run_name, num_samples, max_epochs,
          reuse_workers, progress, make_report, tensorboard, mlflow_uri, mlflow_experiment, decide, resume_dir,
          allow_changed_data) -> None:
    """Run the sweep in SWEEP_FILE and write every epoch of every trial to Parquet.

    Trials run on the embedded local Ray unless --address names a cluster. When it
    ends, the run folder and the command that reports it are printed. A first Ctrl-C
    stops gracefully and prints the command that resumes the run; one after the sweep
    finished skips the repeat phase (and prints the command that runs it) and the report.
    """
    from orchestrator.run.plans import SweepOptions, resume_sweep, run_sweep
    from orchestrator.spec.sweep import load_sweep, with_overrides

    if (sweep_file is None) == (resume_dir is None):
        raise UserError("give a SWEEP_FILE to start a run, or --resume RUN_DIR to continue one")
    if resume_dir is not None:
        options = SweepOptions(cpus=cpus, gpus=gpus, address=address, progress=progress, command=_command(),
                               allow_changed_data=allow_changed_data)
        _finish(resume_sweep(resume_dir, options), make_report, allow_changed_data)
        return
    overrides = {k: v for k, v in (("num_samples", num_samples), ("max_epochs", max_epochs),
                                   ("tensorboard", tensorboard), ("mlflow_uri", mlflow_uri),
                                   ("mlflow_experiment", mlflow_experiment), ("decide", decide))
                 if v not in (None, False)}
    spec = with_overrides(load_sweep(sweep_file), **overrides)
    options = SweepOptions(cpus=cpus, gpus=gpus, address=address, results_dir=results_dir,
                           run_name=run_name, reuse_workers=reuse_workers, progress=progress,
                           sweep_text=sweep_file.read_text(), overrides=overrides,
                           command=_command())
    if spec.repeat_top_k:
        click.echo(f"repeating the top {spec.repeat_top_k} with {spec.repeat_seeds} new seeds each "
                   "when the sweep finishes (repeat: in the sweep file)")
    if spec.decide is not None:
        d = spec.decide
        budget = "".join(f", at most {v} {k}" for k, v in (("seconds", d.seconds), ("runs", d.trials)) if v)
        click.echo(f"then racing up to {d.candidates} leaders on new seeds until settled (error rate {d.alpha:g}) "
                   f"or tied (within {d.equivalence:g}), {d.rounds} rounds at most{budget}")
    _finish(run_sweep(spec, options), make_report)


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1),
              help="Repeat this many of the best configurations.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1),
              help="New seeds (runs) per configuration.")
@_cluster_options
@ALLOW_CHANGED_DATA
@_user_errors
def repeat(run_dir: Path, top_k: int, seeds: int, cpus, gpus, address, progress, make_report,
           allow_changed_data) -> None:
    """Re-run the best configurations of RUN_DIR with new seeds, to the full epoch budget.

    The runs land in the same Parquet (config column repeat_of names the original
    trial); the report then shows mean and std per configuration and whether the
    leader is statistically tied with the runner-up (Welch's t-test).
    """
    from orchestrator.run.plans import SweepOptions, repeat_run

    _finish(repeat_run(run_dir, top_k, seeds, SweepOptions(
        cpus=cpus, gpus=gpus, address=address, progress=progress, command=_command(),
        allow_changed_data=allow_changed_data)), make_report)


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--num-samples", type=click.IntRange(min=0, max=MAX_TRIALS),
              help="New trials per family (or for --family).")
@click.option("--race", is_flag=True,
              help="Race the run's leaders instead (or go on with a race that ended unsettled).")
@click.option("--rounds", type=click.IntRange(min=1, max=100), default=4, show_default=True,
              help="With --race: rounds more, at most.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True),
              help="With --race: the race's time budget (default: the sweep file's decide.seconds).")
@click.option("--family", help="Extend only this family.")
@click.option("--max-epochs", type=click.IntRange(min=1, max=MAX_EPOCHS),
              help="A larger epoch budget: the best trials that trained to the old one continue to it.")
@click.option("--continue-top", default=3, show_default=True, type=click.IntRange(min=0),
              help="With --max-epochs: how many of each family's best finished trials continue.")
@_cluster_options
@ALLOW_CHANGED_DATA
@_user_errors
def extend(run_dir: Path, num_samples: int | None, race: bool, rounds: int, seconds: float | None, family: str | None,
           max_epochs: int | None, continue_top: int, cpus, gpus, address, progress, make_report,
           allow_changed_data) -> None:
    """Add trials to a finished run, in the same folder and Parquet (resume an interrupted one first).

    Random and grid search continue their seeded streams without repeating a
    configuration already tried; TPE starts from every earlier result of its family;
    ASHA's rungs start with the earlier trials' results. tunefm resume continues an
    interrupted extension.
    """
    from orchestrator.run.extend import extend_race, extend_run
    from orchestrator.run.plans import SweepOptions

    options = SweepOptions(cpus=cpus, gpus=gpus, address=address, progress=progress, command=_command(),
                           allow_changed_data=allow_changed_data)
    if race:
        if num_samples is not None or family or max_epochs is not None:
            raise UserError("--race races the run's leaders: it takes no --num-samples, --family or --max-epochs")
        _finish(extend_race(run_dir, rounds, seconds, options), make_report, allow_changed_data)
        return
    if num_samples is None:
        raise UserError("give --num-samples (new trials per family), or --race to race the run's leaders")
    if num_samples == 0 and max_epochs is None:
        raise UserError("--num-samples 0 adds nothing; give --max-epochs to continue the best trials instead")
    _finish(extend_run(run_dir, num_samples, family, max_epochs, continue_top, options), make_report,
            allow_changed_data)


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@_cluster_options
@ALLOW_CHANGED_DATA
@_user_errors
def resume(run_dir: Path, cpus, gpus, address, progress, make_report, allow_changed_data) -> None:
    """Continue the interrupted run in RUN_DIR (Ctrl-C, a killed driver, a reboot).

    Finished trials are not run again; unfinished ones continue from their last
    checkpoint; trials that never started start. The Parquet ends with exactly one
    row per trial and epoch. A sweep resumed to its end then runs its file's repeat:
    block, as the sweep would have.
    """
    from orchestrator.run.plans import SweepOptions, resume_sweep

    _finish(resume_sweep(run_dir, SweepOptions(cpus=cpus, gpus=gpus, address=address, progress=progress,
                                               command=_command(), allow_changed_data=allow_changed_data)),
            make_report, allow_changed_data)
