"""The race phase with real Ray and Parquet: a sweep with a decide: block races its leaders
on new seeds until the winner is settled; a Ctrl-C in the race is resumed; an unsettled
race is extended. The trials are TF-free (benchmarks.trivial speaks the trial protocol,
with a seed-to-seed spread), so the tests are about the race, not about training.
"""
from __future__ import annotations

import os
import signal

import pytest
from ray.tune import Callback

from benchmarks.trivial import make_trivial_trial
from orchestrator.run.plans import SweepOptions, resume_sweep, run_sweep
from orchestrator.spec.sweep import parse_sweep
from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics, read_trials
from orchestrator.store.records import RunStatus
from tests.conftest import read_meta

EPOCHS = 2
NOISE = 0.002
SWEEP = """
name: race
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 300, val_size: 100}}
seed: 4
families:
  dense:
    num_samples: 4
    params: {{lr: {{choice: [1.0e-3, 3.0e-3, 0.1, 0.5]}}}}
scheduler: {{kind: fifo, max_epochs: {epochs}}}
decide: {{candidates: 3, rounds: {rounds}, equivalence: 0.001{extra}}}
"""


def sweep(idx_dir, tmp_path, rounds: int = 10, callbacks=(), trials: int | None = None):
    text = SWEEP.format(data=idx_dir, epochs=EPOCHS, rounds=rounds, extra=f", trials: {trials}" if trials else "")
    return run_sweep(parse_sweep(text, "race.yaml"),
                     SweepOptions(results_dir=str(tmp_path / "res"), progress=False, sweep_text=text,
                                  trial_function=make_trivial_trial(0.02, NOISE), extra_callbacks=callbacks))


def race_runs(run_dir):
    trials = read_trials(run_dir)
    return trials[trials["config_race_of"].notna()]


def test_a_decide_sweep_races_its_leaders_until_one_is_settled(local_ray, idx_dir, tmp_path):
    summary = sweep(idx_dir, tmp_path)
    assert summary.status == RunStatus.FINISHED and summary.phase == "race", summary.note
    assert summary.note.startswith("settled: "), summary.note
    meta = read_meta(summary.run_dir)
    assert [p["kind"] for p in meta["repeats"]] == ["race"] and meta["note"] == summary.note
    runs = race_runs(summary.run_dir)
    trials = read_trials(summary.run_dir).set_index(S.TRIAL_ID)
    # the leaders entered: lr 1e-3 is the best configuration, and it won
    winner = summary.note.split("settled: ")[1].split(" beats ")[0]
    assert float(trials.loc[winner, "config_lr"]) == pytest.approx(1e-3)
    assert (runs[S.STATUS] == S.COMPLETED).all() and (runs["epochs"] == EPOCHS).all()
    # paired: every candidate of a round ran on the same seed; a round's seed is new
    seeds = runs.groupby("config_race_round")["config_seed"].nunique()
    assert (seeds == 1).all()
    assert runs.groupby("config_race_round")["config_seed"].first().nunique() == len(seeds)
    assert not set(runs["config_seed"]) & set(trials[trials["config_race_of"].isna()]["config_seed"])
    # every (candidate, round) once, and no round of a candidate after it was out
    assert not runs.duplicated(["config_race_of", "config_race_round"]).any()
    rounds = runs.groupby("config_race_of")["config_race_round"].max()
    assert rounds[winner] == rounds.max() and rounds.min() < rounds.max() or len(rounds) == 2
    metrics = read_metrics(summary.run_dir)
    assert not metrics.duplicated([S.TRIAL_ID, S.EPOCH]).any()

    from orchestrator.report.terminal import leaderboard_text

    lines = leaderboard_text(summary.run_dir).lines
    assert lines[1].startswith(f"race: settled: {winner} beats ") and " over " in lines[1] and "ships " in lines[1]


class CtrlCAtTheFirstRaceRun(Callback):
    """Presses Ctrl-C on the driver when the race's first run reports: once (a flag file),
    since Ray restores callbacks with the run."""

    def __init__(self, flag):
        self.flag = flag

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if trial.config.get("race_of") and not self.flag.exists():
            self.flag.write_text("1")
            os.kill(os.getpid(), signal.SIGINT)


def test_a_race_stopped_by_ctrl_c_is_resumed_to_its_verdict(local_ray, idx_dir, tmp_path):
    first = sweep(idx_dir, tmp_path, callbacks=(CtrlCAtTheFirstRaceRun(tmp_path / "pressed"),))
    assert first.status == RunStatus.INTERRUPTED and first.phase == "race" and first.note == "stopped by Ctrl-C"
    assert first.exit_code == 130
    again = resume_sweep(first.location, SweepOptions(progress=False, trial_function=make_trivial_trial(0.02, NOISE)))
    assert again.status == RunStatus.FINISHED and again.phase == "race", again.note
    assert again.note.startswith(("settled: ", "tie: ", "unsettled: ")), again.note
    runs = race_runs(again.run_dir)
    assert not runs.duplicated(["config_race_of", "config_race_round"]).any()
    assert (runs[S.STATUS] == S.COMPLETED).all()
    assert not read_metrics(again.run_dir).duplicated([S.TRIAL_ID, S.EPOCH]).any()


