"""A trial's checkpoints as they lie in the run folder (``ray*/<trial>/checkpoint_*``)."""
from __future__ import annotations

import json
from pathlib import Path

from orchestrator.store.folder import RunFolder
from trainables.contract.keys import CHECKPOINT_META_FILE, MODEL_FILE, RAY_DIR
from trainables.contract.records import CheckpointMeta, RecordError


def find_checkpoints(folder: RunFolder, trial_id: str, best_epoch: int | None) -> tuple[str | None, str | None]:
    """(the best epoch's checkpoint, the latest one), relative to the folder; None where
    there is none. For a run whose driver died before recording them."""
    found: list[tuple[CheckpointMeta, str]] = []
    for meta_file in folder.path.glob(f"{RAY_DIR}*/{trial_id}/checkpoint_*/{CHECKPOINT_META_FILE}"):
        if not (meta_file.parent / MODEL_FILE).is_file():
            continue
        try:
            meta = CheckpointMeta.from_dict(json.loads(meta_file.read_text()), str(meta_file))
        except (OSError, ValueError, RecordError):
            continue
        found.append((meta, meta_file.parent.relative_to(folder.path).as_posix()))
    if not found:
        return None, None
    latest = max(found, key=lambda m: m[0].epoch)[1]
    exact = [rel for meta, rel in found if meta.epoch == best_epoch]
    best = exact[0] if exact else max(found, key=lambda m: (m[0].improvements, -m[0].epoch))[1]
    return best, latest


def fill_checkpoints(ledger, folder: RunFolder) -> None:
    """Give every trial of a rebuilt ledger that has epochs but no recorded checkpoint the
    ones in the folder: a driver killed between an epoch's checkpoint and the next write
    of the trials table never recorded them, and Ray does not announce them again."""
    for rec in ledger.trials.values():
        if rec.checkpoint is None and rec.history:
            best, latest = find_checkpoints(folder, rec.trial_id, rec.best_epoch)
            rec.checkpoint = best
            rec.last_checkpoint = rec.last_checkpoint or latest


def trial_phases(run_dir: Path, phases: int) -> dict[str, int]:
    """Trial id -> the phase it ran in (0: the sweep; n: the n-th repeat or extension),
    from Ray's per-phase folders, where each trial has a folder named by its id."""
    from trainables.contract.keys import REPEAT_RAY_PREFIX

    out: dict[str, int] = {}
    for n in range(phases + 1):
        folder = Path(run_dir) / (f"{REPEAT_RAY_PREFIX}{n}" if n else RAY_DIR)
        try:
            out.update({p.name: n for p in folder.iterdir() if p.is_dir()})
        except OSError:
            continue
    return out
