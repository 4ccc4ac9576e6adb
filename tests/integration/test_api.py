"""The Python API as a notebook calls it: no CLI, nothing printed over the notebook's output."""
from __future__ import annotations

import pytest

from orchestrator.store import schema as S
from tests.conftest import write_idx_dataset

pytestmark = pytest.mark.integration


def test_a_notebook_sweeps_reads_reports_and_exports(tmp_path, capfd):
    from orchestrator import api as tunefm
    from trainables.contract.errors import UserError

    data = write_idx_dataset(tmp_path / "data", n_train=600, n_test=60)
    spec = {"name": "nb", "seed": 2,
            "dataset": {"name": "fashion_mnist", "data_dir": str(data), "train_size": 300, "val_size": 100},
            "families": {"dense": {"num_samples": 2, "params": {"units": {"choice": [8, 16]}, "lr": 0.003}}},
            "scheduler": {"kind": "fifo", "max_epochs": 2}, "resources": {"cpus": 1}}
    capfd.readouterr()
    run = tunefm.sweep(spec, results=tmp_path / "res", cpus=2)
    board = run.leaderboard()
    report = run.report(out=tmp_path / "rep")
    shipped = run.export(tmp_path / "shipped")
    printed = capfd.readouterr()
    assert printed.out == "", printed.out[:500]          # no progress line, no summary, no report lines
    noisy = [line for line in printed.err.splitlines() if line.strip()]
    assert noisy == [], noisy[:10]

    assert run.status == "finished" and len(run.trials) == 2
    assert set(run.metrics[S.EPOCH]) == {1, 2}
    assert list(board["rank"]) == [1, 2] and {"score", "ci_low", "ci_high"} <= set(board.columns)
    assert report.winner == board[S.TRIAL_ID].iloc[0] and report.ranking.startswith("#1 (")
    assert shipped.trial_id == report.winner and (tmp_path / "shipped" / "model.keras").is_file()
    again = tunefm.open_run(run.location)                 # a later cell, or another notebook
    assert again.trials[S.TRIAL_ID].tolist() == run.trials[S.TRIAL_ID].tolist()
    with pytest.raises(UserError, match="families: needs at least one model family"):
        tunefm.sweep({**spec, "families": {}}, results=tmp_path / "res")
