"""tunefm compare on two real tiny runs that differ in two settings."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.conftest import run_text, write_idx_dataset

pytestmark = pytest.mark.integration

SWEEP = """
name: cmp
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 300, val_size: 100}}
seed: 3
families:
  dense: {{num_samples: {n}, params: {{units: 16, lr: {lr}}}}}
scheduler: {{kind: fifo, max_epochs: 2}}
resources: {{cpus: 1}}
"""


def test_compare_two_runs(tmp_path, local_ray):
    from orchestrator.cli import main
    from orchestrator.report.build import build_report

    data = write_idx_dataset(tmp_path / "data", n_train=500, n_test=40)
    a = run_text(SWEEP.format(data=data, n=2, lr=0.003), tmp_path / "res")
    b = run_text(SWEEP.format(data=data, n=1, lr=0.0003), tmp_path / "res")
    build_report(a.run_dir, top_k=1)                      # only a has a report: its winner's test accuracy
    result = CliRunner().invoke(main, ["compare", str(a.run_dir), str(b.run_dir), "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "families.dense.num_samples" in out and "families.dense.space.lr" in out
    assert "dataset." not in out.split("best trials")[0]        # identical settings are not listed
    assert f"no test accuracy for cmp/{b.run_dir.name}" in out
    html = (tmp_path / "c" / "compare.html").read_text()
    assert "Settings that differ" in html and "anytime" in html.lower() and "data:image/png;base64" in html
    md = (tmp_path / "c" / "compare.md").read_text()
    assert md.count("| overall |") == 2 and "figures/anytime.png" in md

    from orchestrator.report.compare import compare

    c = compare([a.run_dir, b.run_dir])
    for v in c.views:     # anytime curves: one point per epoch reported, best-so-far never falls
        assert len(v.curve) == len(v.board[v.board["board"] == "overall"]) * 2
        assert (v.curve["best"].diff().dropna() >= 0).all() and (v.curve["seconds"].diff().dropna() >= 0).all()
    one = CliRunner().invoke(main, ["compare", str(a.run_dir)])
    assert one.exit_code == 2 and "compare needs two or more run folders" in one.output
