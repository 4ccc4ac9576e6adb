"""The ``tunefm`` program's first lines: the command's one stop token and its signal
handler are in place before anything else is imported. Importing the commands takes a
fifth of a second on two cores; a SIGTERM then used to end the process without a word.
A stop that comes before a command runs is one line and exit code 130 or 143.

Until the stop token's own module is imported (its imports take ~40 ms), a handler of
nothing but ``signal`` notes a Ctrl-C or SIGTERM; it was Python's KeyboardInterrupt
traceback, or a silent exit.
"""
from __future__ import annotations

import signal
import sys


def main() -> None:
    early: list[int] = []

    def noted(signum, frame) -> None:
        early.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, noted)
    from orchestrator.lifecycle.stop import SIGNALS, StopRequest, Stopped, command_stop

    try:
        with command_stop(interrupt=True):
            if early:
                raise Stopped(StopRequest(SIGNALS[early[0]]))
            from orchestrator.cli import main as commands

            commands()
    except Stopped as e:
        from orchestrator.lifecycle.outcome import starting_outcome

        outcome = starting_outcome(e.request)
        print(f"tunefm: {outcome.says}", file=sys.stderr)
        sys.exit(outcome.exit_code)
