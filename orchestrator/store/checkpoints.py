"""A trial's checkpoints as they lie in the run folder (``ray*/<trial>/checkpoint_*``)."""
from __future__ import annotations

from pathlib import Path

from orchestrator.store.folder import RunFolder
from trainables.contract.keys import RAY_DIR
from trainables.contract.records import CheckpointMeta


def find_checkpoints(folder: RunFolder, trial_id: str, best_epoch: int | None) -> tuple[str | None, str | None]:
    """(the best epoch's checkpoint, the latest one), relative to the folder; None where
    there is none. For a run whose driver died before recording them."""
    import pyarrow.fs as pafs

    from trainables.training.restore import complete_checkpoints

    found: list[tuple[CheckpointMeta, str]] = []
    for trial_dir in folder.path.glob(f"{RAY_DIR}*/{trial_id}"):
        for f in complete_checkpoints(pafs.LocalFileSystem(), str(trial_dir)):
            found.append((f.meta, Path(f.path).relative_to(folder.path).as_posix()))
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
