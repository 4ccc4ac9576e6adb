"""The Parquet store: round trip, one schema for every part, atomic writes (real pyarrow)."""
from __future__ import annotations

from datetime import datetime, timezone

import pyarrow.parquet as pq
import pytest

from orchestrator.store import schema as S
from orchestrator.store import parquet as store_mod
from tests.conftest import trial_row
from orchestrator.store.parquet import RunStore, read_metrics, read_trials
from trainables.contract.errors import UserError

PARAMS = [("lr", "float"), ("layers", "int"), ("blocks", "int"), ("optimizer", "str"), ("batch_norm", "bool")]


def metric_row(trial: str, family: str, epoch: int, acc: float, **config) -> dict:
    return {S.RUN_ID: "r1", S.TRIAL_ID: trial, S.FAMILY: family, S.MODEL: family, S.EPOCH: epoch,
            "val_accuracy": acc, "train_loss": 1.0 / epoch, "params": 1000, "is_best": True,
            "wall_time": datetime(2026, 1, 1, tzinfo=timezone.utc),
            **{S.CONFIG_PREFIX + k: v for k, v in config.items()}}


def test_metrics_round_trip_across_parts_with_other_families_columns(tmp_path):
    store = RunStore(tmp_path, PARAMS)
    store.append_metrics([metric_row("a", "dense", 1, 0.5, lr=0.1, layers=2, optimizer="adam")])
    assert store.flush_metrics() == 1
    store.append_metrics([metric_row("b", "cnn", 1, 0.6, lr=1, blocks=3, batch_norm=True),
                          metric_row("b", "cnn", 2, 0.7, lr=1, blocks=3, batch_norm=True)])
    assert store.flush_metrics() == 2
    assert store.flush_metrics() == 0
    df = read_metrics(tmp_path)
    assert len(df) == 3
    assert list(df[S.TRIAL_ID]) == ["a", "b", "b"]
    assert df.loc[0, "config_layers"] == 2 and df.loc[1, "config_blocks"] == 3
    assert df["config_lr"].tolist() == [0.1, 1.0, 1.0]          # int 1 stored as float
    assert df["config_blocks"].isna()[0] and df["config_layers"].isna()[2]
    assert df["val_accuracy"].tolist() == [0.5, 0.6, 0.7]
    schemas = {pq.read_schema(p) for p in (tmp_path / "metrics").glob("*.parquet")}
    assert len(schemas) == 1


def test_trials_table_round_trip(tmp_path):
    store = RunStore(tmp_path, PARAMS)
    rows = [{S.RUN_ID: "r1", S.TRIAL_ID: "a", S.FAMILY: "dense", S.STATUS: S.COMPLETED, "epochs": 3,
             "best_metric": 0.9, "config_lr": 0.01, "error": None},
            {S.RUN_ID: "r1", S.TRIAL_ID: "b", S.FAMILY: "cnn", S.STATUS: S.FAILED, "epochs": 0,
             "error": "ValueError: boom"}]
    store.write_trials([trial_row(r) for r in rows])
    df = read_trials(tmp_path)
    assert df[S.STATUS].tolist() == [S.COMPLETED, S.FAILED]
    assert df.loc[1, "error"] == "ValueError: boom" and df.loc[0, "best_metric"] == 0.9


def test_a_crash_mid_write_leaves_the_previous_file_readable(tmp_path, monkeypatch):
    store = RunStore(tmp_path, PARAMS)
    store.write_trials([trial_row({S.TRIAL_ID: "a", S.STATUS: S.RUNNING})])

    def crash(table, where, **kw):
        with open(where, "wb") as f:
            f.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(store_mod.pq, "write_table", crash)
    with pytest.raises(OSError):
        store.write_trials([trial_row({S.TRIAL_ID: "a", S.STATUS: S.COMPLETED})])
    with pytest.raises(OSError):
        store.append_metrics([metric_row("a", "dense", 1, 0.5)])
        store.flush_metrics()
    monkeypatch.undo()
    assert read_trials(tmp_path)[S.STATUS].tolist() == [S.RUNNING]
    assert read_metrics(tmp_path).empty   # the half part file is hidden, not read


def test_new_store_on_existing_folder_continues_part_numbers(tmp_path):
    a = RunStore(tmp_path, PARAMS)
    a.append_metrics([metric_row("a", "dense", 1, 0.5)])
    a.flush_metrics()
    b = RunStore(tmp_path, PARAMS)
    b.append_metrics([metric_row("a", "dense", 2, 0.6)])
    b.flush_metrics()
    assert read_metrics(tmp_path)[S.EPOCH].tolist() == [1, 2]


