"""Warm workers: a worker process starts importing Keras (and TensorFlow) the moment Ray
starts it, in a background thread, so the import runs while Ray starts and the driver
loads the data instead of before the first trial's first epoch.

Ray calls ``setup`` in every worker process of a tunefm job (the runtime env's
``worker_process_setup_hook``, by module path, set by ``orchestrator.run.session``).
``runtime.configure_backend`` waits for the import to finish rather than importing in
parallel with it, and records how long the trial itself waited.
"""
from __future__ import annotations

import os
import threading

HOOK = "trainables.training.warm.setup"
# "0" in a worker's environment: it never trains (the feature cache's), so it imports nothing.
WARM_ENV = "TUNEFM_WARM_IMPORT"
# "<folder>:<n>" (the embedded Ray's, set by ``orchestrator.run.session``): the first n of
# the idle workers Ray prestarts at ``ray.init`` import Keras, each having created one of
# the files 0..n-1 there; n is the number of trials that can run at once.
TICKETS_ENV = "TUNEFM_WARM_TICKETS"

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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras  # noqa: F401  (imports the backend: TensorFlow, JAX or PyTorch)
    except BaseException as e:  # surfaced by the trial's own import, not here
        _error = e


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
