"""One stop token per command, and the one signal handler that feeds it.

Every part of tunefm that can end a run asks the command's ``Stop`` and nothing else
holds a reason: the signal handler (Ctrl-C, SIGTERM), the recorder (a write into the
run folder failed, the folder was moved away), the phase runner (the fit ended with
trials unfinished). The first request wins; later ones are counted, never lost::

    with command_stop() as stop:          # from the command's first line to its last
        ...
        stop.check()                      # raises Stopped at a step where stopping is safe

A command that drives a run (sweep, resume, repeat, extend) records a signal and goes
on to its next safe step (a fit ends at its next step with trials, so Ray saves a state
a resume continues). A command that only reads (report, export, compare) stops where
it is: the handler raises ``Stopped`` at once, as Python's own Ctrl-C would.

Ray Tune's own SIGINT handler is off for tunefm's fits (``raytune.session``), and
``ray.init`` puts back the handler it found: the handler installed here is the only
one for the command's whole life.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from enum import Enum
from typing import Iterator, TypeVar

T = TypeVar("T")


class Reason(str, Enum):
    CTRL_C = "Ctrl-C"
    SIGTERM = "SIGTERM"
    WRITE_FAILED = "a failed write"          # the run folder cannot be written (full disk, read-only)
    FOLDER_MOVED = "the run folder moved"    # moved or deleted while its driver ran

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value

    @property
    def signal(self) -> bool:
        return self in (Reason.CTRL_C, Reason.SIGTERM)


SIGNALS = {signal.SIGINT: Reason.CTRL_C, signal.SIGTERM: Reason.SIGTERM}


@dataclass(frozen=True)
class StopRequest:
    reason: Reason
    detail: str = ""          # what failed (the write's error), where the folder is now ...


class Stopped(BaseException):
    """Raised by ``Stop.check`` (and by a reading command's handler): a BaseException, so
    no ``except Exception`` on the way can swallow it."""

    def __init__(self, request: StopRequest):
        super().__init__(request)
        self.request = request

    def __str__(self) -> str:
        return f"stopped by {self.request.reason}" + (f": {self.request.detail}" if self.request.detail else "")


class Stop:
    """The command's stop token: the first request wins; every later one is kept too."""

    def __init__(self) -> None:
        self.interrupting = False        # the handler also raises Stopped (a command that only reads)
        self._requests: list[StopRequest] = []
        self._lock = threading.Lock()

    def request(self, reason: Reason, detail: str = "") -> bool:
        """Ask the command to stop; True when this is the first request."""
        with self._lock:
            self._requests.append(StopRequest(reason, detail))
            return len(self._requests) == 1

    @property
    def requested(self) -> StopRequest | None:
        """The first request: why the command stops."""
        return self._requests[0] if self._requests else None

    def mark(self) -> int:
        """How many requests came so far: ``check(since=mark)`` then looks at later ones only."""
        return len(self._requests)

    def has(self, *reasons: Reason) -> bool:
        """Whether any request so far, first or later, was for one of ``reasons``."""
        return any(r.reason in reasons for r in self._requests)

    def __bool__(self) -> bool:
        return bool(self._requests)

    def check(self, since: int = 0) -> None:
        """Raise ``Stopped`` when a stop was requested (after the ``since``-th request):
        called between the steps of a command where stopping leaves nothing half done."""
        if len(self._requests) > since:
            raise Stopped(self._requests[since])

    def result(self, future: Future, poll: float = 0.1) -> T:
        """``future.result()``, but a stop requested while it runs is acted on at once
        (the work is left to its daemon thread)."""
        while True:
            self.check()
            try:
                return future.result(timeout=poll)
            except FutureTimeout:
                continue


_ACTIVE: list[Stop] = []


def current() -> Stop | None:
    """The stop token of the command running in this process, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def command_stop(interrupt: bool = False) -> Iterator[Stop]:
    """The command's stop token, with its one SIGINT/SIGTERM handler in place for the
    block. Nested (a plan called from the CLI, which opened one first thing), it is the
    same token and handler, in the block's mode. ``interrupt``: a command that only
    reads; the handler also raises ``Stopped`` where the program is, as Python's own
    Ctrl-C would (a driving command instead goes on to its next safe step). Off the main
    thread (a plan run from a thread) no handler can be set; the token still works."""
    outer = current()
    if outer is not None:
        kept, outer.interrupting = outer.interrupting, interrupt
        try:
            yield outer
        finally:
            outer.interrupting = kept
        return
    stop = Stop()
    stop.interrupting = interrupt

    def handler(signum, frame) -> None:
        stop.request(SIGNALS[signum])
        if stop.interrupting:
            raise Stopped(StopRequest(SIGNALS[signum]))

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, handler) for s in SIGNALS}
    _ACTIVE.append(stop)
    try:
        yield stop
    finally:
        _ACTIVE.remove(stop)
        for s, h in previous.items():
            if h is not None:
                signal.signal(s, h)


@contextlib.contextmanager
def handlers_kept(*signums: int) -> Iterator[None]:
    """Put back this process's handlers of ``signums`` (default: the command's signals and
    SIGUSR1) after the block. ``ray.init`` sets its own SIGTERM handler (``sys.exit``) for
    good, and Tune's fit leaves its SIGUSR1 handler set; the command's handler must stay
    the one that sees a signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    nums = signums or (*SIGNALS, *((signal.SIGUSR1,) if hasattr(signal, "SIGUSR1") else ()))
    kept = {s: signal.getsignal(s) for s in nums}
    try:
        yield
    finally:
        for s, h in kept.items():
            if h is not None:       # None: set outside Python, it cannot be put back
                signal.signal(s, h)
