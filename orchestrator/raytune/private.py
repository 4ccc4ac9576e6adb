"""Every private Ray name tunefm uses, each behind one function: what it is for, and what
happens where a Ray upgrade moves it. ``tests/unit/test_ray_private.py`` fails when one
of them is gone, so an upgrade is a failing test, not a silent slowdown.

Nothing else in tunefm names a private Ray module, attribute or environment variable.
"""
from __future__ import annotations

import copy
import threading
from typing import Any, Callable

# --- environment variables Ray reads but does not document --------------------------------

# Ray runs this setup hook in every worker process that has it in its environment. Public
# Ray sets it only through a job's ``runtime_env``; for the embedded Ray it is put in the
# environment the local Ray processes inherit, so the idle workers Ray prestarts at
# ``ray.init`` run it too (``raytune.worker``). Without it: workers import Keras at their
# first trial (7-8 s on 2 cores before the first epoch).
SETUP_HOOK_ENV = "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"

# Ray's ``num_workers_soft_limit`` config, read by the embedded Ray's raylet: how many
# idle workers it keeps. By default that is the CPUs not reserved, and Tune reserves every
# trial's CPUs before it starts the trial's actor: the raylet then killed the prestarted,
# importing workers a second before the trial could use them. Without it: as above.
IDLE_WORKERS_ENV = "RAY_num_workers_soft_limit"

# Read by Ray when it is imported (``ray_constants``; meant for Java libraries), set by this
# package's ``__init__`` before that: without it the driver's core worker installs C++ crash
# handlers for SIGTERM (and SIGSEGV ...) and, during ``ray.shutdown``, resets them to the
# default, so for the second that shutdown takes a SIGTERM killed the command without a word
# (Python still named its own handler). With it: the command's handler sees every SIGTERM;
# C++ crash stack traces (driver and workers) are left out of Ray's logs.
NO_FAILURE_SIGNAL_HANDLER_ENV = "RAY_DISABLE_FAILURE_SIGNAL_HANDLER"

# The logger of Tune's trial controller, which logs what a callback's ``on_checkpoint``
# raised with a traceback and the trial's whole result. Without it: a refused checkpoint
# (a failed write) is also a Ray traceback on the terminal.
TUNE_CONTROLLER_LOGGER = "ray.tune.execution.tune_controller"
# The driver's logger of errors in objects nobody read (a trial's task that failed): it
# repeats such a trial's traceback once more.
RAY_WORKER_LOGGER = "ray._private.worker"
# Tune's run loop's logger: "Trials did not complete" with the trials a stopped fit left,
# or that failed (as Ray's objects, e.g. ``[run_trial_542caf29]``). Without it: a line that
# names trials by Ray's names after the recorder named each failure in its own.
TUNE_RUN_LOGGER = "ray.tune.tune"
TRIALS_INCOMPLETE_MESSAGE = "Trials did not complete"


# --- the driver -----------------------------------------------------------------------------

def trainable_env_tables() -> tuple[dict, set] | None:
    """Tune's tables of the runtime env it gives every trainable actor (``PL_DISABLE_FORK``
    and propagated ``AWS_*``): an actor gets only an idle worker whose runtime env matches,
    so no trial ran in the workers Ray prestarts (``session.trainables_without_env``).
    None where they moved: then every first trial waits for a new worker."""
    try:
        from ray.tune.execution import class_cache

        return class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE
    except (ImportError, AttributeError):
        return None


def import_fit_integrations() -> None:
    """Import what ``Tuner.fit`` imports to count its callbacks for telemetry (its logger
    integrations, MLflow's among them: 1.1-1.9 s of the driver on 2 cores), from a thread
    while Ray starts. Where it moved, ``fit`` imports them itself, as before."""
    try:
        from ray.air._internal.usage import _count_callbacks

        _count_callbacks([])
    except Exception:
        pass


def local_accelerators(resource: str = "GPU") -> int:
    """The GPUs Ray would detect on this machine (honours CUDA_VISIBLE_DEVICES), before Ray
    starts: ``ray.init(num_gpus=N)`` accepts any N without a word. 0 where it moved (and
    then ``--gpus`` is refused on a machine that has them: the error says how many)."""
    try:
        from ray._private.accelerators import get_accelerator_manager_for_resource

        return int(get_accelerator_manager_for_resource(resource).get_current_node_num_accelerators())
    except Exception:
        return 0


def move_trial_storage(trial, storage_path: str, filesystem=None) -> None:
    """Point a planned trial's storage at the run folder where it is now. Ray updates the
    trials it restores, but trials its restored search generator creates afterwards carry
    the storage pickled when the run started: after a move they fail, after a copy they
    write into the original. The storage context's class lives in ``ray.train._internal``:
    it is copied and given the new place; ``Trial.set_storage`` moves its checkpoints'
    paths too."""
    moved = copy.copy(trial.storage)
    moved.storage_fs_path = storage_path
    if filesystem is not None:
        moved.storage_filesystem = filesystem
    trial.set_storage(moved)


