"""The ``tunefm`` program's first lines: the command's one stop token and its signal
handler are in place before anything else is imported. Importing the commands takes a
fifth of a second on two cores; a SIGTERM then used to end the process without a word.
A stop that comes before a command runs is one line and exit code 130 or 143."""
from __future__ import annotations

import sys


def main() -> None:
    from orchestrator.lifecycle.stop import Stopped, command_stop

    try:
        with command_stop(interrupt=True):
            from orchestrator.cli import main as commands

            commands()
    except Stopped as e:
        from orchestrator.lifecycle.outcome import starting_outcome

        outcome = starting_outcome(e.request)
        print(f"tunefm: {outcome.says}", file=sys.stderr)
        sys.exit(outcome.exit_code)
