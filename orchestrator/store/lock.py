"""One driver at a time: an OS file lock on a run folder, released when the process dies.

``sweep``, ``resume`` and ``repeat`` hold it for as long as they drive the run; a
second one is refused with the holder's pid and host. Readers (``report``,
``leaderboard``) never take it: they only ask whether someone holds it, which is how
"still running" is told apart from "the driver died".
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from trainables.contract.errors import UserError


class RunLock:
    def __init__(self, path: Path, location: str):
        self.path = Path(path)          # the lock file: RUN/.lock (a URI run's: beside its local copy)
        self.location = location
        self._fd: int | None = None

    def acquire(self, command: str = "") -> "RunLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UserError(f"{self.location}: cannot lock the run folder ({e.strerror}: {self.path})") from None
        try:
            _flock_waiting_out_readers(fd)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"{self.location}: another tunefm is driving this run ({describe(read_holder(self.path))}); "
                            "wait for it to end, or stop it (Ctrl-C) and resume") from None
        except OSError as e:
            os.close(fd)
            raise UserError(f"{self.location}: cannot lock the run folder ({e.strerror}: {self.path}); its file "
                            "system may not support file locks: run it from a local disk") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "command": command}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
        except OSError:
            pass   # a full disk: the lock holds all the same, only its holder goes unnamed
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass    # a read-only or full disk: the lock still goes with the descriptor
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


READER_WAIT_SECONDS = 1.0


def _flock_waiting_out_readers(fd: int) -> None:
    """An exclusive lock. A reader asking ``held`` takes a shared lock for an instant:
    that is waited out; a driver holds on, and ``BlockingIOError`` is raised."""
    deadline = time.monotonic() + READER_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def held(path: Path) -> dict | None:
    """The holder (pid, host, since) if a live process holds the lock file ``path``, else
    None. Takes no lock that lasts: a reader of a read-only folder can ask too."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_holder(path) or {"pid": "?", "host": "?"}
    except OSError:
        return None    # no file locks on this file system: nobody can be seen holding one
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def read_holder(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text() or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def describe(holder: dict) -> str:
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
