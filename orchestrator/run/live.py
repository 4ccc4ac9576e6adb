"""The run a driver is driving right now, for the Ray Tune objects that need to know.

Ray Tune pickles the recorder and the scheduler into its experiment state and hands
back those copies on ``Tuner.restore``; they cannot be given new arguments there, and
the folder may have moved since. So the plan binds the live run here for the length of
``Tuner.fit`` (which calls them on this thread), and they look it up.
"""
from __future__ import annotations

import contextlib
import copy
import signal
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterator, Mapping

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
    interrupting: bool = False                # that failure ended the fit as a Ctrl-C does (stop_for_write_error)
    budget: Budget | None = None              # the sweep's time budget, over all its sessions
    early: object | None = None               # the plan's session.EarlyStop: a Ctrl-C or SIGTERM it caught
    stop_raised: bool = False                 # ... ended the fit (stop_if_asked)
    budget_stopped: bool = False              # the stopper ended the fit because the budget was spent
    recorded_epochs: Mapping[str, int] = field(default_factory=dict)   # on resume: each trial's last epoch in the Parquet


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


def repoint_gone_checkpoint(trial) -> None:
    """Point a restored trial whose latest checkpoint is gone (or incomplete) at the
    newest complete one in its folder whose epoch the Parquet holds.

    Ray saves its experiment state every few seconds but deletes a superseded checkpoint
    at once: a driver killed between the two leaves a state naming a folder that no
    longer exists, and Ray's ``Trainable.restore`` fails the trial on resume ("does not
    exist on storage anymore") before the trial can look for another. The checkpoint
    that superseded it is on disk, and so are its epochs in the Parquet: the trial
    continues from it. A checkpoint of an epoch whose row never reached the Parquet (the
    driver stopped before it recorded the result) is passed over: continuing from it
    would lose that row, so the trial trains the epoch again. Gone entries also leave
    Ray's list of best checkpoints (Ray would fail deleting them later); the checkpoint
    continued from is then kept on disk, not ranked, where the report finds it by epoch.
    With no such checkpoint left, Ray's error stands (or, for a folder that exists but
    lacks its files, the trial's own fallback, ``restore.usable``). Ray's own
    ``Trial.set_storage`` rewrites these records the same way; ``_checkpoint_results``
    is the checkpoint manager's private list."""
    import posixpath

    from ray import tune

    from trainables.contract.keys import EPOCH
    from trainables.training.restore import complete_checkpoints, is_complete, newest

    live = _LIVE.get()
    if live is None:          # not inside a plan (a scheduler tested alone): nothing was restored
        return
    manager = trial.run_metadata.checkpoint_manager
    result = manager.latest_checkpoint_result
    if result is None or result.checkpoint is None:
        return
    fs = result.checkpoint.filesystem

    def gone(r) -> bool:     # deleted, or left half-written
        return r.checkpoint is not None and not is_complete(fs, r.checkpoint.path)

    if not gone(result):
        return
    recorded = live.recorded_epochs.get(trial.trial_id, 0)     # no row: no checkpoint is safe to continue from
    found = newest([f for f in complete_checkpoints(fs, posixpath.dirname(result.checkpoint.path.rstrip("/")))
                    if f.meta.epoch <= recorded])
    if found is None:
        return
    manager._checkpoint_results = [r for r in manager._checkpoint_results if not gone(r)]
    result.checkpoint = tune.Checkpoint(found.path, filesystem=fs)
    metrics = dict(result.metrics or {})
    if isinstance(metrics.get(EPOCH), int) and isinstance(metrics.get("training_iteration"), int):
        # ASHA counts training_iteration: add the epochs the newer checkpoint has beyond the gone one
        metrics["training_iteration"] += found.meta.epoch - metrics[EPOCH]
        metrics[EPOCH] = found.meta.epoch
    result.metrics = metrics
    trial.invalidate_json_state()


def stop_for_write_error(live: LiveRun, error: OSError) -> None:
    """A write into the run folder failed: nothing more can be recorded, so end the fit.
    As a Ctrl-C does, where possible (SIGUSR1, which Tune's fit catches as it does
    SIGINT): Ray saves its state with the unfinished trials still running or pending,
    and a resume continues them. Its stopper's ``stop_all`` would mark every one of
    them terminated and its searcher finished: a resume after a disk-full stop then ran
    nothing (seen: 9 of 12 trials never run, the run interrupted for good). That stays
    the fallback where no handler is installed (``fit`` not on the main thread)."""
    live.write_error = error
    live.interrupting = _interrupt_fit()


def stop_if_asked(live: LiveRun) -> None:
    """End the fit as Tune ends it on a Ctrl-C (SIGUSR1, which its fit catches) once the
    plan's handler caught a Ctrl-C or SIGTERM, before the fit or during it. Called by the
    recorder at every step of the fit that has trials: Tune then saves a state holding
    them, which a resume continues. A fit skipped, or stopped before it created a trial,
    leaves no state Ray can restore."""
    early = live.early
    if early is not None and early.requested and not live.stop_raised:
        live.stop_raised = _interrupt_fit()


def _interrupt_fit() -> bool:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGUSR1"):
        return False
    if not callable(signal.getsignal(signal.SIGUSR1)):    # no handler: the signal would end the process
        return False
    signal.raise_signal(signal.SIGUSR1)
    return True


def _stop_requested() -> bool:
    live = _LIVE.get()
    if live is None:
        return False
    if live.budget is not None and live.budget.exhausted():
        live.budget_stopped = True
    return (live.write_error is not None and not live.interrupting) or live.budget_stopped


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
