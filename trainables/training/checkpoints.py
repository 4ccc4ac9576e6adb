"""A trial's checkpoints: find, validate and load, in one place.

A checkpoint is a folder ``ray*/<trial>/checkpoint_*/`` holding ``model.keras`` (the
whole model) and ``checkpoint.json`` (``CheckpointMeta``: its epoch, the best so far,
the learning-rate schedule's state). It is *complete* when both files are there and the
meta reads. Every reader goes through this module: the trial restarting from one (a
retry, a resume, ``tunefm extend --max-epochs``), the driver reconciling Ray's saved
state with the run folder, the report and export loading a winner, the latency
measurement. Writing them is ``checkpoint_writer``'s.

Ray saves its experiment state every few seconds but deletes a superseded checkpoint at
once: a driver killed between the two leaves a state naming a folder that is gone. The
driver repoints such trials as it restores them (``orchestrator.raytune.reconcile``); a
folder that exists but lacks its files is caught in the trial (``usable``), and the
newest complete checkpoint beside it is used. With none left the trial fails saying
so, never silently starting over.
"""
from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from trainables.contract.errors import UserError
from trainables.contract.keys import CHECKPOINT_META_FILE, MODEL_FILE, OPTIMIZER_FILE, RAY_DIR
from trainables.contract.records import CheckpointMeta, RecordError

CHECKPOINT_PREFIX = "checkpoint_"


@dataclass(frozen=True)
class Found:
    path: str                 # the checkpoint folder, on the filesystem it was found on
    meta: CheckpointMeta


# --- finding (on any pyarrow filesystem: the run folder, or a URI run's) -------------------

def newest(found: list[Found]) -> Found | None:
    """The checkpoint with the most epochs (the earliest folder among equal epochs)."""
    return max(sorted(found, key=lambda f: f.path), key=lambda f: f.meta.epoch, default=None)


def read_meta(fs, path: str) -> CheckpointMeta | None:
    """The checkpoint's ``checkpoint.json``; None when it is missing or unreadable."""
    meta_path = posixpath.join(path, CHECKPOINT_META_FILE)
    try:
        with fs.open_input_stream(meta_path) as f:
            return CheckpointMeta.from_dict(json.loads(f.read()), meta_path)
    except (OSError, ValueError, RecordError):
        return None


def complete_checkpoints(fs, trial_dir: str) -> list[Found]:
    """Every ``checkpoint_*`` folder under ``trial_dir`` with a readable meta and a model."""
    import pyarrow.fs as pafs

    out = []
    for info in fs.get_file_info(pafs.FileSelector(trial_dir, allow_not_found=True)):
        name = posixpath.basename(info.path.rstrip("/"))
        if info.type != pafs.FileType.Directory or not name.startswith(CHECKPOINT_PREFIX):
            continue
        if fs.get_file_info(posixpath.join(info.path, MODEL_FILE)).type != pafs.FileType.File:
            continue
        meta = read_meta(fs, info.path)
        if meta is not None:
            out.append(Found(info.path, meta))
    return out


def is_complete(fs, path: str) -> bool:
    """Whether the checkpoint folder ``path`` holds both its meta and its model."""
    import pyarrow.fs as pafs

    return all(fs.get_file_info(posixpath.join(path, name)).type == pafs.FileType.File
               for name in (CHECKPOINT_META_FILE, MODEL_FILE))


def usable(fs, path: str) -> str:
    """``path`` when its files are there, else the newest complete checkpoint beside it
    (the driver has already pointed a resumed trial at a complete one; this is for a
    checkpoint damaged after that)."""
    if is_complete(fs, path):
        return path
    trial_dir = posixpath.dirname(path.rstrip("/"))
    best = newest(complete_checkpoints(fs, trial_dir))
    if best is None:
        raise RuntimeError(f"the checkpoint Ray restores this trial from ({path}) is gone and no other "
                           f"complete checkpoint is left in {trial_dir}; the trial cannot continue")
    return best.path


