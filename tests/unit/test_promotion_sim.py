"""The replay of a sweep over recorded curves (benchmarks.promotion_sim): its clock, and
the decisions of Ray Tune's ASHA under each promotion rule."""
from __future__ import annotations

import pytest

from benchmarks.promotion_sim import Curve, Rule, cost_tilted_draw, replay, score
from benchmarks.promotions import band, simulate

NO_STOPS = Rule("fifo", grace=3)


def curve(name, val, seconds=1.0, setup=0.0, params=1000):
    return Curve(name, tuple(val), tuple([seconds] * len(val)) if isinstance(seconds, float) else tuple(seconds),
                 setup, params)


def test_one_slot_trains_trials_one_after_another():
    a, b = curve("a", [0.5, 0.6, 0.7], 2.0, setup=1.0), curve("b", [0.4, 0.5, 0.6], 1.0)
    r = replay([a, b], NO_STOPS, slots=1, seed=0)
    assert [(t, trial, epoch) for t, trial, epoch, _ in r.epochs] == [
        (3.0, "a", 1), (5.0, "a", 2), (7.0, "a", 3), (8.0, "b", 1), (9.0, "b", 2), (10.0, "b", 3)]
    assert r.wall == 10.0 and r.best == 0.7 and not r.stopped


def test_two_slots_run_side_by_side_and_a_freed_slot_takes_the_next_trial():
    a, b, c = curve("a", [0.5] * 3, 1.0), curve("b", [0.5] * 3, 3.0), curve("c", [0.5] * 3, 1.0)
    r = replay([a, b, c], NO_STOPS, slots=2, seed=0)
    ends = {(trial, epoch): t for t, trial, epoch, _ in r.epochs}
    assert ends[("a", 3)] == 3.0 and ends[("c", 1)] == 4.0     # c starts when a's slot frees
    assert ends[("b", 3)] == 9.0 and r.wall == 9.0
    assert [t for t, *_ in r.epochs] == sorted(t for t, *_ in r.epochs)


def test_asha_stops_a_trial_below_the_rung_and_keeps_the_first():
    first, worse, better = curve("first", [0.8, 0.85, 0.9]), curve("worse", [0.7, 0.9, 0.95]), \
        curve("better", [0.82, 0.86, 0.91])
    r = replay([first, worse, better], Rule("asha", grace=1, reduction=3), slots=1, seed=0)
    assert r.stopped == ("worse",)       # below the cutoff of rung 1 (the first trial's 0.8)
    assert [e for _, trial, e, _ in r.epochs if trial == "worse"] == [1]
    assert r.best == 0.91                 # its 0.95 at epoch 3 is never seen
    assert replay([first, worse, better], NO_STOPS, slots=1, seed=0).best == 0.95


def test_accuracy_per_cost_stops_a_slow_trial_that_plain_accuracy_keeps():
    cheap, slow = curve("cheap", [0.80, 0.85, 0.9], 1.0), curve("slow", [0.81, 0.88, 0.92], 8.0)
    assert replay([cheap, slow], Rule("asha"), slots=1, seed=0).stopped == ()
    assert replay([cheap, slow], Rule("per cost", cost_weight=0.03), slots=1, seed=0).stopped == ("slow",)
    assert score(slow, 1, 0.03) == pytest.approx(0.81 / 8.0 ** 0.03)
    assert score(slow, 1, 0.0) == 0.81


def test_time_rungs_compare_trials_after_the_same_training_seconds():
    # rung at 2 s: the cheap trial is judged after its second epoch, the slow one after its first
    leader, cheap, slow = curve("leader", [0.80, 0.9, 0.9], 2.0), curve("cheap", [0.5, 0.85, 0.9], 1.0), \
        curve("slow", [0.79, 0.9, 0.9], 2.0)
    r = replay([leader, cheap, slow], Rule("time", clock="seconds", grace=2.0, reduction=3), slots=1, seed=0)
    assert "cheap" not in r.stopped and "slow" in r.stopped
    r = replay([leader, cheap, slow], Rule("epochs", grace=1.0, reduction=3), slots=1, seed=0)
    assert "cheap" in r.stopped


def test_first_time_is_when_an_epoch_first_reaches_the_bar():
    r = replay([curve("a", [0.5, 0.9, 0.8], 1.0, setup=0.5)], NO_STOPS, slots=1, seed=0)
    assert r.first_time(0.85) == 2.5 and r.first_time(0.95) is None
    assert r.first_start == 0.5


def test_bad_curves_and_rules_are_refused_in_one_line():
    with pytest.raises(ValueError, match="curve x: 2 accuracies for 1 epochs"):
        Curve("x", (0.5, 0.6), (1.0,))
    with pytest.raises(ValueError, match="curve y: set-up and epoch seconds must be finite"):
        Curve("y", (0.5,), (float("nan"),))
    with pytest.raises(ValueError, match="clock must be epochs or seconds"):
        Rule("r", clock="minutes")
    with pytest.raises(ValueError, match="slots must be >= 1"):
        replay([curve("a", [0.5])], NO_STOPS, slots=0, seed=0)


def test_replays_do_not_touch_numpys_global_generator():
    import numpy as np

    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    replay([curve(str(i), [0.5, 0.6, 0.7]) for i in range(4)], Rule("b", brackets=2), slots=2, seed=1)
    assert np.random.rand() == expected


def test_band_counts_never_as_infinitely_late():
    assert band([1.0, 2.0, 3.0, None, None]) == {"median": 3.0, "p10": 1.0, "p90": None}


