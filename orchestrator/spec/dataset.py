"""The ``dataset:`` section of a sweep file, as the loaders' ``DataSpec``."""
from __future__ import annotations

from orchestrator.spec.schema import MAX_IMAGE_SIDE
from trainables.contract.errors import SweepFileError
from trainables.datasets.base import DataSpec


def dataset_spec(block, seed: int, source: str) -> DataSpec:
    """``block``: the validated ``schema.DatasetBlock``."""
    from trainables.datasets.registry import DATASETS

    names = tuple(sorted(DATASETS))
    if block.name not in names:
        raise SweepFileError(source, "dataset.name", f"must be one of {', '.join(names)}; got '{block.name}'")
    size = block.image_size
    if size is not None:
        if isinstance(size, int) and not isinstance(size, bool):
            size = [size, size]
        if not (isinstance(size, list) and len(size) == 2
                and all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= MAX_IMAGE_SIDE for s in size)):
            raise SweepFileError(source, "dataset.image_size", f"must be a positive integer or [height, width], "
                                 f"each at most {MAX_IMAGE_SIDE}, got {block.image_size!r}")
        size = (size[0], size[1])
    if block.name == "folder" and not block.data_dir:
        raise SweepFileError(source, "dataset.data_dir",
                             "is required for dataset 'folder' (the folder with one subfolder per class)")
    return DataSpec(name=block.name, data_dir=block.data_dir, val_fraction=block.val_fraction,
                    train_size=block.train_size, val_size=block.val_size, test_fraction=block.test_fraction,
                    image_size=size, color_mode=block.color_mode, skip_corrupt=block.skip_corrupt, seed=seed)
