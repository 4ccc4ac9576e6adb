"""One run folder, local or on a URI: create, open, lock, localize, validate.

Nothing stored inside a run folder names the folder itself: checkpoints are recorded
relative to it and Ray Tune's storage path is derived from where the folder is *now*,
so a moved or copied folder resumes, reports and repeats where it is and never writes
anywhere else. Every read of its files turns damage into a ``UserError`` naming the
file and what to do.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from orchestrator.store.lock import RunLock, held
from orchestrator.store.records import RecordError, RunMeta, RunStatus
from trainables.contract.errors import UserError
from trainables.contract.keys import LOCK_FILE, RAY_DIR, RUN_FILE, SWEEP_FILE


@dataclass(frozen=True)
class RunFolder:
    path: Path                 # the folder on this machine (a URI run's local copy)
    uri: str | None = None     # where the run lives, when on a URI

    # --- where ---------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """What the user names the run by."""
        return self.uri or str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, rel: str) -> Path:
        return self.path / rel

    @property
    def remote(self):
        """The ``store.remote.Remote`` of a URI run (None for a local one)."""
        if self.uri is None:
            return None
        from orchestrator.store.remote import Remote

        return Remote(self.uri)

    def storage(self) -> dict[str, Any]:
        """Ray Tune's ``storage_path`` (and file system): the folder where it is now."""
        if self.uri is None:
            return {"storage_path": str(self.path)}
        fs, path = self.remote.filesystem()
        return {"storage_path": path, "storage_filesystem": fs}

    def ray_path(self, name: str = RAY_DIR) -> str:
        return f"{self.storage()['storage_path']}/{name}"

    def relative(self, path_on_storage: str) -> str:
        """A path Ray reports (a checkpoint) relative to this folder. A path outside it
        is a bug that would tie the run to another place: refused loudly."""
        if self.uri is not None:
            rel = self.remote.relative(path_on_storage)
        else:
            try:
                rel = Path(path_on_storage).resolve().relative_to(self.path.resolve()).as_posix()
            except ValueError:
                rel = path_on_storage
        if rel.startswith("/") or "://" in rel:
            raise RuntimeError(f"{path_on_storage} is outside the run folder {self.location}")
        return rel

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | Path, purpose: str = "read") -> "RunFolder":
        """An existing run. ``purpose``: ``read`` (a URI run is fetched into the readers'
        view) or ``drive`` (into the driver's working copy, replaced)."""
        from orchestrator.store.remote import is_uri, local_location, remote_of

        location = local_location(location)
        remote = remote_of(location)
        if remote is not None:
            path = remote.fetch(remote.local if purpose == "drive" else remote.view)
            folder = cls(path, remote.uri)
        else:
            folder = cls(Path(location).expanduser().absolute())
        try:
            if not folder.path.is_dir():
                what = "a file, not a run folder (give the folder tunefm sweep printed)" \
                    if folder.path.exists() else "no such run folder"
                raise UserError(f"{location}: {what}")
            for name in (RUN_FILE, SWEEP_FILE):
                if not folder.file(name).is_file():
                    raise UserError(f"{location}: not a tunefm run folder (no {name})")
        except OSError as e:
            raise UserError(f"{location}: cannot read the run folder ({e.strerror})") from None
        meta = folder.meta()
        if remote is None and meta.remote and is_uri(meta.remote) and purpose == "drive":
            raise UserError(f"{location} is the local copy of a run that lives at {meta.remote}; "
                            f"resume that: tunefm resume {meta.remote}")
        return folder

    # --- run.json and sweep.yaml -----------------------------------------------------------
    def meta(self) -> RunMeta:
        path = self.file(RUN_FILE)
        try:
            data = json.loads(path.read_text())
        except OSError as e:
            raise UserError(f"{path}: cannot read it ({e.strerror})") from None
        except ValueError as e:
            raise UserError(f"{path} is not valid JSON ({e}); restore it from a copy of the run") from None
        try:
            return RunMeta.from_dict(data, str(path))
        except RecordError as e:
            raise UserError(f"{e}; restore {RUN_FILE} from a copy of the run") from None

    def sweep_text(self) -> str:
        try:
            return self.file(SWEEP_FILE).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{self.file(SWEEP_FILE)}: cannot read it ({e})") from None

    def sweep_edited(self) -> bool:
        """Whether the frozen sweep.yaml was edited after the run started (it then no longer
        describes the run's trials)."""
        meta = self.meta()
        return bool(meta.sweep_sha256) and sha256_text(self.sweep_text()) != meta.sweep_sha256

    def spec(self, check_frozen: bool = False):
        """The run's sweep, from its frozen copy, with the run's CLI overrides applied.
        ``check_frozen``: refuse a frozen file that was edited after the run started."""
        from orchestrator.spec.sweep import parse_sweep, with_overrides

        text, meta = self.sweep_text(), self.meta()
        if check_frozen and meta.sweep_sha256 and sha256_text(text) != meta.sweep_sha256:
            raise UserError(f"{self.file(SWEEP_FILE)} was changed after the run started, so it no longer "
                            "describes the run's trials; put the original back, or start a new run "
                            "with tunefm sweep")
        return with_overrides(parse_sweep(text, str(self.file(SWEEP_FILE))), **meta.overrides)

    # --- driving -----------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        """RUN/.lock; a URI run's lies beside its driver's local copy, which a fetch replaces."""
        if self.uri is None:
            return self.file(LOCK_FILE)
        work = self.remote.local
        return work.parent / f"{LOCK_FILE}-{work.name}"

    def lock(self, command: str = "") -> RunLock:
        return RunLock(self.lock_path, self.location).acquire(command)

    @classmethod
    def drive(cls, location: str | Path, command: str = "") -> tuple["RunFolder", RunLock]:
        """An existing run, locked for this driver (resume, repeat), then validated; a URI
        run is fetched into the driver's copy only once the lock is held."""
        from orchestrator.store.remote import local_location, remote_of

        location = local_location(location)
        remote = remote_of(location)
        if remote is None:
            folder = cls.open(location, "drive")
            return folder, folder.lock(command)
        remote.local.parent.mkdir(parents=True, exist_ok=True)
        lock = cls(remote.local, remote.uri).lock(command)
        try:
            return cls.open(location, "drive"), lock
        except BaseException:
            lock.release()
            raise

    def driver(self) -> dict | None:
        """The live driver holding the lock (pid, host), or None. For the local copy of a
        URI run, that is the lock beside the copy."""
        if self.uri is None and not self.file(LOCK_FILE).exists():
            return held(self.path.parent / f"{LOCK_FILE}-{self.path.name}")
        return held(self.lock_path)

    def status(self) -> tuple[RunStatus, str | None]:
        """The run's status and, when run.json says ``running`` but no driver holds the
        lock, a note that the driver is gone (the run is then ``interrupted``). A URI run's
        lock lives on its driver's machine: from another machine, run.json is all there
        is to go by, and the note says so."""
        meta = self.meta()
        if meta.status != RunStatus.RUNNING or self.driver() is not None:
            return meta.status, None
        if self.uri is not None:
            return RunStatus.RUNNING, "per its run.json; its driver may be on another machine, which cannot be checked"
        return RunStatus.INTERRUPTED, "its driver stopped without a word (killed, or the machine went down)"


