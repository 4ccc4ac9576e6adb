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
