"""run_sweep's Ray Tune settings do not leak into the calling program."""
from __future__ import annotations

import os

import pytest

from orchestrator.raytune.session import TUNE_SETTINGS
from orchestrator.spec.sweep import parse_sweep


def test_tune_settings_are_set_for_the_session_only(monkeypatch):
    """Ray Tune's settings are in the environment while the session runs and gone after;
    the user's own values win, but for Tune's SIGINT handler, which stays off whatever the
    user set (it stopped fits before their first trial, leaving no state to resume)."""
    from orchestrator.raytune.session import TUNE_FORCED, tune_environment

    for key in TUNE_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "60")         # the user's own choice stays
    monkeypatch.setenv("TUNE_DISABLE_SIGINT_HANDLER", "0")
    with tune_environment():
        seen = {k: os.environ.get(k) for k in (*TUNE_SETTINGS, *TUNE_FORCED)}
    assert seen == {**TUNE_SETTINGS, "TUNE_GLOBAL_CHECKPOINT_S": "60", "TUNE_DISABLE_SIGINT_HANDLER": "1"}
    assert "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS" not in os.environ and "RAY_AIR_NEW_OUTPUT" not in os.environ
    assert os.environ["TUNE_GLOBAL_CHECKPOINT_S"] == "60" and os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "0"


def test_the_stop_watcher_sets_the_flag_again_after_fit_clears_it(monkeypatch):
    """Keras' fit() sets model.stop_training = False when it starts; a stop asked before
    that (a time budget, or between a transfer trial's phases) must still stop it."""
    import threading
    import time

    from trainables.training import runtime

    event = threading.Event()

    class Model:
        stop_training = False

    model = Model()
    with runtime.stop_training_on_request(model, event):
        event.set()
        deadline = time.monotonic() + 5
        while not model.stop_training and time.monotonic() < deadline:
            time.sleep(0.01)
        assert model.stop_training
        model.stop_training = False          # what fit() does when it starts
        deadline = time.monotonic() + 5
        while not model.stop_training and time.monotonic() < deadline:
            time.sleep(0.01)
        assert model.stop_training
    watchers = [t for t in threading.enumerate() if t.name == "tunefm-stop-watcher"]
    for t in watchers:
        t.join(2)
    assert not any(t.is_alive() for t in watchers)      # no thread left behind per trial


def test_the_embedded_ray_inherits_the_worker_settings_for_its_start_only(monkeypatch):
    """What the embedded Ray's processes copy while it starts: the workers' settings, the
    warm-up hook, the prestarted workers' import tickets and how many idle workers to keep."""
    from orchestrator.raytune.private import IDLE_WORKERS_ENV, SETUP_HOOK_ENV
    from orchestrator.raytune.session import WORKER_ENV, inherited_worker_env
    from orchestrator.raytune.worker import TICKETS_ENV

    keys = (*WORKER_ENV, SETUP_HOOK_ENV, TICKETS_ENV, IDLE_WORKERS_ENV)
    for key in keys:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(IDLE_WORKERS_ENV, "7")       # the user's own choice stays
    with inherited_worker_env("/tmp/x:2", 4):
        inside = {key: os.environ.get(key) for key in keys}
    assert inside == {**WORKER_ENV, SETUP_HOOK_ENV: "orchestrator.raytune.worker.setup", TICKETS_ENV: "/tmp/x:2",
                      IDLE_WORKERS_ENV: "7"}
    assert SETUP_HOOK_ENV not in os.environ and TICKETS_ENV not in os.environ
    assert os.environ[IDLE_WORKERS_ENV] == "7"


def test_tune_gives_trainables_no_env_of_their_own_while_fit_runs(monkeypatch):
    """Ray gives an actor a prestarted worker only when the actor has no runtime env of
    its own. Tune's tables are emptied for the block and put back after; a cluster's
    workers still get the driver's AWS_* (the embedded Ray's inherited them)."""
    from ray.tune.execution import class_cache

    from orchestrator.raytune.session import WORKER_ENV, trainables_without_env

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "tunefm-test")
    before = dict(class_cache.DEFAULT_ENV_VARS), set(class_cache.ENV_VARS_TO_PROPAGATE)
    assert before[0] and set(before[0].items()) <= set(WORKER_ENV.items())   # what Tune sets, every worker gets

    def actor_env() -> dict:
        return class_cache._ActorClassCache().get(type("T", (), {}))._default_options.get("runtime_env") or {}

    assert actor_env()["env_vars"]["AWS_ACCESS_KEY_ID"] == "tunefm-test"
    with trainables_without_env(embedded=True):
        assert actor_env() == {}
    with trainables_without_env(embedded=False):
        assert actor_env() == {"env_vars": {"AWS_ACCESS_KEY_ID": "tunefm-test"}}
    with pytest.raises(RuntimeError):
        with trainables_without_env(embedded=True):
            raise RuntimeError("Tuner.fit failed")
    assert (dict(class_cache.DEFAULT_ENV_VARS), set(class_cache.ENV_VARS_TO_PROPAGATE)) == before


def test_only_as_many_prestarted_workers_import_as_trials_can_run(tmp_path):
    from orchestrator.raytune.worker import take_ticket

    tickets = f"{tmp_path}:2"
    assert [take_ticket(tickets) for _ in range(4)] == [True, True, False, False]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0", "1"]
    assert not take_ticket(f"{tmp_path}:0")
    assert not take_ticket(f"{tmp_path / 'gone'}:2")       # the session ended and removed the folder
    assert not take_ticket("") and not take_ticket("no-count") and not take_ticket(f"{tmp_path}:x")


