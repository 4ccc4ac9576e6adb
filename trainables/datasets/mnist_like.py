"""Fashion-MNIST and MNIST from their original IDX files.

A folder the user names (the sweep's ``data_dir``, else ``$TUNEFM_DATA_DIR``) is the
only place looked at, and must hold train and test. Only when none is named: Debian's
``/usr/share/datasets/<name>/``, the Keras cache, then a Keras download. Either way
both splits come from the one place found (``locate``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainables.contract.errors import DatasetError
from trainables.datasets.base import DataSpec, Labeled
from trainables.datasets.idx import read_idx

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class IdxSource:
    name: str               # registry name, e.g. fashion_mnist
    debian_dir: str         # /usr/share/datasets/<...>
    keras_subdir: str       # folder (or .npz file) in the Keras cache
    keras_module: str       # keras.datasets.<module> for the download
    class_names: tuple[str, ...]
    hint: str               # how to get the data


FASHION_MNIST = IdxSource("fashion_mnist", "/usr/share/datasets/fashion-mnist", "fashion-mnist",
                          "fashion_mnist", FASHION_CLASSES,
                          "apt-get install dataset-fashion-mnist, or set dataset.data_dir / "
                          "TUNEFM_DATA_DIR to a folder with the IDX .gz files")
MNIST = IdxSource("mnist", "/usr/share/datasets/mnist", "mnist.npz", "mnist", DIGITS,
                  "set dataset.data_dir / TUNEFM_DATA_DIR to a folder with the MNIST IDX .gz files, "
                  "or run once on a connected machine so Keras caches mnist.npz")


def keras_cache_dirs() -> list[Path]:
    home = os.environ.get("KERAS_HOME")
    dirs = [Path(home)] if home else []
    dirs += [Path.home() / ".keras", Path("/tmp/.keras")]
    return [d / "datasets" for d in dirs]


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _check_labels(y: np.ndarray, source: IdxSource, where: Path) -> None:
    if len(y) == 0:
        raise DatasetError(f"{where}: holds no images")
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{where}: labels are {y.dtype}, not integers; tunefm will not round them")
    if int(y.min()) < 0:
        raise DatasetError(f"{where}: label {int(y.min())} is negative; {source.name} labels are 0..{len(source.class_names) - 1}")
    if int(y.max()) >= len(source.class_names):
        raise DatasetError(f"{where}: label {int(y.max())} is outside the {len(source.class_names)} classes of "
                           f"{source.name} (0..{len(source.class_names) - 1}); the file is not {source.name} labels")


def _from_idx_dir(folder: Path, part: str, source: IdxSource) -> Labeled:
    images, labels = (_idx_file(folder, stem) for stem in FILES[part])
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DatasetError(f"{folder}: {images.name} and {labels.name} do not match "
                           f"(images {x.shape}, labels {y.shape})")
    _check_labels(y, source, labels)
    return Labeled(x[..., None], y.astype(np.int64))


def _from_npz(path: Path, part: str, source: IdxSource) -> Labeled:
    try:
        with np.load(path) as data:
            x, y = data[f"x_{part}"], data[f"y_{part}"]
    except Exception as e:  # zipfile/KeyError/ValueError: a broken cache file
        raise DatasetError(f"{path}: cannot be read ({e}); delete it and fetch it again") from None
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DatasetError(f"{path}: x_{part} and y_{part} do not match (images {x.shape}, labels {y.shape})")
    if x.dtype != np.uint8:   # e.g. floats scaled to [0, 1]: a cast would make them all 0
        raise DatasetError(f"{path}: x_{part} is {x.dtype}; tunefm reads images as uint8 0..255, as Keras "
                           "saves them: store them so, it will not guess a scale")
    _check_labels(np.asarray(y), source, path)
    return Labeled(x.astype(np.uint8)[..., None], y.astype(np.int64))


@dataclass(frozen=True)
class Place:
    """Where a data set is read from, train and test alike: an IDX folder, a Keras
    ``.npz``, or (nothing found, nothing named) a Keras download."""

    kind: str                 # idx | npz | download
    path: Path | None = None

    def files(self, part: str) -> list[Path]:
        if self.kind == "idx":
            return [_idx_file(self.path, stem) for stem in FILES[part]]
        return [self.path] if self.kind == "npz" else []


def _complete(place: Path) -> Place | None:
    if place.suffix == ".npz":
        return Place("npz", place) if place.is_file() else None
    if place.is_dir() and all(_idx_file(place, stem) for part in FILES for stem in FILES[part]):
        return Place("idx", place)
    return None


def named_dir(data_dir: str | None) -> tuple[str, str] | None:
    """(the folder the user named, how they named it), if they did."""
    if data_dir:
        return data_dir, "dataset.data_dir"
    env = os.environ.get("TUNEFM_DATA_DIR")
    return (env, "TUNEFM_DATA_DIR") if env else None


def locate(source: IdxSource, data_dir: str | None) -> Place:
    """The one place both splits come from. A folder the user named is the only place
    looked at: missing or incomplete, it is an error that names the missing file. Only
    when none is named: Debian's package, the Keras cache, then a Keras download."""
    named = named_dir(data_dir)
    if named is not None:
        folder, how = Path(named[0]).expanduser(), named[1]
        candidates = [folder, folder / source.name, folder / source.keras_subdir]
        for place in candidates:
            found = _complete(place)
            if found is not None:
                return found
        if not folder.is_dir():
            raise DatasetError(f"{how} {folder}: no such folder (it is the only place looked at for "
                               f"{source.name} when named)")
        best = next((c for c in candidates if c.is_dir() and any(_idx_file(c, s) for p in FILES for s in FILES[p])),
                    folder)
        missing = [f"{stem}.gz" for part in FILES for stem in FILES[part] if _idx_file(best, stem) is None]
        raise DatasetError(f"{how} {best}: {source.name} is incomplete there, missing {', '.join(missing)} "
                           "(train and test are read from the one folder named; nothing else is looked at)")
    for place in [Path(source.debian_dir), *[d / source.keras_subdir for d in keras_cache_dirs()]]:
        found = _complete(place)
        if found is not None:
            return found
    return Place("download")


