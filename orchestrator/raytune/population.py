"""Population-based training on Ray Tune's own ``PopulationBasedTraining`` and ``PB2``,
one population per family (``scheduler.PerFamilyScheduler`` holds them).

What tunefm adds to Ray's schedulers:

- **Synchronous steps.** Every member perturbs at the same epoch, so a trial copies a
  donor's checkpoint of the epoch it has reached itself: its own rows are never rewound,
  and a copy shows in its epochs as one row naming the donor (``copied_from``).
- **The donor's checkpoint is kept.** Ray keeps a trial's best and latest checkpoints
  only; the donor may train on, and drop the checkpoint copied, before the copier starts
  again. At the exploit step the checkpoint is copied into the copier's own folder
  (``copied_from_<donor>_epoch<n>``); it stays until the copier copies again or ends (a
  resume may still start from it), so a trial holds at most one such copy.
- **No step at the end.** A member that reached ``max_epochs``, diverged or was over
  budget is done: Ray's PBT would still pause it, or copy another into it
  (``PerFamilyScheduler`` does not ask it: ``ends_here``).
- **Values stay in range.** Ray's PBT multiplies a value by 0.8 or 1.2 and can leave the
  range (a dropout of 0.9 becomes 1.08): each mutated value is clipped to its range.
- **A view of the family.** Ray's PBT reads every trial of the controller; each
  population sees only its family's (``FamilyView``).
"""
from __future__ import annotations

import logging
import posixpath
import warnings
from typing import Any

from ray.tune.schedulers import PopulationBasedTraining
from ray.tune.schedulers.pb2 import PB2

from orchestrator.raytune import private
from orchestrator.spec.population import Mutation, PopulationSpec
from orchestrator.spec.spaces import Choice
from trainables.contract.keys import FAMILY_KEY

COPY_PREFIX = "copied_from_"
TIME_ATTR = "epoch"              # every tunefm report carries its epoch; Ray's own counter restarts
log = logging.getLogger(__name__)
# Ray warns that keeping one checkpoint per trial may drop one a copier still needs:
# tunefm copies the donor's checkpoint at the exploit step (``_KeepsDonorCheckpoint``)
warnings.filterwarnings("ignore", message=r"Using `CheckpointConfig.num_to_keep <= 2` with PBT")


class Clip:
    """PBT's ``custom_explore_fn``: every mutated value back inside its range (picklable:
    Ray saves the scheduler with the run)."""

    def __init__(self, mutations: tuple[Mutation, ...]):
        self.mutations = mutations

    def __call__(self, config: dict) -> dict:
        for m in self.mutations:
            if m.name in config:
                config[m.name] = m.clip(config[m.name])
        return config


class _KeepsDonorCheckpoint:
    """After Ray's exploit step: the donor's checkpoint copied into the copier's folder,
    and the copier pointed at the copy."""

    def _exploit(self, tune_controller, trial, trial_to_clone) -> None:
        before = private.latest_checkpoint_result(trial)
        own = None if before is None or before.checkpoint is None else before.checkpoint
        super()._exploit(tune_controller, trial, trial_to_clone)    # type: ignore[misc]
        record = private.latest_checkpoint_result(trial)
        checkpoint = None if record is None else record.checkpoint
        if checkpoint is None or checkpoint.path is None:
            return
        import pyarrow.fs as pafs
        from ray.tune import Checkpoint

        epoch = (record.metrics or {}).get(TIME_ATTR, "")
        folder = posixpath.join(posixpath.dirname(posixpath.dirname(checkpoint.path)), trial.trial_id)
        copy = posixpath.join(folder, f"{COPY_PREFIX}{trial_to_clone.trial_id}_epoch{epoch}")
        fs = checkpoint.filesystem
        forget_copies(fs, folder)
        fs.create_dir(copy, recursive=True)
        pafs.copy_files(checkpoint.path, copy, source_filesystem=fs, destination_filesystem=fs)
        if own is not None:
            keep_own_best(fs, copy, own.filesystem, own.path)
        private.repoint_latest_checkpoint(trial, Checkpoint(path=copy, filesystem=fs))


def keep_own_best(fs, copy: str, own_fs, own: str) -> None:
    """The copy's meta with the copier's own best so far (value, epoch, improvements): the
    donor's weights and epoch, but the copier's checkpoints keep ranking by its own
    history, so Ray keeps the copier's best epoch and the ledger finds it."""
    import json

    from trainables.contract.keys import CHECKPOINT_META_FILE
    from trainables.training.checkpoints import read_meta

    donor, mine = read_meta(fs, copy), read_meta(own_fs, own)
    if donor is None or mine is None:
        return
    import dataclasses

    merged = dataclasses.replace(donor, best=mine.best, best_epoch=mine.best_epoch, improvements=mine.improvements,
                                 is_best=False)
    with fs.open_output_stream(posixpath.join(copy, CHECKPOINT_META_FILE)) as f:
        f.write(json.dumps(merged.to_dict()).encode())


