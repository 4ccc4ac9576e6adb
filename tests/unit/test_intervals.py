"""Validation intervals and paired tests against known answers."""
import numpy as np
import pytest

from orchestrator.report import intervals as I
from orchestrator.report import ties as T


def test_wilson_matches_the_textbook_formula():
    # Wilson (1927): centre (p + z^2/2n) / (1 + z^2/n), half-width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    k, n, z = 1695, 2000, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    got = I.wilson(k, n)
    assert got.low == pytest.approx(centre - half, abs=1e-9)
    assert got.high == pytest.approx(centre + half, abs=1e-9)
    assert got.method == "wilson"


def test_wilson_on_2000_images_is_about_1_6_points_either_side():
    got = I.accuracy_interval(0.8475, 2000)
    assert 0.015 < (got.high - got.low) / 2 < 0.017


def test_wilson_stays_inside_0_1_and_handles_all_right_or_empty():
    assert I.wilson(10, 10).high == pytest.approx(1.0)
    assert 0.6 < I.wilson(10, 10).low < 0.75           # 0.722 for n=10
    assert I.accuracy_interval(float("nan"), 100).text() == ""
    assert I.accuracy_interval(0.5, 0).text() == ""


def test_weighted_scores_agree_with_sklearn_on_the_resampled_images():
    """A weight row (how often each image was drawn) gives what sklearn gives on the
    sample with those repeats; ties in the scores count half in AUC."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 400)
    probs = rng.dirichlet(np.ones(4), 400)
    probs[np.arange(400), y] += rng.random(400)              # some signal
    probs = np.round(probs / probs.sum(axis=1, keepdims=True), 2)   # ties in the scores
    probs = probs / probs.sum(axis=1, keepdims=True)
    weights = I.resample_weights(400, seed=5, resamples=3)
    for row in weights:
        idx = np.repeat(np.arange(400), row.astype(int))
        ys, ps = y[idx], probs[idx]
        w = row[None, :]
        assert I.weighted_accuracy(y, probs, w)[0] == pytest.approx(accuracy_score(ys, ps.argmax(1)))
        assert I.weighted_macro_f1(y, probs, w)[0] == pytest.approx(
            f1_score(ys, ps.argmax(1), labels=range(4), average="macro", zero_division=0))
        assert I.weighted_macro_auc(y, probs, w)[0] == pytest.approx(
            np.mean([roc_auc_score(ys == c, ps[:, c]) for c in range(4)]))
        assert I.weighted_loss(y, probs, w)[0] == pytest.approx(log_loss(ys, ps, labels=range(4)), rel=1e-6)
    assert I.statistic_for("val_auc")(y, probs) == pytest.approx(
        np.mean([roc_auc_score(y == c, probs[:, c]) for c in range(4)]))


def test_bootstrap_is_seeded_and_covers_the_point_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    probs = rng.dirichlet(np.ones(3), 300)
    probs[np.arange(300), y] += 0.5
    a = I.score_interval("val_macro_f1", y, probs, seed=7)
    b = I.score_interval("val_macro_f1", y, probs, seed=7)
    c = I.score_interval("val_macro_f1", y, probs, seed=8)
    assert a == b and a != c and a.method == "bootstrap"
    point = I.statistic_for("val_macro_f1")(y, probs)
    assert a.low < point < a.high and a.high - a.low < 0.2
    auc = I.score_interval("val_auc", y, probs, seed=7)
    assert auc.low < I.statistic_for("val_auc")(y, probs) < auc.high


def test_mcnemar_exact_known_answers():
    # 10 discordant images for A, 2 for B: p = 2 * P(X <= 2 | n=12, 1/2) = 2 * 79 / 4096
    a = np.array([True] * 10 + [False] * 2 + [True] * 50)
    b = np.array([False] * 10 + [True] * 2 + [True] * 50)
    assert T.mcnemar_exact(a, b) == (10, 2, pytest.approx(158 / 4096))
    assert T.mcnemar_exact(a, a)[2] == 1.0                     # no discordant image
    # 5 against 5: as even as it gets
    even = np.array([True] * 5 + [False] * 5)
    assert T.mcnemar_exact(even, ~even)[2] == pytest.approx(1.0)


def test_compare_calls_a_tie_and_a_lead():
    rng = np.random.default_rng(1)
    n = 2000
    y = rng.integers(0, 10, n)

    def model(acc, seed):
        r = np.random.default_rng(seed)
        right = r.random(n) < acc
        pred = np.where(right, y, (y + 1 + r.integers(0, 9, n)) % 10)
        return np.eye(10)[pred] * 0.9 + 0.01

    probs = {"a": model(0.85, 1), "b": model(0.849, 2), "c": model(0.70, 3)}
    tests = T.compare(y, probs, [("a", 1), ("b", 2), ("c", 3)], "val_accuracy")
    by = {t.other: t for t in tests}
    assert by["b"].tied and by["b"].test == "McNemar exact"
    assert not by["c"].tied and by["c"].p_value < 1e-6
    assert T.tied_group(tests) == {"a", "b"}
    assert T.headline(tests).startswith("#1 (a) and #2 (b) are tied on validation (McNemar exact, p=")
    boot = T.compare(y, probs, [("a", 1), ("c", 2)], "val_macro_f1")
    assert boot[0].test == "paired bootstrap" and not boot[0].tied
    assert "is ahead of #2 (c)" in T.headline(boot) and "p<0.001" in T.headline(boot)


def test_compare_skips_trials_without_predictions():
    y = np.array([0, 1])
    assert T.compare(y, {"a": np.eye(2)}, [("a", 1), ("b", 2)], "val_accuracy") == []
    assert "no paired test" in T.headline([])


def test_pareto_front_by_hand():
    import pandas as pd

    from orchestrator.report.pareto import pareto_front

    t = pd.DataFrame({"score": [0.90, 0.88, 0.91, 0.85, 0.88, None],
                      "params": [1000, 200, 5000, 100, 300, 50]})
    assert pareto_front(t, "score", "params", "max").tolist() == [True, True, True, True, False, False]
    loss = t.assign(score=1 - t["score"])
    assert pareto_front(loss, "score", "params", "min").tolist() == [True, True, True, True, False, False]


def test_budget_parsing_and_best_within():
    import pandas as pd

    from orchestrator.report.pareto import best_within, parse_budget
    from trainables.contract.errors import UserError

    t = pd.DataFrame({"id": list("abcd"), "score": [0.91, 0.90, 0.88, 0.80],
                      "params": [9000, 6900, 7000, 100], "ms_per_image_batch1": [1.0, 3.0, 1.5, None],
                      "ms_per_image_batch256": [0.1, 0.2, 0.1, None]})
    assert best_within(t, parse_budget("params=7000"), "score", "max")["id"] == "b"
    assert best_within(t, parse_budget("params=7000, latency_ms=2"), "score", "max")["id"] == "c"
    assert best_within(t, parse_budget("params=50"), "score", "max") is None
    for bad in ("params", "size=3", "params=-1", "latency_ms=nan", "params=abc", ","):
        with pytest.raises(UserError, match="--budget"):
            parse_budget(bad)
