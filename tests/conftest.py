"""Shared fixtures: seeded randomness and small data sets written in the real formats."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from trainables.datasets.idx import write_idx


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)


def make_images(n: int, classes: int = 10, size: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable synthetic images: each class is a bright square at its own position."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    rng.shuffle(y)
    x = rng.integers(0, 60, size=(n, size, size), dtype=np.uint8)
    cell = max(1, size // 4)
    for i, label in enumerate(y):
        r, c = divmod(int(label) % 16, 4)
        x[i, r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = 220
    return x, y.astype(np.uint8)


def write_idx_dataset(folder: Path, n_train: int = 600, n_test: int = 200, classes: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        x, y = make_images(n, classes, seed=seed)
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", y)
    return folder


@pytest.fixture
def idx_dir(tmp_path) -> Path:
    return write_idx_dataset(tmp_path / "idx")


def run_text(text: str, results: Path, **options):
    """Run a sweep given as YAML text into ``results``, quietly, on the current Ray."""
    from orchestrator.run.plans import SweepOptions, run_sweep
    from orchestrator.spec.sweep import parse_sweep

    return run_sweep(parse_sweep(text, "test.yaml"),
                     SweepOptions(results_dir=str(results), progress=False, sweep_text=text, **options))


def trial_row(flat: dict):
    """A ``TrialRow`` from a flat trials-table dict (``config_*`` keys, missing keys default)."""
    from orchestrator.store.records import TrialRow
    from trainables.contract.keys import CONFIG_PREFIX

    values = {k: v for k, v in flat.items() if not k.startswith(CONFIG_PREFIX)}
    values.setdefault("run_id", "r1")
    values.setdefault("model", values.get("family", "dense"))
    values.setdefault("family", values["model"])
    values["config"] = {k[len(CONFIG_PREFIX):]: v for k, v in flat.items() if k.startswith(CONFIG_PREFIX)}
    return TrialRow.from_dict(values)


def run_meta(status: str = "running", **changes):
    from orchestrator.store.records import RunMeta

    values = dict(run_id="r1", sweep="s", metric="val_accuracy", mode="max", max_epochs=3, trials=1, status=status)
    return RunMeta(**{**values, **changes})


def read_meta(run_dir) -> dict:
    """run.json as the file holds it."""
    import json

    return json.loads((Path(run_dir) / "run.json").read_text())
