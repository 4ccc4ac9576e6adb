"""The one place a Ray Tune ``Tuner`` is built (or restored) for a run folder."""
from __future__ import annotations

from typing import Any, Callable

from orchestrator.store.folder import RunFolder
from orchestrator.spec.sweep import SweepSpec
from trainables.contract.errors import UserError
from trainables.contract.keys import FAMILY_KEY, MODEL_KEY, RAY_DIR, REPEAT_RAY_PREFIX


def param_kinds(spec: SweepSpec) -> list[tuple[str, str]]:
    """``(name, kind)`` of every config column of the run's tables."""
    from orchestrator.search.ray_space import config_param_names
    from trainables.contract.keys import FACTOR_KEY, FACTOR_VALUE_KEY, REPEAT_KEY
    from trainables.families import get_family

    kinds: dict[str, str] = {FACTOR_KEY: "str", FACTOR_VALUE_KEY: "str", REPEAT_KEY: "str"}
    for fam in spec.families:
        for p in get_family(fam.family).all_params:
            kinds.setdefault(p.name, p.kind)
    return [(name, kinds[name]) for name in [*config_param_names(spec), REPEAT_KEY]]


def check_families(spec: SweepSpec, configs: list[dict[str, Any]]) -> None:
    """Family checks that need no worker (weights files exist ...), once per distinct config."""
    from trainables.families import get_family

    seen = set()
    for config in configs:
        key = tuple(sorted((k, str(v)) for k, v in config.items() if k != "seed"))
        if key in seen:
            continue
        seen.add(key)
        try:
            get_family(config[MODEL_KEY]).check(config)
        except UserError as e:
            raise UserError(f"{spec.source}: families.{config[FAMILY_KEY]}: {e}") from None


def trainable(spec: SweepSpec, data, cache_name: str | None, done: frozenset[str] = frozenset(),
              trial_function: Callable | None = None, continue_from: dict[str, str] | None = None):
    from ray import tune

    from trainables.training.settings import TrialSettings
    from trainables.training.trial import run_trial

    settings = TrialSettings(max_epochs=spec.scheduler.max_epochs, metric=spec.metric, mode=spec.mode,
                             max_params=spec.max_params, cpus=spec.max_resources().cpus,
                             feature_cache=cache_name, done_trials=done, continue_from=dict(continue_from or {}))
    per_family = {f.label: spec.resources_of(f.label) for f in spec.families}
    return tune.with_resources(
        tune.with_parameters(trial_function or run_trial, data=data, settings=settings),
        lambda config: {"cpu": per_family[config[FAMILY_KEY]].cpus, "gpu": per_family[config[FAMILY_KEY]].gpus})


def build_tuner(spec: SweepSpec, folder: RunFolder, trainable_fn, *, searcher, scheduler, num_samples: int,
                callbacks: list, reuse_workers: bool, ray_name: str = RAY_DIR):
    """The sweep's time budget is not Ray's ``time_budget_s`` (which starts from zero again
    in a resumed ``fit``) but ``LiveRun.budget``, which the stopper checks."""
    from ray import tune

    from orchestrator.run.live import run_stopper

    return tune.Tuner(
        trainable_fn,
        tune_config=tune.TuneConfig(
            metric=spec.metric, mode=spec.mode, search_alg=searcher, scheduler=scheduler,
            num_samples=num_samples, max_concurrent_trials=spec.max_concurrent,
            reuse_actors=reuse_workers, trial_dirname_creator=lambda trial: trial.trial_id),
        run_config=tune.RunConfig(
            name=ray_name, verbose=0, callbacks=callbacks, **folder.storage(), stop=run_stopper(),
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            # the best epoch (for the report) and, always, the latest (for resuming);
            # trials rank their checkpoints so that ties keep the first best epoch
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute="checkpoint_rank",
                                                    checkpoint_score_order="max")))


def phase_name(repeats: int) -> str:
    """Ray's experiment folder of a run's phase: the sweep (``ray``) or its n-th repeat."""
    return f"{REPEAT_RAY_PREFIX}{repeats}" if repeats else RAY_DIR


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
    from ray.train._internal.storage import get_fs_and_path

    fs, path = get_fs_and_path(folder.ray_path(ray_name), folder.storage().get("storage_filesystem"))
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


def restore_tuner(folder: RunFolder, trainable_fn, ray_name: str = RAY_DIR):
    """Ray Tune's saved experiment of one phase of the run, from where the folder is now."""
    from ray import tune

    path, fs = folder.ray_path(ray_name), folder.storage().get("storage_filesystem")
    if not tune.Tuner.can_restore(path, storage_filesystem=fs):
        raise UserError(f"{folder.location}: Ray saved no experiment state before the run stopped; start it again")
    try:
        return tune.Tuner.restore(path, trainable=trainable_fn, resume_unfinished=True, resume_errored=False,
                                  storage_filesystem=fs)
    except (ModuleNotFoundError, AttributeError) as e:
        # Ray's state pickles the searcher, scheduler and recorder by module path
        raise UserError(f"{folder.location}: Ray's saved state names code this tunefm does not have "
                        f"({e}); the run was started by another version: report and leaderboard read it, "
                        "resume it with that version") from None


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


def searcher_for(spec: SweepSpec, configs: list[dict[str, Any]]):
    """Random and grid configs are decided up front; TPE proposes as results come in."""
    if spec.search == "tpe":
        from orchestrator.search.tpe import build_tpe_searcher

        return build_tpe_searcher(spec)
    from orchestrator.search.searcher import QueueSearcher

    return QueueSearcher(configs)