def test_simulate_gives_every_rule_the_same_draws(monkeypatch):
    from benchmarks import promotions

    curves = [curve(str(i), [0.5 + 0.01 * i, 0.6 + 0.01 * i, 0.7 + 0.01 * i], 1.0 + i % 3) for i in range(12)]
    seen: dict[str, list] = {}

    def recording(drawn, rule, slots, seed, max_seconds=None):
        seen.setdefault(rule.name, []).append(([c.trial for c in drawn], seed, max_seconds))
        return replay(drawn, rule, slots, seed, max_seconds)

    monkeypatch.setattr(promotions, "replay", recording)
    out = simulate(curves, trials=6, max_epochs=3, bar=0.75, replays=20)
    rules = {name: d for name, d in seen.items() if "proposals" not in name}
    draws = list(rules.values())
    assert len(draws) > 1 and all(d == draws[0] for d in draws)
    assert len({tuple(order) for order, _, _ in draws[0]}) > 1      # the draws differ from replay to replay
    # the cost-tilted proposals' rows: their own draws, each replay with its uniform twin's ASHA seed
    tilted = [d for name, d in seen.items() if "proposals" in name]
    assert len(tilted) == 2 and len(out) == len(rules) + len(tilted)
    assert all([seed for _, seed, _ in d] == [seed for _, seed, _ in draws[0]] for d in tilted)
    assert all([order for order, _, _ in d] != [order for order, _, _ in draws[0]] for d in tilted)
    fifo = out["no early stopping"]
    assert fifo["epochs_trained"] == {"median": 18, "p10": 18, "p90": 18}
    assert all(s["epochs_trained"]["median"] <= 18 for s in out.values())
    with pytest.raises(SystemExit, match="12 recorded, a replay needs 20"):
        simulate(curves, trials=20, max_epochs=3, bar=0.75)


def test_the_table_has_a_row_per_rule_and_per_collected_seed():
    from benchmarks.promotions import markdown

    curves = [curve(str(i), [0.5 + 0.01 * i, 0.7 + 0.01 * i], 1.0 + i % 3) for i in range(8)]
    res = {"date": "d", "machine": {"commit": "c", "cpu": "cpu", "cores": 2}, "bar": 0.75, "curves": 8,
           "seeds": [0], "trials": 4, "replays": 5, "rules": simulate(curves, 4, 2, 0.75, replays=5),
           "fidelity": [{"seed": 0, "replay_wall_seconds": 12.0, "replay_epochs": 6, "replay_best_val": 0.8}]}
    table = markdown(res)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 2 + len(res["rules"]) + 1
    assert "| 0 | 12 | 6 | 0.8000 | n/a | n/a | n/a |" in table


def test_cost_tilted_proposals_favour_cheap_models_by_the_tilt():
    import numpy as np

    rng = np.random.default_rng(0)
    firsts = [cost_tilted_draw([1000, 16000], 1, 1.0, rng)[0] for _ in range(2000)]
    assert 0.90 < firsts.count(0) / 2000 < 0.97           # 16:1 odds, 94%
    firsts = [cost_tilted_draw([1000, 16000], 1, 0.0, rng)[0] for _ in range(2000)]
    assert 0.45 < firsts.count(0) / 2000 < 0.55           # no tilt: uniform
    drawn = cost_tilted_draw([5, 1, 9, 3], 4, 0.5, rng)
    assert sorted(drawn) == [0, 1, 2, 3]                  # without replacement
    with pytest.raises(ValueError, match="parameter counts > 0"):
        cost_tilted_draw([1000, 0], 1, 1.0, rng)


def test_cost_and_accuracy_ranks_cost_against_the_best_accuracy():
    from benchmarks.promotions import cost_and_accuracy

    rising = [curve(str(i), [0.5, 0.6 + 0.01 * i], 1.0 + i) for i in range(6)]
    out = cost_and_accuracy(rising)
    assert out["spearman"] == 1.0
    assert [t["seconds_per_epoch"] for t in out["thirds"]] == [1.5, 3.5, 5.5]
    assert [t["best_val_accuracy"] for t in out["thirds"]] == [0.605, 0.625, 0.645]
    falling = [curve(str(i), [0.5, 0.7 - 0.01 * i], 1.0 + i) for i in range(6)]
    assert cost_and_accuracy(falling)["spearman"] == -1.0


def test_a_curves_file_that_lies_stops_load_in_one_line_naming_the_line(tmp_path, monkeypatch):
    import json

    from benchmarks import promotions

    t = promotions.task()
    good = {"task": promotions.task_key(t), "seed": 0, "trial": "a", "params": 1000, "config": {},
            "setup": 1.0, "val": [0.5, 0.6], "seconds": [1.0, 1.0]}
    path = tmp_path / "curves.jsonl"
    monkeypatch.setattr(promotions, "CURVES", path)
    path.write_text(json.dumps(good) + "\n")
    assert [c.trial for _, c in promotions.load(t)] == ["a"]
    for lie, says in (({"params": 0}, "line 2: params must be a model's parameter count > 0, got 0"),
                      ({"val": [0.5, 0.6, 0.7]}, "line 2: curve b: 3 accuracies for 2 epochs"),
                      ({"seconds": ["a", "b"]}, "line 2: .*real number")):
        path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "trial": "b", **lie}) + "\n")
        with pytest.raises(SystemExit, match=says):
            promotions.load(t)
