"""The notebook API's arguments follow the CLI's rules: bad input is one ``UserError``
with one line naming the argument, before anything is created (no raw ValueError,
TypeError or KeyError, no run folder named None, no finished run of 0 trials)."""
from __future__ import annotations

import numpy as np
import pytest

from orchestrator import api
from tests.unit.test_run_folder import make_run
from trainables.contract.errors import UserError

SWEEP = {"name": "x", "dataset": {"name": "fashion_mnist", "train_size": 300, "val_size": 100},
         "families": {"dense": {"params": {"lr": np.float64(1e-3), "units": np.int64(32),
                                           "dropout": {"uniform": [np.float32(0.0), 0.25]}}}}}


def test_a_dict_with_numpy_scalars_is_a_sweep():
    spec, _ = api.load_spec(SWEEP)
    space = spec.family("dense").space
    assert space["lr"].value == 0.001 and space["units"].value == 32 and space["dropout"].high == 0.25


@pytest.mark.parametrize("arguments, message", [
    ({"num_samples": -1}, "num_samples: must be a whole number from 1 to 100000, got -1"),
    ({"num_samples": 0}, "num_samples: must be a whole number from 1 to 100000, got 0"),
    ({"max_epochs": 2.5}, "max_epochs: must be a whole number from 1 to 10000, got 2.5"),
    ({"max_epochs": "3"}, "max_epochs: must be a whole number from 1 to 10000, got '3'"),
    ({"max_epochs": True}, "max_epochs: must be a whole number from 1 to 10000, got True"),
    ({"cpus": -1}, "cpus: must be a number above 0, got -1"),
    ({"gpus": -0.5}, "gpus: must be a number of at least 0, got -0.5"),
    ({"results": None}, "results: must be a folder's path (or a URI), got None"),
    ({"results": "  "}, "results: must be a folder's path (or a URI), got '  '"),
    ({"name": 5}, "name: must be a string (the run folder's name), got 5"),
])
def test_bad_sweep_arguments_are_one_line_and_create_nothing(tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as err:
        api.sweep(SWEEP, **{"results": str(tmp_path / "res"), **arguments})
    assert str(err.value) == message
    assert list(tmp_path.iterdir()) == []               # no results folder, no ./None/


def test_bad_reading_arguments_are_one_line(tmp_path):
    run = api.open_run(make_run(tmp_path / "run"))
    with pytest.raises(UserError, match="metric: 'bogus' is not one of val_accuracy, val_loss"):
        run.leaderboard(metric="bogus")
    with pytest.raises(UserError, match=r"family 'nope': no such family in this run \(families: dense\)"):
        run.leaderboard(family="nope")
    assert list(run.leaderboard(family="dense")["trial_id"]) == ["a", "b"]
    with pytest.raises(UserError, match="out: must be a folder's path"):
        run.export(None)
    for formats in (None, (), [], ["keras", 3]):
        with pytest.raises(UserError, match="formats: give one or more of keras, savedmodel, onnx, tflite"):
            run.export(tmp_path / "out", formats=formats)
    with pytest.raises(UserError, match="formats: 'k' is not one of"):
        run.export(tmp_path / "out", formats=["k"])
