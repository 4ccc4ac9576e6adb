"""What each trial's model costs to run: parameters and milliseconds per image.

Latency is measured on this machine, the one the report runs on, so every trial is
timed on the same hardware with the same settings: the process's CPUs (recorded), Keras'
``predict_on_batch`` (the compiled inference step), images of the data set's shape
(as float32, what the checkpoint's model takes), after warm-up calls, the median of repeated calls divided by the batch. It
depends on the architecture, not on the weights, so a trial is measured once and
kept in ``report/inference_costs.parquet`` for later reports on the same machine.
"""
from __future__ import annotations

import platform
import socket
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.store import schema as S
from trainables.contract.errors import UserError

COSTS_FILE = "inference_costs.parquet"
COLUMNS = [S.TRIAL_ID, "params", "ms_per_image_batch1", "ms_per_image_batch256", "threads", "machine"]
BATCHES = (1, 256)
MIN_SECONDS = 0.2          # time each batch size at least this long (and at least 3 calls)


def machine() -> str:
    """This machine, as latencies are keyed: host name, architecture and a short id (two
    VMs both called "vm" are not one machine)."""
    return (f"{socket.gethostname()} ({platform.machine()}, {platform.processor() or platform.system()}, "
            f"id {_machine_id()})")


def _machine_id() -> str:
    import hashlib

    for source in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return hashlib.sha256(Path(source).read_bytes().strip()).hexdigest()[:8]
        except OSError:
            continue
    return f"{uuid.getnode():012x}"[-8:]


def _median_call_seconds(model, x: np.ndarray) -> float:
    for _ in range(2):                                   # warm-up: tracing, allocation
        model.predict_on_batch(x)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - started < MIN_SECONDS and len(times) < 200):
        t = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def threads() -> int:
    """TensorFlow's intra-op threads in this process (set on first use)."""
    from trainables.training import runtime

    runtime.configure_backend(cpus=runtime.available_cpus())
    return runtime.THREADS or 1


def measure(checkpoints: list[str], input_shape: tuple[int, ...]) -> list[tuple[float, float]]:
    """(ms per image at batch 1, at batch 256) of each checkpoint's model."""
    from trainables.training.checkpoints import load_model
    from trainables.training.quiet import native_stderr_silenced

    rng = np.random.default_rng(0)
    out = []
    with native_stderr_silenced():
        threads()
        import keras

        for ckpt in checkpoints:
            model = load_model(ckpt)
            per_batch = []
            for batch in BATCHES:
                x = rng.integers(0, 256, size=(batch, *input_shape)).astype(np.float32)
                per_batch.append(_median_call_seconds(model, x) / batch * 1000.0)
            out.append((per_batch[0], per_batch[1]))
            keras.backend.clear_session()
    return out


def _read_cache(path: Path) -> pd.DataFrame:
    """Every usable row of a cache file; a row with a missing, mistyped, non-finite or
    non-positive number is dropped (measured again), an unreadable file gives none."""
    import pyarrow as pa

    try:
        table = pd.read_parquet(path)[COLUMNS]
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):   # none yet, damaged, foreign
        return pd.DataFrame(columns=COLUMNS)
    ms = table[["ms_per_image_batch1", "ms_per_image_batch256"]].apply(pd.to_numeric, errors="coerce")
    threads_ = pd.to_numeric(table["threads"], errors="coerce")
    ok = (np.isfinite(ms).all(axis=1) & (ms > 0).all(axis=1) & threads_.notna()
          & table[S.TRIAL_ID].map(lambda v: isinstance(v, str)) & table["machine"].map(lambda v: isinstance(v, str)))
    return table[ok].assign(ms_per_image_batch1=ms["ms_per_image_batch1"][ok],
                            ms_per_image_batch256=ms["ms_per_image_batch256"][ok],
                            threads=threads_[ok].astype(int)).reset_index(drop=True)


def inference_costs(trials: pd.DataFrame, checkpoints: dict[str, str], input_shape: tuple[int, ...],
                    cache_dir: Path, cache: bool = True, also_read: Path | None = None) -> pd.DataFrame:
    """COLUMNS for every trial in ``checkpoints`` (trial id -> checkpoint folder), measuring
    only those the cache in ``cache_dir`` (or ``also_read``) does not hold for this machine
    and thread count. ``cache=False`` (a sweep still training beside us: noisy timings)
    measures without keeping. Each measurement is kept as soon as it is made (a failure
    or Ctrl-C later loses nothing measured); the cache is best effort: a folder that
    cannot be written is measured again next time."""
    path = cache_dir / COSTS_FILE
    here, n = machine(), threads()
    own = _read_cache(path)
    known = pd.concat([own, *([_read_cache(also_read / COSTS_FILE)] if also_read else [])], ignore_index=True)
    known = known[(known["machine"] == here) & (known["threads"] == n)].drop_duplicates(S.TRIAL_ID)
    params = trials.set_index(S.TRIAL_ID)["params"]
    rows = []
    for tid in [t for t in checkpoints if t not in set(known[S.TRIAL_ID])]:
        try:
            (b1, b256), = measure([checkpoints[tid]], input_shape)
        except UserError:      # a damaged checkpoint: this trial has no latency (the caller counts it)
            continue
        rows.append({S.TRIAL_ID: tid, "params": params.get(tid), "ms_per_image_batch1": b1,
                     "ms_per_image_batch256": b256, "threads": n, "machine": here})
        if cache:
            _keep(path, pd.concat([own, pd.DataFrame(rows, columns=COLUMNS)], ignore_index=True))
    table = pd.concat([known, pd.DataFrame(rows, columns=COLUMNS)], ignore_index=True) if rows else known
    return table[table[S.TRIAL_ID].isin(list(checkpoints))].reset_index(drop=True)


def _keep(path: Path, table: pd.DataFrame) -> None:
    import pyarrow as pa

    from orchestrator.store.parquet import atomic_write_table

    try:
        atomic_write_table(path, pa.Table.from_pandas(table.reset_index(drop=True), preserve_index=False))
    except OSError:
        pass      # a read-only folder: measured again next time
