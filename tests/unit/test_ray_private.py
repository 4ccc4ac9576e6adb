"""Every private Ray name tunefm uses (``orchestrator.raytune.private``) still exists in the
installed Ray: an upgrade that moves one fails here, by name, instead of silently making
workers import late, stops wait a whole epoch, or resumes fail."""
from __future__ import annotations

import importlib
import inspect
import logging
import threading
from pathlib import Path

import pytest

from orchestrator.raytune import private


def ray_file(*parts: str) -> Path:
    import ray

    return Path(ray.__file__).parent.joinpath(*parts)


def test_the_setup_hook_variable_is_the_one_ray_reads():
    from ray._private import ray_constants

    assert ray_constants.WORKER_PROCESS_SETUP_HOOK_ENV_VAR == private.SETUP_HOOK_ENV


def test_the_idle_worker_setting_is_a_config_the_raylet_knows():
    name = private.IDLE_WORKERS_ENV.removeprefix("RAY_").encode()
    assert name in ray_file("_raylet.so").read_bytes()


def test_the_loggers_filtered_are_the_ones_ray_logs_with():
    for name in (private.TUNE_CONTROLLER_LOGGER, private.RAY_WORKER_LOGGER, private.TUNE_RUN_LOGGER):
        module = importlib.import_module(name)
        assert module.logger is logging.getLogger(name), name


def test_tunes_trainable_env_tables_are_there():
    tables = private.trainable_env_tables()
    assert tables is not None
    default, propagate = tables
    assert isinstance(default, dict) and isinstance(propagate, set)


def test_the_callback_counter_fit_imports_with_is_there():
    from ray.air._internal import usage

    assert callable(usage._count_callbacks)


def test_the_accelerator_manager_answers_before_ray_starts():
    from ray._private.accelerators import get_accelerator_manager_for_resource

    assert hasattr(get_accelerator_manager_for_resource("GPU"), "get_current_node_num_accelerators")
    assert isinstance(private.local_accelerators(), int)


def test_a_trials_storage_and_checkpoint_records_are_where_they_are_read():
    from ray.train._internal.checkpoint_manager import _CheckpointManager
    from ray.train._internal.storage import StorageContext
    from ray.tune.experiment import Trial

    assert "storage_fs_path" in inspect.signature(StorageContext.__init__).parameters or \
        "storage_fs_path" in inspect.getsource(StorageContext)
    assert callable(Trial.set_storage) and callable(Trial.invalidate_json_state)
    manager = _CheckpointManager(checkpoint_config=None)
    assert manager._checkpoint_results == [] and manager.latest_checkpoint_result is None


def test_ashas_rungs_are_where_extend_seeds_them():
    from ray.tune.schedulers import AsyncHyperBandScheduler

    asha = AsyncHyperBandScheduler(time_attr="training_iteration", max_t=9, grace_period=1, reduction_factor=3,
                                   metric="val_accuracy", mode="max")
    op, rungs = private.asha_rungs(asha)
    assert op == 1.0 and [milestone for milestone, _ in rungs] == [9, 3, 1]
    assert all(isinstance(recorded, dict) for _, recorded in rungs)


def test_the_optuna_study_of_rays_searcher():
    pytest.importorskip("optuna")
    from ray.tune.search.optuna import OptunaSearch

    import optuna

    search = OptunaSearch(space={"x": optuna.distributions.FloatDistribution(0.0, 1.0)}, metric="val_accuracy",
                          mode="max")
    assert isinstance(private.optuna_study(search), optuna.Study)


def test_a_trials_stop_flag_is_on_its_session():
    from ray.train._internal import session

    assert callable(session.get_session)
    assert "self.stop_event = threading.Event()" in inspect.getsource(session._TrainSession)
    assert private.trial_stop_event() is None            # outside a trial: no session


def test_the_worker_and_its_drain_are_where_the_hook_reads_them():
    import ray

    worker = ray._private.worker.global_worker
    assert hasattr(worker, "mode") and hasattr(ray, "WORKER_MODE")
    assert "drain_and_exit_worker" in ray_file("_raylet.pyi").read_text() or \
        b"drain_and_exit_worker" in ray_file("_raylet.so").read_bytes()
    assert private.worker_role() == "other"             # this process: a driver-less test
    assert isinstance(threading.main_thread(), threading.Thread)


def test_no_other_module_names_a_private_ray_module():
    """The adapter's rule, held against the code: ``ray._private``, ``ray.*._internal`` and
    the underscore attributes read above appear in private.py alone."""
    root = Path(__file__).parents[2]
    patterns = ("ray._private", "ray.tune.tune\"", "._internal", "._checkpoint_results", "._ot_study", '"_brackets"', '"_rungs"',
                '"_metric_op"', "._trial_state", "._perturbation_interval",
                "._latest_checkpoint_result", "global_worker", "__RAY_", "RAY_num_")
    found = []
    for path in [*root.glob("orchestrator/**/*.py"), *root.glob("trainables/**/*.py")]:
        if path.name == "private.py":
            continue
        text = path.read_text()
        found += [f"{path.relative_to(root)}: {p}" for p in patterns if p in text]
    assert not found, found


def test_the_incomplete_trials_line_filtered_is_the_one_tune_logs():
    assert f'"{private.TRIALS_INCOMPLETE_MESSAGE}: %s"' in ray_file("tune", "tune.py").read_text()


def test_the_failure_handler_switch_is_one_ray_reads_from_the_environment():
    source = ray_file("_private", "ray_constants.py").read_text()
    assert f'"{private.NO_FAILURE_SIGNAL_HANDLER_ENV}"' in source
    assert private.NO_FAILURE_SIGNAL_HANDLER_ENV.encode() in ray_file("_raylet.so").read_bytes()


def test_pbts_private_state_and_exploit_step_are_where_the_population_reads_them():
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.schedulers.pb2 import PB2
    from ray.tune.experiment import Trial

    pbt = PopulationBasedTraining(time_attr="epoch", metric="val_accuracy", mode="max", perturbation_interval=2,
                                  hyperparam_mutations={"lr": [0.1, 0.01]}, synch=True)
    assert private.pbt_states(pbt) == {} and private.pbt_interval(pbt) == 2
    assert getattr(pbt, private.PBT_NEXT_SYNC) == 2
    for cls in (PopulationBasedTraining, PB2):
        assert callable(getattr(cls, private.PBT_EXPLOIT))
        assert list(inspect.signature(getattr(cls, private.PBT_EXPLOIT)).parameters)[1:] == \
            ["tune_controller", "trial", "trial_to_clone"]
    trial = Trial("t", config={}, trial_id="x", stub=True)
    manager = trial.run_metadata.checkpoint_manager
    assert hasattr(manager, "_latest_checkpoint_result")
