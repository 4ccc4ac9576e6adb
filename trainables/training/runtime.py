"""Per-process set-up of the Keras backend, done once per worker, and Ray session hooks."""
from __future__ import annotations

import contextlib
import os
import sys
import time

_configured = False
IMPORT_SECONDS: float | None = None  # how long this process spent importing Keras/TF
THREADS: int | None = None           # TensorFlow's intra-op threads, once configured


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


def configure_backend(cpus: float) -> None:
    """Limit TensorFlow's threads to the trial's CPUs and let GPU memory grow.

    Threads can only be set before TensorFlow runs its first op, so with reused worker
    processes this happens once per process (every trial of a sweep asks for the same
    resources, so the first setting is the right one).
    """
    global _configured, IMPORT_SECONDS, THREADS
    if _configured:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    import keras

    IMPORT_SECONDS = time.perf_counter() - start
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        threads = max(1, int(round(cpus)))
        THREADS = threads
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
        except RuntimeError:
            pass  # already initialised by an earlier import in this process
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass
    _configured = True


def stop_requested() -> bool:
    """True once Ray Tune has asked this trial to stop (ASHA, time budget, Ctrl-C).

    Ray only notices a stop at the trial's next report; checking between batches lets
    an early-stopped trial free its worker within a batch instead of an epoch, which is
    what makes worker reuse work (Ray waits only ~2 s for the old trial to finish).
    Private Ray API, on purpose: Ray Tune has no public way for a running function
    trainable to see its stop flag (a stop is only delivered at the next ``tune.report``;
    ``tune.get_context()`` does not expose it). If the internals move, this degrades to
    per-epoch stopping.
    """
    try:
        from ray.train._internal.session import get_session

        session = get_session()
        return bool(session is not None and session.stop_event.is_set())
    except Exception:
        return False


@contextlib.contextmanager
def native_stderr_silenced():
    """Hide what native code writes straight to fd 2 (TensorFlow's start-up log lines,
    which ignore TF_CPP_MIN_LOG_LEVEL in TF 2.21). For CLI paths that build models on
    the driver; Python exceptions still surface after the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
