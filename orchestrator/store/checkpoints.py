"""Recorded checkpoints for a ledger rebuilt from a run folder's files."""
from __future__ import annotations

from orchestrator.store.folder import RunFolder
from trainables.training.checkpoints import in_run


def fill_checkpoints(ledger, folder: RunFolder) -> None:
    """Give every trial of a rebuilt ledger that has epochs but no recorded checkpoint the
    ones in the folder: a driver killed between an epoch's checkpoint and the next write
    of the trials table never recorded them, and Ray does not announce them again."""
    for rec in ledger.trials.values():
        if rec.checkpoint is None and rec.history:
            best, latest = in_run(folder.path, rec.trial_id, rec.best_epoch)
            rec.checkpoint = best
            rec.last_checkpoint = rec.last_checkpoint or latest
