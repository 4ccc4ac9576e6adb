"""An existing two-node Ray cluster on this machine: trials land on both nodes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics, read_trials
from tests.conftest import read_meta
from tests.conftest import write_idx_dataset

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    small = {"num_cpus": 1, "object_store_memory": 150 * 1024 ** 2}
    c = Cluster(initialize_head=True, connect=False, head_node_args={**small, "include_dashboard": False})
    worker = c.add_node(**small)
    c.wait_for_nodes()
    yield c, {c.head_node.node_id, worker.node_id}
    c.shutdown()


def tunefm(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_sweep_and_report_on_an_existing_two_node_cluster(tmp_path, cluster):
    c, node_ids = cluster
    data = write_idx_dataset(tmp_path / "data", n_train=2000, n_test=200)
    sweep = tmp_path / "c.yaml"
    sweep.write_text(f"name: cluster\ndataset: {{name: fashion_mnist, data_dir: {data}}}\n"
                     "families:\n  dense: {num_samples: 4, params: {units: 64, batch_size: 32}}\n"
                     "scheduler: {kind: fifo, max_epochs: 2}\nresources: {cpus: 1}\n")
    # A new worker per trial: with reuse, the node whose trial worker started first may run
    # every trial before the other node's worker has imported TensorFlow (seen in CI once
    # trials got faster); without it each of the first two trials holds its node's one CPU.
    result = tunefm("sweep", str(sweep), "--address", c.address, "--results", str(tmp_path / "res"),
                    "--name", "r", "--no-progress", "--no-reuse-workers")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "res" / "cluster" / "r"
    trials = read_trials(run_dir)
    assert (trials[S.STATUS] == S.COMPLETED).all() and len(trials) == 4
    assert set(trials["node_id"]) == node_ids                           # both nodes ran trials
    assert set(read_metrics(run_dir)["node_id"]) == node_ids
    assert read_meta(run_dir)["address"] == c.address
    report = tunefm("report", str(run_dir), "--top-k", "1")             # evaluated on the cluster
    assert report.returncode == 0, report.stdout + report.stderr
    assert (run_dir / "report" / "test_eval.parquet").exists()
