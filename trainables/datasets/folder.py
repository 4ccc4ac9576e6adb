"""Images in one subfolder per class, as the CIFAR-10 course notebook used.

Layouts: ``root/<class>/*.png`` (test and validation carved out by seeded stratified
splits), or ``root/train/<class>/...`` with ``root/test/...`` and optionally
``root/val/...``. Only images directly in a class folder are read.

Images are scaled by their bit depth to 8 bits (a 16-bit PNG's 40000 is 156, not a
clipped 255), palettes expanded, alpha dropped, then converted to the declared colour
mode and resized. A corrupt image or a decompression bomb (a header claiming more
pixels than Pillow allows) is an error naming the file, or, with ``skip_corrupt:
true``, skipped and counted in a warning. An empty class, a class too small for the
splits, nested folders and symlink loops are named before anything trains.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from trainables.contract.errors import DatasetError
from trainables.datasets.base import DataSpec, Labeled
from trainables.datasets.notes import warn

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}   # Pillow's modes for 16-bit grayscale


def _root(spec: DataSpec) -> Path:
    if not spec.data_dir:
        raise DatasetError("dataset 'folder' needs dataset.data_dir: a folder with one subfolder per class")
    root = Path(spec.data_dir).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset.data_dir {root}: no such folder")
    return root


def image_root(spec: DataSpec) -> Path:
    """The folder ``spec`` names, checked to exist."""
    return _root(spec)


def _entries(folder: Path) -> list[Path]:
    """The folder's entries; a symlink that loops (or points nowhere) is named, not skipped."""
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink():
            try:
                path.resolve(strict=True)
            except (OSError, RuntimeError) as e:
                raise DatasetError(f"{path}: a symlink that loops or points nowhere ({e.__class__.__name__}); "
                                   "remove it or point it at a folder of images") from None
        out.append(path)
    return out


def class_dirs(folder: Path) -> list[Path]:
    return [p for p in _entries(folder) if p.is_dir()]


def has_splits(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "test").is_dir()


def class_names(spec: DataSpec) -> tuple[str, ...]:
    """The class folders' names (of ``train/`` where the folder has splits, whose ``test/``
    and ``val/`` must hold the same classes: a model cannot score a class it never saw, and
    a class without test images would be left out of the test scores without a word)."""
    root = _root(spec)
    base = root / "train" if has_splits(root) else root
    names = tuple(p.name for p in class_dirs(base))
    if len(names) < 2:
        raise DatasetError(f"{base}: needs at least two class subfolders, found {len(names)}")
    if has_splits(root):
        for split in ("test", "val"):
            if (root / split).is_dir():
                _same_classes(root / split, base, names)
    return names


def _same_classes(split: Path, train: Path, names: tuple[str, ...]) -> None:
    theirs = tuple(p.name for p in class_dirs(split))
    extra = [n for n in theirs if n not in names]
    if extra:
        raise DatasetError(f"{split / extra[0]}: class '{extra[0]}' is not in {train} ({len(extra)} such); a model "
                           f"cannot learn a class it never sees: add its training images or move the folder away")
    lacking = [n for n in names if n not in theirs]
    if lacking:
        raise DatasetError(f"{split}: no folder for class '{lacking[0]}' of {train} ({len(lacking)} such); "
                           f"every class needs images in {split.name}/ too")


def first_image_size(spec: DataSpec) -> tuple[int, int]:
    """The size every image is resized to when ``dataset.image_size`` is not given: the
    first readable image's (sorted paths), the same for every split."""
    from PIL import Image

    root = _root(spec)
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            try:
                with Image.open(path) as img:
                    return img.height, img.width
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                continue      # read_images names it (or skips it, with skip_corrupt)
    raise DatasetError(f"{root}: no readable images found")