def forget_copies(fs, trial_folder: str) -> None:
    """Remove a trial's copies of donors' checkpoints (it copies again, or it ended)."""
    import pyarrow.fs as pafs

    try:
        infos = fs.get_file_info(pafs.FileSelector(trial_folder, allow_not_found=True))
    except OSError:
        return
    for info in infos:
        if info.type == pafs.FileType.Directory and posixpath.basename(info.path).startswith(COPY_PREFIX):
            try:
                fs.delete_dir(info.path)
            except OSError:
                log.debug("could not remove %s", info.path)


def remove_copies(storage: dict, ray_name: str) -> None:
    """Every member's copy of a donor's checkpoint in a phase's folder: the population is
    done (a phase ended by its time budget stops members without a word to the scheduler)."""
    import pyarrow.fs as pafs

    fs = storage.get("storage_filesystem") or pafs.LocalFileSystem()
    root = posixpath.join(storage["storage_path"], ray_name)
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    except OSError:
        return
    for info in infos:
        if info.type == pafs.FileType.Directory:
            forget_copies(fs, info.path)


def trial_ended(trial) -> None:
    """The member ended: the copy it started from last is no longer needed."""
    storage = getattr(trial, "storage", None)
    fs = getattr(storage, "storage_filesystem", None)
    if fs is not None and getattr(trial, "path", None):
        forget_copies(fs, trial.path)


class TunefmPBT(_KeepsDonorCheckpoint, PopulationBasedTraining):
    pass


class TunefmPB2(_KeepsDonorCheckpoint, PB2):
    pass


def build(population: PopulationSpec, metric: str, mode: str):
    """Ray's PBT (or PB2) for one family's population, synchronous, by epoch."""
    common = dict(time_attr=TIME_ATTR, metric=metric, mode=mode,
                  perturbation_interval=population.perturbation_interval,
                  quantile_fraction=population.quantile, custom_explore_fn=Clip(population.mutations),
                  log_config=False, require_attrs=False, synch=True)
    if population.kind == "pb2":
        child = TunefmPB2(hyperparam_bounds={m.name: list(m.bounds) for m in population.mutations}, **common)
    else:
        child = TunefmPBT(hyperparam_mutations={m.name: _ray_range(m) for m in population.mutations},
                          resample_probability=population.resample_probability, **common)
    return child


def _ray_range(m: Mutation) -> Any:
    """A choice is a list (Ray's PBT moves to a neighbouring value); a range a Ray domain
    (multiplied by 0.8 or 1.2, or drawn afresh)."""
    from orchestrator.raytune.space import to_ray

    return list(m.space.values) if isinstance(m.space, Choice) else to_ray(m.space)


def ends_here(result: dict) -> bool:
    """A member's report after which it trains no more: its last epoch, or one that
    diverged or was over budget. A step would copy into (or pause) a member that is done."""
    from trainables.contract.status import Status

    if result.get("trial_status") in (Status.DIVERGED.value, Status.OVER_BUDGET.value):
        return True
    return bool(result.get("max_epochs")) and result.get(TIME_ATTR, 0) >= result["max_epochs"]


def is_population(scheduler) -> bool:
    return isinstance(scheduler, PopulationBasedTraining)


def warm_start(scheduler, history: dict[str, dict[int, float]]) -> None:
    """A resumed (or restored) run's population: Ray's saved state holds the scheduler as
    it was built, so its next synchronous step would be the first (epoch ``interval``)
    while the members restart from later epochs, and it would wait for an epoch no member
    will report again. The next step is the first multiple of ``interval`` past the
    earliest member's last recorded epoch (``history``: trial -> epoch -> metric)."""
    interval = private.pbt_interval(scheduler)
    latest = [max(epochs) for epochs in history.values() if epochs]
    if latest:
        setattr(scheduler, private.PBT_NEXT_SYNC, (min(latest) // interval + 1) * interval)


def seed_trial(scheduler, trial, epochs: dict[int, float] | None) -> None:
    """The member's state as the run recorded it: its last epoch and score, and its last
    step at the multiple of ``interval`` at or below that epoch (so a step it was waiting
    for when the run stopped is not taken twice)."""
    if not epochs:
        return
    state = private.pbt_states(scheduler)[trial]
    interval = private.pbt_interval(scheduler)
    last = max(epochs)
    state.last_train_time = last
    state.last_perturbation_time = (last // interval) * interval
    op = private.pbt_metric_sign(scheduler)
    value = epochs[last]
    state.last_score = None if value is None or value != value else op * value


class FamilyView:
    """The Tune controller as one family's population sees it: its own trials only, and
    no search algorithm (Ray's PBT refuses any; tunefm's configs are drawn up front, and
    ``spec.population`` refuses TPE)."""

    search_alg = None

    def __init__(self, controller, family: str):
        self._controller, self._family = controller, family

    def _mine(self, trials):
        return [t for t in trials if t.config.get(FAMILY_KEY, "") == self._family]

    def get_trials(self):
        return self._mine(self._controller.get_trials())

    def get_live_trials(self):
        return self._mine(self._controller.get_live_trials())

    def __getattr__(self, name: str):
        return getattr(self._controller, name)