def trial_storage_path(trial) -> str:
    return trial.storage.storage_fs_path


def latest_checkpoint_result(trial):
    """The trial's latest checkpoint record in Ray's saved state (a ``_TrainingResult``
    with ``checkpoint`` and ``metrics``), or None."""
    return trial.run_metadata.checkpoint_manager.latest_checkpoint_result


def keep_checkpoint_results(trial, keep: Callable[[Any], bool]) -> None:
    """Drop the records ``keep`` refuses from the checkpoint manager's private list of
    checkpoints it ranks (Ray would fail deleting a gone one later), and have the trial's
    saved state rewritten."""
    manager = trial.run_metadata.checkpoint_manager
    manager._checkpoint_results = [r for r in manager._checkpoint_results if keep(r)]
    trial.invalidate_json_state()


def asha_rungs(scheduler) -> tuple[float | None, list[tuple[int, dict]]]:
    """ASHA's sign of the metric and its rungs, (milestone, trial id -> recorded value),
    over its brackets: ``tunefm extend`` seeds them with earlier trials' results. (None, [])
    where they moved: nothing is seeded, and the extension's note says so."""
    op = getattr(scheduler, "_metric_op", None)
    rungs = [(milestone, recorded) for bracket in (getattr(scheduler, "_brackets", None) or [])
             for milestone, recorded in getattr(bracket, "_rungs", [])]
    return op, rungs


def optuna_study(search):
    """The Optuna study inside Ray's ``OptunaSearch``: a multi-objective warm start is
    told through Optuna's own API (Ray's takes one value per point)."""
    return search._ot_study


# --- the workers ----------------------------------------------------------------------------

def trial_stop_event() -> threading.Event | None:
    """Ray Tune's stop flag for the running trial (ASHA, a time budget, a stopped fit). Ray
    has no public way for a function trainable to see it: a stop is only delivered at the
    next report. Where it moved: None, and a stopped trial ends at its next epoch's end
    instead of within a batch."""
    try:
        from ray.train._internal.session import get_session

        event = getattr(get_session(), "stop_event", None)
        return event if isinstance(event, threading.Event) else None
    except Exception:
        return None


def worker_role() -> str:
    """``"job"``: a worker started for a job's task or actor; ``"idle"``: one the embedded
    Ray prestarted before any job; ``"other"``: the driver or a spilling worker;
    ``"unknown"``: Ray's global worker moved (the hook then imports, as in a job's worker)."""
    try:
        import ray

        worker = ray._private.worker.global_worker
        if worker.mode != ray.WORKER_MODE:
            return "other"
        return "idle" if worker.current_job_id.is_nil() else "job"
    except Exception:
        return "unknown"


def leave_idle_worker(reason: str) -> None:
    """End this prestarted idle worker, as Ray's own idle-worker reaping does: Ray would
    otherwise keep it and hand it to a trial that then imports from the start. Where it
    moved, the worker idles as Ray's own would."""
    try:
        import ray

        ray._private.worker.global_worker.core_worker.drain_and_exit_worker("user", reason)
    except Exception:
        pass


# --- population-based training (Ray's PopulationBasedTraining and PB2) ------------------

PBT_EXPLOIT = "_exploit"     # PBT's step that clones a donor into a trial: tunefm runs after it


def pbt_states(scheduler) -> dict:
    """PBT's per-trial state (``_PBTTrialState``: last score, last train and perturbation
    times), keyed by Ray's ``Trial`` objects: a resumed run seeds it from the Parquet
    (``population.seed_trial``), as it seeds ASHA's rungs."""
    return scheduler._trial_state


def pbt_metric_sign(scheduler) -> float:
    """+1 where the metric is maximised, -1 where minimised: PBT's scores are signed so."""
    return float(getattr(scheduler, "_metric_op", None) or 1.0)


def pbt_interval(scheduler) -> int:
    """The population's epochs between two steps, as the scheduler was built with them."""
    return int(scheduler._perturbation_interval)


PBT_NEXT_SYNC = "_next_perturbation_sync"   # synchronous PBT's next step (``population.warm_start``)


def repoint_latest_checkpoint(trial, checkpoint) -> None:
    """Have the trial start again from ``checkpoint``: PBT's exploit step hands it the
    donor's latest checkpoint through this private record of Ray's checkpoint manager."""
    manager = trial.run_metadata.checkpoint_manager
    result = manager._latest_checkpoint_result
    manager._latest_checkpoint_result = type(result)(checkpoint=checkpoint, metrics=result.metrics)
