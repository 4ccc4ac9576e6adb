"""A new user's folder of images, from nothing to a report: tunefm init writes the sweep
file, which runs as written, and nothing on the terminal is noise."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
NOISE = re.compile(r"absl|oneDNN|cudart|cuInit|^[IWE]0000 |Traceback|Started a local Ray", re.M)


def tunefm(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def a_users_folder(root: Path) -> Path:
    """Three classes of 24 images: mostly 20x20 colour, a few 28x28 grayscale, one broken file."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("apple", "pear", "plum")):
        (root / name).mkdir(parents=True)
        for i in range(24):
            if i % 6 == 0:
                Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), "L").save(root / name / f"{i}.png")
            else:
                pixels = rng.integers(0, 60, (20, 20, 3), dtype=np.uint8)
                pixels[..., c] += 150                                  # each class its own colour
                Image.fromarray(pixels).save(root / name / f"{i}.jpg")
    (root / "pear" / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def test_init_writes_a_sweep_that_runs_as_written_within_its_minutes(tmp_path):
    data = a_users_folder(tmp_path / "My Fruit")
    made = tunefm("init", str(data), "--minutes", "1", cwd=tmp_path)
    assert made.returncode == 0 and made.stderr == "", made.stderr
    written = tmp_path / "my_fruit.yaml"
    assert f"wrote {written.name}" in made.stdout and "tunefm sweep my_fruit.yaml --report" in made.stdout
    text = written.read_text()
    sweep = yaml.safe_load(text)
    assert sweep["dataset"]["image_size"] == [20, 20] and sweep["dataset"]["color_mode"] == "rgb"
    assert sweep["dataset"]["skip_corrupt"] is True and sweep["time_budget_s"] == 60
    assert "1 file(s) could not be read (first: " in text and "truncated.jpg" in text
    assert "60 of 72 images are 20x20, the most common of 2 sizes" in text
    assert tunefm("validate", written.name, cwd=tmp_path).returncode == 0
    again = tunefm("init", str(data), "--minutes", "1", cwd=tmp_path)
    assert again.returncode == 2 and "exists; choose another --out, or --force" in again.stderr

    started = time.monotonic()
    ran = tunefm("sweep", written.name, "--report", "--no-progress", cwd=tmp_path)
    took = time.monotonic() - started
    assert ran.returncode == 0, ran.stderr
    assert not NOISE.search(ran.stderr), ran.stderr
    said = [line for line in ran.stderr.splitlines() if line.strip()]
    # the skipped file before training, then as the report's warning; the sizes are the file's choice: no word
    assert len(said) == 2 and said[0].startswith("tunefm: warning: ") and said[1].startswith("warning: data: ")
    assert all("skipped 1 unreadable image(s)" in line for line in said), ran.stderr
    assert "winner:" in ran.stdout and "report:" in ran.stdout
    assert took < 60 + 90, took                 # the budget, plus Ray's start and the report
