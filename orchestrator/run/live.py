"""The run a driver is driving right now, for the Ray Tune objects that need to know.

Ray Tune pickles the recorder and the scheduler into its experiment state and hands
back those copies on ``Tuner.restore``; they cannot be given new arguments there, and
the folder may have moved since. So the plan binds the live run here for the length of
``Tuner.fit`` (which calls them on this thread), and they look it up.
"""
from __future__ import annotations

import contextlib
import copy
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

from orchestrator.run.budget import Budget
from orchestrator.store.folder import RunFolder


@dataclass
class LiveRun:
    folder: RunFolder
    params: tuple[tuple[str, str], ...]
    metric: str
    mode: str
    max_epochs: int
    total: int                                # trials the run will have, for the progress line
    progress: bool = True
    drop: frozenset[str] = frozenset()        # trials Ray's saved state never saw: discarded
    recorder: object | None = None            # the RunRecorder Ray set up (a restored copy on resume)
    write_error: OSError | None = None        # the first write into the folder that failed (disk full ...)
    budget: Budget | None = None              # the sweep's time budget, over all its sessions
    budget_stopped: bool = False              # the stopper ended the fit because the budget was spent


_LIVE: ContextVar[LiveRun | None] = ContextVar("tunefm_live_run", default=None)


@contextlib.contextmanager
def bind(live: LiveRun) -> Iterator[LiveRun]:
    token = _LIVE.set(live)
    try:
        yield live
    finally:
        _LIVE.reset(token)


def current() -> LiveRun:
    live = _LIVE.get()
    if live is None:
        raise RuntimeError("tunefm's recorder runs only inside a tunefm plan (run_sweep, resume_sweep, repeat_run)")
    return live


def relocate_trial(trial) -> None:
    """Point a trial's storage at the live run folder.

    Ray updates the storage of the trials it restores, but trials its restored search
    generator creates afterwards carry the storage pickled when the run started: after
    a move they fail ("Unable to set up cluster storage ... <old path>"), after a copy
    they write into the original. ``Trial.set_storage`` (public) also moves the paths
    of its tracked checkpoints; the storage context itself is only copied and given
    the new place (its class lives in ``ray.train._internal``, not imported here).
    """
    live = _LIVE.get()
    if live is None:
        return
    storage = live.folder.storage()
    if trial.storage.storage_fs_path == storage["storage_path"]:
        return
    moved = copy.copy(trial.storage)
    moved.storage_fs_path = storage["storage_path"]
    if "storage_filesystem" in storage:
        moved.storage_filesystem = storage["storage_filesystem"]
    trial.set_storage(moved)


def _stop_requested() -> bool:
    live = _LIVE.get()
    if live is None:
        return False
    if live.budget is not None and live.budget.exhausted():
        live.budget_stopped = True
    return live.write_error is not None or live.budget_stopped


def run_stopper():
    """A ``tune.Stopper`` that ends the experiment once a write into the run folder failed
    (nothing more can be recorded, so training on would only lose work) or the sweep's
    time budget is spent. Ray pickles this class by value with the run; it looks up
    ``_stop_requested`` by name, so a restored run asks today's."""
    from ray import tune

    class LiveRunStop(tune.Stopper):
        def __call__(self, trial_id, result) -> bool:
            return _stop_requested()

        def stop_all(self) -> bool:
            return _stop_requested()

    return LiveRunStop()
