"""A restored trial whose saved state names a checkpoint Ray already deleted (a driver
killed between Ray's state save and its clean-up) continues from the newest complete
checkpoint in its folder, and fails saying so when none is left."""
from __future__ import annotations

import json

import pyarrow.fs as pafs
import pytest

from trainables.contract.keys import CHECKPOINT_META_FILE, MODEL_FILE
from trainables.training.checkpoints import complete_checkpoints, epoch_of, in_run, readable, usable

FS = pafs.LocalFileSystem()


def _checkpoint(trial, name, epoch, model=True, meta=True, improvements=0):
    folder = trial / name
    folder.mkdir(parents=True)
    if model:
        (folder / MODEL_FILE).write_bytes(b"weights")
    if meta:
        (folder / CHECKPOINT_META_FILE).write_text(json.dumps({"epoch": epoch, "metric": "val_accuracy",
                                                               "improvements": improvements}))
    return folder


def test_a_present_checkpoint_is_used_as_handed(tmp_path):
    handed = _checkpoint(tmp_path, "checkpoint_000001", 2)
    _checkpoint(tmp_path, "checkpoint_000002", 3)
    assert usable(FS, str(handed)) == str(handed)


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
    assert usable(FS, str(gone)) == str(newest)
    epochs = sorted(f.meta.epoch for f in complete_checkpoints(FS, str(tmp_path)))
    assert epochs == [1, 3]


def test_nothing_left_is_a_clear_error(tmp_path):
    _checkpoint(tmp_path, "checkpoint_000000", 1, model=False)
    with pytest.raises(RuntimeError, match="is gone and no other complete checkpoint is left"):
        usable(FS, str(tmp_path / "checkpoint_000001"))


def test_a_run_folders_checkpoints_of_a_trial_across_its_phases(tmp_path):
    """A driver killed before it recorded them: the best epoch's and the latest are found
    in the folder, over the sweep's and later phases' Ray folders."""
    _checkpoint(tmp_path / "ray" / "t1", "checkpoint_000000", 2, improvements=2)
    _checkpoint(tmp_path / "ray-repeat-1" / "t1", "checkpoint_000001", 5, improvements=2)
    _checkpoint(tmp_path / "ray" / "t2", "checkpoint_000000", 1)
    assert in_run(tmp_path, "t1", best_epoch=2) == ("ray/t1/checkpoint_000000", "ray-repeat-1/t1/checkpoint_000001")
    assert in_run(tmp_path, "t1", best_epoch=None)[0] == "ray/t1/checkpoint_000000"   # the earliest of the most improved
    assert in_run(tmp_path, "none", best_epoch=1) == (None, None)


def test_readable_and_epoch_of_a_local_checkpoint(tmp_path):
    whole = _checkpoint(tmp_path, "checkpoint_000000", 4)
    half = _checkpoint(tmp_path, "checkpoint_000001", 5, model=False)
    assert readable(whole) is True and readable(half) is False and readable(tmp_path / "gone") is None
    assert epoch_of(whole) == 4 and epoch_of(tmp_path / "gone") is None
