"""What native code writes straight to the process's stderr (file descriptor 2), off.

TensorFlow's C++ start-up lines (absl's "All log messages before absl::InitializeLog()",
oneDNN, cudart_stub, cpu_feature_guard, "failed call to cuInit") ignore
``TF_CPP_MIN_LOG_LEVEL`` in TF 2.21 and tell a user nothing they can act on. They come
when TensorFlow is imported and when it first looks for devices; tunefm does both through
``warm.import_keras`` and ``runtime.configure_backend``, which hold this switch.
``TUNEFM_VERBOSE=1`` (``tunefm --verbose``) leaves them on.

Python's own exceptions and warnings are not native writes: they surface after the block.
The switch is process-wide and counted: threads that hold it at once (a worker's warm
import and its trial) give fd 2 back only when the last one leaves.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator

VERBOSE_ENV = "TUNEFM_VERBOSE"

_lock = threading.Lock()
_holders = 0
_saved: int | None = None


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Native writes to fd 2 go nowhere inside the block (unless ``verbose()``)."""
    global _holders, _saved
    if verbose():
        yield
        return
    with _lock:
        if _holders == 0:
            sys.stderr.flush()
            _saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved is not None:
                sys.stderr.flush()
                os.dup2(_saved, 2)
                os.close(_saved)
                _saved = None
