"""Warm workers: a worker process starts importing Keras (and TensorFlow) the moment Ray
starts it, in a background thread, so the import runs while Ray starts and the driver
loads the data instead of before the first trial's first epoch.

Ray calls ``setup`` in every worker process of a tunefm job (the runtime env's
``worker_process_setup_hook``, by module path, set by ``orchestrator.run.session``).
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

HOOK = "trainables.training.warm.setup"
# "0" in a worker's environment: it never trains (the feature cache's), so it imports nothing.
WARM_ENV = "TUNEFM_WARM_IMPORT"
# "<folder>:<n>" (the embedded Ray's, set by ``orchestrator.run.session``): the first n of
# the idle workers Ray prestarts at ``ray.init`` import Keras, each having created one of
# the files 0..n-1 there; n is the number of trials that can run at once.
TICKETS_ENV = "TUNEFM_WARM_TICKETS"

# Keras imports these, when installed, only for its scikit-learn wrappers and its image
# gallery plot: 2.0 s of the 6.6 s that `import keras` (TensorFlow included) takes on
# this 2-core machine (4.6 s without them, 3 runs each; ``python -X importtime``). Both
# are tunefm dependencies for the report, which imports them itself.
LEFT_OUT = ("sklearn", "matplotlib")

_thread: threading.Thread | None = None
_error: BaseException | None = None


def setup() -> None:
    """Start importing Keras in the background; returns at once. Ray also runs the hook
    in its object-spilling workers, and in idle workers it prestarts with no job yet: of
    those, only the embedded Ray's first few import (see ``_will_train``)."""
    global _thread
    if _thread is not None or os.environ.get(WARM_ENV) == "0" or not _will_train():
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
    library to install). tunefm uses neither; its driver, which scores and plots with
    both libraries directly, imports Keras this way too when it loads a model."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:
        import keras

        return keras
    finder = _LeaveOut(LEFT_OUT, threading.get_ident())
    try:
        sys.meta_path.insert(0, finder)
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


def _will_train() -> bool:
    """Whether this worker should import Keras now: a worker started for a job's task or
    actor, or one of the first prestarted idle workers of the embedded Ray (one ticket
    per trial slot; Tune's first trials run in them: ``session.trainables_without_env``).

    A prestarted worker beyond the slots leaves instead of idling (Ray keeps idle
    workers, and would hand one to a trial that then imports from the start). Ray records
    that exit, in its own logs only, as a "user" exit with this module's reason. Spilling
    workers, and on a cluster the prestarted workers, import nothing."""
    try:
        import ray

        worker = ray._private.worker.global_worker
        if worker.mode != ray.WORKER_MODE:
            return False
        if not worker.current_job_id.is_nil():
            return True
    except Exception:
        return True
    tickets = os.environ.get(TICKETS_ENV, "")
    if take_ticket(tickets):
        return True
    if tickets:
        try:
            worker.core_worker.drain_and_exit_worker("user", "tunefm: an idle worker beyond the trial slots")
        except Exception:   # Ray's private call changed: the worker idles, as Ray's own would
            pass
    return False


def take_ticket(tickets: str) -> bool:
    """Create the first free ticket file of ``"<folder>:<n>"``; False when all n are
    taken (or the folder is gone: the session ended)."""
    folder, _, count = tickets.rpartition(":")
    if not folder or not count.isdigit():
        return False
    for i in range(int(count)):
        try:
            os.close(os.open(os.path.join(folder, str(i)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            continue
        except OSError:
            return False
    return False