def test_an_unsettled_race_is_extended_for_more_rounds(local_ray, idx_dir, tmp_path):
    from orchestrator.run.extend import extend_race
    from trainables.contract.errors import UserError

    first = sweep(idx_dir, tmp_path, trials=6)            # two rounds of three: its run budget ends it
    assert first.status == RunStatus.FINISHED and first.note.startswith("unsettled: "), first.note
    before = race_runs(first.run_dir)
    assert len(before) == 6 and before["config_race_round"].max() >= 1
    more = extend_race(first.location, rounds=8, options=SweepOptions(
        progress=False, trial_function=make_trivial_trial(0.02, NOISE)))
    assert more.status == RunStatus.FINISHED and more.phase == "race", more.note
    after = race_runs(more.run_dir)
    assert set(after["config_race_of"]) == set(before["config_race_of"])           # the same candidates
    assert after["config_race_round"].max() > before["config_race_round"].max() and not after.duplicated(["config_race_of", "config_race_round"]).any()
    assert [p["kind"] for p in read_meta(more.run_dir)["repeats"]] == ["race", "race"]
    if more.note.startswith(("settled", "tie")):
        with pytest.raises(UserError, match="the race is decided already"):
            extend_race(first.location, rounds=2, options=SweepOptions(progress=False,
                                                                      trial_function=make_trivial_trial(0.02, NOISE)))


def test_a_race_too_short_to_ever_settle_is_refused_before_it_runs(idx_dir, tmp_path):
    """Four rounds of three candidates: the race ran to its end and could only say 'unsettled'."""
    from trainables.contract.errors import UserError

    with pytest.raises(UserError, match=r"race.yaml: decide.rounds: 4 round\(s\) can never settle a race of 3 "
                                        r"candidates at alpha 0.05: its test needs 5"):
        sweep(idx_dir, tmp_path, rounds=4)
    assert not (tmp_path / "res").exists()


class CtrlCAsTheRaceBegins(Callback):
    """Ctrl-C as the race's fit sets up, before it has proposed a run (the second fit)."""

    def __init__(self, flag):
        self.flag = flag

    def setup(self, **info):
        fits = int(self.flag.read_text()) if self.flag.exists() else 0
        self.flag.write_text(str(fits + 1))
        if fits == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_a_stop_before_the_races_first_run_leaves_it_to_resume_not_finished(local_ray, idx_dir, tmp_path):
    """It ended 'finished (no race ran)', and resume said there was nothing to resume."""
    first = sweep(idx_dir, tmp_path, callbacks=(CtrlCAsTheRaceBegins(tmp_path / "fits"),))
    assert first.status == RunStatus.INTERRUPTED and first.phase == "race", first.note
    assert first.exit_code == 130 and race_runs(first.run_dir).empty
    again = resume_sweep(first.location, SweepOptions(progress=False, trial_function=make_trivial_trial(0.02, NOISE)))
    assert again.status == RunStatus.FINISHED and again.phase == "race", again.note
    assert again.note.startswith(("settled: ", "tie: ", "unsettled: ")), again.note
    assert not race_runs(again.run_dir).empty


def test_rounds_a_time_budget_cut_short_are_run_again_by_the_next_race_phase(local_ray, idx_dir, tmp_path):
    """A race run stopped by the race's time budget counted as its round's result: the
    round was never run again, and the race could not reach its rounds."""
    from orchestrator.run.extend import extend_race

    text = SWEEP.format(data=idx_dir, epochs=EPOCHS, rounds=10, extra=", seconds: 6")
    first = run_sweep(parse_sweep(text, "race.yaml"),
                      SweepOptions(results_dir=str(tmp_path / "res"), progress=False, sweep_text=text,
                                   trial_function=make_trivial_trial(0.5, NOISE)))
    assert first.status == RunStatus.FINISHED, first.note
    cut = race_runs(first.run_dir)
    cut = cut[cut[S.STATUS] == S.STOPPED]
    assert len(cut), "the budget ended no run in flight: nothing to check"
    more = extend_race(first.location, rounds=5, options=SweepOptions(
        progress=False, trial_function=make_trivial_trial(0.02, NOISE)))
    assert more.status == RunStatus.FINISHED, more.note
    runs = race_runs(more.run_dir)
    completed = runs[runs[S.STATUS] == S.COMPLETED]
    for _, run in cut.iterrows():
        again = completed[(completed["config_race_of"] == run["config_race_of"])
                          & (completed["config_race_round"] == run["config_race_round"])]
        assert len(again) == 1, (run["config_race_of"], run["config_race_round"])