class FolderWatch:
    """Tells whether a run folder was moved (or deleted) while its driver runs: a moved
    folder must not be written at its old path (Ray and the store would make a new,
    half-empty folder there). Holds the folder open, so its new place can be named where
    the system tells it (Linux's ``/proc/self/fd``)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._fd: int | None = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            info = os.fstat(self._fd)
            self._id = (info.st_dev, info.st_ino)
        except OSError:
            self._fd, self._id = None, None

    def moved(self) -> str | None:
        """None while the folder is where it was; else where it is now ("" when that cannot
        be told, or it was deleted)."""
        if self._fd is None:
            return None
        try:
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == self._id:
                return None
        except OSError:
            pass
        try:
            now = os.readlink(f"/proc/self/fd/{self._fd}")
        except OSError:
            return ""
        return "" if now.endswith(" (deleted)") or not os.path.isdir(now) else now

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def writing(folder: RunFolder) -> Iterator[None]:
    """Writes before Ray starts (the frozen sweep file, run.json): a full disk or a
    read-only folder is one line naming the run, not a traceback."""
    try:
        yield
    except OSError as e:
        raise UserError(f"{folder.location}: cannot write to the run folder "
                        f"({e.strerror or e}: {e.filename or ''})") from None


def trial_phases(run_dir: Path, phases: int) -> dict[str, int]:
    """Trial id -> the phase it ran in (0: the sweep; n: the n-th later phase), from Ray's
    per-phase folders, where each trial has a folder named by its id."""
    from trainables.contract.keys import REPEAT_RAY_PREFIX

    out: dict[str, int] = {}
    for n in range(phases + 1):
        folder = Path(run_dir) / (f"{REPEAT_RAY_PREFIX}{n}" if n else RAY_DIR)
        try:
            out.update({p.name: n for p in folder.iterdir() if p.is_dir()})
        except OSError:
            continue
    return out


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_run_name(run_name: str | None) -> str:
    return run_name or datetime.now().strftime("%Y%m%d-%H%M%S")


def create_local(root: Path, sweep_name: str, run_name: str | None) -> RunFolder:
    base = root / sweep_name
    name = new_run_name(run_name)
    run_dir, n = base / name, 1
    while run_dir.exists():
        if run_name:
            raise UserError(f"run folder {run_dir} exists already; choose another --name")
        n += 1
        run_dir = base / f"{name}-{n}"
    try:
        run_dir.mkdir(parents=True)
    except OSError as e:
        raise UserError(f"cannot create run folder {run_dir}: {e.strerror}") from None
    return RunFolder(run_dir)


def create_remote(results_uri: str, sweep_name: str, run_name: str | None) -> RunFolder:
    """A fresh run folder under a results URI, and its (emptied) local working copy."""
    import shutil

    from orchestrator.store.remote import Remote, join

    name = new_run_name(run_name)
    remote, n = Remote(join(results_uri, sweep_name, name)), 1
    while remote.exists(RUN_FILE):
        if run_name:
            raise UserError(f"run folder {remote.uri} exists already; choose another --name")
        n += 1
        remote = Remote(join(results_uri, sweep_name, f"{name}-{n}"))
    shutil.rmtree(remote.local, ignore_errors=True)
    remote.local.mkdir(parents=True)
    return RunFolder(remote.local, remote.uri)


def create(root: Path | str, sweep_name: str, run_name: str | None) -> RunFolder:
    """A new run folder under ``root`` (a local path, or a URI given as a string)."""
    if isinstance(root, str):
        return create_remote(root, sweep_name, run_name)
    return create_local(root, sweep_name, run_name)
