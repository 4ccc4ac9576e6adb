"""Who enters the race, what each round trains, and what the race ships (search/race.py),
on trials tables written as the recorder writes them."""
from __future__ import annotations

import pandas as pd

from orchestrator.search import race
from orchestrator.spec.sweep import parse_sweep
from orchestrator.store import schema as S

SPEC = parse_sweep("name: s\ndataset: {name: fashion_mnist}\nfamilies: {dense: {num_samples: 4}}\n"
                   "decide: {candidates: 3, resplit: 4, equivalence: 0.002}\n", "s.yaml")


def table(rows: list[dict]) -> pd.DataFrame:
    base = {S.FAMILY: "dense", S.MODEL: "dense", S.STATUS: "completed", "epochs": 5, "params": 1000,
            "train_seconds": 10.0, "config_lr": 0.001, "config_seed": 1}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_the_leader_the_runner_up_and_those_whose_interval_reaches_the_leader_enter():
    trials = table([{S.TRIAL_ID: "a", "best_metric": 0.900}, {S.TRIAL_ID: "b", "best_metric": 0.899},
                    {S.TRIAL_ID: "c", "best_metric": 0.895}, {S.TRIAL_ID: "d", "best_metric": 0.700},
                    {S.TRIAL_ID: "e", "best_metric": 0.950, S.STATUS: "early_stopped"}])
    # 2,000 validation images: 0.895's Wilson interval reaches 0.900, 0.700's does not; an
    # early-stopped trial says little of where it would have ended
    assert race.candidates(trials, "val_accuracy", "max", 4, 2000) == ["a", "b", "c"]
    assert race.candidates(trials, "val_accuracy", "max", 2, 2000) == ["a", "b"]
    # repeats of a configuration count as its runs: its mean decides
    repeats = pd.concat([trials, table([{S.TRIAL_ID: "b2", "best_metric": 0.850, "config_repeat_of": "b"}])])
    assert race.candidates(repeats, "val_accuracy", "max", 4, 2000)[:2] == ["a", "c"]
    lower = table([{S.TRIAL_ID: "a", "best_metric": 0.30}, {S.TRIAL_ID: "b", "best_metric": 0.25}])
    assert race.candidates(lower, "val_loss", "min", 4, None) == ["b", "a"]


def test_every_candidate_of_a_round_gets_the_same_new_seed_and_fold():
    trials = table([{S.TRIAL_ID: "a", "best_metric": 0.9, "config_lr": 0.001},
                    {S.TRIAL_ID: "b", "best_metric": 0.8, "config_lr": 0.01}])
    plan = race.plan(trials, ["a", "b"], SPEC)
    r0a, r0b, r1a = plan.trial_config("a", 0), plan.trial_config("b", 0), plan.trial_config("a", 1)
    assert r0a["seed"] == r0b["seed"] != r1a["seed"] and r0a["seed"] not in (1,)
    assert (r0a["fold"], r0a["folds"], r1a["fold"]) == (0, 4, 1) and plan.trial_config("a", 5)["fold"] == 1
    assert (r0a["race_of"], r0a["race_round"], r0a["lr"], r0b["lr"]) == ("a", 0, 0.001, 0.01)
    assert r0a["family"] == "dense" and r0a["model"] == "dense"


def test_the_verdict_and_the_run_shipped_come_from_the_race_runs():
    rows = [{S.TRIAL_ID: "a", "best_metric": 0.90}, {S.TRIAL_ID: "b", "best_metric": 0.89}]
    for r in range(6):
        rows.append({S.TRIAL_ID: f"a{r}", "best_metric": 0.900 + 0.001 * (r % 3), "config_race_of": "a",
                     "config_race_round": r})
        rows.append({S.TRIAL_ID: f"b{r}", "best_metric": 0.880 + 0.001 * (r % 2), "config_race_of": "b",
                     "config_race_round": r, "params": 500})
    rows.append({S.TRIAL_ID: "a9", "best_metric": None, "config_race_of": "a", "config_race_round": 9,
                 S.STATUS: "failed"})
    trials = table(rows)
    assert race.entered(trials) == ["a", "b"]
    assert race.scores(trials)["a"] == {r: 0.900 + 0.001 * (r % 3) for r in range(6)}      # the failed run: none
    found = race.finding(trials, SPEC, location="results/s/r")
    assert found.verdict.kind == "settled" and found.chosen == "a" and found.why == "the race's winner"
    # the run with the median of a's six scores (0.900, 0.901, 0.902 twice each): the third best
    assert found.run in ("a1", "a4") and "median validation score of its 6 race runs" in found.run_why
    assert found.line.startswith("settled: a beats b by ") and "race cost 130 s of training, 65 epochs, 13 runs" \
        in found.line
    assert list(found.rounds.columns) == ["a", "b"] and len(found.rounds) == 6


