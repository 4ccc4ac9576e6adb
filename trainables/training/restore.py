"""Which checkpoint a retried or resumed trial starts from.

Ray hands a restored trial the latest checkpoint its saved experiment state names. That
state is written every few seconds, while Ray deletes a superseded "latest" checkpoint at
once (it keeps the best and the latest): a driver killed between the two leaves a state
naming a checkpoint that is gone. Ray itself refuses a folder that does not exist before
the trial runs, so the driver repoints such trials as it restores them
(``orchestrator.run.live.repoint_gone_checkpoint``); a folder that exists but lacks its
files is caught here, in the trial, and the newest complete checkpoint beside it is used.
With none left the trial fails saying so, never silently starting over.
"""
from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass

from trainables.contract.keys import CHECKPOINT_META_FILE, MODEL_FILE
from trainables.contract.records import CheckpointMeta, RecordError

CHECKPOINT_PREFIX = "checkpoint_"


@dataclass(frozen=True)
class Found:
    path: str                 # the checkpoint folder, on the filesystem it was found on
    meta: CheckpointMeta


def newest(found: list[Found]) -> Found | None:
    """The checkpoint with the most epochs (the earliest folder among equal epochs)."""
    return max(sorted(found, key=lambda f: f.path), key=lambda f: f.meta.epoch, default=None)


def complete_checkpoints(fs, trial_dir: str) -> list[Found]:
    """Every ``checkpoint_*`` folder under ``trial_dir`` with a readable meta and a model."""
    import pyarrow.fs as pafs

    out = []
    for info in fs.get_file_info(pafs.FileSelector(trial_dir, allow_not_found=True)):
        name = posixpath.basename(info.path.rstrip("/"))
        if info.type != pafs.FileType.Directory or not name.startswith(CHECKPOINT_PREFIX):
            continue
        meta_path, model_path = posixpath.join(info.path, CHECKPOINT_META_FILE), posixpath.join(info.path, MODEL_FILE)
        if fs.get_file_info(model_path).type != pafs.FileType.File:
            continue
        try:
            with fs.open_input_stream(meta_path) as f:
                meta = CheckpointMeta.from_dict(json.loads(f.read()), meta_path)
        except (OSError, ValueError, RecordError):
            continue
        out.append(Found(info.path, meta))
    return out


def is_complete(fs, path: str) -> bool:
    """Whether the checkpoint folder ``path`` holds both its meta and its model."""
    import pyarrow.fs as pafs

    return all(fs.get_file_info(posixpath.join(path, name)).type == pafs.FileType.File
               for name in (CHECKPOINT_META_FILE, MODEL_FILE))


def usable(checkpoint):
    """``checkpoint`` when its files are there, else the newest complete one beside it
    (the driver has already pointed a resumed trial at a complete one; this is for a
    checkpoint damaged after that)."""
    from ray import tune

    fs = checkpoint.filesystem
    if is_complete(fs, checkpoint.path):
        return checkpoint
    trial_dir = posixpath.dirname(checkpoint.path.rstrip("/"))
    best = newest(complete_checkpoints(fs, trial_dir))
    if best is None:
        raise RuntimeError(f"the checkpoint Ray restores this trial from ({checkpoint.path}) is gone and no other "
                           f"complete checkpoint is left in {trial_dir}; the trial cannot continue")
    return tune.Checkpoint(best.path, filesystem=fs)
