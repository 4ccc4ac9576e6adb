"""The ``tunefm`` click group and what every command shares: user errors, the command's
stop token, argument types.

A user error prints one line on stderr and exits with code 2, never a traceback. Every
command runs inside its one stop token (``lifecycle.stop.command_stop``): the one
handler of Ctrl-C and SIGTERM from its first line to its last.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from trainables.contract.errors import UserError

EXIT_USER_ERROR = 2
DRIVING = ("sweep", "resume", "repeat", "extend")   # a stop after the run folder exists ends as a recorded status


def _user_errors(func):
    """Run the command inside its stop token; ``UserError`` is one line on stderr and exit
    code 2, a stop before a run existed (or in a command that only reads) is the outcome
    table's one line and exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from orchestrator.lifecycle.outcome import early_outcome
        from orchestrator.lifecycle.stop import Reason, StopRequest, Stopped, command_stop

        command = click.get_current_context(silent=True)
        drives = command is not None and command.command.name in DRIVING
        try:
            with command_stop(interrupt=not drives) as stop:
                result = func(*args, **kwargs)
                if not drives:
                    stop.check()       # a Ctrl-C its handler raised where Python drops it (in a finalizer)
                return result
        except UserError as e:
            click.echo(f"tunefm: error: {e}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except Stopped as e:
            outcome = early_outcome(e.request, drives)
        except KeyboardInterrupt:      # raised by code that set its own handler
            outcome = early_outcome(StopRequest(Reason.CTRL_C), drives)
        click.echo(f"tunefm: {outcome.says}", err=True)
        sys.exit(outcome.exit_code)

    return wrapper


SWEEP_FILE = click.Path(dir_okay=False, path_type=Path)


class OutDir(click.ParamType):
    """An output folder; an empty string (which a Path would read as ".") is refused."""

    name = "DIR"

    def convert(self, value, param, ctx):
        if isinstance(value, Path):
            return value
        if not str(value).strip():
            self.fail("an empty path; give the folder to write into", param, ctx)
        return Path(value)


OUT_DIR = OutDir()


class OneLineErrors(click.Group):
    """click's usage errors (a bad option, a missing argument) as one line too:
    ``tunefm: error: <what>; see 'tunefm <command> --help'``, exit code 2."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as e:
            where = f"tunefm {e.ctx.command_path.split(' ', 1)[1]}" if e.ctx and " " in e.ctx.command_path else "tunefm"
            click.echo(f"tunefm: error: {e.format_message().rstrip('.')}; see '{where} --help'", err=True)
            sys.exit(EXIT_USER_ERROR)
        except click.ClickException as e:
            click.echo(f"tunefm: error: {e.format_message()}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except click.Abort:
            click.echo("tunefm: stopped", err=True)
            sys.exit(130)
        if isinstance(code, int) and code:
            sys.exit(code)
        return code


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tunefm")
@click.option("--verbose", "-v", is_flag=True,
              help="Show what tunefm leaves out: TensorFlow's start-up lines, Ray Tune's traceback of each failed trial.")
def main(verbose: bool) -> None:
    """Hyperparameter sweeps over Keras image classifiers, on Ray Tune.

    \b
    Typical use:
      tunefm validate sweeps/quick.yaml     check a sweep file, train nothing
      tunefm preview sweeps/quick.yaml      sample configs, count parameters
      tunefm sweep sweeps/quick.yaml        run it; every epoch lands in Parquet
      tunefm families                       model families and their parameters
    """
    if verbose:
        import os

        from trainables.training.quiet import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"
        os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "1")   # Tune's own default


class _RunLocation(click.ParamType):
    """A run folder: a local path, or a URI (s3://, gs://...) kept as written."""

    name = "RUN_DIR"

    def convert(self, value, param, ctx):
        from orchestrator.store.remote import is_uri, local_location

        value = local_location(value)
        return value if is_uri(value) else Path(value)


RUN_DIR = _RunLocation()
