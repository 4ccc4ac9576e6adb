"""Validation intervals and paired tests against known answers."""
import numpy as np
import pytest

from orchestrator.ranking import intervals as I
from orchestrator.ranking import ties as T


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
    tests = T.compare(y, probs, [("a", 1), ("b", 2), ("c", 3)], "val_accuracy", "max")
    by = {t.other: t for t in tests}
    assert by["b"].tied and by["b"].test == "McNemar exact"
    assert not by["c"].tied and by["c"].p_value < 1e-6
    from orchestrator.report.validation import verdicts

    assert verdicts(tests) == {"a": "#1", "b": "tied with #1", "c": "#1 ahead"}
    assert T.headline(tests).startswith("#1 (a) and #2 (b) are tied on validation (McNemar exact, p=")
    boot = T.compare(y, probs, [("a", 1), ("c", 2)], "val_macro_f1", "max")
    assert boot[0].test == "paired bootstrap" and not boot[0].tied
    assert "is ahead of #2 (c)" in T.headline(boot) and "p<0.001" in T.headline(boot)


def test_a_worse_leader_is_never_called_ahead_and_min_metrics_point_the_right_way():
    """Checkpoints can disagree with the ranking (--metric, a running sweep): say so."""
    rng = np.random.default_rng(2)
    n = 2000
    y = rng.integers(0, 10, n)
    good = np.eye(10)[y] * 0.8 + 0.02
    bad = np.eye(10)[np.where(rng.random(n) < 0.7, y, (y + 1) % 10)] * 0.8 + 0.02
    acc = T.compare(y, {"a": bad, "b": good}, [("a", 1), ("b", 2)], "val_accuracy", "max")[0]
    assert acc.verdict == T.OTHER_AHEAD and "#2 (b) is ahead of #1 (a)" in acc.sentence()
    loss = T.compare(y, {"a": good, "b": bad}, [("a", 1), ("b", 2)], "val_loss", "min")[0]
    assert loss.leader_score < loss.other_score and loss.verdict == T.LEADER_AHEAD
    worse = T.compare(y, {"a": bad, "b": good}, [("a", 1), ("b", 2)], "val_loss", "min")[0]
    assert worse.verdict == T.OTHER_AHEAD


def test_no_other_trial_is_presented_as_number_one():
    y = np.array([0, 1])
    assert T.compare(y, {"b": np.eye(2), "c": np.eye(2)}, [("a", 1), ("b", 2), ("c", 3)], "val_accuracy",
                     "max") == []
    assert T.compare(y, {"a": np.eye(2)}, [("a", 1), ("b", 2)], "val_accuracy", "max") == []
    assert T.headline([], "#1 (a) has no readable checkpoint: no paired test").startswith("#1 (a) has no")


def test_why_there_is_no_paired_test():
    from orchestrator.report.validation import _why_none

    assert "only one trial" in _why_none([("a", 1)], {}, 3)
    assert "--top-k 1" in _why_none([("a", 1), ("b", 2)], {"a": 1}, 1)
    assert "#1 (a) has no readable checkpoint" in _why_none([("a", 1), ("b", 2)], {"b": 1}, 3)
    assert "none of #2..#3" in _why_none([("a", 1), ("b", 2)], {"a": 1}, 3)


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


def test_budget_lines_name_the_limited_cost():
    import pandas as pd

    from orchestrator.report.content import budget_line
    from orchestrator.report.pareto import parse_budget

    row = pd.Series({"trial_id": "t1", "family": "cnn", "score": 0.9, "params": 6500,
                     "ms_per_image_batch1": 1.25, "ms_per_image_batch256": 0.031})
    assert budget_line(parse_budget("params=7000"), row, "val_accuracy") == \
        "within params <= 7000: t1 (cnn), val_accuracy 0.9000, 6,500 parameters"
    assert budget_line(parse_budget("latency_ms_batch256=0.05"), row, "val_accuracy").endswith(
        "0.031 ms per image at batch 256")
    assert budget_line(parse_budget("latency_ms=2"), row, "val_accuracy").endswith("1.25 ms per image at batch 1")
    assert "no scored trial fits" in budget_line(parse_budget("params=10"), None, "val_accuracy", measured=3)
    assert "no trial's latency could be measured" in budget_line(parse_budget("latency_ms=2"), None,
                                                                 "val_accuracy", measured=0)


