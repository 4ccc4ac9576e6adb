"""Ranking and aggregation on synthetic Parquet: ties, failed and diverged trials, empty families."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from orchestrator.store import schema as S
from trainables.contract.errors import UserError
from orchestrator.ranking.leaderboard import (OVERALL, best_scores, board, family_bests, leaderboards,
                                      select_for_evaluation)
from orchestrator.store.snapshot import read_snapshot
from orchestrator.store.folder import RunFolder
from orchestrator.store.parquet import RunStore
from tests.conftest import run_meta, trial_row

PARAMS = [("lr", "float"), ("units", "int")]


def trials_df(rows):
    base = {"params": 100, "train_seconds": 1.0, S.STATUS: S.COMPLETED, "config_lr": 0.1}
    return pd.DataFrame([{**base, **r} for r in rows])


def metrics_df(scores: dict[str, list[float]], families: dict[str, str]):
    rows = []
    for tid, values in scores.items():
        for epoch, v in enumerate(values, 1):
            rows.append({S.TRIAL_ID: tid, S.FAMILY: families[tid], S.EPOCH: epoch, "val_accuracy": v,
                         "val_loss": 1 - v if v == v else np.nan})
    return pd.DataFrame(rows)


FAMS = {"a": "dense", "b": "dense", "c": "cnn", "d": "cnn", "e": "dense", "f": "wide"}


@pytest.fixture
def boards():
    trials = trials_df([
        {S.TRIAL_ID: "a", S.FAMILY: "dense", "params": 500},
        {S.TRIAL_ID: "b", S.FAMILY: "dense", "params": 100, S.STATUS: S.EARLY_STOPPED},
        {S.TRIAL_ID: "c", S.FAMILY: "cnn", "params": 300},
        {S.TRIAL_ID: "d", S.FAMILY: "cnn", S.STATUS: S.FAILED},
        {S.TRIAL_ID: "e", S.FAMILY: "dense", S.STATUS: S.DIVERGED},
        {S.TRIAL_ID: "f", S.FAMILY: "wide", S.STATUS: S.OVER_BUDGET},
    ])
    metrics = metrics_df({"a": [0.7, 0.9, 0.8], "b": [0.9], "c": [0.6, 0.85], "e": [np.nan]}, FAMS)
    return leaderboards(trials, metrics, "val_accuracy", "max", ["config_lr"])


def test_ties_share_a_rank_and_fewer_params_come_first(boards):
    overall = board(boards)
    assert overall[S.TRIAL_ID].tolist()[:3] == ["b", "a", "c"]
    assert overall["rank"].tolist()[:3] == [1, 1, 3]
    assert overall.loc[1, "score_epoch"] == 2           # a's best epoch, not its last


def test_unscored_trials_are_listed_last_without_rank(boards):
    overall = board(boards)
    assert overall[S.TRIAL_ID].tolist()[3:] == ["d", "e", "f"]
    assert overall["rank"].iloc[3:].isna().all()
    assert overall[S.STATUS].tolist()[3:] == [S.FAILED, S.DIVERGED, S.OVER_BUDGET]


def test_family_boards_rank_within_the_family(boards):
    assert set(boards["board"]) == {OVERALL, "dense", "cnn", "wide"}
    cnn = board(boards, "cnn")
    assert cnn[S.TRIAL_ID].tolist() == ["c", "d"] and cnn["rank"].tolist()[0] == 1
    assert board(boards, "wide")["rank"].isna().all()    # a family with no completed trial


def test_family_bests_and_selection_skip_families_without_result(boards):
    assert family_bests(boards)["board"].tolist() == ["cnn", "dense"]
    assert select_for_evaluation(boards, top_k=1) == ["b", "c"]
    assert select_for_evaluation(boards, top_k=3) == ["b", "a", "c"]


def test_min_mode_and_nan_values():
    metrics = metrics_df({"a": [0.5, np.nan, 0.6], "b": [0.7, 0.7]}, {"a": "x", "b": "x"})
    best = best_scores(metrics, "val_loss", "min").set_index(S.TRIAL_ID)
    assert best.loc["a", "score"] == pytest.approx(0.4) and best.loc["a", "score_epoch"] == 3
    assert best.loc["b", "score_epoch"] == 1             # first epoch among equal values
    trials = trials_df([{S.TRIAL_ID: "a", S.FAMILY: "x"}, {S.TRIAL_ID: "b", S.FAMILY: "x"}])
    assert board(leaderboards(trials, metrics, "val_loss", "min"))[S.TRIAL_ID].tolist() == ["b", "a"]


def test_empty_run_gives_empty_board():
    assert leaderboards(pd.DataFrame(), pd.DataFrame(), "val_accuracy", "max").empty


def write_run(tmp_path, trials, metric_rows, status="running"):
    store = RunStore(tmp_path, PARAMS)
    store.write_sweep_copy("name: s\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n")
    store.write_meta(run_meta(status))
    store.append_metrics(metric_rows)
    store.flush_metrics()
    store.write_trials([trial_row(t) for t in trials])
    return tmp_path


LAGGING_ROWS = [{S.RUN_ID: "r1", S.TRIAL_ID: t, S.FAMILY: "dense", S.MODEL: "dense", S.EPOCH: e,
                 "val_accuracy": 0.1 * e} for t, n in (("a", 3), ("b", 2)) for e in range(1, n + 1)] + [
    {S.RUN_ID: "r1", S.TRIAL_ID: "new", S.FAMILY: "dense", S.MODEL: "dense", S.EPOCH: 1, "val_accuracy": 0.9}]
LAGGING_TRIALS = [{S.TRIAL_ID: "a", S.FAMILY: "dense", S.STATUS: S.RUNNING, "epochs": 2},
                  {S.TRIAL_ID: "b", S.FAMILY: "dense", S.STATUS: S.COMPLETED, "epochs": 2}]


def test_snapshot_keeps_only_rows_the_trials_table_accounts_for(tmp_path):
    folder = write_run(tmp_path, LAGGING_TRIALS, LAGGING_ROWS)
    with RunFolder(folder).lock("a live driver"):
        snap = read_snapshot(folder)
    assert snap.running and snap.status_note is None
    assert sorted(zip(snap.metrics[S.TRIAL_ID], snap.metrics[S.EPOCH])) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]


def test_snapshot_of_a_run_whose_driver_died_trusts_the_metrics(tmp_path):
    snap = read_snapshot(write_run(tmp_path, LAGGING_TRIALS, LAGGING_ROWS))   # "running", but no lock held
    assert not snap.running and snap.status.value == "interrupted" and "driver" in snap.status_note
    trials = snap.trials.set_index(S.TRIAL_ID)
    assert trials.loc["a", "epochs"] == 3 and trials.loc["new", "epochs"] == 1
    assert trials.loc["a", S.STATUS] == S.STOPPED and trials.loc["b", S.STATUS] == S.COMPLETED
    assert len(snap.metrics) == len(LAGGING_ROWS)


def test_report_of_a_run_where_every_trial_failed_is_one_line(tmp_path):
    from orchestrator.report.build import build_report

    trials = [{S.TRIAL_ID: t, S.FAMILY: "dense", S.STATUS: S.FAILED, "epochs": 0, "error": "ValueError: boom"}
              for t in ("a", "b")]
    write_run(tmp_path, trials, [], status="finished")
    with pytest.raises(UserError) as err:
        build_report(tmp_path)
    msg = str(err.value)
    assert "no trial has a validation result yet (2 failed); nothing to report; first error: ValueError: boom" in msg
    assert "\n" not in msg and not (tmp_path / "report").exists()


def test_snapshot_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(UserError, match="not a tunefm run folder"):
        read_snapshot(tmp_path)
    with pytest.raises(UserError, match="no such run folder"):
        read_snapshot(tmp_path / "nope")
    (tmp_path / "run.json").write_text(json.dumps({}))
    with pytest.raises(UserError, match=r"no sweep.yaml"):
        read_snapshot(tmp_path)
