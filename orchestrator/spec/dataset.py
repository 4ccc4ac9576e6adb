"""The ``dataset:`` section of a sweep file."""
from __future__ import annotations

from orchestrator.spec.reader import Node
from trainables.datasets.base import DataSpec

COLOR_MODES = ("grayscale", "rgb")
MAX_IMAGE_SIDE = 1024   # a side larger than this is a typo, or a MemoryError in the making


def dataset_spec(node: Node, seed: int) -> DataSpec:
    from trainables.datasets.registry import DATASETS

    name = node.take_str("name", choices=tuple(sorted(DATASETS)))
    size = node.raw("image_size", None)
    if size is not None:
        if isinstance(size, int) and not isinstance(size, bool):
            size = [size, size]
        if not (isinstance(size, list) and len(size) == 2
                and all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= MAX_IMAGE_SIDE for s in size)):
            raise node.error(f"must be a positive integer or [height, width], each at most {MAX_IMAGE_SIDE}, "
                             f"got {size!r}", "image_size")
        size = (size[0], size[1])
    spec = DataSpec(
        name=name,
        data_dir=node.take_str("data_dir", None),
        val_fraction=node.take_float("val_fraction", 0.2, low=0, high=0.9, low_open=True),
        train_size=node.take_int("train_size", None, minimum=1),
        val_size=node.take_int("val_size", None, minimum=1),
        test_fraction=node.take_float("test_fraction", 0.2, low=0, high=0.9, low_open=True),
        image_size=size,
        color_mode=node.take_str("color_mode", "grayscale", choices=COLOR_MODES),
        skip_corrupt=node.take_bool("skip_corrupt", False),
        seed=seed,
    )
    if name == "folder" and not spec.data_dir:
        raise node.error("is required for dataset 'folder' (the folder with one subfolder per class)",
                         "data_dir")
    node.done()
    return spec