def image_files(folder: Path, name: str, quiet: bool = False) -> list[Path]:
    """The images of one class folder; nested folders are reported, not read."""
    sub = folder / name
    if not sub.is_dir():
        raise DatasetError(f"{folder}: class folder '{name}' is missing")
    entries = _entries(sub)
    nested = [p for p in entries if p.is_dir()]
    if nested and not quiet:
        warn(f"{sub}: {len(nested)} nested folder(s) not read ({nested[0].name}, ...): only images directly in "
             "a class folder count")
    files = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DatasetError(f"{sub}: class '{name}' has no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                           "add some or remove the folder")
    return files


def to_uint8(img, mode: str) -> np.ndarray:
    """One decoded image as uint8 in ``mode`` ("L" or "RGB"), scaled by its bit depth."""
    if img.mode in SIXTEEN_BIT:
        wide = np.asarray(img, dtype=np.float64)
        gray = np.clip(np.rint(wide * 255.0 / 65535.0), 0, 255).astype(np.uint8)
        return gray if mode == "L" else np.repeat(gray[..., None], 3, axis=-1)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGB" if img.mode == "RGBA" else "L")    # alpha dropped, colours kept
    return np.asarray(img.convert(mode), dtype=np.uint8)


def _decode(path: Path, mode: str, size: tuple[int, int] | None):
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            img.load()
            own = (img.height, img.width)
            if size is not None and own != tuple(size):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return to_uint8(img, mode), own


def read_images(folder: Path, names: tuple[str, ...], spec: DataSpec) -> Labeled:
    from PIL import Image

    mode = "L" if spec.color_mode == "grayscale" else "RGB"
    size = tuple(spec.image_size) if spec.image_size is not None else first_image_size(spec)
    xs, ys, skipped, sizes = [], [], [], {}
    for label, name in enumerate(names):
        for path in image_files(folder, name):
            try:
                array, own = _decode(path, mode, size)
                sizes[own] = sizes.get(own, 0) + 1
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                problem = f"a decompression bomb ({str(e).split('.')[0]})"
            except (OSError, ValueError, SyntaxError) as e:
                problem = f"not a readable image ({e})"
            else:
                xs.append(array)
                ys.append(label)
                continue
            if not spec.skip_corrupt:
                raise DatasetError(f"{path}: {problem}; remove it, or set dataset.skip_corrupt: true to skip "
                                   "such files") from None
            skipped.append(f"{path}: {problem}")
    if spec.image_size is None and len(sizes) > 1:
        off = sum(n for own, n in sizes.items() if own != tuple(size))
        seen = ", ".join(f"{h}x{w}" for h, w in sorted(sizes, key=lambda s: -sizes[s])[:4])
        warn(f"{folder}: images of {len(sizes)} sizes ({seen}{', ...' if len(sizes) > 4 else ''}): {off} of "
             f"{sum(sizes.values())} resized to {size[0]}x{size[1]}, the first image's size; set dataset.image_size "
             "to choose it")
    if skipped:
        warn(f"{folder}: skipped {len(skipped)} unreadable image(s) (dataset.skip_corrupt); first: {skipped[0]}")
    if not xs:
        raise DatasetError(f"{folder}: no readable images")
    x = np.stack(xs)
    if x.ndim == 3:
        x = x[..., None]
    return Labeled(x, np.asarray(ys, np.int64))


def files(spec: DataSpec) -> tuple[str, dict[str, list[Path]]]:
    """(the image root, the files each split is read from), for provenance."""
    root, names = _root(spec), class_names(spec)

    def every(folder: Path) -> list[Path]:
        return [p for name in names for p in image_files(folder, name, quiet=True)]

    if not has_splits(root):
        pool = every(root)          # test and validation are carved out of the one pool
        return str(root), {"train": pool, "val": pool, "test": pool}
    val = root / "val" if (root / "val").is_dir() else root / "train"
    return str(root), {"train": every(root / "train"), "val": every(val), "test": every(root / "test")}


def check_class_sizes(data: Labeled, names: tuple[str, ...], folder: Path, needed: int, why: str) -> None:
    counts = np.bincount(data.y, minlength=len(names))
    small = [(names[i], int(c)) for i, c in enumerate(counts) if c < needed]
    if small:
        name, count = small[0]
        raise DatasetError(f"{folder / name}: class '{name}' has {count} image(s); {why} need at least {needed} "
                           "per class")


def load(spec: DataSpec, part: str) -> Labeled:
    """``part`` is "train" (train+val pool, or train only when val/ exists), "val" or "test"."""
    from trainables.datasets.split import stratified_split

    root, names = _root(spec), class_names(spec)
    if has_splits(root):
        if part == "val" and not (root / "val").is_dir():
            return Labeled(np.zeros((0,), np.uint8), np.zeros((0,), np.int64))
        data = read_images(root / part, names, spec)
        if part == "train" and not (root / "val").is_dir():
            check_class_sizes(data, names, root / part, 2, "a training pool and its validation split")
        return data
    if part == "val":
        return Labeled(np.zeros((0,), np.uint8), np.zeros((0,), np.int64))
    everything = read_images(root, names, spec)
    check_class_sizes(everything, names, root, 3, "the training, validation and test splits")
    keep, test = stratified_split(everything.y, spec.test_fraction, spec.seed)
    idx = keep if part == "train" else test
    return Labeled(everything.x[idx], everything.y[idx])
