"""A one-line live view of a sweep, instead of Ray's wide tables.

``progress_line`` is pure; ``ProgressPrinter`` rewrites one line on a terminal and
prints a line every ``interval`` seconds elsewhere (CI logs, pipes).
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from orchestrator.store import schema as S
from orchestrator.store.ledger import Ledger
from trainables.contract.status import DONE


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_line(ledger: Ledger, elapsed: float) -> str:
    """E.g. ``[1:02] 5/12 done, 2 running, 3 stopped early, 0 failed | best val_accuracy 0.8731 (cnn)``."""
    c = ledger.counts()
    finished = sum(c[s] for s in DONE)        # a trial stopped by the user is not done: resume trains it on
    total = ledger.total if ledger.total is not None else len(ledger.trials)
    parts = [f"{finished}/{total} done", f"{c[S.RUNNING]} running", f"{c[S.EARLY_STOPPED]} stopped early",
             f"{c[S.FAILED]} failed"]
    for status in (S.DIVERGED, S.OVER_BUDGET, S.STOPPED):
        if c[status]:
            parts.append(f"{c[status]} {status.replace('_', ' ')}")
    best = ledger.best()
    tail = (f" | best {ledger.metric} {best.best_metric:.4f} ({best.family}, {best.trial_id})"
            if best else "")
    return f"[{format_seconds(elapsed)}] " + ", ".join(parts) + tail


class ProgressPrinter:
    def __init__(self, ledger: Ledger, stream: TextIO | None = None, interval: float | None = None,
                 enabled: bool = True):
        self.ledger, self._stream, self.enabled = ledger, stream, enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (1.0 if self.tty else 15.0)
        self.started = time.monotonic()
        self._last_print = 0.0
        self._last_line = ""

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def __getstate__(self) -> dict:
        # Ray pickles callbacks with the experiment state; streams do not pickle.
        return {**self.__dict__, "_stream": None}

    def tick(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_print < self.interval:
            return
        line = progress_line(self.ledger, now - self.started)
        if line == self._last_line and not force:
            return
        self._last_print, self._last_line = now, line
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def say(self, line: str) -> None:
        """A line of its own (an event), above the live line on a terminal; also when the
        live line is off (``--no-progress``)."""
        self.stream.write(("\r\033[K" if self.tty else "") + "tunefm: " + line + "\n")
        self.stream.flush()
        if self.enabled and self.tty and self._last_line:
            self.stream.write(self._last_line)
            self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        self.tick(force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
