"""Images in one subfolder per class, as the CIFAR-10 course notebook used.

Layouts: ``root/<class>/*.png`` (test and validation carved out by seeded stratified
splits), or ``root/train/<class>/...`` with ``root/test/...`` and optionally
``root/val/...``. Images are converted to the declared colour mode and resized.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from trainables.contract.errors import DatasetError
from trainables.datasets.base import DataSpec, Labeled

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _root(spec: DataSpec) -> Path:
    if not spec.data_dir:
        raise DatasetError("dataset 'folder' needs dataset.data_dir: a folder with one subfolder per class")
    root = Path(spec.data_dir).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    return root


def class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def has_splits(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "test").is_dir()


def class_names(spec: DataSpec) -> tuple[str, ...]:
    root = _root(spec)
    base = root / "train" if has_splits(root) else root
    names = tuple(p.name for p in class_dirs(base))
    if len(names) < 2:
        raise DatasetError(f"{base}: needs at least two class subfolders, found {len(names)}")
    return names


def first_image_size(spec: DataSpec) -> tuple[int, int]:
    from PIL import Image

    root = _root(spec)
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            with Image.open(path) as img:
                return img.height, img.width
    raise DatasetError(f"{root}: no images found")


def read_images(folder: Path, names: tuple[str, ...], spec: DataSpec) -> Labeled:
    from PIL import Image

    mode = "L" if spec.color_mode == "grayscale" else "RGB"
    size = spec.image_size
    xs, ys = [], []
    for label, name in enumerate(names):
        sub = folder / name
        if not sub.is_dir():
            raise DatasetError(f"{folder}: class folder '{name}' is missing")
        for path in sorted(sub.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(path) as img:
                    img = img.convert(mode)
                    if size is None:
                        size = (img.height, img.width)
                    if (img.height, img.width) != tuple(size):
                        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                    xs.append(np.asarray(img, dtype=np.uint8))
            except OSError as e:
                raise DatasetError(f"{path}: not a readable image ({e})") from None
            ys.append(label)
    if not xs:
        raise DatasetError(f"{folder}: no images found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    x = np.stack(xs)
    if x.ndim == 3:
        x = x[..., None]
    return Labeled(x, np.asarray(ys, np.int64))


def load(spec: DataSpec, part: str) -> Labeled:
    """``part`` is "train" (train+val pool, or train only when val/ exists), "val" or "test"."""
    from trainables.datasets.split import stratified_split

    root, names = _root(spec), class_names(spec)
    if has_splits(root):
        if part == "val" and not (root / "val").is_dir():
            return Labeled(np.zeros((0,), np.uint8), np.zeros((0,), np.int64))
        return read_images(root / part, names, spec)
    if part == "val":
        return Labeled(np.zeros((0,), np.uint8), np.zeros((0,), np.int64))
    everything = read_images(root, names, spec)
    keep, test = stratified_split(everything.y, spec.test_fraction, spec.seed)
    idx = keep if part == "train" else test
    return Labeled(everything.x[idx], everything.y[idx])
