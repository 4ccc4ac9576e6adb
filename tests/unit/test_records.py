"""The typed records round-trip through JSON and Parquet; statuses and modes mean one thing."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import pandas as pd
import pytest

from orchestrator.store.ledger import from_tables
from orchestrator.store import schema as S
from orchestrator.store.parquet import RunStore, read_trials
from orchestrator.store.records import RunMeta, TrialRow
from trainables.contract.metrics import Mode
from trainables.contract.records import CheckpointMeta, EpochReport, RecordError
from trainables.contract.status import Status

RAY_KEYS = {"time_total_s": 3.5, "timestamp": 1700000000, "training_iteration": 2, "done": False,
            "node_ip": "10.0.0.1", "config": {"lr": 0.1}}


def test_epoch_report_round_trips_and_ignores_rays_keys():
    report = EpochReport(epoch=2, val_accuracy=0.8, val_loss=0.4, params=100, is_best=True, best_epoch=2,
                         trial_status=Status.RUNNING.value, reported_at=1.5)
    back = EpochReport.from_dict({**json.loads(json.dumps(report.to_dict())), **RAY_KEYS})
    assert json.dumps(back.to_dict()) == json.dumps(report.to_dict()) and back.val_accuracy == 0.8
    assert math.isnan(back.val_auc)              # a selectable metric never reaches ASHA as None
    assert back.status is Status.RUNNING and back.metric("val_accuracy") == 0.8


def test_epoch_report_refuses_what_it_cannot_mean():
    with pytest.raises(RecordError, match="format 9 is newer"):
        EpochReport.from_dict({"report_format": 9, "epoch": 1})
    with pytest.raises(RecordError, match="'sideways' is not a valid Status"):
        EpochReport.from_dict({"epoch": 1, "trial_status": "sideways"})


def test_checkpoint_meta_round_trips_through_json():
    meta = CheckpointMeta(epoch=3, metric="val_loss", value=0.2, is_best=True, best=0.2, best_epoch=3,
                          improvements=2, schedule={"plateau": 1})
    assert CheckpointMeta.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta
    with pytest.raises(RecordError, match="epoch must be a non-negative integer"):
        CheckpointMeta.from_dict({"metric": "val_loss"})


def test_trial_rows_round_trip_through_parquet_and_the_ledger(tmp_path):
    started = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    rows = [TrialRow("r1", "a", "dense", "dense", {"lr": 0.01, "layers": 2}, status=Status.EARLY_STOPPED,
                     epochs=2, best_epoch=1, metric="val_accuracy", best_metric=0.7, params=10,
                     train_seconds=1.5, started_at=started, checkpoint="ray/a/checkpoint_000000", failures=1),
            TrialRow("r1", "b", "cnn", "cnn", {"lr": 0.1}, status=Status.FAILED, error="ValueError: x")]
    RunStore(tmp_path, [("lr", "float"), ("layers", "int")]).write_trials(rows)
    table = read_trials(tmp_path)
    assert table[S.STATUS].tolist() == ["early_stopped", "failed"]
    metrics = pd.DataFrame([{S.TRIAL_ID: "a", S.EPOCH: e, "val_accuracy": v} for e, v in ((1, 0.7), (2, 0.6))])
    ledger = from_tables("r1", "val_accuracy", "max", 5, table, metrics)
    back = {row.trial_id: row for row in ledger.trial_rows()}
    assert back["a"].config == {"lr": 0.01, "layers": 2} and back["b"].config == {"lr": 0.1}
    assert back["a"].status is Status.EARLY_STOPPED and back["a"].best_epoch == 1 and back["a"].failures == 1
    assert back["a"].checkpoint == "ray/a/checkpoint_000000" and back["a"].started_at == started
    assert back["b"].error == "ValueError: x" and back["b"].epochs == 0


def test_run_meta_rejects_a_status_it_does_not_know():
    with pytest.raises(RecordError, match="'sideways' is not a valid RunStatus"):
        RunMeta.from_dict({"run_id": "r", "sweep": "s", "metric": "val_accuracy", "mode": "max",
                           "max_epochs": 1, "trials": 1, "status": "sideways"})


def test_statuses_equal_and_hash_as_their_strings():
    assert Status.COMPLETED == "completed" and "completed" in {Status.COMPLETED}
    assert pd.Series(["completed", "failed"]).isin([Status.FAILED]).tolist() == [False, True]
    assert Status("over_budget").label == "over budget"


@pytest.mark.parametrize("mode, value, best, better", [
    ("max", 0.9, 0.8, True), ("max", 0.8, 0.8, False), ("min", 0.1, 0.2, True), ("min", 0.3, 0.2, False),
    ("max", float("nan"), None, False), ("max", None, 0.1, False), ("min", 5.0, None, True),
    ("max", 0.1, float("nan"), True)])
def test_mode_answers_better_once(mode, value, best, better):
    assert Mode(mode).better(value, best) is better


def test_mode_is_max_or_min():
    with pytest.raises(ValueError, match="mode must be 'max' or 'min'"):
        Mode("maximize")
    assert Mode.of("val_loss").ascending and Mode.of("val_auc").direction == "maximize"


def test_a_metrics_folder_replaced_by_a_file_is_one_line_naming_it(tmp_path):
    """A resume of such a run ended in FileExistsError's traceback."""
    from orchestrator.store.parquet import RunStore
    from trainables.contract.errors import UserError

    (tmp_path / "metrics").write_text("in the way")
    with pytest.raises(UserError, match=r"metrics: cannot hold the run's metrics \(File exists\); a file is in its "
                                        r"place: move it away"):
        RunStore(tmp_path, [])
