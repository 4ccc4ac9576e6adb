"""Ray's saved state of a run, reconciled with the run folder as it is now.

Ray saves its experiment state every few seconds; the Parquet is flushed before Ray can
checkpoint past it. So a resume finds Ray's state lagging the Parquet (trials done since,
checkpoints deleted since), maybe cut short (a driver killed while copying it), and the
folder maybe moved or copied since. What is read and repaired here, before and as the
restored fit starts its trials:
- ``set_aside_unreadable_states``: a newest state cut short goes out of Ray's way;
- ``known_trials``: which trials Ray's states hold (the Parquet's others are dropped);
- ``on_trial_add`` (called by the scheduler as Tune adds each trial, the one hook Tune
  gives before a restored trial starts): the trial's storage is pointed at the folder
  where it is now, and a checkpoint its state names that is gone is replaced by the
  newest complete one the Parquet covers.
"""
from __future__ import annotations

from orchestrator.raytune import fit as fits
from orchestrator.raytune import private
from orchestrator.raytune.tuner import phase_name
from orchestrator.store.folder import RunFolder
from trainables.contract.errors import UserError
from trainables.contract.keys import RAY_DIR


def on_trial_add(trial) -> None:
    relocate_trial(trial)          # before Ray starts it: the run folder may have moved since it was planned
    repoint_gone_checkpoint(trial)


def relocate_trial(trial) -> None:
    """Point a trial's storage at the run folder where it is now (``private.move_trial_storage``)."""
    fit = fits.current()
    if fit is None:
        return
    storage = fit.storage
    if private.trial_storage_path(trial) != storage["storage_path"]:
        private.move_trial_storage(trial, storage["storage_path"], storage.get("storage_filesystem"))


def repoint_gone_checkpoint(trial) -> None:
    """Point a restored trial whose latest checkpoint is gone (or incomplete) at the
    newest complete one in its folder whose epoch the Parquet holds.

    Ray saves its experiment state every few seconds but deletes a superseded checkpoint
    at once: a driver killed between the two leaves a state naming a folder that no
    longer exists, and Ray's ``Trainable.restore`` fails the trial on resume ("does not
    exist on storage anymore") before the trial can look for another. The checkpoint
    that superseded it is on disk, and so are its epochs in the Parquet: the trial
    continues from it. A checkpoint of an epoch whose row never reached the Parquet (the
    driver stopped before it recorded the result) is passed over: continuing from it
    would lose that row, so the trial trains the epoch again. Gone entries also leave
    Ray's list of best checkpoints (Ray would fail deleting them later); the checkpoint
    continued from is then kept on disk, not ranked, where the report finds it by epoch.
    With no such checkpoint left, Ray's error stands (or, for a folder that exists but
    lacks its files, the trial's own fallback, ``checkpoints.usable``). Ray's own
    ``Trial.set_storage`` rewrites these records the same way."""
    import posixpath

    from ray import tune

    from trainables.contract.keys import EPOCH
    from trainables.training.checkpoints import complete_checkpoints, is_complete, newest

    fit = fits.current()
    if fit is None:           # not inside a fit (a scheduler tested alone): nothing was restored
        return
    result = private.latest_checkpoint_result(trial)
    if result is None or result.checkpoint is None:
        return
    fs = result.checkpoint.filesystem

    def gone(r) -> bool:     # deleted, or left half-written
        return r.checkpoint is not None and not is_complete(fs, r.checkpoint.path)

    if not gone(result):
        return
    recorded = fit.recorded_epochs.get(trial.trial_id, 0)     # no row: no checkpoint is safe to continue from
    found = newest([f for f in complete_checkpoints(fs, posixpath.dirname(result.checkpoint.path.rstrip("/")))
                    if f.meta.epoch <= recorded])
    if found is None:
        return
    private.keep_checkpoint_results(trial, lambda r: not gone(r))
    result.checkpoint = tune.Checkpoint(found.path, filesystem=fs)
    metrics = dict(result.metrics or {})
    if isinstance(metrics.get(EPOCH), int) and isinstance(metrics.get("training_iteration"), int):
        # ASHA counts training_iteration: add the epochs the newer checkpoint has beyond the gone one
        metrics["training_iteration"] += found.meta.epoch - metrics[EPOCH]
        metrics[EPOCH] = found.meta.epoch
    result.metrics = metrics


STATE_PREFIX, STATE_SUFFIX = "experiment_state-", ".json"
UNREADABLE_SUFFIX = ".unreadable"


def set_aside_unreadable_states(folder: RunFolder, ray_name: str = RAY_DIR) -> list[str]:
    """Move Ray's newest saved experiment state out of its way while it cannot be read,
    with the searcher's files of the same session (``<name>.unreadable``); returns their
    names. Ray rewrites that file every few seconds and copies it into the run folder in
    place: a driver killed during the copy leaves it empty, and Ray's restore (and
    ``known_trials``) failed on it with a JSON error. The session before it saved its
    own, older state; a resume continues from that one as from any state that lags the
    Parquet (finished trials are not run again, checkpoints it names that are gone are
    replaced by the newest one the Parquet covers). With none readable left: a UserError."""
    import fnmatch
    import json
    import posixpath

    import pyarrow.fs as pafs

    path, fs = folder.ray_path(ray_name), folder.storage().get("storage_filesystem")
    if fs is None:
        fs, path = pafs.FileSystem.from_uri(path)
    infos = [i for i in fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)) if i.type == pafs.FileType.File]
    moved: list[str] = []
    readable = False
    for name in sorted((i.base_name for i in infos if fnmatch.fnmatch(i.base_name, f"{STATE_PREFIX}*{STATE_SUFFIX}")),
                       reverse=True):
        try:
            with fs.open_input_stream(posixpath.join(path, name)) as f:
                json.loads(f.read())
            readable = True
            break
        except (ValueError, OSError):
            stamp = name[len(STATE_PREFIX):-len(STATE_SUFFIX)]
            for info in infos:
                if stamp in info.base_name:
                    fs.move(info.path, info.path + UNREADABLE_SUFFIX)
                    moved.append(info.base_name)
    if not readable:
        cut = f" (set aside, cut short: {', '.join(sorted(moved))})" if moved else ""
        raise UserError(f"{folder.location}: Ray saved no readable experiment state before the run stopped{cut}; "
                        "start it again")
    return moved


def known_trials(folder: RunFolder, phases: int) -> set[str]:
    """The trial ids in Ray's saved experiment states of the sweep and its ``phases`` repeats."""
    from ray import tune

    fs = folder.storage().get("storage_filesystem")
    known: set[str] = set()
    for n in range(phases + 1):
        if tune.Tuner.can_restore(folder.ray_path(phase_name(n)), storage_filesystem=fs):
            known |= {t.trial_id for t in tune.ExperimentAnalysis(folder.ray_path(phase_name(n)),
                                                                  storage_filesystem=fs).trials}
    return known
