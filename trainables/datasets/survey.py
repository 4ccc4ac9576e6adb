"""What a data set holds, read as its loader would read it, for ``tunefm init``: classes,
images per split and class, image sizes, colour, unreadable files.

``survey_folder`` decodes every image once, with the loader's rules (``folder``): the same
class folders and split layout (a test split whose classes differ from train's is refused
here as there), the same readable-image test, and colour judged on the decoded pixels (an
RGB file whose pixels are all gray counts as gray). ``survey_named`` reads a named data
set's labels.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainables.contract.errors import DatasetError
from trainables.datasets.base import DataSpec

POOL = "all"     # the split name of a folder without train/ and test/: one pool, split by fractions


@dataclass(frozen=True)
class Survey:
    name: str                                   # the data set's registry name: folder, fashion_mnist, mnist
    location: str                               # the folder, or where the named data set was found
    classes: tuple[str, ...]
    counts: dict[str, dict[str, int]]           # split (train, val, test, or POOL) -> class -> readable images
    sizes: dict[tuple[int, int], int]           # (height, width) -> images
    colour: int = 0                             # images with colour in their pixels
    gray: int = 0                               # images without (gray files, and colour files of gray pixels)
    gray_files_in_colour: int = 0               # RGB (or palette) files whose pixels are all gray
    unreadable: tuple[str, ...] = ()            # "path: why", in reading order
    fixed_shape: tuple[int, int, int] | None = None   # a named data set's one input shape
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def images(self) -> int:
        return sum(sum(per.values()) for per in self.counts.values())

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.counts)

    def training_images(self) -> int:
        """Images the sweep's training and validation splits are drawn from."""
        if POOL in self.counts:
            return sum(self.counts[POOL].values())
        return sum(self.counts.get("train", {}).values()) + sum(self.counts.get("val", {}).values())

    def smallest_class(self) -> tuple[str, str, int]:
        """(split, class, images) of the class with the fewest readable images."""
        return min(((s, c, n) for s, per in self.counts.items() for c, n in per.items()), key=lambda t: t[2])

    def common_size(self) -> tuple[int, int]:
        return max(self.sizes.items(), key=lambda kv: (kv[1], kv[0]))[0]


def survey_folder(root: str | Path) -> Survey:
    from trainables.datasets import folder

    spec = DataSpec("folder", data_dir=str(root))
    names = folder.class_names(spec)                     # the loader's checks: two classes, same classes per split
    base = folder.image_root(spec)
    if folder.has_splits(base):
        splits = {s: base / s for s in ("train", "val", "test") if (base / s).is_dir()}
    else:
        splits = {POOL: base}
    counts: dict[str, dict[str, int]] = {}
    sizes: Counter = Counter()
    colour = gray = gray_in_colour = 0
    unreadable: list[str] = []
    for split, where in splits.items():
        per: dict[str, int] = {}
        for name in names:
            good = 0
            for path in folder.image_files(where, name, quiet=True):
                try:
                    size, has_colour, colour_file = _look(path)
                except _Unreadable as e:
                    unreadable.append(f"{path}: {e}")
                    continue
                good += 1
                sizes[size] += 1
                colour += has_colour
                gray += not has_colour
                gray_in_colour += colour_file and not has_colour
            per[name] = good
        counts[split] = per
    if not sizes:
        raise DatasetError(f"{base}: no readable images ({len(unreadable)} unreadable; first: {unreadable[0]})"
                           if unreadable else f"{base}: no images")
    return Survey("folder", str(base), names, counts, dict(sizes), colour, gray, gray_in_colour, tuple(unreadable))


class _Unreadable(Exception):
    pass


def _look(path: Path) -> tuple[tuple[int, int], bool, bool]:
    """(height, width), whether its pixels have colour, whether the file is a colour file."""
    import warnings

    from PIL import Image

    from trainables.datasets.folder import SIXTEEN_BIT, to_uint8

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                size = (img.height, img.width)
                if img.mode in SIXTEEN_BIT or img.mode in ("1", "L", "LA", "I", "F"):
                    return size, False, False
                rgb = to_uint8(img, "RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _Unreadable(f"a decompression bomb ({str(e).split('.')[0]})") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise _Unreadable(f"not a readable image ({e})") from None
    has_colour = bool(np.any(rgb[..., 0] != rgb[..., 1]) or np.any(rgb[..., 1] != rgb[..., 2]))
    return size, has_colour, True


def survey_named(name: str, data_dir: str | None = None) -> Survey:
    """A registered data set (fashion_mnist, mnist): its labels per split, its one shape."""
    from trainables.datasets.registry import get_dataset, input_signature

    try:
        source = get_dataset(name)
    except KeyError as e:
        raise DatasetError(str(e).strip("'\"")) from None
    spec = DataSpec(name, data_dir=data_dir)
    shape, names = input_signature(spec)
    counts = {}
    for part in ("train", "test"):
        y = source.load(spec, part).y
        counts[part] = {c: int(n) for c, n in zip(names, np.bincount(y, minlength=len(names)))}
    total = sum(sum(per.values()) for per in counts.values())
    files = source.files(spec)[0]
    return Survey(name, str(files), tuple(names), counts, {tuple(shape[:2]): total},
                  colour=0 if shape[2] == 1 else total, gray=total if shape[2] == 1 else 0,
                  fixed_shape=tuple(shape))
