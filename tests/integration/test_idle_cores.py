"""A sweep's tail on the real embedded Ray: once no trial waits, the trial still running
starts again from its last epoch's checkpoint with the core that fell idle, and every
epoch is there once, with the cores and threads it ran on."""
from __future__ import annotations

import pytest

SWEEP = """
name: tail
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 960, val_size: 240}}
metric: val_accuracy
seed: 0
families:
  dense:
    params: {{units: 8}}
  cnn:
    params: {{blocks: 2, filters: 32, batch_size: 32}}
scheduler: {{kind: fifo, max_epochs: 8, idle_cores: {idle}}}
resources: {{cpus: 1}}
"""


@pytest.mark.parametrize("idle", ["give", "leave"])
def test_the_last_trial_running_gets_the_idle_core_and_loses_no_epoch(tmp_path, monkeypatch, idle):
    from tests.conftest import run_text, write_idx_dataset
    from orchestrator.store import schema as S
    from orchestrator.store.parquet import read_metrics, read_trials

    monkeypatch.setenv("TUNEFM_RESTART_SECONDS", "0")   # tiny epochs save little; any saving pays here
    data = write_idx_dataset(tmp_path / "data", n_train=1200, n_test=100)
    summary = run_text(SWEEP.format(data=data, idle=idle), tmp_path / "results", cpus=2)
    assert summary.status == "finished"
    trials = read_trials(summary.run_dir)
    assert sorted(trials[S.STATUS]) == [S.COMPLETED, S.COMPLETED]
    m = read_metrics(summary.run_dir).sort_values("epoch")
    cnn, dense = m[m["family"] == "cnn"], m[m["family"] == "dense"]
    assert list(cnn["epoch"]) == list(range(1, 9))                     # every epoch once: none lost, none twice
    assert list(dense["epoch"]) == list(range(1, 9))
    assert set(dense["cpus"]) == {1.0} and set(dense["threads"]) == {1}
    if idle == "leave":
        assert set(cnn["cpus"]) == {1.0} and cnn["worker_pid"].nunique() == 1
        return
    assert cnn["cpus"].iloc[0] == 1.0 and cnn["cpus"].iloc[-1] == 2.0, cnn[["epoch", "cpus"]].to_string()
    grown = cnn[cnn["cpus"] == 2.0]
    assert set(grown["threads"]) == {2}                                 # TensorFlow runs the trial's cores
    first = int(grown["epoch"].min())
    assert set(grown["resumed_from_epoch"]) == {first - 1}              # from the checkpoint of the epoch before
    assert grown["worker_pid"].nunique() == 1 and grown["worker_pid"].iloc[0] not in set(cnn["worker_pid"][:first - 1])


def test_a_restart_cost_that_is_not_a_number_stops_the_sweep_before_its_run_folder(tmp_path, monkeypatch):
    from tests.conftest import run_text, write_idx_dataset
    from trainables.contract.errors import UserError

    monkeypatch.setenv("TUNEFM_RESTART_SECONDS", "soon")
    data = write_idx_dataset(tmp_path / "data", n_train=1200, n_test=100)
    with pytest.raises(UserError, match="TUNEFM_RESTART_SECONDS='soon'"):
        run_text(SWEEP.format(data=data, idle="give"), tmp_path / "results", cpus=2)
    assert not (tmp_path / "results" / "tail").exists()
