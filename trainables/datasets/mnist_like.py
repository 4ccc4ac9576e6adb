"""Fashion-MNIST and MNIST from their original IDX files.

Looked for in order: the sweep's ``data_dir`` or ``$TUNEFM_DATA_DIR``, Debian's
``/usr/share/datasets/<name>/``, the Keras cache, then a Keras download.
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


def _from_idx_dir(folder: Path, part: str) -> Labeled | None:
    images, labels = (_idx_file(folder, stem) for stem in FILES[part])
    if images is None or labels is None:
        return None
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DatasetError(f"{folder}: {images.name} and {labels.name} do not match "
                           f"(images {x.shape}, labels {y.shape})")
    return Labeled(x[..., None], y.astype(np.int64))


def _from_npz(path: Path, part: str) -> Labeled | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            x, y = data[f"x_{part}"], data[f"y_{part}"]
    except Exception as e:  # zipfile/KeyError/ValueError: a broken cache file
        raise DatasetError(f"{path}: cannot be read ({e}); delete it and fetch it again") from None
    return Labeled(x.astype(np.uint8)[..., None], y.astype(np.int64))


def candidate_locations(source: IdxSource, data_dir: str | None) -> list[Path]:
    places = []
    for d in (data_dir, os.environ.get("TUNEFM_DATA_DIR")):
        if d:
            places += [Path(d), Path(d) / source.name, Path(d) / source.keras_subdir]
    places.append(Path(source.debian_dir))
    places += [d / source.keras_subdir for d in keras_cache_dirs()]
    return places


def _download(source: IdxSource, part: str) -> Labeled:
    import importlib

    module = importlib.import_module(f"keras.datasets.{source.keras_module}")
    (x_tr, y_tr), (x_te, y_te) = module.load_data()
    x, y = (x_tr, y_tr) if part == "train" else (x_te, y_te)
    return Labeled(np.asarray(x, np.uint8)[..., None], np.asarray(y, np.int64))


def load(source: IdxSource, spec: DataSpec, part: str, allow_download: bool = True) -> Labeled:
    """The ``part`` ("train" or "test") of ``source``, from the first place that has it."""
    looked = candidate_locations(source, spec.data_dir)
    for place in looked:
        found = _from_npz(place, part) if place.suffix == ".npz" else (
            _from_idx_dir(place, part) if place.is_dir() else None)
        if found is not None:
            return found
    if allow_download:
        try:
            return _download(source, part)
        except Exception as e:  # no network, blocked URL, partial download
            reason = f"Keras download failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    else:
        reason = "download not allowed"
    where = ", ".join(str(p) for p in dict.fromkeys(looked))
    raise DatasetError(f"dataset '{source.name}' not found (looked in {where}; {reason}). "
                       f"To get it: {source.hint}")
