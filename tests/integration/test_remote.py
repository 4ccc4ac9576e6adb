"""Run folders on an S3 URI: a real local S3 server (moto), real Ray, real Keras, real Parquet.

The sweep's driver is interrupted, its local disk copy is thrown away (as on a lost
machine), and the run is resumed, reported and ranked from the URI alone.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orchestrator.store import schema as S
from tests.conftest import write_idx_dataset
from tests.integration.test_faults import start, wait_for

ROOT = Path(__file__).parents[2]
# long enough that a trial of the second pair is seen running by a trials table the
# driver writes every 5 s (recorder.FLUSH_SECONDS); with 4 epochs the whole sweep took
# 9 s on a quiet machine and no table ever showed a trial under way
EPOCHS = 12
from tests.integration.conftest import BUCKET

SWEEP = """
name: remote
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 2000, val_size: 400}}
seed: 4
families:
  dense:
    num_samples: 4
    params: {{units: 256, layers: 2, lr: {{loguniform: [1e-3, 3e-3]}}, batch_size: 8}}
scheduler: {{kind: fifo, max_epochs: {epochs}}}
"""


def cli(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def s3_files(fs, prefix: str) -> list[str]:
    return [i.path for i in fs.get_file_info(pafs.FileSelector(prefix, recursive=True))
            if i.type == pafs.FileType.File]


def s3_table(fs, path: str):
    with fs.open_input_file(path) as f:
        return pq.read_table(f).to_pandas()


def s3_json(fs, path: str) -> dict:
    with fs.open_input_stream(path) as f:
        return json.load(io.TextIOWrapper(f))


def test_unwritable_results_uri_is_refused_up_front(s3, tmp_path):
    data = write_idx_dataset(tmp_path / "data", n_train=300, n_test=50)
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(SWEEP.format(data=data, epochs=1))
    result = cli(["sweep", str(sweep_file), "--results", "s3://no-such-bucket/runs"], timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("tunefm: error: --results s3://no-such-bucket/runs: cannot write there (")
    assert "bucket does not exist" in lines[0]


def test_sweep_on_s3_survives_losing_the_driver_and_reports_from_the_uri(s3, tmp_path):
    fs, env = s3
    data = write_idx_dataset(tmp_path / "data", n_train=3000, n_test=200)
    sweep_file = tmp_path / "remote.yaml"
    sweep_file.write_text(SWEEP.format(data=data, epochs=EPOCHS))
    uri = f"s3://{BUCKET}/runs/remote/r1"
    prefix = f"{BUCKET}/runs/remote/r1"

    def remote_trials():
        return s3_table(fs, f"{prefix}/trials.parquet") if f"{prefix}/trials.parquet" in s3_files(fs, prefix) \
            else None

    def one_done_one_running() -> bool:
        t = remote_trials()
        return t is not None and (t[S.STATUS] == S.COMPLETED).sum() >= 1 and (
            (t[S.STATUS] == S.RUNNING) & (t["epochs"] >= 1)).any()

    # 1. Start on S3 and Ctrl-C once a trial finished and another is under way.
    first = start(["sweep", str(sweep_file), "--results", f"s3://{BUCKET}/runs", "--name", "r1", "--cpus", "2",
                   "--no-progress"], tmp_path / "first.log")
    wait_for(one_done_one_running, 300, "a finished and a running trial on S3", first)
    os.killpg(first.pid, signal.SIGINT)
    assert first.wait(timeout=120) == 130, (tmp_path / "first.log").read_text()
    assert f"resume it:  tunefm resume {uri}" in (tmp_path / "first.log").read_text()
    assert s3_json(fs, f"{prefix}/run.json")["status"] == "interrupted"

    # 2. The machine is lost: no local copy survives. Resume from the URI alone.
    shutil.rmtree(env["TUNEFM_CACHE"])
    resumed = cli(["resume", uri, "--cpus", "2", "--no-progress", "--report"])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"uploaded to {uri}/report" in resumed.stdout

    # 3. Everything is on S3: the run file, the trials, every (trial, epoch) once, checkpoints, report.
    meta = s3_json(fs, f"{prefix}/run.json")
    assert meta["status"] == "finished" and meta["remote"] == uri and len(meta["resumed"]) == 1
    trials = remote_trials()
    assert len(trials) == 4 and (trials[S.STATUS] == S.COMPLETED).all()
    files = s3_files(fs, prefix)
    parts = [p for p in files if p.startswith(f"{prefix}/metrics/part-")]
    assert len(parts) == 1
    rows = s3_table(fs, parts[0])
    for tid in trials[S.TRIAL_ID]:
        assert sorted(rows[rows[S.TRIAL_ID] == tid][S.EPOCH]) == list(range(1, EPOCHS + 1)), tid
    for ckpt in trials["checkpoint"]:
        assert not ckpt.startswith(("/", "s3:")) and f"{prefix}/{ckpt}/model.keras" in files, ckpt
    assert f"{prefix}/report/test_eval.parquet" in files and f"{prefix}/report/report.html" in files

    # 4. Another machine reads it: a fresh cache, report and leaderboard from the URI.
    shutil.rmtree(env["TUNEFM_CACHE"])
    fs.delete_dir(f"{prefix}/report")
    board = cli(["leaderboard", uri], timeout=120)
    assert board.returncode == 0, board.stderr
    assert trials.sort_values("best_metric", ascending=False)[S.TRIAL_ID].iloc[0] in board.stdout
    report = cli(["report", uri], timeout=300)
    assert report.returncode == 0, report.stderr
    evaluated = s3_table(fs, f"{prefix}/report/test_eval.parquet")
    assert len(evaluated) >= 1
    assert evaluated["test_images"].eq(200).all() and evaluated["test_accuracy"].between(0, 1).all()

    # 5. Repeats of the winner land on the URI too, with their checkpoints.
    repeated = cli(["repeat", uri, "--top-k", "1", "--seeds", "1", "--cpus", "2", "--no-progress"])
    assert repeated.returncode == 0, repeated.stdout + repeated.stderr
    trials = remote_trials()
    again = trials[trials["config_repeat_of"].notna()]
    assert len(again) == 1 and (again[S.STATUS] == S.COMPLETED).all()
    assert f"{prefix}/{again['checkpoint'].iloc[0]}/model.keras" in s3_files(fs, prefix)

    # 6. The local copy of a URI run is not resumed behind the URI's back.
    local = cli(["resume", str(next(Path(env["TUNEFM_CACHE"]).rglob("work/r1")))], timeout=120)
    assert local.returncode == 2 and f"resume that: tunefm resume {uri}" in local.stderr
