"""The one place a Ray Tune ``Tuner`` is built (or restored) for one phase of a run."""
from __future__ import annotations

from typing import Any, Callable

from orchestrator.spec.sweep import SweepSpec
from orchestrator.store.folder import RunFolder
from trainables.contract.errors import UserError
from trainables.contract.keys import FAMILY_KEY, RAY_DIR, REPEAT_RAY_PREFIX


def trainable(spec: SweepSpec, data, cache_name: str | None, done: frozenset[str] = frozenset(),
              trial_function: Callable | None = None, continue_from: dict[str, str] | None = None,
              max_epochs: int | None = None):
    """``trial_function`` (default: tunefm's ``run_trial``) with the data, its settings (the
    trial context among them: ``raytune.trial``) and each family's resources."""
    from ray import tune

    from orchestrator.raytune.trial import RayTrialContext
    from trainables.training.settings import TrialSettings
    from trainables.training.trial import run_trial

    settings = TrialSettings(max_epochs=max_epochs or spec.scheduler.max_epochs, metric=spec.metric, mode=spec.mode,
                             max_params=spec.max_params, cpus=spec.max_resources().cpus,
                             done_trials=done, continue_from=dict(continue_from or {}),
                             context=RayTrialContext(cache_name))
    per_family = {f.label: spec.resources_of(f.label) for f in spec.families}
    return tune.with_resources(
        tune.with_parameters(trial_function or run_trial, data=data, settings=settings),
        lambda config: {"cpu": per_family[config[FAMILY_KEY]].cpus, "gpu": per_family[config[FAMILY_KEY]].gpus})


def build_tuner(spec: SweepSpec, folder: RunFolder, trainable_fn, *, searcher, scheduler, num_samples: int,
                callbacks: list, reuse_workers: bool, ray_name: str = RAY_DIR):
    """The sweep's time budget is not Ray's ``time_budget_s`` (which starts from zero again
    in a resumed ``fit``) but the fit's (``fit.FitStop``). ``callbacks``: the trackers' and
    the user's; tunefm's own (``callback.FitCallback``) comes first."""
    from ray import tune

    from orchestrator.raytune.callback import FitCallback
    from orchestrator.raytune.fit import FitStop

    return tune.Tuner(
        trainable_fn,
        tune_config=tune.TuneConfig(
            metric=spec.metric, mode=spec.mode, search_alg=searcher, scheduler=scheduler,
            num_samples=num_samples, max_concurrent_trials=spec.max_concurrent,
            reuse_actors=reuse_workers, trial_dirname_creator=lambda trial: trial.trial_id),
        run_config=tune.RunConfig(
            name=ray_name, verbose=0, callbacks=[FitCallback(scheduler), *callbacks], **folder.storage(),
            stop=FitStop(), failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            # the best epoch (for the report) and, always, the latest (for resuming);
            # trials rank their checkpoints so that ties keep the first best epoch
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute="checkpoint_rank",
                                                    checkpoint_score_order="max")))


def phase_name(phase: int) -> str:
    """Ray's experiment folder of a run's phase: the sweep (``ray``) or its n-th later phase."""
    return f"{REPEAT_RAY_PREFIX}{phase}" if phase else RAY_DIR


def restore_tuner(folder: RunFolder, trainable_fn, ray_name: str = RAY_DIR):
    """Ray Tune's saved experiment of one phase of the run, from where the folder is now.
    Every trial it does not hold as done is run on, errored ones too: the Parquet, not
    Ray's state, says what is done (the trial returns at once for those:
    ``TrialSettings.done_trials``), and a trial can error for the run's sake, not its
    own (its checkpoint could not be stored: the folder was moved away mid-sweep)."""
    from ray import tune

    path, fs = folder.ray_path(ray_name), folder.storage().get("storage_filesystem")
    if not tune.Tuner.can_restore(path, storage_filesystem=fs):
        raise UserError(f"{folder.location}: Ray saved no experiment state before the run stopped; start it again")
    try:
        return tune.Tuner.restore(path, trainable=trainable_fn, resume_unfinished=True, resume_errored=True,
                                  storage_filesystem=fs)
    except (ModuleNotFoundError, AttributeError) as e:
        # Ray's state pickles the searcher, scheduler and callback by module path
        raise UserError(f"{folder.location}: Ray's saved state names code this tunefm does not have "
                        f"({e}); the run was started by another version: report and leaderboard read it, "
                        "resume it with that version") from None


def searcher_for(spec: SweepSpec, configs: list[dict[str, Any]] | None):
    """Random and grid configs are decided up front; TPE proposes as results come in."""
    if configs is None:
        from orchestrator.raytune.tpe import build_tpe_searcher

        return build_tpe_searcher(spec)
    from orchestrator.raytune.searcher import QueueSearcher

    return QueueSearcher(configs)
