"""What a loader noticed about the data and the user should know (a mixed set of image
sizes, unreadable files skipped, classes the training split lacks), said once.

A loader calls ``warn``. Inside ``collected()`` (``registry.load_trial_data``) the lines
are kept, and travel with the data (``TrialData.warnings``): the sweep prints them before
it trains and records them in ``run.json``, and the report shows them. Outside one, the
line goes to stderr at once.
"""
from __future__ import annotations

import contextlib
import sys
from contextvars import ContextVar
from typing import Iterator

_kept: ContextVar[list[str] | None] = ContextVar("tunefm_data_notes", default=None)


def warn(message: str) -> None:
    kept = _kept.get()
    if kept is None:
        print(f"tunefm: warning: {message}", file=sys.stderr, flush=True)
    elif message not in kept:
        kept.append(message)


@contextlib.contextmanager
def collected() -> Iterator[list[str]]:
    """The warnings loaders give inside the block, in order, each once."""
    kept: list[str] = []
    token = _kept.set(kept)
    try:
        yield kept
    finally:
        _kept.reset(token)
