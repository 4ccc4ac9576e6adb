"""Run folders on a URI (``s3://``, ``gs://``, ``hdfs://``... anything pyarrow.fs opens).

The driver works in a local staging copy of the run folder and mirrors every file it
writes to the URI (object stores have no rename, but a PUT is atomic: readers see the
old file or the new one). Ray Tune keeps its experiment state and every trial's
checkpoints at ``<run URI>/ray`` itself, through the same pyarrow file system, so each
node of a cluster reads and writes them there. ``tunefm report``, ``resume`` and
``leaderboard`` given a URI fetch the run folder (without ``ray/``) into the staging
copy first; the report fetches only the checkpoints it evaluates, and uploads itself.

Credentials and endpoints come from the usual places (``AWS_*`` variables, instance
roles, ``GOOGLE_APPLICATION_CREDENTIALS``...); query options that pyarrow understands
(``?region=...&endpoint_override=...``) may follow the URI.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from trainables.contract.errors import UserError


def is_uri(location: str | os.PathLike) -> bool:
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_location(location: str | os.PathLike) -> str | Path:
    """A ``file://`` URI as the local path it means; any other location as given.

    >>> str(local_location("file:///data/runs%20a")), local_location("s3://b/p")
    ('/data/runs a', 's3://b/p')
    """
    from urllib.parse import unquote, urlparse

    text = str(location)
    if not text.startswith("file://"):
        return location
    parsed = urlparse(text)
    if parsed.netloc not in ("", "localhost"):
        raise UserError(f"{text}: a file:// URI names a path on this machine (file:///path), not on "
                        f"'{parsed.netloc}'")
    return Path(unquote(parsed.path))


def join(uri: str, *parts: str) -> str:
    """``join("s3://b/p?region=x", "a", "b")`` is ``s3://b/p/a/b?region=x``."""
    base, sep, query = uri.partition("?")
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]]) + (sep + query if sep else "")


def staging_dir(uri: str, purpose: str = "work") -> Path:
    """A local copy of a URI run folder (``work``: the driver's; ``view``: readers'). The
    same URI always maps to the same place, and the folder keeps the run's name."""
    root = Path(os.environ.get("TUNEFM_CACHE", Path.home() / ".cache" / "tunefm")).expanduser().resolve()
    base = uri.partition("?")[0].rstrip("/")
    parent, _, name = base.split("://", 1)[1].rpartition("/")
    readable = parent.replace("/", "__")[-100:]
    return root / "remote" / f"{readable}-{hashlib.sha1(base.encode()).hexdigest()[:8]}" / purpose / name


def remote_of(location: str | os.PathLike) -> "Remote | None":
    """The ``Remote`` of a run folder given as a URI; None for a local path."""
    return Remote(str(location)) if is_uri(location) else None


@dataclass(frozen=True)
class Remote:
    """One run folder on a URI, and its local staging copy."""

    uri: str

    def filesystem(self):
        """(pyarrow file system, path of the run folder on it)."""
        return _open(self.uri)

    @property
    def local(self) -> Path:
        return staging_dir(self.uri)

    def put(self, local_file: Path, base: Path | None = None) -> None:
        """Upload one file of a local copy (``base``, default the staging copy) to the
        same relative place under the URI."""
        fs, root = self.filesystem()
        rel = Path(local_file).relative_to(base or self.local).as_posix()
        with open(local_file, "rb") as src, fs.open_output_stream(f"{root}/{rel}") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)

    def delete(self, local_file: Path) -> None:
        fs, root = self.filesystem()
        rel = Path(local_file).relative_to(self.local).as_posix()
        try:
            fs.delete_file(f"{root}/{rel}")
        except FileNotFoundError:
            pass

    def exists(self, rel: str) -> bool:
        import pyarrow.fs as pafs

        fs, root = self.filesystem()
        return fs.get_file_info(f"{root}/{rel}").type != pafs.FileType.NotFound

    @property
    def view(self) -> Path:
        """Where readers (report, leaderboard) fetch to: never the driver's working copy."""
        return staging_dir(self.uri, "view")

    def fetch(self, into: Path, rel: str = "", skip: tuple[str, ...] = ("ray", "report")) -> Path:
        """Download ``rel`` (the whole run folder by default, without Ray's folders and
        ``skip``) to the same place under ``into``, replacing what was there; return the
        local path. The trials table comes before the metric parts (a reader's snapshot
        needs metric rows at least as new as it), and a part that a running sweep merged
        away meanwhile is skipped (its rows are in the merged part)."""
        import pyarrow.fs as pafs

        fs, root = self.filesystem()
        source = f"{root}/{rel}".rstrip("/")
        if fs.get_file_info(source).type == pafs.FileType.NotFound:
            raise UserError(f"{join(self.uri, rel) if rel else self.uri}: not found")
        target = Path(into) / rel if rel else Path(into)
        if target.exists():
            shutil.rmtree(target)
        infos = [i for i in fs.get_file_info(pafs.FileSelector(source, recursive=True))
                 if i.type == pafs.FileType.File]
        for info in sorted(infos, key=lambda i: ("/" in i.path[len(source):].lstrip("/"), i.path)):
            sub = info.path[len(source):].lstrip("/")
            top = sub.split("/", 1)[0]
            if not rel and (top in skip or top.startswith("ray-")):
                continue
            dest = target / sub
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with fs.open_input_stream(info.path) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, length=1 << 20)
            except FileNotFoundError:
                dest.unlink(missing_ok=True)
        return target

    def upload_tree(self, local_dir: Path, base: Path) -> None:
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                self.put(path, base)

    def relative(self, path_on_fs: str) -> str:
        """A path Ray reports on this file system, relative to the run folder."""
        _, root = self.filesystem()
        return path_on_fs[len(root):].lstrip("/") if path_on_fs.startswith(root + "/") else path_on_fs


PROBE_SECONDS = 60.0   # a store that has not answered a small write by then is not reachable


def check_writable(uri: str, timeout: float = PROBE_SECONDS) -> None:
    """Refuse an unreachable or read-only results URI before anything starts, in bounded
    time: some clients (gs:// without network) retry for many minutes without a word."""
    import threading

    import pyarrow as pa

    outcome: list[BaseException | None] = []

    def probe() -> None:
        try:
            fs, root = Remote(uri).filesystem()
            path = f"{root.rstrip('/')}/.tunefm-probe-{os.getpid()}"
            with fs.open_output_stream(path) as f:
                f.write(b"tunefm")
            fs.delete_file(path)
            outcome.append(None)
        except BaseException as e:   # handed to the caller's thread below
            outcome.append(e)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise UserError(f"--results {uri}: no answer to a small test write in {timeout:.0f} s; check the "
                        "address, the network and the credentials")
    error = outcome[0]
    if isinstance(error, (OSError, pa.ArrowException)):
        raise UserError(f"--results {uri}: cannot write there ({_first_line(error)})") from None
    if error is not None:
        raise error


@functools.lru_cache(maxsize=64)
def _open(uri: str):
    """Opened once per process (opening may ask the store for the bucket's region)."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except (OSError, pa.ArrowException) as e:
        raise UserError(f"{uri}: cannot open this location ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
