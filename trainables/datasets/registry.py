"""Data sets registered by name, and the two ways a run uses one.

``load_trial_data`` gives the sweep its stratified train/validation split;
``load_test`` gives the report the held-out test split. A sweep never uses the test
split: ``check_test_split`` only reads it, where that is cheap, to learn before training
that the report will be able to.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from trainables.datasets import folder, mnist_like, notes
from trainables.contract.errors import DatasetError
from trainables.datasets.base import DataSpec, Labeled, TrialData
from trainables.datasets.split import stratified_split, stratified_subset


@dataclass(frozen=True)
class DatasetSource:
    name: str
    summary: str
    load: Callable[[DataSpec, str], Labeled]        # part: train | val | test
    class_names: Callable[[DataSpec], tuple[str, ...]]
    # (where it is read from, the files of each split): what provenance hashes
    files: Callable[[DataSpec], tuple[str, dict[str, list[Path]]]]
    # a split's arrays as bytes, for a source without files of its own (a Keras download)
    content: Callable[[DataSpec, str], bytes] = lambda spec, part: b""
    cheap_test: bool = False                        # its test split reads in well under a second


def _idx_files(source: mnist_like.IdxSource, spec: DataSpec) -> tuple[str, dict[str, list[Path]]]:
    place = mnist_like.locate(source, spec.data_dir)
    if place.kind == "download":
        return "Keras download", {"train": [], "val": [], "test": []}
    return str(place.path), {"train": place.files("train"), "val": place.files("train"), "test": place.files("test")}


def _idx_content(source: mnist_like.IdxSource, spec: DataSpec, part: str) -> bytes:
    data = mnist_like.load(source, spec, "test" if part == "test" else "train")
    return data.x.tobytes() + data.y.tobytes()


def _idx(source: mnist_like.IdxSource, summary: str) -> DatasetSource:
    return DatasetSource(
        source.name, summary,
        load=lambda spec, part: (mnist_like.load(source, spec, part) if part != "val"
                                 else Labeled(np.zeros((0,), np.uint8), np.zeros((0,), np.int64))),
        class_names=lambda spec: source.class_names,
        files=lambda spec: _idx_files(source, spec),
        content=lambda spec, part: _idx_content(source, spec, part), cheap_test=True)


DATASETS: dict[str, DatasetSource] = {
    "fashion_mnist": _idx(mnist_like.FASHION_MNIST, "Fashion-MNIST, 28x28 grayscale, 10 clothing classes"),
    "mnist": _idx(mnist_like.MNIST, "MNIST handwritten digits, 28x28 grayscale"),
    "folder": DatasetSource("folder", "images in one subfolder per class (data_dir)",
                            load=folder.load, class_names=folder.class_names, files=folder.files),
}


def get_dataset(name: str) -> DatasetSource:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset '{name}' (known: {', '.join(sorted(DATASETS))})") from None


def input_signature(spec: DataSpec) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(input shape, class names) without loading the data set (for previews)."""
    if spec.name != "folder":
        return (28, 28, 1), tuple(get_dataset(spec.name).class_names(spec))
    names = folder.class_names(spec)
    channels = 1 if spec.color_mode == "grayscale" else 3
    if spec.image_size is not None:
        return (*spec.image_size, channels), names
    first = folder.first_image_size(spec)
    return (*first, channels), names


def locate_data(spec: DataSpec) -> None:
    """Find the data set's files without reading them: a missing or incomplete data set is
    its one-line error here, before a sweep starts Ray (which it does before loading)."""
    get_dataset(spec.name).files(spec)


def _take(data: Labeled, idx: np.ndarray) -> Labeled:
    return Labeled(data.x[idx], data.y[idx])


def load_trial_data(spec: DataSpec) -> TrialData:
    """Train and validation splits for a sweep, subset as the sweep asks; with what the
    loaders noticed on the way (``TrialData.warnings``)."""
    with notes.collected() as noticed:
        data = _trial_data(spec)
    return replace(data, warnings=tuple(noticed))


def _trial_data(spec: DataSpec) -> TrialData:
    source = get_dataset(spec.name)
    names = source.class_names(spec)
    pool = source.load(spec, "train")
    val = source.load(spec, "val")
    if len(val) == 0:
        keep, held = stratified_split(pool.y, spec.val_fraction, spec.seed)
        pool, val = _take(pool, keep), _take(pool, held)
    for size, key in ((spec.train_size, "dataset.train_size"), (spec.val_size, "dataset.val_size")):
        if size is not None and size < len(names):
            raise DatasetError(f"{key}: {size} images cannot hold one of each of the {len(names)} classes; "
                               f"give at least {len(names)}")
    train = _take(pool, stratified_subset(pool.y, spec.train_size, spec.seed, "dataset.train_size"))
    val = _take(val, stratified_subset(val.y, spec.val_size, spec.seed + 1, "dataset.val_size"))
    present = np.unique(train.y)
    if len(present) < 2:
        only = names[int(present[0])] if len(present) else "none"
        raise DatasetError(f"dataset {spec.name}: the training split holds one class only ({only}) of "
                           f"{len(names)}; a classifier needs two or more (the sweep would score 1.0 on nothing)")
    for split, part in (("training", train), ("validation", val)):
        absent = [names[i] for i in range(len(names)) if i not in set(np.unique(part.y).tolist())]
        if absent:
            notes.warn(f"dataset {spec.name}: the {split} split holds no image of {len(absent)} of the "
                       f"{len(names)} classes ({', '.join(absent[:5])}{', ...' if len(absent) > 5 else ''})"
                       + ("; the models can never predict them" if split == "training" else
                          "; validation scores say nothing about them"))
    return TrialData(train=train, val=val, class_names=tuple(names))


def check_test_split(spec: DataSpec) -> None:
    """Read the test split once and drop it, where that is cheap (IDX: 10,000 images, tens
    of milliseconds): a damaged file (a truncated .gz) is then a sweep's one-line error
    before training, not its report's after. Image folders are read by the report only."""
    source = get_dataset(spec.name)
    if source.cheap_test:
        source.load(spec, "test")


def load_test(spec: DataSpec) -> tuple[Labeled, tuple[str, ...]]:
    """The held-out test split, for the report only."""
    source = get_dataset(spec.name)
    return source.load(spec, "test"), tuple(source.class_names(spec))