def test_reading_an_empty_run_gives_empty_frames(tmp_path):
    assert read_metrics(tmp_path).empty and read_trials(tmp_path).empty


def test_compaction_keeps_the_last_row_of_each_trial_epoch_and_survives_other_writers(tmp_path):
    writer = RunStore(tmp_path, PARAMS)
    writer.append_metrics([metric_row("a", "dense", 1, 0.1), metric_row("a", "dense", 2, 0.2)])
    writer.flush_metrics()
    writer.append_metrics([metric_row("a", "dense", 2, 0.25), metric_row("b", "cnn", 1, 0.3)])  # a retried epoch
    writer.flush_metrics()
    other = RunStore(tmp_path, PARAMS)            # e.g. the runner's store, made before the parts existed
    other._part = 1
    other.compact()
    parts = list((tmp_path / "metrics").glob("*.parquet"))
    assert len(parts) == 1
    df = pq.read_table(parts[0]).to_pandas()
    assert list(zip(df[S.TRIAL_ID], df[S.EPOCH], df["val_accuracy"])) == [("a", 1, 0.1), ("a", 2, 0.25), ("b", 1, 0.3)]
    assert read_metrics(tmp_path)["val_accuracy"].tolist() == [0.1, 0.25, 0.3]


def test_compaction_of_a_run_made_before_a_family_gained_a_parameter(tmp_path):
    old = RunStore(tmp_path, PARAMS[:-1])         # the run's parts, written before batch_norm existed
    old.append_metrics([metric_row("a", "dense", 1, 0.1, lr=0.1), metric_row("b", "cnn", 1, 0.3, lr=1)])
    old.flush_metrics()
    resumed = RunStore(tmp_path, PARAMS)          # today's code resumes it, dropping trial b
    resumed.compact(exclude={"b"})
    df = read_metrics(tmp_path)
    assert list(df[S.TRIAL_ID]) == ["a"] and df["config_lr"].tolist() == [0.1]
    assert df["config_batch_norm"].isna().all()


def test_readers_resolve_duplicate_epochs_to_the_latest_row(tmp_path):
    store = RunStore(tmp_path, PARAMS)
    for acc in (0.5, 0.6):
        store.append_metrics([metric_row("a", "dense", 1, acc)])
        store.flush_metrics()
    assert read_metrics(tmp_path)["val_accuracy"].tolist() == [0.6]


def test_a_reader_lists_the_parts_again_when_the_driver_compacts_them_under_it(tmp_path, monkeypatch):
    """`report --watch` reads a running sweep's parts while its driver may compact them:
    a part gone between the listing and the read is not damage."""
    import orchestrator.store.parquet as parquet

    store = RunStore(tmp_path, PARAMS)
    for epoch in (1, 2, 3):
        store.append_metrics([metric_row("a", "dense", epoch, epoch / 10)])
        store.flush_metrics()
    read = parquet._read_table
    compactions = []

    def compacted_first(path, fix):        # the driver compacts right after the reader listed the parts
        if not compactions:
            compactions.append("compacting")
            monkeypatch.setattr(parquet, "_read_table", read)      # the driver's own reads
            compactions.append(store.compact())
            monkeypatch.setattr(parquet, "_read_table", compacted_first)
        return read(path, fix)

    monkeypatch.setattr(parquet, "_read_table", compacted_first)
    assert read_metrics(tmp_path)["val_accuracy"].tolist() == [0.1, 0.2, 0.3]
    assert compactions == ["compacting", 1] and len(list((tmp_path / "metrics").glob("*.parquet"))) == 1
    (tmp_path / "trials.parquet").unlink(missing_ok=True)
    assert read_trials(tmp_path).empty


def test_a_reader_gives_up_in_one_line_when_the_parts_keep_changing(tmp_path, monkeypatch):
    import orchestrator.store.parquet as parquet

    store = RunStore(tmp_path, PARAMS)
    store.append_metrics([metric_row("a", "dense", 1, 0.1)])
    store.flush_metrics()

    def always_gone(path, fix):
        raise FileNotFoundError(2, "No such file or directory", str(path))

    monkeypatch.setattr(parquet, "_read_table", always_gone)
    with pytest.raises(UserError, match=r"metrics: its parts changed 5 times while they were read; try again"):
        read_metrics(tmp_path)
