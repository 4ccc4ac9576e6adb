"""Every command, on its success and its failure paths, says what it has to say and
nothing else on stderr: no TensorFlow start-up lines (absl, oneDNN, cudart_stub,
cpu_feature_guard, cuInit), no Ray banner, no traceback. Each case counts the lines."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_idx_dataset

ROOT = Path(__file__).resolve().parents[2]
CHATTER = re.compile(r"absl|oneDNN|cudart|cpu_feature_guard|cuInit|^[IWE]0000 |Traceback|^\s+File \"|"
                     r"Started a local Ray|ray\.init|RayTaskError", re.M)


def tunefm(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished tiny run, and a copy of it that lost its checkpoints."""
    root = tmp_path_factory.mktemp("quiet")
    data = write_idx_dataset(root / "data", n_train=300, n_test=60)
    sweep = root / "tiny.yaml"
    sweep.write_text(f"""
name: tiny
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 200, val_size: 60}}
families:
  dense: {{num_samples: 2, params: {{units: {{choice: [8, 16]}}}}}}
scheduler: {{kind: fifo, max_epochs: 1}}
resources: {{cpus: 1}}
""")
    bad = root / "bad.yaml"
    bad.write_text(sweep.read_text().replace("max_epochs: 1", "max_epochs: 0"))
    done = tunefm("sweep", str(sweep), "--results", str(root / "res"), "--no-progress")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    run = next((root / "res" / "tiny").iterdir())
    bare = root / "bare"
    shutil.copytree(run, bare)
    for checkpoint in bare.rglob("checkpoint_*"):
        shutil.rmtree(checkpoint)
    return {"SWEEP": str(sweep), "BAD": str(bad), "RUN": str(run), "BARE": str(bare), "OUT": str(root / "out"),
            "MISSING": str(root / "nowhere")}


CASES = [   # (command, exit code, most stderr lines, a word the one line must hold)
    ("validate SWEEP", 0, 0, None),
    ("validate BAD", 2, 1, "max_epochs"),
    ("preview SWEEP", 0, 0, None),
    ("families", 0, 0, None),
    ("leaderboard RUN", 0, 0, None),
    ("leaderboard RUN --metric bogus", 2, 1, "bogus"),
    ("report RUN", 0, 0, None),
    ("report BARE --out OUT/bare-report", 0, 1, "not in the run folder"),
    ("report MISSING", 2, 1, "nowhere"),
    ("export RUN --out OUT/export", 0, 0, None),
    ("export BARE --out OUT/bare-export", 2, 1, "not in the run folder"),
    ("compare RUN BARE --out OUT/compare", 0, 0, None),
    ("compare RUN MISSING", 2, 1, "nowhere"),
    ("resume RUN", 2, 1, "finished"),
    ("repeat MISSING", 2, 1, "nowhere"),
    ("extend MISSING --num-samples 1", 2, 1, "nowhere"),
    ("weights mobilenetv2", 2, 1, "could not download"),
]


@pytest.mark.parametrize("command, code, most, word", CASES, ids=[c[0] for c in CASES])
def test_each_command_says_only_what_it_has_to(runs, tmp_path, command, code, most, word):
    args = [runs.get(a, a) for a in command.split()]
    args = [a.replace("OUT", runs["OUT"]) if a.startswith("OUT/") else a for a in args]
    # no network for weights, whether or not the machine has it; an empty Keras cache
    done = tunefm(*args, env={"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                              "KERAS_HOME": str(tmp_path / "keras")})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code, done.stdout + done.stderr
    assert not CHATTER.search(done.stderr), done.stderr
    assert len(lines) <= most, done.stderr
    if word is not None:
        assert any(word in line for line in lines), done.stderr


def test_what_the_loader_noticed_is_said_before_training_and_in_the_report(tmp_path):
    """A folder of two image sizes, no dataset.image_size: resized without a word before."""
    import json

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b", "c"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(12):
            side = 24 if i % 3 == 0 else 16
            Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    sweep = tmp_path / "mix.yaml"
    sweep.write_text(f"name: mix\ndataset: {{name: folder, data_dir: {tmp_path / 'imgs'}}}\n"
                     "families: {dense: {params: {units: 8}}}\nscheduler: {kind: fifo, max_epochs: 1}\n")
    done = tunefm("sweep", str(sweep), "--results", str(tmp_path / "res"), "--no-progress", "--report")
    assert done.returncode == 0, done.stderr
    said = "images of 2 sizes (16x16, 24x24)"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("tunefm: warning: ") and said in lines[0], done.stderr   # before anything else
    assert len(lines) == 2 and lines[1].startswith("warning: data: ") and said in lines[1], done.stderr
    run = next((tmp_path / "res" / "mix").iterdir())
    recorded = json.loads((run / "run.json").read_text())["data"]["warnings"]
    assert len(recorded) == 1 and said in recorded[0]
    assert said in (run / "report" / "report.html").read_text()
