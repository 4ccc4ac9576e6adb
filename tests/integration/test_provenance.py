"""The data a sweep used is the data the user named, recorded and checked again.

Real Ray, real Keras, real files in each format (IDX, Keras npz, image folders with 8-
and 16-bit, palette and RGBA PNGs); hashes checked against hashes computed here.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_images, read_meta, run_text, write_idx_dataset

ROOT = Path(__file__).parents[2]
SWEEP = """
name: prov
dataset: {{name: {name}, data_dir: {data}, {extra}}}
families:
  dense: {{params: {{units: 16, layers: 1}}}}
scheduler: {{kind: fifo, max_epochs: 1}}
"""


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_npz(folder: Path) -> Path:
    folder.mkdir(parents=True)
    x, y = make_images(300)
    xt, yt = make_images(60, seed=4)
    np.savez(folder / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    return folder


def write_mixed_folder(root: Path) -> Path:
    """Three classes, each with 8-bit, 16-bit grayscale, palette and RGBA PNGs."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("circle", "square", "star")):
        (root / name).mkdir(parents=True)
        for i in range(8):
            level = 40 + 60 * c + i
            kind = i % 4
            if kind == 0:
                Image.fromarray(np.full((12, 12), level, np.uint8)).save(root / name / f"{i}.png")
            elif kind == 1:
                Image.fromarray(np.full((12, 12), level * 257, np.uint16)).save(root / name / f"{i}.png")
            elif kind == 2:
                img = Image.new("P", (12, 12), 1)
                img.putpalette([0, 0, 0, level, level, level] + [0] * 762)
                img.save(root / name / f"{i}.png")
            else:
                rgba = np.dstack([np.full((12, 12, 3), level, np.uint8), rng.integers(0, 255, (12, 12), np.uint8)])
                Image.fromarray(rgba, "RGBA").save(root / name / f"{i}.png")
    return root


CASES = {
    "idx": ("fashion_mnist", lambda p: write_idx_dataset(p, n_train=300, n_test=60), "train_size: 200",
            ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"],
            ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]),
    "npz": ("mnist", write_npz, "val_fraction: 0.2", ["mnist.npz"], ["mnist.npz"]),
    "folder": ("folder", write_mixed_folder, "image_size: 12, test_fraction: 0.25", None, None),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_provenance_of_each_kind_matches_the_files(local_ray, tmp_path, kind):
    name, write, extra, train_files, test_files = CASES[kind]
    data = write(tmp_path / "data")
    text = SWEEP.format(name=name, data=data, extra=extra)
    summary = run_text(text, tmp_path / "res")
    assert summary.status.value == "finished"
    prov = read_meta(summary.run_dir)["provenance"]
    assert prov["dataset"] == name and prov["source"] == str(data / "mnist.npz" if kind == "npz" else data)
    if train_files is None:   # a folder: every image, of every split's pool
        train_files = sorted(str(p.relative_to(data)) for p in data.rglob("*.png"))
        test_files = train_files
    for part, expected in (("train", train_files), ("val", train_files), ("test", test_files)):
        split = prov["splits"][part]
        listed = {f["path"]: f for f in split["files"]}
        assert split["file_count"] == len(expected)
        for rel in expected[:len(listed)]:
            assert listed[rel]["sha256"] == sha(data / rel) and listed[rel]["size"] == (data / rel).stat().st_size
    train = prov["splits"]["train"]
    assert sum(train["per_class"]) == train["images"] and train["dtype"] == "uint8"
    assert prov["splits"]["test"]["images"] is None           # the sweep never reads the test split
    if kind == "folder":
        assert train["shape"] == [12, 12, 1] and len(train["per_class"]) == 3


def tunefm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_changed_data_is_refused_then_allowed_and_said_in_red(local_ray, tmp_path):
    data = write_idx_dataset(tmp_path / "data", n_train=300, n_test=60)
    summary = run_text(SWEEP.format(name="fashion_mnist", data=data, extra="train_size: 200"), tmp_path / "res")
    x, y = make_images(60, seed=9)
    from trainables.datasets.idx import write_idx

    write_idx(data / "t10k-images-idx3-ubyte.gz", x)           # someone replaced the test images
    refused = tunefm("report", str(summary.run_dir))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "the data set changed since the sweep: test: t10k-images-idx3-ubyte.gz changed (sha256" in refused.stderr
    assert "--allow-changed-data" in refused.stderr
    repeat = tunefm("repeat", str(summary.run_dir), "--top-k", "1", "--seeds", "1")
    assert repeat.returncode == 2 and "the data set changed since the sweep" in repeat.stderr
    allowed = tunefm("report", str(summary.run_dir), "--allow-changed-data")
    assert allowed.returncode == 0, allowed.stderr
    html = (summary.run_dir / "report" / "report.html").read_text()
    assert "class='alarm'>Warning: the data set changed since the sweep: test: t10k-images-idx3-ubyte.gz" in html
    md = (summary.run_dir / "report" / "report.md").read_text()
    assert f"- **data source:** {data}" in md and "**train split:** train-images-idx3-ubyte.gz (sha256" in md
