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

_thread: threading.Thread | None = None
_error: BaseException | None = None


def setup() -> None:
    """Start importing Keras in the background; returns at once. Ray runs the hook in
    its object-spilling workers and in the idle workers it prestarts (on a cluster; the
    embedded Ray prestarts none): those import nothing (see ``_trial_worker``)."""
    global _thread
    if _thread is not None or os.environ.get(WARM_ENV) == "0" or not _trial_worker():
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


def _trial_worker() -> bool:
    """A worker started for a job's task or actor. The idle workers Ray prestarts (no
    job yet) are never given Tune's trial actors, which get fresh ones (Tune gives its
    trainables a runtime env of their own; ``session.NO_PRESTART_ENV``): warming them
    only took CPU from the driver's start-up and the trial's own import."""
    try:
        import ray

        worker = ray._private.worker.global_worker
        return worker.mode == ray.WORKER_MODE and not worker.current_job_id.is_nil()
    except Exception:
        return True
