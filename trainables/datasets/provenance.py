"""Where a run's data came from, exactly: the files of each split, their sizes and sha256.

Resolved once on the driver when a sweep starts and stored in ``run.json``; ``report``,
``resume`` and ``repeat`` resolve it again and compare (``changes``). The sweep never
reads the test split: its files are hashed, its images counted by the report alone.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from trainables.contract.records import Record
from trainables.datasets.base import DataSpec, Labeled

LISTED = 20            # a split's files are listed up to this many; all of them are in its digest
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class FileDigest(Record):
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SplitSource(Record):
    """One split: the files it was read from, and what was read (test: counted by the report)."""

    digest: str                                   # sha256 over every file's path, size and sha256
    file_count: int
    files: tuple[FileDigest, ...] = ()            # the first LISTED of them
    images: int | None = None
    per_class: tuple[int, ...] = ()
    shape: tuple[int, ...] = ()
    dtype: str = ""
    # sha256 of the split itself as the trials got it (``arrays_sha256``): train and val
    # come from the same files, so ``digest`` alone cannot tell them apart; empty when
    # the split was not read (test, in a sweep) or the run predates it
    arrays_sha256: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(f if isinstance(f, FileDigest) else FileDigest.from_dict(f, "files")
                                                for f in self.files))
        object.__setattr__(self, "per_class", tuple(int(c) for c in self.per_class))
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["files"] = [f.to_dict() for f in self.files]
        return out


@dataclass(frozen=True)
class DataProvenance(Record):
    dataset: str
    source: str                                   # the folder or file read, or "Keras download"
    splits: dict = field(default_factory=dict)    # train / val / test -> SplitSource

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", {k: v if isinstance(v, SplitSource) else SplitSource.from_dict(v, k)
                                            for k, v in self.splits.items()})

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["splits"] = {k: v.to_dict() for k, v in self.splits.items()}
        return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def arrays_sha256(data: Labeled) -> str:
    """sha256 over a split's labels and images (shapes and dtypes first), in order."""
    h = hashlib.sha256(f"{data.x.dtype}{data.x.shape}{data.y.dtype}{data.y.shape}\n".encode())
    h.update(memoryview(np.ascontiguousarray(data.y)).cast("B"))
    h.update(memoryview(np.ascontiguousarray(data.x)).cast("B"))
    return h.hexdigest()


def split_source(files: list[Path], root: Path | None, data: Labeled | None = None,
                 num_classes: int = 0, content: bytes | None = None) -> SplitSource:
    """``files`` hashed (paths relative to ``root``); ``data`` counted when given;
    ``content`` (the arrays of a download, which has no files of its own) hashed instead."""
    digests = [FileDigest(str(p.relative_to(root)) if root and p.is_relative_to(root) else str(p),
                          p.stat().st_size, sha256_file(p)) for p in files]
    total = hashlib.sha256()
    for d in digests:
        total.update(f"{d.path}\t{d.size}\t{d.sha256}\n".encode())
    if content is not None:
        total.update(content)
    counted = {}
    if data is not None:
        counted = dict(images=len(data), per_class=tuple(np.bincount(data.y, minlength=num_classes)),
                       shape=tuple(data.x.shape[1:]), dtype=str(data.x.dtype), arrays_sha256=arrays_sha256(data))
    return SplitSource(total.hexdigest(), len(digests), tuple(digests[:LISTED]), **counted)


def resolve(spec: DataSpec, train: Labeled | None = None, val: Labeled | None = None,
            num_classes: int = 0) -> DataProvenance:
    """The data set's provenance as it is on disk now (the splits' images counted when given)."""
    from trainables.datasets.registry import get_dataset

    source = get_dataset(spec.name)
    where, files = source.files(spec)
    root = Path(where) if Path(where).is_dir() else (Path(where).parent if Path(where).exists() else None)
    given = {"train": train, "val": val, "test": None}
    content = {part: source.content(spec, part) for part in SPLITS} if not files["train"] else {}
    splits = {part: split_source(files[part], root, given[part], num_classes, content.get(part))
              for part in SPLITS}
    return DataProvenance(spec.name, str(where), splits)


def changes(recorded: DataProvenance, now: DataProvenance) -> list[str]:
    """What differs between the data a run recorded and the data on disk now, one line each."""
    out = []
    if recorded.source != now.source:
        out.append(f"read from {now.source}, not {recorded.source}")
    for part in SPLITS:
        was, is_ = recorded.splits.get(part), now.splits.get(part)
        if was is None or is_ is None or was.digest == is_.digest:
            continue
        before: Mapping[str, FileDigest] = {f.path: f for f in was.files}
        changed = [f.path for f in is_.files if f.path in before and before[f.path].sha256 != f.sha256]
        if changed:
            out.append(f"{part}: {changed[0]} changed (sha256 {before[changed[0]].sha256[:12]}... is now "
                       f"{next(f.sha256 for f in is_.files if f.path == changed[0])[:12]}...)")
        else:
            out.append(f"{part}: its {was.file_count} file(s) are now {is_.file_count} file(s) with other contents")
    return out
