"""Who trained each epoch of a PBT member's weights, and the schedule a repeat replays."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from orchestrator.ranking import lineage
from orchestrator.search.replay import rerun_config
from trainables.contract.errors import UserError
from trainables.training.replay import spans, steps_of

# a copies b's epoch 2; c copies a's epoch 4 (so c's weights at 6: b 1-2, a 3-4, c 5-6)
ROWS = [("a", 1, None, None, 0.01, 0.1), ("a", 2, None, None, 0.01, 0.1), ("a", 3, "b", 2, 0.012, 0.2),
        ("a", 4, None, None, 0.012, 0.2), ("a", 5, None, None, 0.012, 0.2), ("a", 6, None, None, 0.012, 0.2),
        ("b", 1, None, None, 0.001, 0.2), ("b", 2, None, None, 0.001, 0.2), ("b", 3, None, None, 0.001, 0.2),
        ("b", 4, None, None, 0.001, 0.2), ("b", 5, None, None, 0.001, 0.2), ("b", 6, None, None, 0.001, 0.2),
        ("c", 1, None, None, 0.005, 0.3), ("c", 2, None, None, 0.005, 0.3), ("c", 3, None, None, 0.005, 0.3),
        ("c", 4, None, None, 0.005, 0.3), ("c", 5, "a", 4, 0.0096, 0.2), ("c", 6, None, None, 0.0096, 0.2)]


def metrics() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["trial_id", "epoch", "copied_from", "copied_epoch", "config_lr",
                                     "config_dropout"])
    return df.assign(family="cnn", model="cnn", config_blocks=1, config_seed=7, val_accuracy=0.5)


def test_a_schedule_follows_the_copies_back_to_the_first_epoch():
    sched = lineage.schedule(metrics(), "c", 6, ["lr", "dropout"])
    assert list(sched["trained_by"]) == ["b", "b", "a", "a", "c", "c"]
    assert list(sched["lr"]) == [0.001, 0.001, 0.012, 0.012, 0.0096, 0.0096]
    assert lineage.changes(sched, ["lr"]) == {"lr": [[1, 0.001], [3, 0.012], [5, 0.0096]]}
    assert lineage.describe(lineage.changes(sched, ["dropout"])) == ["dropout: 0.2 (from 1)"]


def test_weights_from_before_a_copy_are_the_members_own():
    sched = lineage.schedule(metrics(), "c", 4, ["lr"])
    assert list(sched["trained_by"]) == ["c"] * 4 and lineage.changes(sched, ["lr"]) == {"lr": [[1, 0.005]]}


def test_the_copies_table_and_a_broken_lineage():
    copies = lineage.copies(metrics())
    assert copies[["trial_id", "epoch", "copied_from"]].values.tolist() == [["a", 3, "b"], ["c", 5, "a"]]
    broken = metrics()[lambda m: ~((m.trial_id == "b") & (m.epoch == 1))]
    assert len(lineage.schedule(broken, "c", 6, ["lr"])) == 5          # stops where a row is missing
    assert lineage.copies(pd.DataFrame()).empty


def test_a_rerun_of_a_member_replays_its_schedule_and_says_when_it_cannot():
    m = metrics()
    trials = pd.DataFrame({"trial_id": ["c"], "family": ["cnn"], "model": ["cnn"], "best_epoch": [6],
                           "config_lr": [0.0096], "config_dropout": [0.2], "config_blocks": [1], "config_seed": [7]})
    config = rerun_config(trials, m, "c", ["lr", "dropout"])
    assert json.loads(config["schedule"]) == {"lr": [[1, 0.001], [3, 0.012], [5, 0.0096]],
                                              "dropout": [[1, 0.2]]}
    assert config["blocks"] == 1 and config["lr"] == 0.0096
    assert "schedule" not in rerun_config(trials, m, "c", [])     # not a population: its own configuration
    with pytest.raises(UserError, match="breaks off 1 epoch"):
        rerun_config(trials, m[lambda d: ~((d.trial_id == "b") & (d.epoch == 1))], "c", ["lr"])


def test_a_replay_trains_in_spans_with_the_values_in_force():
    config = {"lr": 0.0096, "dropout": 0.2, "schedule": json.dumps({"lr": [[1, 0.001], [3, 0.012], [5, 0.0096]],
                                                                    "dropout": [[1, 0.2]]})}
    parts = spans(config, 6)
    assert [(c["lr"], last) for c, last in parts] == [(0.001, 2), (0.012, 4), (0.0096, 6)]
    assert all("schedule" not in c and c["dropout"] == 0.2 for c, _ in parts)
    assert spans({"lr": 0.1}, 3) == [({"lr": 0.1}, 3)]
    with pytest.raises(ValueError, match="expected"):
        steps_of({"schedule": '{"lr": 0.1}'})