def test_trial_slots_count_what_fits_at_once():
    from orchestrator.raytune.session import trial_slots

    def spec(resources: str, extra: str = "") -> object:
        return parse_sweep(f"""
name: s
dataset: {{name: fashion_mnist}}
families:
  dense: {{num_samples: 1}}
  cnn: {{num_samples: 1, resources: {{cpus: 2}}}}
resources: {resources}
{extra}""", "<t>")

    assert trial_slots(spec("{cpus: 1}"), 2, None) == 2          # dense fits twice; cnn once
    assert trial_slots(spec("{cpus: 1}"), 3, None) == 3
    assert trial_slots(spec("{cpus: 4}"), 2, None) == 1          # cnn's 2 CPUs fit once
    assert trial_slots(spec("{cpus: 1}", "max_concurrent: 1"), 8, None) == 1
    # dense needs a GPU (2 fit); cnn's own resources need none (4 fit): the most of either
    assert trial_slots(spec("{cpus: 1, gpus: 1}"), 8, 2) == 4
    assert trial_slots(spec("{cpus: 1, gpus: 1}", "max_concurrent: 3"), 8, 1) == 3
    assert trial_slots(spec("{cpus: 1}"), None, None) >= 1
    assert trial_slots(spec("{cpus: 1}"), 16, None, trials=2) == 2     # no more warm workers than trials
    assert trial_slots(spec("{cpus: 1}"), 0.5, None) == 1


def test_only_configs_decided_up_front_let_tune_create_trials_ahead():
    from orchestrator.run.phase import REPEAT, SWEEP, Phase, decided_up_front
    from orchestrator.run.runner import queues_ahead

    def spec(extra: str = "") -> object:
        return parse_sweep(f"""
name: s
dataset: {{name: fashion_mnist}}
families:
  dense: {{num_samples: 4, params: {{lr: {{loguniform: [1.0e-4, 1.0e-2]}}}}}}
{extra}""", "<t>")

    def sweep(s) -> Phase:
        return Phase(SWEEP, 0, 1, total=4, up_front=decided_up_front(s))

    assert queues_ahead(spec(), sweep(spec()))                                   # random: the queue is known
    assert not queues_ahead(spec("search: tpe"), sweep(spec("search: tpe")))     # TPE proposes as results come
    assert queues_ahead(spec("search: tpe"), Phase(REPEAT, 1, 1, total=4))       # its repeat phase is a queue
    assert not queues_ahead(spec("max_concurrent: 2"), sweep(spec("max_concurrent: 2")))   # Ray queues that many
    assert not queues_ahead(spec(), Phase(SWEEP, 0, 1, total=4, restore=True))   # Ray saved its own with the run


def test_the_worker_import_refuses_left_out_modules_to_its_own_thread_only():
    import threading

    from trainables.training.warm import _LeaveOut

    finder = _LeaveOut(("sklearn",), threading.get_ident())
    with pytest.raises(ModuleNotFoundError, match="sklearn.metrics: left out"):
        finder.find_spec("sklearn.metrics", None)
    assert finder.find_spec("sklearnx", None) is None and finder.find_spec("numpy", None) is None
    other: list = []
    thread = threading.Thread(target=lambda: other.append(finder.find_spec("sklearn", None)))
    thread.start()
    thread.join()
    assert other == [None]                       # another thread's import goes on as usual


def test_a_worker_imports_keras_without_sklearn_and_matplotlib_and_still_trains():
    """A fresh interpreter, as a worker: Keras and TensorFlow import and train without
    them, and a later import of either works."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import numpy as np
        from trainables.training import warm
        keras = warm.import_keras()
        print("left", "sklearn" in sys.modules, "matplotlib" in sys.modules)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(np.zeros((8, 4)), np.zeros(8), epochs=1, verbose=0)
        import sklearn.metrics, matplotlib
        print("later", sklearn.metrics.accuracy_score([1], [1]),
              any(type(f).__name__ == "_LeaveOut" for f in sys.meta_path))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "left False False" in lines
    assert "later 1.0 False" in lines              # sklearn imports afterwards; the finder is gone


def test_ticket_folders_of_drivers_that_are_gone_are_removed(tmp_path):
    import subprocess
    import sys

    from orchestrator.raytune.session import TICKETS_PREFIX, _pid_namespace, ticket_folder

    space = _pid_namespace()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f"{TICKETS_PREFIX}{gone}.{space}-abc").mkdir()
    (tmp_path / f"{TICKETS_PREFIX}{gone}.{space}-abc" / "0").write_text("")
    kept = [f"{TICKETS_PREFIX}{os.getppid()}.{space}-def",      # a live driver's
            f"{TICKETS_PREFIX}{gone}.{space}9-ghi",               # another container's
            f"{TICKETS_PREFIX}old",                               # no process id
            f"{TICKETS_PREFIX}99999999999999999999.{space}-x",    # not a process id
            f"{TICKETS_PREFIX}\u00b2.{space}-x", "other"]
    for name in kept:
        (tmp_path / name).mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / f"{TICKETS_PREFIX}{gone}.{space}-link").symlink_to(victim)   # a link is never followed
    kept += ["victim", f"{TICKETS_PREFIX}{gone}.{space}-link"]
    new = ticket_folder(str(tmp_path))
    assert os.path.basename(new).startswith(f"{TICKETS_PREFIX}{os.getpid()}.{space}-")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + [os.path.basename(new)])


@pytest.mark.parametrize("users, expected", [(None, "false"), ("true", "true")])
def test_a_tunefm_process_leaves_gpu_memory_to_the_trials_beside_it(users, expected):
    """Under JAX a process takes 75% of a GPU at its first operation unless told not to:
    every tunefm process (driver or trial) allocates as needed, unless the user said."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
    if users is not None:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = users
    out = subprocess.run([sys.executable, "-c", "import os, trainables; print(os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'])"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == expected
