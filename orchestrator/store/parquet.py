"""The Parquet store of one run folder.

Layout of ``results/<sweep>/<run id>/``::

    sweep.yaml          frozen copy of the sweep file
    run.json            run metadata (status, metric, times, versions, command)
    metrics/part-*.parquet   one row per trial-epoch, appended in parts
    trials.parquet      one row per trial, rewritten as trials progress
    ray/                Ray Tune's experiment state and the best checkpoints

Every file is written to a hidden temporary name and renamed into place, so a reader
(or a crash) never sees half a file; Parquet readers skip the hidden names.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator.store import schema as S
from trainables.contract.errors import UserError
from orchestrator.store.records import TrialRow

from trainables.contract.keys import METRICS_DIR, RUN_FILE, SWEEP_FILE, TRIALS_FILE


def inside_run(target: Path) -> Path | None:
    """The run folder ``target`` is in (or is), if any: its ``run.json`` marks it."""
    from trainables.contract.keys import RUN_FILE

    target = target.expanduser().absolute()
    return next((p for p in (target, *target.parents) if (p / RUN_FILE).is_file()), None)


def writable_dir(target: Path, what: str, hint: str, allowed_in_run: Path | None = None) -> Path:
    """Create ``target`` if need be and prove it writable with a real write; otherwise one
    line naming it, ``what`` was to go there, and ``hint``. A target inside a run folder is
    refused (a checkpoint overwritten by an export is a model lost), except under
    ``allowed_in_run`` (a run's own report folder)."""
    import tempfile

    if not str(target).strip():
        raise UserError(f"an empty path for {what}; {hint}")
    run = inside_run(target)
    allowed = allowed_in_run is not None and target.expanduser().absolute().is_relative_to(
        allowed_in_run.expanduser().absolute())
    if run is not None and not allowed:
        raise UserError(f"{target}: inside the run folder {run}; {what} never goes into a run's files "
                        f"(that is where its checkpoints live): {hint}")
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as e:
        raise UserError(f"{target}: cannot write {what} there ({e.strerror or e}); {hint}") from None
    return target


def atomic_write_bytes(path: Path, data: bytes) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    _atomically(path, write)


def atomic_write_table(path: Path, table: pa.Table) -> None:
    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())

    _atomically(path, write)


