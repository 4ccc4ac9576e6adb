"""A sweep's ``time_budget_s``: wall time of the whole run, over the command that started
it and every resume.

Ray Tune's own ``time_budget_s`` starts again from zero in each ``fit``: a 60-minute
sweep stopped at minute 45 and resumed would get another 60. So tunefm keeps the
count: ``run.json``'s ``wall_seconds`` is the time spent before the current session
(written, with ``session_started_at``, when a session starts, and again when it
ends), and a session that was killed before it could write its end is counted up to
its last recorded epoch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from orchestrator.store.records import RunMeta, RunStatus, now_iso


@dataclass(frozen=True)
class Budget:
    total_s: float
    spent_before_s: float      # by the run's earlier sessions
    started: float             # ``time.monotonic()`` when this session began

    def spent(self, now: float | None = None) -> float:
        return self.spent_before_s + ((time.monotonic() if now is None else now) - self.started)

    def left(self, now: float | None = None) -> float:
        return self.total_s - self.spent(now)

    def exhausted(self, now: float | None = None) -> bool:
        return self.left(now) <= 0


def session_clock() -> tuple[float, str]:
    """A session's start, read once: ``time.monotonic()`` for the budget and its wall
    time, and the same instant in ISO 8601 for run.json, from which a later resume
    counts a killed session."""
    return time.monotonic(), now_iso()


def session_start(meta: RunMeta) -> str:
    """When the run's latest session began, ISO 8601. Runs written before tunefm kept
    ``session_started_at``: the latest of the sweep's start, its resumes and its phases."""
    if meta.session_started_at:
        return meta.session_started_at
    starts = [meta.started_at, *meta.resumed, *(phase.at for phase in meta.repeats)]
    return max(starts, key=lambda iso: datetime.fromisoformat(iso).timestamp())


def spent_before(meta: RunMeta, epoch_wall_times: Iterable[float]) -> float:
    """Seconds of the run's wall time before a resume. ``meta`` as the last session left
    it; ``epoch_wall_times``: when each recorded epoch ended (POSIX seconds).

    A session that ended (finished, Ctrl-C, SIGTERM, a failed write) wrote its total to
    ``wall_seconds``. One that was killed left ``status: running`` and the total of the
    sessions before it; it adds the time from its start to its last epoch, the most
    that can be known of it (nothing if it recorded none)."""
    before = float(meta.wall_seconds or 0.0)
    if meta.status != RunStatus.RUNNING:
        return before
    start = datetime.fromisoformat(session_start(meta)).timestamp()
    last = max((t for t in epoch_wall_times if t >= start), default=start)
    return before + (last - start)
