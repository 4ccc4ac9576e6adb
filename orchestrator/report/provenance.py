"""The report header's account of the data: where each split came from, hashed and counted."""
from __future__ import annotations

import numpy as np


def provenance_lines(meta, holdout) -> list[tuple[str, str]]:
    """Where each split came from: the source, its files' sha256 and the images per class."""
    p = meta.provenance
    if p is None:
        return [("data source", "not recorded (a run made before tunefm recorded provenance)")]
    lines = [("data source", p.source)]
    test_counts = np.bincount(holdout.y, minlength=len(holdout.class_names)) if len(holdout.y) else []
    for part, split in p.splits.items():
        files = ", ".join(f"{f.path} (sha256 {f.sha256[:12]}...)" for f in split.files[:2])
        more = f" and {split.file_count - 2} more" if split.file_count > 2 else ""
        per_class = split.per_class
        if part == "test" and not per_class:     # the sweep never counts the test split: counted here
            per_class = tuple(int(c) for c in test_counts)
        counts = f"; per class {', '.join(map(str, per_class))}" if per_class else ""
        lines.append((f"{part} split", f"{files or 'downloaded by Keras'}{more}; all files sha256 "
                                       f"{split.digest[:12]}...{counts}"))
    return lines
