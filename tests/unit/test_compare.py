"""compare's pure parts: what differs, anytime curves, time to a target."""
import pandas as pd

from orchestrator.report.compare import anytime_curve, data_warning, flatten, setting_differences, time_to


def test_flatten_keys_families_by_label():
    spec = {"name": "a", "families": [{"label": "cnn", "space": {"lr": 0.1}}], "tags": [1, 2]}
    assert flatten(spec) == {"name": "a", "families.cnn.space.lr": 0.1, "tags": [1, 2]}


def test_setting_differences_lists_only_what_differs():
    a = {"name": "a", "seed": 0, "source": "/x/a.yaml", "families": [{"label": "cnn", "lr": 0.1}]}
    b = {"name": "a", "seed": 1, "source": "/y/b.yaml", "families": [{"label": "cnn", "lr": 0.1},
                                                                   {"label": "dense", "lr": 0.2}]}
    diff = setting_differences({"A": a, "B": b})
    assert diff["setting"].tolist() == ["families.dense.lr", "seed"]
    assert diff.set_index("setting").loc["families.dense.lr"].tolist() == ["(absent)", "0.2"]


def test_anytime_curve_and_time_to_target():
    t0 = pd.Timestamp("2026-01-01T00:00:00Z")
    m = pd.DataFrame({"trial_id": list("abab"), "wall_time": [t0 + pd.Timedelta(seconds=s) for s in (30, 10, 20, 40)],
                      "val_accuracy": [0.5, 0.6, 0.7, None], "val_loss": [1.0, 0.8, 0.9, 0.5]})
    acc = anytime_curve(m, "val_accuracy", "max", t0)
    assert acc["seconds"].tolist() == [10, 20, 30] and acc["best"].tolist() == [0.6, 0.7, 0.7]
    assert acc["epochs"].tolist() == [1, 2, 3]
    loss = anytime_curve(m, "val_loss", "min", t0)
    assert loss["best"].tolist() == [0.8, 0.8, 0.8, 0.5]
    assert time_to(acc, 0.65, "max") == 20 and time_to(acc, 0.9, "max") is None
    assert time_to(loss, 0.6, "min") == 40


def test_compare_refuses_a_run_named_twice_and_the_api_refuses_odd_arguments():
    import pytest

    from orchestrator import api
    from orchestrator.report.compare import compare
    from trainables.contract.errors import UserError

    with pytest.raises(UserError, match="a run folder is named twice"):
        compare(["results/x", "results/./x"])
    with pytest.raises(UserError, match="got int"):
        api.sweep(42)
    with pytest.raises(UserError, match="got NoneType"):
        api.open_run(None)


def test_runs_on_different_data_are_compared_with_a_warning():
    differences = setting_differences({"a": {"dataset": {"name": "mnist", "train_size": 100}, "seed": 1},
                                       "b": {"dataset": {"name": "mnist", "train_size": 900}, "seed": 2}})
    assert data_warning(differences).startswith("the runs are on different data (dataset.train_size): ")
    assert data_warning(setting_differences({"a": {"seed": 1}, "b": {"seed": 2}})) is None
    assert data_warning(setting_differences({"a": {"seed": 1}, "b": {"seed": 1}})) is None
