"""Each epoch's checkpoint, written and reported to Ray Tune off the training thread.

Saving a ``.keras`` checkpoint takes 50-100 ms on 2 CPU cores for the small CNNs of a
sweep (most of it HDF5 bookkeeping), and every epoch saves one (Ray keeps the best and
the latest, for the report and for resuming). Written on the training thread, that
time comes between two epochs; on a GPU, where such an epoch takes tens of
milliseconds, it would be most of the epoch.

``Checkpoints`` copies the model's weights into a twin model (a clone of it, built once
per trial; the copy takes milliseconds for a sweep's small models) and saves and
reports the twin from one background thread while the next epoch trains. Reports keep their order: a report
without a checkpoint (a diverged epoch) first waits for the one before it, and so does
the next checkpoint (the twin is written by one save at a time). ``close`` waits for the
last one and raises what the thread raised, so a trial never returns before its last
epoch is reported.

Plans that change the model between phases (the transfer family's fine-tuning after
warm-up epochs), plans that train another model than the one saved (a head on cached
features), and models Keras cannot clone save on the training thread, as before. The
twin doubles the memory the weights take (a frozen backbone's too).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from trainables.contract.keys import CHECKPOINT_META_FILE, MODEL_FILE, OPTIMIZER_FILE

# report(epoch report, checkpoint folder or None): the trial's report to its tuner, which
# copies the folder before it returns
Report = Callable[[Any, "str | None"], None]


class Checkpoints:
    """Build it before the model is compiled: the twin is a clone, and a clone of a
    compiled model gets an optimizer with its own slots (twice the weights again)."""

    def __init__(self, model, report: Report, background: bool, on_stop: Callable[[], None] | None = None):
        self.model, self._report, self._on_stop = model, report, on_stop
        self.twin = _clone(model) if background else None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tunefm-checkpoint") \
            if self.twin is not None else None
        self._pending: Future | None = None
        # Ray Tune stopped the trial at a report made here (ASHA, a time budget): Ray ends
        # the reporting thread with SystemExit after clearing its stop flag, so the
        # training thread would never see that stop. Kept here, and ``on_stop`` called.
        self.stopped = False

    @property
    def background(self) -> bool:
        return self._executor is not None

    def save(self, report, meta) -> None:
        """Save this epoch's weights and optimizer state with ``meta`` and report
        ``report`` with them."""
        if not self.background:
            self._write(self.model, report, meta, optimizer_state(self.model))
            return
        self.wait()                                  # the twin holds the previous epoch until it is written
        if self.stopped:       # stopped at the previous report: nothing reads this one (it would wait forever)
            return
        self.twin.set_weights(self.model.get_weights())
        state = optimizer_state(self.model)          # copied now: the next epoch's steps change it
        self._pending = self._executor.submit(self._write_beside, report, meta, state)

    def report(self, report) -> None:
        """Report an epoch without a checkpoint, after the epochs before it."""
        self.wait()
        if not self.stopped:
            self._report(report, None)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)

    def _write_beside(self, report, meta, state) -> None:
        try:
            self._write(self.twin, report, meta, state)
        except SystemExit:     # Tune's stop at this report (see ``stopped``)
            self.stopped = True
            if self._on_stop is not None:
                self._on_stop()

    def _write(self, model, report, meta, state: dict | None = None) -> None:
        folder = tempfile.mkdtemp(prefix="tunefm-ckpt-")
        try:
            write_checkpoint(folder, model, meta, state)
            self._report(report, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def write_checkpoint(folder: str, model, meta, state: dict | None) -> None:
    """One checkpoint's files in ``folder``: the model, its optimizer's state (if any) and
    the meta (``CheckpointMeta``)."""
    model.save(os.path.join(folder, MODEL_FILE))
    if state:
        import numpy as np

        np.savez(os.path.join(folder, OPTIMIZER_FILE), **state)
    with open(os.path.join(folder, CHECKPOINT_META_FILE), "w") as f:
        json.dump(meta.to_dict(), f)


def optimizer_state(model) -> dict | None:
    """The optimizer's variables (moments, step count, ...) by path, as arrays; None when
    the model has no built optimizer. A trial that starts again from the checkpoint (a
    retry, a resume, a population member that copied another) continues with them."""
    import keras

    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "built", False):
        return None
    return {v.path: keras.ops.convert_to_numpy(v) for v in optimizer.variables}


def _clone(model):
    """A twin of ``model`` with the same layers, names and weight order, or None when
    Keras cannot clone it (a subclassed model): that trial saves on its own thread."""
    import keras

    try:
        twin = keras.models.clone_model(model)
    except Exception:
        return None
    same = [(w.path, tuple(w.shape)) for w in twin.weights] == [(w.path, tuple(w.shape)) for w in model.weights]
    return twin if same else None
