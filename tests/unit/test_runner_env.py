"""run_sweep's Ray Tune settings do not leak into the calling program."""
from __future__ import annotations

import os

import pytest

from trainables.contract.errors import UserError
from orchestrator.run.plans import SweepOptions, run_sweep
from orchestrator.run.session import TUNE_SETTINGS
from orchestrator.spec.sweep import parse_sweep


def test_tune_settings_are_set_for_the_call_only(tmp_path, monkeypatch):
    for key in TUNE_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "60")         # the user's own choice stays
    (tmp_path / "file").write_text("")
    spec = parse_sweep("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n", "x.yaml")
    seen = {}

    import orchestrator.run.plans as plans

    class Refusing:     # stands where the Ray session starts, inside the Ray Tune settings
        def __enter__(self):
            seen.update({k: os.environ.get(k) for k in TUNE_SETTINGS})
            raise UserError("refused")

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(plans, "_session", lambda options, address=None: Refusing())
    with pytest.raises(UserError, match="refused"):
        run_sweep(spec, SweepOptions(results_dir=str(tmp_path / "res")))
    assert seen == {**TUNE_SETTINGS, "TUNE_GLOBAL_CHECKPOINT_S": "60"}
    assert "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS" not in os.environ and "RAY_AIR_NEW_OUTPUT" not in os.environ
    assert os.environ["TUNE_GLOBAL_CHECKPOINT_S"] == "60"


def test_the_stop_watcher_sets_the_flag_again_after_fit_clears_it(monkeypatch):
    """Keras' fit() sets model.stop_training = False when it starts; a stop asked before
    that (a time budget, or between a transfer trial's phases) must still stop it."""
    import threading
    import time

    from trainables.training import runtime

    event = threading.Event()
    monkeypatch.setattr(runtime, "_stop_event", lambda: event)

    class Model:
        stop_training = False

    model = Model()
    with runtime.stop_training_on_request(model):
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
    warm-up hook, and no prestarted idle workers (Tune's trial actors never use them)."""
    from orchestrator.run.session import NO_PRESTART_ENV, SETUP_HOOK_ENV, WORKER_ENV, inherited_worker_env

    for key in (*WORKER_ENV, *NO_PRESTART_ENV, SETUP_HOOK_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAY_prestart_worker_first_driver", "1")       # the user's own choice stays
    with inherited_worker_env():
        inside = {key: os.environ.get(key) for key in (*WORKER_ENV, *NO_PRESTART_ENV, SETUP_HOOK_ENV)}
    assert inside == {**WORKER_ENV, "RAY_enable_worker_prestart": "0", "RAY_prestart_worker_first_driver": "1",
                      SETUP_HOOK_ENV: "trainables.training.warm.setup"}
    assert "RAY_enable_worker_prestart" not in os.environ and SETUP_HOOK_ENV not in os.environ
    assert os.environ["RAY_prestart_worker_first_driver"] == "1"