def candidate_locations(source: IdxSource, data_dir: str | None) -> list[Path]:
    named = named_dir(data_dir)
    if named is not None:
        folder = Path(named[0]).expanduser()
        return [folder, folder / source.name, folder / source.keras_subdir]
    return [Path(source.debian_dir), *[d / source.keras_subdir for d in keras_cache_dirs()]]


def _download(source: IdxSource, part: str) -> Labeled:
    import importlib

    module = importlib.import_module(f"keras.datasets.{source.keras_module}")
    (x_tr, y_tr), (x_te, y_te) = module.load_data()
    x, y = (x_tr, y_tr) if part == "train" else (x_te, y_te)
    return Labeled(np.asarray(x, np.uint8)[..., None], np.asarray(y, np.int64))


def load(source: IdxSource, spec: DataSpec, part: str, place: Place | None = None) -> Labeled:
    """The ``part`` ("train" or "test") of ``source``, from ``place`` (default: ``locate``)."""
    place = place or locate(source, spec.data_dir)
    if place.kind == "idx":
        return _from_idx_dir(place.path, part, source)
    if place.kind == "npz":
        return _from_npz(place.path, part, source)
    try:
        data = _download(source, part)
    except Exception as e:  # no network, blocked URL, partial download
        reason = f"Keras download failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        where = ", ".join(str(p) for p in dict.fromkeys(candidate_locations(source, spec.data_dir)))
        raise DatasetError(f"dataset '{source.name}' not found (looked in {where}; {reason}). "
                           f"To get it: {source.hint}") from None
    _check_labels(data.y, source, Path(f"keras.datasets.{source.keras_module}"))
    return data