def test_a_tie_ships_the_stated_preference():
    rows = [{S.TRIAL_ID: "a", "best_metric": 0.9, "params": 9000}, {S.TRIAL_ID: "b", "best_metric": 0.9, "params": 500}]
    assert race.tie_pick(table(rows), ("a", "b"), "params") == ("b", "the fewest parameters of the tied (500)")
    assert race.tie_pick(table(rows), ("a", "b"), "latency_ms", {"a": 0.3, "b": 0.9})[0] == "a"
    pick, why = race.tie_pick(table(rows), ("a", "b"), "latency_ms", {"a": 0.3})      # b not measured
    assert pick == "b" and "no latency measured for every one of them" in why


def test_no_race_without_race_runs():
    trials = table([{S.TRIAL_ID: "a", "best_metric": 0.9}])
    assert race.finding(trials, SPEC) is None and race.entered(trials) == [] and race.cost(trials) == (0.0, 0, 0)


def test_the_searcher_proposes_round_after_round_one_ahead_and_ends_when_decided():
    """Proposals run one round ahead of the last round every candidate still in the race
    finished; a candidate shown worse gets no new round; a decided race ends the search."""
    from ray.tune.search import Searcher

    from orchestrator.lifecycle.stop import Stop
    from orchestrator.ranking.race import RaceRule
    from orchestrator.raytune.fit import Fit, bound
    from orchestrator.raytune.race import RaceSearcher
    from orchestrator.store.ledger import Ledger
    from trainables.contract.records import EpochReport

    trials = table([{S.TRIAL_ID: "a", "best_metric": 0.9}, {S.TRIAL_ID: "b", "best_metric": 0.8}])
    plan = race.plan(trials, ["a", "b"], SPEC)
    searcher = RaceSearcher(plan, RaceRule(max_rounds=10), "max", max_trials=40)
    ledger = Ledger("r", "val_accuracy", "max", 1)

    class Recorder:
        pass

    recorder = Recorder()
    recorder.ledger = ledger
    done = 0

    def finish(config: dict, score: float) -> None:
        nonlocal done
        tid = f"t{done}"
        done += 1
        ledger.start(tid, config)
        ledger.result(tid, config, EpochReport(epoch=1, val_accuracy=score).to_dict())
        ledger.complete(tid, False)

    with bound(Fit({"storage_path": "/x"}, Stop(), recorder)):
        first = [searcher.suggest(f"s{i}") for i in range(4)]
        assert [(c["race_of"], c["race_round"]) for c in first] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
        assert searcher.suggest("s4") is None                # round 2 waits for round 0 to end
        for config in first:
            finish(config, 0.90 + 0.001 * config["race_round"] if config["race_of"] == "a"
                   else 0.85 + 0.0007 * config["race_round"])
        rounds = []
        while (config := searcher.suggest("s")) not in (None, Searcher.FINISHED):
            rounds.append((config["race_of"], config["race_round"]))
            finish(config, 0.90 + 0.001 * (config["race_round"] % 3) if config["race_of"] == "a"
                   else 0.85 + 0.0007 * config["race_round"])
        assert config == Searcher.FINISHED                   # settled: a is better in every round
        assert rounds[:2] == [("a", 2), ("b", 2)] and len(rounds) <= 2 * 8


def test_what_the_winner_is_its_searched_values_and_its_settings_off_the_defaults():
    from orchestrator.search.row_config import what_was_chosen
    from trainables.families import get_family

    spec = parse_sweep("name: s\ndataset: {name: fashion_mnist}\nfamilies:\n  small:\n    family: cnn\n"
                       "    params: {lr: {loguniform: [1.0e-4, 1.0e-2]}, filters: {choice: [8, 16]}, blocks: 1,"
                       " dropout: 0.0}\n", "s.yaml")
    config = {**get_family("cnn").defaults(), "lr": 0.003, "filters": 16, "blocks": 1, "seed": 7}
    chosen, changed = what_was_chosen(config, spec, "small")
    assert chosen == {"lr": 0.003, "filters": 16}
    assert changed == {"blocks": 1}             # dropout 0.0 is the default: not said; the seed is no setting
    assert what_was_chosen(config, spec, "other") == ({}, {})
