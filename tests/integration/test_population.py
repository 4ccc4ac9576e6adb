"""Population-based training end to end on tiny data: real Ray Tune (its PBT and PB2),
real Keras, real Parquet.

A PBT and a PB2 population are stopped by a Ctrl-C just after their first exploit step
(the first member to start again from a checkpoint presses it) and resumed: every epoch
of every member is recorded once, the copies are named in the epochs that follow them,
the mutated values stay in their ranges, and the copied checkpoints are gone at the end.
The PBT run is then reported and repeated: each repeat replays its member's schedule.
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from orchestrator.ranking import lineage
from orchestrator.run.plans import SweepOptions, repeat_run, resume_sweep, run_sweep
from orchestrator.spec.sweep import parse_sweep
from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics, read_trials
from orchestrator.store.records import RunStatus
from trainables.training.replay import value_at

EPOCHS, MEMBERS = 6, 4
SWEEP = """
name: pop
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 300, val_size: 100}}
seed: 3
families:
  cnn:
    num_samples: {members}
    params:
      blocks: 1
      filters: {{choice: [4, 8]}}
      dense_units: 16
      batch_size: 64
scheduler:
  kind: {kind}
  max_epochs: {epochs}
  perturbation_interval: 2
  mutate:
    lr: {{loguniform: [1.0e-4, 1.0e-2]}}
    dropout: {{uniform: [0.0, 0.5]}}
"""
RANGES = {"lr": (1e-4, 1e-2), "dropout": (0.0, 0.5)}


def pressing_trial(marker: str, driver_pid: int):
    """tunefm's trial; the first member to start again from a checkpoint (after the
    population's first step) presses Ctrl-C on the driver."""
    from trainables.training.trial import run_trial

    def trial(config, data, settings):
        from ray import tune

        if tune.get_checkpoint() is not None and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(driver_pid, signal.SIGINT)
        run_trial(config, data, settings)

    return trial


@pytest.mark.parametrize("kind", ["pbt", "pb2"])
def test_a_population_stopped_after_its_first_step_resumes_with_every_epoch_once(local_ray, idx_dir, tmp_path, kind):
    text = SWEEP.format(data=idx_dir, kind=kind, epochs=EPOCHS, members=MEMBERS)
    function = pressing_trial(str(tmp_path / "pressed"), os.getpid())
    first = run_sweep(parse_sweep(text, "pop.yaml"), SweepOptions(results_dir=str(tmp_path / "res"), progress=False,
                                                                   sweep_text=text, trial_function=function))
    assert (tmp_path / "pressed").exists() and first.status == RunStatus.INTERRUPTED
    assert len(read_metrics(first.run_dir)) < MEMBERS * EPOCHS

    second = resume_sweep(first.location, SweepOptions(progress=False, trial_function=function))
    assert second.status == RunStatus.FINISHED
    trials = read_trials(second.run_dir)
    assert len(trials) == MEMBERS and (trials[S.STATUS] == S.COMPLETED).all(), trials[[S.TRIAL_ID, S.STATUS]]
    metrics = read_metrics(second.run_dir)
    assert len(metrics) == MEMBERS * EPOCHS and not metrics.duplicated([S.TRIAL_ID, S.EPOCH]).any()
    copies = lineage.copies(metrics)
    # (a step the Ctrl-C fell into may be lost, if Ray had not saved the copy: the one at epoch 4 is not)
    assert len(copies) >= 1, "no member copied another"
    # a copy is taken at a step (every 2 epochs) from a member of the same epoch, and changes its values
    assert set(copies[S.EPOCH]) <= {3, 5} and (copies[lineage.COPIED_EPOCH] == copies[S.EPOCH] - 1).all()
    for name, (low, high) in RANGES.items():
        values = metrics["config_" + name]
        assert values.between(low - 1e-12, high + 1e-12).all(), (name, values.describe())
    restarted = metrics[metrics["resumed_from_epoch"].notna()]
    assert len(restarted) and restarted["optimizer_restored"].fillna(False).all()
    leftovers = list(Path(second.run_dir).glob("ray*/*/copied_from_*"))
    assert not leftovers, leftovers
    if kind == "pbt":
        _report_and_repeat(second.run_dir, metrics)


def _report_and_repeat(run_dir: str, metrics) -> None:
    """The report gives the winner's schedule; a repeat of every member replays its own."""
    from orchestrator.report.build import build_report

    report = build_report(run_dir)
    text = (Path(report.report_dir) / "report.md").read_text()
    assert "The winner's schedule" in text and "who copied whom" in text
    assert any(f.name == "schedule.png" for f in report.figures)
    originals = read_trials(run_dir)[[S.TRIAL_ID, "best_epoch"]]
    expected_change = any(len(lineage.changes(lineage.schedule(metrics, tid, int(best), ["lr"]), ["lr"])["lr"]) > 1
                          for tid, best in originals.itertuples(index=False))

    repeated = repeat_run(run_dir, top_k=MEMBERS, seeds=1, options=SweepOptions(progress=False))
    assert repeated.status == RunStatus.FINISHED
    trials = read_trials(run_dir)
    runs = trials[trials["config_repeat_of"].notna()]
    assert len(runs) == MEMBERS
    after = read_metrics(run_dir)
    replayed_a_change = False
    for run in runs.itertuples(index=False):
        steps = json.loads(getattr(run, "config_schedule"))["lr"]
        rows = after[after[S.TRIAL_ID] == run.trial_id].sort_values(S.EPOCH)
        assert list(rows[S.EPOCH]) == list(range(1, EPOCHS + 1))
        for epoch, lr in zip(rows[S.EPOCH], rows["lr"]):
            assert lr == pytest.approx(value_at(steps, int(epoch)), rel=1e-5), (run.trial_id, epoch, steps)
        replayed_a_change |= len(steps) > 1
    assert replayed_a_change == expected_change     # the lineage's changes are what the repeats replayed