def test_latency_cache_is_reused_only_for_this_machine_and_thread_count(tmp_path):
    import pandas as pd

    from orchestrator.report import costs

    here, threads = costs.machine(), costs.threads()
    pd.DataFrame([{"trial_id": "a", "params": 10, "ms_per_image_batch1": 1.0, "ms_per_image_batch256": 0.1,
                   "threads": threads, "machine": here},
                  {"trial_id": "b", "params": 20, "ms_per_image_batch1": 9.0, "ms_per_image_batch256": 0.9,
                   "threads": threads + 7, "machine": here}]).to_parquet(tmp_path / costs.COSTS_FILE)
    trials = pd.DataFrame({"trial_id": ["a"], "params": [10]})
    got = costs.inference_costs(trials, {"a": "/nowhere"}, (28, 28, 1), tmp_path)   # cached: nothing loaded
    assert got["ms_per_image_batch1"].tolist() == [1.0]
    # a trial the cache does not hold is measured: here its checkpoint cannot be loaded, so it
    # comes back without a latency (a damaged checkpoint costs its trial the latency, not the report)
    assert costs.inference_costs(trials.assign(trial_id=["b"]), {"b": "/nowhere"}, (28, 28, 1), tmp_path).empty
    pd.DataFrame([{"trial_id": "a", "params": 10, "ms_per_image_batch1": -5.0, "ms_per_image_batch256": 0.1,
                   "threads": threads, "machine": here}]).to_parquet(tmp_path / costs.COSTS_FILE)
    assert costs.inference_costs(trials, {"a": "/nowhere"}, (28, 28, 1), tmp_path).empty   # -5 not trusted
    (tmp_path / costs.COSTS_FILE).write_bytes(b"not parquet")                       # damaged: measured again
    assert costs.inference_costs(trials, {"a": "/nowhere"}, (28, 28, 1), tmp_path).empty


def test_publish_replaces_a_whole_earlier_export_and_nothing_else(tmp_path):
    import json

    from orchestrator.export.trial import earlier_export, publish
    from trainables.contract.errors import UserError

    out, staging = tmp_path / "out", tmp_path / "out" / ".stage"
    out.mkdir()
    for name in ("model.keras", "model.tflite", "model_card.md"):
        (out / name).write_text("old")
    (out / "model_card.json").write_text(json.dumps({"artifacts": [{"path": "model.keras"},
                                                                   {"path": "model.tflite"}]}))
    (out / "notes.txt").write_text("mine")
    staging.mkdir()
    for name in ("model.keras", "model_card.json", "model_card.md"):
        (staging / name).write_text("new")
    publish(staging, out, earlier_export(out))
    assert sorted(p.name for p in out.iterdir() if p.name != ".stage") == \
        ["model.keras", "model_card.json", "model_card.md", "notes.txt"]
    assert (out / "model.keras").read_text() == "new" and (out / "notes.txt").read_text() == "mine"

    foreign = tmp_path / "foreign"
    (foreign / "saved_model").mkdir(parents=True)
    (foreign / "saved_model" / "IMPORTANT.txt").write_text("precious")
    with pytest.raises(UserError, match="holds saved_model, which no tunefm export in this folder wrote"):
        earlier_export(foreign)
    assert (foreign / "saved_model" / "IMPORTANT.txt").read_text() == "precious"


def test_nothing_is_written_into_a_run_folder(tmp_path):
    from orchestrator.store.parquet import writable_dir
    from trainables.contract.errors import UserError

    run = tmp_path / "run"
    (run / "ray" / "t1" / "checkpoint_000001").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    with pytest.raises(UserError, match="inside the run folder .*run; the export never goes into a run's files"):
        writable_dir(run / "ray" / "t1" / "checkpoint_000001", "the export", "choose another --out DIR")
    with pytest.raises(UserError, match="inside the run folder"):
        writable_dir(run, "the export", "choose another --out DIR")
    assert writable_dir(run / "report", "the report", "x", allowed_in_run=run / "report").is_dir()
    from click.testing import CliRunner

    from orchestrator.cli import main

    empty = CliRunner().invoke(main, ["export", str(run), "--out", ""])
    assert empty.exit_code == 2 and "--out" in empty.output and "an empty path" in empty.output


def test_budget_refuses_a_key_twice_and_digits_python_alone_reads():
    from orchestrator.report.pareto import parse_budget
    from trainables.contract.errors import UserError

    with pytest.raises(UserError, match="params is limited twice"):
        parse_budget("params=7000,params=10")
    for odd in ("params=٣", "params=７０００", "params=1_000"):
        with pytest.raises(UserError, match="needs a positive number"):
            parse_budget(odd)


def test_the_cards_split_lines_say_which_sha256_is_which():
    from orchestrator.export.card import split_line

    assert split_line("train", "abc") == "- train split: files sha256 abc"        # a card from before
    assert split_line("val", {"files": "f", "arrays": "a", "file_count": 2}) == \
        "- val split: images and labels sha256 a; read from files with sha256 f"
    assert split_line("test", {"files": "d", "arrays": "", "file_count": 0}) == \
        "- test split: from a download with sha256 d"
