"""run_sweep's Ray Tune settings do not leak into the calling program."""
from __future__ import annotations

import os

import pytest

from orchestrator.errors import UserError
from orchestrator.runner import TUNE_SETTINGS, SweepOptions, run_sweep
from orchestrator.sweep import parse_sweep


def test_tune_settings_are_set_for_the_call_only(tmp_path, monkeypatch):
    for key in TUNE_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "60")         # the user's own choice stays
    (tmp_path / "file").write_text("")
    spec = parse_sweep("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n", "x.yaml")
    seen = {}

    import orchestrator.preflight as preflight

    def refuse(results_dir, spec):
        seen.update({k: os.environ.get(k) for k in TUNE_SETTINGS})
        raise UserError("refused")

    monkeypatch.setattr(preflight, "check_results_dir", refuse)
    with pytest.raises(UserError, match="refused"):
        run_sweep(spec, SweepOptions(results_dir=str(tmp_path / "file" / "res")))
    assert seen == {**TUNE_SETTINGS, "TUNE_GLOBAL_CHECKPOINT_S": "60"}
    assert "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS" not in os.environ and "RAY_AIR_NEW_OUTPUT" not in os.environ
    assert os.environ["TUNE_GLOBAL_CHECKPOINT_S"] == "60"
