"""Warm workers: a worker process starts importing Keras (and TensorFlow) the moment Ray
starts it, in a background thread, so the import runs while Ray starts and the driver
loads the data instead of before the first trial's first epoch.

The tuner's worker hook (``orchestrator.raytune.worker``) calls ``start`` in every
worker process that will train, as soon as the worker starts.
``runtime.configure_backend`` waits for the import to finish rather than importing in
parallel with it, and records how long the trial itself waited.

Either way a worker imports Keras through ``import_keras``, which leaves out what Keras
imports only for features a trial never uses.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys
import threading

# Keras imports these, when installed, only for its scikit-learn wrappers and its image
# gallery plot: 2.0 s of the 6.6 s that `import keras` (TensorFlow included) takes on
# this 2-core machine (4.6 s without them, 3 runs each; ``python -X importtime``). Both
# are tunefm dependencies for the report, which imports them itself.
LEFT_OUT = ("sklearn", "matplotlib")

_thread: threading.Thread | None = None
_error: BaseException | None = None


def start() -> None:
    """Start importing Keras in a background thread; returns at once. Called by the tuner's
    worker hook (``orchestrator.raytune.worker``) in the workers that will train."""
    global _thread
    if _thread is not None:
        return
    _thread = threading.Thread(target=_import, name="tunefm-warm-import", daemon=True)
    _thread.start()


def _import() -> None:
    global _error
    try:
        import_keras()
    except BaseException as e:  # surfaced by the trial's own import, not here
        _error = e


def import_keras():
    """``import keras`` (and its backend: TensorFlow, JAX or PyTorch) without the
    ``LEFT_OUT`` libraries: Keras imports them in ``try`` blocks and does without. Only
    imports made by this thread, while Keras imports, are refused; a later ``import
    sklearn`` anywhere in the process works as usual, but Keras's own scikit-learn
    wrappers and ``keras.visualization`` stay unusable in that process (they say which
    library to install). The import's native start-up lines are left out too. tunefm uses neither; its driver, which scores and plots with
    both libraries directly, imports Keras this way too when it loads a model."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:
        import keras

        return keras
    from trainables.training.quiet import native_stderr_silenced

    finder = _LeaveOut(LEFT_OUT, threading.get_ident())
    try:
        sys.meta_path.insert(0, finder)
        with native_stderr_silenced():     # TensorFlow's C++ start-up lines (trainables.training.quiet)
            import keras
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)
    return keras


class _LeaveOut(importlib.abc.MetaPathFinder):
    """Refuses ``names`` (and their submodules) to imports made by thread ``ident``."""

    def __init__(self, names: tuple[str, ...], ident: int):
        self.names, self.ident = names, ident

    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in self.names and threading.get_ident() == self.ident:
            raise ModuleNotFoundError(f"{fullname}: left out of a tunefm worker's Keras import", name=fullname)
        return None


def wait() -> None:
    """Block until the background import (if any was started) has finished; its error,
    if it failed, is raised here rather than a confusing one from importing again."""
    if _thread is not None:
        _thread.join()
    if _error is not None:
        raise _error