def _atomically(path: Path, write) -> None:
    """``write`` a hidden temporary file, then rename it into place; a write that fails
    (a full disk) leaves the old file as it was and no temporary file behind."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class RunStore:
    """Writes one run folder. Metric rows are buffered and written as new part files."""

    def __init__(self, run_dir: Path, params: list[tuple[str, str]], mirror=None):
        self.run_dir = Path(run_dir)
        self.mirror = mirror          # a remote.Remote: every file written is uploaded there too
        self._pending: set[Path] = set()
        self._warned = False
        self.metrics_schema = S.metrics_schema(params)
        self.trials_schema = S.trials_schema(params)
        self._buffer: list[dict[str, Any]] = []
        metrics = self.run_dir / METRICS_DIR
        try:
            metrics.mkdir(parents=True, exist_ok=True)
        except OSError as e:   # a file in the way, a folder that may not be written: damage, named
            raise UserError(f"{metrics}: cannot hold the run's metrics ({e.strerror or e}); "
                            + ("a file is in its place: move it away, or put the metrics folder back"
                               if metrics.exists() and not metrics.is_dir() else "restore the folder or its permissions")
                            ) from None
        self._part = self._next_part()

    def _next_part(self) -> int:
        """One past the highest part on disk (another store may have written some)."""
        parts = (self.run_dir / METRICS_DIR).glob("part-*.parquet")
        return 1 + max((int(p.stem.split("-")[1]) for p in parts), default=0)

    def _written(self, path: Path) -> None:
        """Upload what was just written; an upload that fails (the network, the bucket) is
        retried with the next write, and the local copy keeps everything meanwhile."""
        if self.mirror is None:
            return
        self._pending.add(path)
        for pending in sorted(self._pending):
            try:
                if pending.exists():
                    self.mirror.put(pending)
                self._pending.discard(pending)
            except OSError as e:
                if not self._warned:
                    import logging

                    logging.getLogger("tunefm").warning("cannot upload %s to %s (%s); will retry, and the "
                                                        "local copy %s has everything", pending.name,
                                                        self.mirror.uri, str(e).splitlines()[0], self.run_dir)
                    self._warned = True
                return

    @property
    def unsynced(self) -> int:
        """Files written here but not yet uploaded to the mirror."""
        return len(self._pending)

    def write_sweep_copy(self, text: str) -> None:
        atomic_write_bytes(self.run_dir / SWEEP_FILE, text.encode("utf-8"))
        self._written(self.run_dir / SWEEP_FILE)

    def write_meta(self, meta) -> None:
        """``meta``: a ``RunMeta``."""
        atomic_write_bytes(self.run_dir / RUN_FILE, json.dumps(meta.to_dict(), indent=2, default=str).encode())
        self._written(self.run_dir / RUN_FILE)

    def append_metrics(self, rows: Iterable[dict[str, Any]]) -> None:
        self._buffer.extend(rows)

    def flush_metrics(self) -> int:
        if not self._buffer:
            return 0
        table = _table(self._buffer, self.metrics_schema)
        self._part = max(self._part, self._next_part())
        path = self.run_dir / METRICS_DIR / f"part-{self._part:06d}.parquet"
        atomic_write_table(path, table)
        self._written(path)
        self._part += 1
        n, self._buffer = len(self._buffer), []
        return n

    def parts(self) -> int:
        return sum(1 for _ in (self.run_dir / METRICS_DIR).glob("part-*.parquet"))

    def compact(self, exclude: frozenset[str] | set[str] = frozenset()) -> int:
        """Merge the metric parts into one, keeping the last row of each (trial, epoch).

        The merged part is written (atomically) before the old parts are removed, so a
        crash in between leaves duplicates that readers resolve the same way. Rows of
        ``exclude`` trials are dropped (trials a resume discards).
        """
        self.flush_metrics()
        folder = self.run_dir / METRICS_DIR
        parts = sorted(folder.glob("part-*.parquet"))
        if len(parts) <= 1 and not exclude and not _has_duplicates(parts):
            return len(parts)
        if not parts:
            return 0
        table = pa.concat_tables([_read_table(p, "move it out of the metrics folder, then resume") for p in parts], promote_options="default")
        df = table.to_pandas().drop_duplicates([S.TRIAL_ID, S.EPOCH], keep="last")
        df = df[~df[S.TRIAL_ID].isin(list(exclude))]
        df = df.sort_values([S.TRIAL_ID, S.EPOCH], kind="stable")
        # a run made before a family gained a parameter: its parts lack that column (null)
        df = df.reindex(columns=self.metrics_schema.names)
        merged = pa.Table.from_pandas(df, schema=self.metrics_schema, preserve_index=False)
        self._part = max(self._part, self._next_part())
        target = folder / f"part-{self._part:06d}.parquet"
        atomic_write_table(target, merged)
        self._written(target)
        self._part += 1
        for p in parts:
            if p != target:
                p.unlink()
                if self.mirror is not None and target not in self._pending:
                    try:
                        self.mirror.delete(p)
                    except OSError:
                        pass   # a stale part on the URI: readers drop its duplicate rows
        return 1

    def write_trials(self, rows: list[TrialRow]) -> None:
        atomic_write_table(self.run_dir / TRIALS_FILE, _table([r.to_row() for r in rows], self.trials_schema))
        self._written(self.run_dir / TRIALS_FILE)


def _has_duplicates(parts: list[Path]) -> bool:
    if not parts:
        return False
    keys = pq.read_table(parts[0], columns=[S.TRIAL_ID, S.EPOCH]).to_pandas()
    return bool(keys.duplicated().any())


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    columns = {f.name: [_coerce(r.get(f.name), f.type) for r in rows] for f in schema}
    return pa.Table.from_pydict(columns, schema=schema)


def _coerce(value: Any, typ: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_floating(typ) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if pa.types.is_integer(typ) and isinstance(value, float) and value.is_integer():
        return int(value)
    if pa.types.is_string(typ) and not isinstance(value, str):
        return json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return value


def _read_table(path: Path, fix: str):
    """One Parquet file; damage becomes a ``UserError`` naming the file and the fix.

    Read through one open handle: given a path, pyarrow takes the size and then opens
    the file, and a writer's atomic rename in between looks like a truncated file."""
    try:
        with open(path, "rb") as f:
            return pq.read_table(f)
    except FileNotFoundError:
        raise                  # gone since it was listed: the caller lists again (read_metrics)
    except PermissionError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror}); ask for read access, or work on a copy") from None
    except (pa.ArrowException, OSError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{path} is truncated or not Parquet ({first}); {fix}") from None


_LISTINGS = 5   # a running sweep compacts its parts at most once per flush


def read_metrics(run_dir: str | Path):
    """All trial-epoch rows of a run as a DataFrame (empty if none)."""
    folder = Path(run_dir) / METRICS_DIR
    if folder.is_dir() and not os.access(folder, os.R_OK | os.X_OK):
        raise UserError(f"{folder}: cannot read the metrics folder (Permission denied); ask for read access, "
                        "or work on a copy")
    for _ in range(_LISTINGS):
        parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        if not parts:
            import pandas as pd

            return pd.DataFrame()
        try:
            tables = [_read_table(p, "move it out of the metrics folder to use the rest (its epochs are lost)")
                      for p in parts]
            break
        except FileNotFoundError:
            # the driver compacted the parts between the listing and the read (the merged
            # part is written before the old ones go): list them again
            continue
    else:
        raise UserError(f"{folder}: its parts changed {_LISTINGS} times while they were read; try again")
    df = pa.concat_tables(tables, promote_options="default").to_pandas()
    # a retried or resumed trial may report an epoch again: the later row is the one that stands
    return df.drop_duplicates([S.TRIAL_ID, S.EPOCH], keep="last").reset_index(drop=True)


def read_trials(run_dir: str | Path):
    import pandas as pd

    path = Path(run_dir) / TRIALS_FILE
    try:
        return _read_table(path, "restore it from a copy of the run (report and resume rebuild what they can "
                                 "from the metrics if it is moved out)").to_pandas()
    except FileNotFoundError:
        return pd.DataFrame()


def checkpoint_dir(run_dir: str | Path, recorded: str) -> Path:
    """A checkpoint folder as the trials table records it: relative to the run folder
    (so a moved run folder still reports), or absolute for runs recorded before that."""
    path = Path(recorded)
    return path if path.is_absolute() else Path(run_dir) / path
