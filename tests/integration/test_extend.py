"""tunefm extend on a real tiny finished sweep: more trials, then more epochs."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics, read_trials
from tests.conftest import run_text, write_idx_dataset

pytestmark = pytest.mark.integration

SWEEP = """
name: ext
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 400, val_size: 100}}
seed: 8
families:
  dense: {{num_samples: 3, params: {{units: {{choice: [8, 16, 32]}}, lr: {{choice: [0.003, 0.001]}}}}}}
scheduler: {{kind: asha, max_epochs: 2, grace_period: 1, reduction_factor: 2}}
resources: {{cpus: 1}}
"""


def test_extend_adds_untried_trials_judged_against_the_old_ones_then_continues_the_best(tmp_path, local_ray):
    from orchestrator.cli import main
    from orchestrator.search.extension import config_key
    from orchestrator.search.row_config import row_config

    data = write_idx_dataset(tmp_path / "data", n_train=600, n_test=40)
    first = run_text(SWEEP.format(data=data), tmp_path / "res")
    run = first.run_dir
    before = read_trials(run)

    more = CliRunner().invoke(main, ["extend", str(run), "--num-samples", "3", "--no-progress"])
    assert more.exit_code == 0, more.output
    assert f"ASHA starting from the results of {len(before)} earlier trials" in more.output
    trials, metrics = read_trials(run), read_metrics(run)
    assert len(trials) == len(before) + 3
    keys = [config_key(row_config(r)) for _, r in trials.iterrows()]
    assert len(set(keys)) == len(keys)                  # no configuration tried twice
    assert not metrics.duplicated([S.TRIAL_ID, S.EPOCH]).any()
    assert set(before[S.TRIAL_ID]) <= set(trials[S.TRIAL_ID])
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "finished" and meta["repeats"][-1]["kind"] == "extend"
    assert meta["repeats"][-1]["drawn"]["dense"] >= 3

    best = trials[trials[S.STATUS] == S.COMPLETED].sort_values("best_metric", ascending=False)[S.TRIAL_ID].iloc[0]
    longer = CliRunner().invoke(main, ["extend", str(run), "--num-samples", "0", "--max-epochs", "4",
                                       "--continue-top", "1", "--no-progress"])
    assert longer.exit_code == 0, longer.output
    after, metrics = read_trials(run), read_metrics(run)
    meta = json.loads((run / "run.json").read_text())
    assert meta["repeats"][-1]["continued"] == [best] and meta["repeats"][-1]["max_epochs"] == 4
    new = after[~after[S.TRIAL_ID].isin(trials[S.TRIAL_ID])]
    assert len(new) == 1
    cont = new[S.TRIAL_ID].iloc[0]
    assert sorted(metrics[metrics[S.TRIAL_ID] == cont][S.EPOCH]) == [3, 4]      # on from the old epoch 2
    old_cfg = row_config(trials.set_index(S.TRIAL_ID).loc[best])
    assert row_config(after.set_index(S.TRIAL_ID).loc[cont]) == old_cfg
    assert not metrics.duplicated([S.TRIAL_ID, S.EPOCH]).any()

    from orchestrator.report.build import build_report

    md = (build_report(run, top_k=2).report_dir / "report.md").read_text()
    assert "## Phases" in md and f"continued {best}" in md and "| extend |" in md

    bad = CliRunner().invoke(main, ["extend", str(run), "--num-samples", "1", "--max-epochs", "2"])
    assert bad.exit_code == 2 and "below the run's budget of 4 epochs" in bad.output
    nothing = CliRunner().invoke(main, ["extend", str(run), "--num-samples", "0", "--max-epochs", "5",
                                        "--continue-top", "0"])
    assert nothing.exit_code == 2 and "this extension adds nothing" in nothing.output
    fam = CliRunner().invoke(main, ["extend", str(run), "--num-samples", "1", "--family", "cnn"])
    assert fam.exit_code == 2 and "--family cnn: no such family in this run (families: dense)" in fam.output
