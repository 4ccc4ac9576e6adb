"""One contract for every place a run folder can live: a local folder and S3 (a real
local S3 server). Written by the driver's store, read back by a reader elsewhere (for
S3: a fresh local view fetched from the URI), through real Parquet and JSON."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pyarrow.parquet as pq
import pytest

from orchestrator.store import schema as S
from orchestrator.store.folder import RunFolder, create, sha256_text
from orchestrator.store.parquet import RunStore
from orchestrator.store.records import RunStatus, TrialRow
from orchestrator.store.snapshot import read_snapshot
from tests.conftest import run_meta
from tests.integration.conftest import BUCKET
from trainables.contract.errors import UserError
from trainables.contract.records import EpochReport

SWEEP = "name: s\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n"
PARAMS = [("lr", "float"), ("layers", "int")]


@pytest.fixture(params=["local", "s3"])
def folder(request, tmp_path) -> RunFolder:
    if request.param == "local":
        return create(tmp_path / "results", "s", "r")
    request.getfixturevalue("s3")
    return create(f"s3://{BUCKET}/contract-{uuid.uuid4().hex[:8]}", "s", "r")


def epoch_row(trial: str, epoch: int, acc: float) -> dict:
    report = EpochReport(epoch=epoch, val_accuracy=acc, train_loss=1.0 / epoch, params=1234, is_best=True)
    stored = report.to_dict()
    row = {name: stored[name] for name, _ in EpochReport.columns()}
    row.update({S.RUN_ID: "r1", S.TRIAL_ID: trial, S.FAMILY: "dense", S.MODEL: "dense", "config_lr": 0.01,
                "config_layers": 2, S.WALL_TIME: datetime(2026, 1, 1, tzinfo=timezone.utc)})
    return row


def write_run(folder: RunFolder, status: str = "finished") -> RunStore:
    store = RunStore(folder.path, PARAMS, mirror=folder.remote)
    store.write_sweep_copy(SWEEP)
    store.write_meta(run_meta(status, sweep_sha256=sha256_text(SWEEP), remote=folder.uri))
    for epoch in (1, 2):
        store.append_metrics([epoch_row(t, epoch, 0.5 + 0.1 * epoch + (t == "b") * 0.05) for t in ("a", "b")])
        store.flush_metrics()
    store.append_metrics([epoch_row("a", 2, 0.75)])   # a retried epoch: the later row stands
    store.flush_metrics()
    store.write_trials([TrialRow("r1", t, "dense", "dense", {"lr": 0.01, "layers": 2}, status=S.COMPLETED,
                                 epochs=2, best_epoch=2, metric="val_accuracy", checkpoint=f"ray/{t}/checkpoint_000001")
                        for t in ("a", "b")])
    return store


def test_what_is_written_reads_back_the_same(folder):
    write_run(folder)
    reader = RunFolder.open(folder.location)
    assert reader.location == folder.location
    assert reader.meta() == folder.meta() and reader.meta().status == RunStatus.FINISHED
    assert reader.sweep_text() == SWEEP and reader.spec(check_frozen=True).name == "s"
    snap = read_snapshot(reader)
    assert snap.status == RunStatus.FINISHED and snap.status_note is None
    assert sorted(snap.trials[S.TRIAL_ID]) == ["a", "b"] and (snap.trials[S.STATUS] == S.COMPLETED).all()
    assert snap.trials["config_layers"].tolist() == [2, 2] and snap.trials["checkpoint"].str.startswith("ray/").all()
    rows = snap.metrics.set_index([S.TRIAL_ID, S.EPOCH])
    assert len(rows) == 4 and rows.loc[("a", 2), "val_accuracy"] == pytest.approx(0.75)
    assert rows.loc[("b", 1), "params"] == 1234


def test_compaction_leaves_one_part_with_one_row_per_epoch(folder):
    store = write_run(folder)
    store.compact()
    reader = RunFolder.open(folder.location)
    parts = sorted((reader.path / "metrics").glob("part-*.parquet"))
    assert len(parts) == 1
    table = pq.read_table(parts[0]).to_pandas()
    assert len(table) == 4 and not table.duplicated([S.TRIAL_ID, S.EPOCH]).any()
    assert table.set_index([S.TRIAL_ID, S.EPOCH]).loc[("a", 2), "val_accuracy"] == pytest.approx(0.75)


def put(folder: RunFolder, rel: str, data: bytes) -> None:
    (folder.path / rel).write_bytes(data)
    if folder.remote is not None:
        folder.remote.put(folder.path / rel)


def test_a_truncated_part_is_named(folder):
    write_run(folder)
    part = sorted((folder.path / "metrics").glob("part-*.parquet"))[0]
    put(folder, f"metrics/{part.name}", part.read_bytes()[:30])
    with pytest.raises(UserError, match=rf"metrics/{part.name} is truncated or not Parquet .*move it out"):
        read_snapshot(folder.location)


def test_a_malformed_run_json_is_named(folder):
    write_run(folder)
    put(folder, "run.json", b'{"run_id": "r1", "status": "sideways"}')
    with pytest.raises(UserError, match=r"run\.json: .*restore run\.json from a copy of the run"):
        RunFolder.open(folder.location)
