"""Per-process set-up of the Keras backend, done once per worker, and watching the tuner's stop flag."""
from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Iterator

_configured = False
IMPORT_SECONDS: float | None = None  # how long this process spent importing Keras/TF
THREADS: int | None = None           # TensorFlow's intra-op threads, once configured


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


def clocks() -> tuple[float, float | None]:
    """This process's CPU seconds so far (every thread), and the machine's CPU seconds
    stolen by its hypervisor since boot (None where ``/proc/stat`` does not say). Their
    change over an epoch tells a slow epoch that computed more from one that waited."""
    t = os.times()
    steal = None
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        if fields[0] == "cpu" and len(fields) > 8:
            steal = int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        pass
    return t.user + t.system, steal


def configure_backend(cpus: float) -> None:
    """Limit TensorFlow's threads to the trial's CPUs and let GPU memory grow.

    Threads can only be set before TensorFlow runs its first op, so with reused worker
    processes this happens once per process (every trial of a sweep asks for the same
    resources, so the first setting is the right one).
    """
    global _configured, IMPORT_SECONDS
    if _configured:
        return
    from trainables.training import warm
    from trainables.training.quiet import native_stderr_silenced

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    warm.wait()          # a warm worker's import started with the process: wait for the rest of it
    keras = warm.import_keras()

    IMPORT_SECONDS = time.perf_counter() - start   # what this trial waited for the import
    with native_stderr_silenced():                 # looking for GPUs: "failed call to cuInit" without one
        _configure_tensorflow(keras, cpus)
    _configured = True


def _configure_tensorflow(keras, cpus: float) -> None:
    global THREADS
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


def is_set(event: threading.Event | None) -> bool:
    """Whether the tuner's stop flag (``TrialContext.stop_event``) is up. A stop Ray
    delivers at a report made from the checkpoint thread clears the flag there;
    ``checkpoint_writer.Checkpoints.stopped`` keeps that one."""
    return bool(event is not None and event.is_set())


@contextlib.contextmanager
def stop_training_on_request(model, event: threading.Event | None) -> Iterator[None]:
    """Set ``model.stop_training`` as soon as the tuner's stop flag ``event`` is up (the
    trial context's; None: the trial only stops at its next report), from a watcher
    thread: Keras reads that flag after every batch, so an early-stopped trial frees its
    worker within a batch (Ray waits only seconds for a reused worker's old trial) while
    no Python callback runs per batch. A batch hook would turn off Keras's asynchronous
    batch callbacks and sync with the backend on every step."""
    if event is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if event.wait(0.1):
                # again until fit returns: fit() clears the flag when it starts, and a
                # stop can arrive before that (a time budget, or between two phases)
                model.stop_training = True
                done.wait(0.05)

    watcher = threading.Thread(target=watch, name="tunefm-stop-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
