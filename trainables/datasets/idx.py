"""Read the IDX format of (Fashion-)MNIST, gzipped or not.

IDX: two zero bytes, a type code (0x08 = uint8), the number of dimensions, each
dimension as a big-endian uint32, then the data.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from trainables.contract.errors import DatasetError


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, OSError, zlib.error) as e:
        raise DatasetError(f"{path}: cannot be read ({e}); the file is truncated or corrupt, "
                           "delete it and fetch it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DatasetError(f"{path}: an IDX header with {ndim} dimensions in {len(raw)} bytes; the file is corrupt")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims)          # Python integers: a lying header cannot overflow
    if len(raw) - header != expected:
        raise DatasetError(f"{path}: truncated or corrupt: header says {expected} bytes of data, "
                           f"file has {len(raw) - header}; delete it and fetch it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as IDX, gzipped when the name ends in .gz (tests use this)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
