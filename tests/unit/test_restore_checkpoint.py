"""A restored trial whose saved state names a checkpoint Ray already deleted (a driver
killed between Ray's state save and its clean-up) continues from the newest complete
checkpoint in its folder, and fails saying so when none is left."""
from __future__ import annotations

import json

import pyarrow.fs as pafs
import pytest
from ray import tune

from trainables.contract.keys import CHECKPOINT_META_FILE, MODEL_FILE
from trainables.training.restore import complete_checkpoints, usable


def _checkpoint(trial, name, epoch, model=True, meta=True):
    folder = trial / name
    folder.mkdir(parents=True)
    if model:
        (folder / MODEL_FILE).write_bytes(b"weights")
    if meta:
        (folder / CHECKPOINT_META_FILE).write_text(json.dumps({"epoch": epoch, "metric": "val_accuracy"}))
    return folder


def test_a_present_checkpoint_is_used_as_handed(tmp_path):
    handed = _checkpoint(tmp_path, "checkpoint_000001", 2)
    _checkpoint(tmp_path, "checkpoint_000002", 3)
    assert usable(tune.Checkpoint(str(handed))).path == str(handed)


def test_a_deleted_checkpoint_falls_back_to_the_newest_complete_one(tmp_path):
    _checkpoint(tmp_path, "checkpoint_000000", 1)
    newest = _checkpoint(tmp_path, "checkpoint_000002", 3)
    _checkpoint(tmp_path, "checkpoint_000003", 4, model=False)            # half-written: no model
    (tmp_path / "checkpoint_000004").mkdir()                              # empty
    _checkpoint(tmp_path, "checkpoint_000005", 9, meta=False)             # no meta
    (tmp_path / "checkpoint_000006").mkdir()
    (tmp_path / "checkpoint_000006" / MODEL_FILE).write_bytes(b"x")
    (tmp_path / "checkpoint_000006" / CHECKPOINT_META_FILE).write_text("{not json")
    gone = tmp_path / "checkpoint_000001"
    chosen = usable(tune.Checkpoint(str(gone)))
    assert chosen.path == str(newest)
    epochs = sorted(f.meta.epoch for f in complete_checkpoints(pafs.LocalFileSystem(), str(tmp_path)))
    assert epochs == [1, 3]


def test_nothing_left_is_a_clear_error(tmp_path):
    _checkpoint(tmp_path, "checkpoint_000000", 1, model=False)
    with pytest.raises(RuntimeError, match="is gone and no other complete checkpoint is left"):
        usable(tune.Checkpoint(str(tmp_path / "checkpoint_000001")))