def in_run(run_dir: Path, trial_id: str, best_epoch: int | None) -> tuple[str | None, str | None]:
    """(the best epoch's checkpoint, the latest one) of a trial, relative to the run folder
    ``run_dir``, from the folders themselves; None where there is none. For a run whose
    driver died before recording them."""
    import pyarrow.fs as pafs

    found: list[tuple[CheckpointMeta, str]] = []
    for trial_dir in Path(run_dir).glob(f"{RAY_DIR}*/{trial_id}"):
        for f in complete_checkpoints(pafs.LocalFileSystem(), str(trial_dir)):
            found.append((f.meta, Path(f.path).relative_to(run_dir).as_posix()))
    if not found:
        return None, None
    latest = max(found, key=lambda m: m[0].epoch)[1]
    exact = [rel for meta, rel in found if meta.epoch == best_epoch]
    best = exact[0] if exact else max(found, key=lambda m: (m[0].improvements, -m[0].epoch))[1]
    return best, latest


def readable(folder: str | Path) -> bool | None:
    """Whether a local checkpoint folder's model can be read: True, False (the folder is
    there but its model is missing or may not be read), or None (no such folder)."""
    folder = Path(folder)
    try:
        if not folder.exists():
            return None
        model = folder / MODEL_FILE
        return model.is_file() and os.access(model, os.R_OK)
    except OSError:                  # a folder on the way that may not be read
        return False


def epoch_of(folder: str | Path) -> int | None:
    """The epoch a local checkpoint folder holds, from its meta; None when unreadable."""
    import pyarrow.fs as pafs

    meta = read_meta(pafs.LocalFileSystem(), str(Path(folder).absolute()))
    return None if meta is None else meta.epoch


# --- loading -------------------------------------------------------------------------------

def load_weights(model, folder: str) -> CheckpointMeta:
    """Load a local checkpoint folder's weights into ``model`` (built by the same family
    and config) and return its meta: where a trial continues from."""
    import pyarrow.fs as pafs

    meta = read_meta(pafs.LocalFileSystem(), str(Path(folder).absolute()))
    if meta is None:
        raise RuntimeError(f"{os.path.join(folder, CHECKPOINT_META_FILE)}: missing or unreadable; "
                           "the trial cannot continue from this checkpoint")
    model.load_weights(os.path.join(folder, MODEL_FILE))
    return meta


def read_optimizer(folder: str) -> dict | None:
    """The optimizer state saved beside a checkpoint's weights (path -> array), read into
    memory; None when there is none (a checkpoint from before tunefm saved it) or it
    cannot be read (the trial then starts its optimizer afresh, and its epochs say so)."""
    import zipfile

    import numpy as np

    path = os.path.join(folder, OPTIMIZER_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            return {name: saved[name] for name in saved.files}
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def load_model(folder: str | Path, vanish_ok: bool = False):
    """The Keras model of a checkpoint folder; a damaged file is a one-line error.
    ``vanish_ok`` (a sweep still running): a model file that is gone by the time it is read
    gives None instead; Ray removes a trial's superseded best checkpoint as soon as a
    better one is saved, which can fall between listing the checkpoints and loading them."""
    import zipfile

    import keras

    from trainables.families.registry import import_builders

    import_builders()   # the custom layers some families save
    model_file = Path(folder) / MODEL_FILE
    try:
        return keras.models.load_model(model_file, compile=False)
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as e:   # truncated, foreign, unreadable
        if not model_file.exists():
            if vanish_ok:
                return None
            raise UserError(f"{model_file}: removed while being read (a running sweep replaces a trial's best "
                            "checkpoint when it improves); run the command again") from None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise UserError(f"{model_file}: cannot be loaded ({first}); the checkpoint is damaged or unreadable: "
                        "restore it from a copy of the run") from None
