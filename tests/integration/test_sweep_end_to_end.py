"""Real sweeps on a real local Ray: two families, ASHA, divergence, over-budget, Parquet."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ray.tune import Callback

from orchestrator.store import schema as S
from orchestrator.store.parquet import checkpoint_dir, read_metrics, read_trials
from tests.conftest import read_meta
from orchestrator.store.folder import RunFolder
from orchestrator.spec.sweep import parse_sweep
from tests.conftest import run_text, write_idx_dataset

SWEEP = """
name: e2e
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 1200, val_size: 300}}
metric: val_accuracy
max_params: 200000
seed: 5
families:
  dense:
    params:
      units: 32
      lr: {{grid: [0.003, 0.00001, 0.00001, 0.003, 0.00001, 0.00001]}}
  cnn:
    num_samples: 2
    params: {{filters: 4, dense_units: 16, lr: 0.003}}
  exploding:
    family: dense
    params: {{optimizer: sgd, lr: 100.0, units: 32}}
  huge:
    family: dense
    params: {{layers: 2, units: 2048}}
  broken:
    family: cnn
    params: {{blocks: 4, padding: valid, kernel_size: 5, filters: 2, dense_units: 8}}
scheduler: {{kind: asha, max_epochs: 3, grace_period: 1, reduction_factor: 2}}
resources: {{cpus: 1}}
"""


class Recorder(Callback):
    """An independent record of what trials reported, to check the Parquet against."""

    def __init__(self):
        self.results = []

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.results.append((trial.trial_id, dict(result)))


@pytest.fixture(scope="module")
def e2e_run(tmp_path_factory, local_ray):
    root = tmp_path_factory.mktemp("e2e")
    data = write_idx_dataset(root / "data", n_train=2000, n_test=300)
    text = SWEEP.format(data=data)
    recorder = Recorder()
    summary = run_text(text, root / "results", extra_callbacks=(recorder,))
    return summary, recorder, text


def test_sweep_finishes_and_records_every_trial(e2e_run):
    summary, _, text = e2e_run
    assert summary.status == "finished"
    trials = read_trials(summary.run_dir)
    assert len(trials) == 11
    by_family = trials.groupby(S.FAMILY)[S.STATUS].apply(list).to_dict()
    assert by_family["exploding"] == [S.DIVERGED]
    assert by_family["huge"] == [S.OVER_BUDGET]
    assert S.EARLY_STOPPED in by_family["dense"] and S.COMPLETED in by_family["dense"]
    assert S.COMPLETED in by_family["cnn"]
    broken = trials[trials[S.FAMILY] == "broken"].iloc[0]
    assert broken[S.STATUS] == S.FAILED and "Error" in broken["error"] and "\n" not in broken["error"]
    assert (trials[S.STATUS] == S.FAILED).sum() == 1
    huge = trials[trials[S.FAMILY] == "huge"].iloc[0]
    assert huge["params"] > 200000 and huge["epochs"] == 0
    assert (Path(summary.run_dir) / "sweep.yaml").read_text() == text
    meta = read_meta(summary.run_dir)
    assert meta["status"] == "finished" and meta["counts"][S.DIVERGED] == 1


def test_asha_stopped_only_slow_learners_early(e2e_run):
    summary, _, _ = e2e_run
    trials = read_trials(summary.run_dir)
    dense = trials[trials[S.FAMILY] == "dense"]
    stopped = dense[dense[S.STATUS] == S.EARLY_STOPPED]
    assert (stopped["epochs"] < 3).all()
    assert (dense[dense[S.STATUS] == S.COMPLETED]["epochs"] == 3).all()
    best = dense.sort_values("best_metric").iloc[-1]
    assert best["config_lr"] == pytest.approx(0.003) and best[S.STATUS] == S.COMPLETED


def test_parquet_rows_match_what_trials_reported(e2e_run):
    summary, recorder, _ = e2e_run
    metrics = read_metrics(summary.run_dir)
    reported = {(tid, r["epoch"]): r for tid, r in recorder.results if r.get("epoch", 0) >= 1}
    stored = {(row.trial_id, row.epoch): row for row in metrics.itertuples()}
    assert set(stored) == set(reported)
    assert len(metrics) == len(stored)                        # no duplicate (trial, epoch)
    for key, r in reported.items():
        row = stored[key]
        for col in ("train_loss", "val_accuracy", "val_loss", "val_auc", "lr", "params"):
            assert getattr(row, col) == pytest.approx(r[col], nan_ok=True), (key, col)
    trials = read_trials(summary.run_dir).set_index(S.TRIAL_ID)
    for tid, group in metrics.groupby(S.TRIAL_ID):
        assert trials.loc[tid, "epochs"] == group[S.EPOCH].max()
        assert group["config_lr"].nunique() == 1


def test_divergence_is_recorded_on_its_epoch(e2e_run):
    summary, _, _ = e2e_run
    metrics = read_metrics(summary.run_dir)
    rows = metrics[metrics[S.FAMILY] == "exploding"]
    assert len(rows) == 1 and rows.iloc[0]["trial_status"] == S.DIVERGED
    assert rows.iloc[0]["train_loss"] > 230 or np.isnan(rows.iloc[0]["train_loss"])
    assert np.isnan(rows.iloc[0]["val_accuracy"])


def test_best_checkpoint_is_the_best_epoch_and_loads(e2e_run):
    import keras

    summary, _, _ = e2e_run
    trials = read_trials(summary.run_dir)
    done = trials[trials[S.STATUS] == S.COMPLETED]
    for row in done.itertuples():
        assert not Path(row.checkpoint).is_absolute()       # relative: the run folder can move
        ckpt = checkpoint_dir(summary.run_dir, row.checkpoint)
        meta = json.loads((ckpt / "checkpoint.json").read_text())
        assert meta["epoch"] == row.best_epoch and meta["value"] == pytest.approx(row.best_metric)
    model = keras.models.load_model(checkpoint_dir(summary.run_dir, done.iloc[0]["checkpoint"]) / "model.keras")
    assert model.count_params() == done.iloc[0]["params"]


def test_workers_are_reused_between_trials(e2e_run):
    summary, _, _ = e2e_run
    metrics = read_metrics(summary.run_dir)
    assert metrics["trials_in_worker"].max() >= 2
    first = metrics[metrics["trials_in_worker"] == 1]
    assert (first["import_seconds"] > 0).all()
    assert (metrics[metrics["trials_in_worker"] > 1]["import_seconds"] == 0).all()


def test_folder_dataset_rgb_sweep(tmp_path, local_ray):
    from PIL import Image

    for c, name in enumerate(("circle", "square")):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(30):
            arr = np.zeros((20, 20, 3), np.uint8)
            arr[..., c] = 200
            arr[i % 20, :, 2] = 90
            Image.fromarray(arr).save(tmp_path / "imgs" / name / f"{i}.png")
    text = (f"name: folder\ndataset: {{name: folder, data_dir: {tmp_path / 'imgs'}, image_size: 16, "
            "color_mode: rgb}\nfamilies:\n  cnn: {params: {filters: 4, blocks: 1, dense_units: 8}}\n"
            "scheduler: {kind: fifo, max_epochs: 2}\n")
    summary = run_text(text, tmp_path / "res")
    meta = read_meta(summary.run_dir)
    assert meta["data"]["input_shape"] == [16, 16, 3] and meta["data"]["classes"] == ["circle", "square"]
    assert meta["data"]["train"] + meta["data"]["val"] == 48            # 60 images, 20% held out for test
    trials = read_trials(summary.run_dir)
    assert trials[S.STATUS].tolist() == [S.COMPLETED]
    assert read_metrics(summary.run_dir)[S.EPOCH].tolist() == [1, 2]


@pytest.fixture(scope="module")
def e2e_report(e2e_run):
    from orchestrator.report.build import build_report

    summary, _, _ = e2e_run
    return build_report(summary.run_dir, top_k=2)


def _macro_f1_by_hand(y, pred, classes):
    f1s = []
    for c in range(classes):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(f1s))


def test_report_test_metrics_match_an_independent_computation(e2e_run, e2e_report):
    import keras
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from trainables.datasets import load_test

    summary, _, text = e2e_run
    table = pd.read_parquet(e2e_report.report_dir / "test_eval.parquet")
    assert e2e_report.winner == table.iloc[0][S.TRIAL_ID]
    assert {"top-k", "family best", "params front", "latency front"} >= set(table["selected_as"])
    assert set(table["selected_as"][:2]) <= {"top-k", "family best"} and len(table) >= 2
    assert set(table[S.FAMILY]) >= {"dense", "cnn"}           # each family's best is evaluated
    test, _ = load_test(parse_sweep(text, "e2e.yaml").dataset)
    trials = read_trials(summary.run_dir).set_index(S.TRIAL_ID)
    for row in table.itertuples():
        model = keras.models.load_model(checkpoint_dir(summary.run_dir, trials.loc[row.trial_id, "checkpoint"])
                                        / "model.keras")
        probs = model.predict(test.x.astype("float32"), verbose=0)
        pred = probs.argmax(1)
        assert row.test_accuracy == pytest.approx(np.mean(pred == test.y))
        assert row.test_f1_macro == pytest.approx(_macro_f1_by_hand(test.y, pred, 10))
        assert row.test_auc_macro == pytest.approx(roc_auc_score(test.y, probs / probs.sum(1, keepdims=True),
                                                                 multi_class="ovr"), abs=1e-6)
        per_class = [np.mean(pred[test.y == c] == c) for c in range(10)]
        assert list(row.test_per_class_accuracy) == pytest.approx(per_class)
        assert row.val_test_gap == pytest.approx(row.val_accuracy - row.test_accuracy)
        assert row.checkpoint_epoch == trials.loc[row.trial_id, "best_epoch"]


def test_report_files_figures_and_html(e2e_report):
    from html.parser import HTMLParser

    import pandas as pd

    out = e2e_report.report_dir
    names = {p.name for p in e2e_report.figures}
    assert names == {"learning_curves.png", "test_accuracy.png", "confusion_matrix.png", "roc.png",
                     "hyperparameters.png", "parallel_coordinates.png", "asha.png", "best_per_family.png",
                     "pareto.png"}
    for fig in e2e_report.figures:
        data = fig.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, fig

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.imgs, self.links, self.tables = [], [], 0

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "img":
                self.imgs.append(a)
            elif tag == "a":
                self.links.append(a.get("href"))
            elif tag == "table":
                self.tables += 1

    page = Collect()
    page.feed((out / "report.html").read_text())
    assert {i["alt"] for i in page.imgs} == names
    assert all(i["src"].startswith("data:image/png;base64,") for i in page.imgs)   # self-contained
    assert {f"figures/{n}" for n in names} <= set(page.links) and page.tables >= 4
    md = (out / "report.md").read_text()
    assert all(f"figures/{n}" in md for n in names) and "T-shirt/top" in md
    boards = pd.read_parquet(out / "leaderboard.parquet")
    assert set(boards["board"]) == {"overall", "dense", "cnn", "exploding", "huge", "broken"}
    assert boards[boards["board"] == "overall"].iloc[0][S.TRIAL_ID] == e2e_report.winner


def test_report_of_a_still_running_sweep_is_a_snapshot(e2e_run, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from orchestrator.report.build import build_report

    summary, _, _ = e2e_run
    copy = tmp_path / "run"
    shutil.copytree(summary.run_dir, copy, ignore=shutil.ignore_patterns("report"))
    meta = read_meta(copy)
    meta["status"] = "running"
    (copy / "run.json").write_text(json.dumps(meta))
    trials = read_trials(copy)
    cnn = trials[trials[S.FAMILY] == "cnn"].index[0]
    trials.loc[cnn, [S.STATUS, "epochs"]] = [S.RUNNING, 1]   # as if only its first epoch were recorded
    schema = pq.read_schema(copy / "trials.parquet")
    pq.write_table(pa.Table.from_pandas(trials, schema=schema, preserve_index=False), copy / "trials.parquet")
    with RunFolder(copy).lock("a live driver"):        # "still running" only while a driver holds the lock
        result = build_report(copy, top_k=1)
    assert result.running
    assert "still running" in (copy / "report" / "report.md").read_text()
    boards = pq.read_table(copy / "report" / "leaderboard.parquet").to_pandas()
    row = boards[(boards["board"] == "overall") & (boards[S.TRIAL_ID] == trials.loc[cnn, S.TRIAL_ID])].iloc[0]
    assert row["score_epoch"] == 1 and row[S.STATUS] == S.RUNNING

    # No driver holds it: the driver died. The metrics are the truth, and the report says so.
    result = build_report(copy, top_k=1)
    assert not result.running and "driver" in result.status_note
    assert "The run was interrupted" in (copy / "report" / "report.md").read_text()
    boards = pq.read_table(copy / "report" / "leaderboard.parquet").to_pandas()
    row = boards[(boards["board"] == "overall") & (boards[S.TRIAL_ID] == trials.loc[cnn, S.TRIAL_ID])].iloc[0]
    assert row[S.STATUS] == S.STOPPED and row["score_epoch"] >= 1


def test_each_trial_keeps_exactly_its_best_and_latest_checkpoints(e2e_run):
    summary, _, _ = e2e_run
    trials = read_trials(summary.run_dir)
    for row in trials[trials["checkpoint"].notna()].itertuples():
        kept = {p.name for p in checkpoint_dir(summary.run_dir, row.checkpoint).parent.glob("checkpoint_*")}
        expected = {Path(row.checkpoint).name, Path(row.last_checkpoint).name}
        assert kept == expected, (row.trial_id, kept, expected)


@pytest.mark.parametrize("objectives", ["", "objectives: [val_accuracy, params]\n"])
def test_tpe_sweep_on_real_ray(tmp_path, local_ray, objectives):
    data = write_idx_dataset(tmp_path / "data", n_train=800, n_test=100)
    text = (f"name: tpe\ndataset: {{name: fashion_mnist, data_dir: {data}}}\nsearch: tpe\nseed: 2\n{objectives}"
            "families:\n"
            "  dense: {num_samples: 3, params: {units: {choice: [16, 32]}, lr: {loguniform: [1e-3, 1e-2]}}}\n"
            "  cnn: {num_samples: 2, params: {filters: {choice: [4, 8]}, dense_units: 8}}\n"
            "scheduler: {kind: fifo, max_epochs: 1}\n")
    summary = run_text(text, tmp_path / "res")
    trials = read_trials(summary.run_dir)
    assert (trials[S.STATUS] == S.COMPLETED).all()
    assert trials.groupby(S.FAMILY).size().to_dict() == {"dense": 3, "cnn": 2}
    assert trials[trials[S.FAMILY] == "dense"]["config_filters"].isna().all()
    assert set(trials[trials[S.FAMILY] == "cnn"]["config_filters"]) <= {4, 8}


def test_ablation_sweep_and_its_report(tmp_path, local_ray):
    import pandas as pd

    from orchestrator.report.build import build_report

    data = write_idx_dataset(tmp_path / "data", n_train=800, n_test=100)
    text = (f"name: abl\ndataset: {{name: fashion_mnist, data_dir: {data}}}\nsearch: ablation\nfamilies:\n"
            "  dense:\n    baseline_repeats: 2\n    baseline: {units: 16, lr: 0.003}\n"
            "    factors: {lr: [0.00001], batch_norm: [true]}\nscheduler: {kind: fifo, max_epochs: 1}\n")
    summary = run_text(text, tmp_path / "res")
    trials = read_trials(summary.run_dir)
    assert sorted(trials["config_ablation_factor"]) == ["baseline", "baseline", "batch_norm", "lr"]
    report = build_report(summary.run_dir, top_k=1)
    assert "factor_effects.png" in {p.name for p in report.figures}
    md = (report.report_dir / "report.md").read_text()
    assert "One factor at a time" in md and "| dense | lr | 1e-05 |" in md
    slow = pd.read_parquet(report.report_dir / "leaderboard.parquet").query("board == 'overall'")
    assert slow.iloc[-1]["config_ablation_factor"] == "lr"        # a 300x smaller lr learns least in one epoch


def test_winners_are_repeated_over_seeds_and_the_tie_verdict_is_reported(tmp_path, local_ray):
    from click.testing import CliRunner

    from orchestrator.cli import main

    data = write_idx_dataset(tmp_path / "data", n_train=800, n_test=100)
    sweep = tmp_path / "rep.yaml"
    sweep.write_text(f"name: rep\ndataset: {{name: fashion_mnist, data_dir: {data}}}\nseed: 4\nfamilies:\n"
                     "  dense: {num_samples: 3, params: {units: 16, lr: {loguniform: [1e-4, 1e-2]}}}\n"
                     "scheduler: {kind: asha, max_epochs: 2, grace_period: 1, reduction_factor: 2}\n"
                     "repeat: {top_k: 2, seeds: 2}\n")
    result = CliRunner().invoke(main, ["sweep", str(sweep), "--results", str(tmp_path / "res"), "--name", "r",
                                       "--no-progress", "--report"])
    assert result.exit_code == 0, result.output
    assert "repeating the top 2 with 2 new seeds each" in result.stdout
    run_dir = tmp_path / "res" / "rep" / "r"
    trials = read_trials(run_dir)
    repeats = trials[trials["config_repeat_of"].notna()]
    originals = trials[trials["config_repeat_of"].isna()]
    assert len(originals) == 3 and len(repeats) == 4
    assert trials["config_seed"].nunique() == 7                                 # every run its own seed
    assert (repeats[S.STATUS] == S.COMPLETED).all() and (repeats["epochs"] == 2).all()   # full budget
    for original, g in repeats.groupby("config_repeat_of"):
        source = originals.set_index(S.TRIAL_ID).loc[original]
        assert (g["config_lr"] == source["config_lr"]).all()
    md = (run_dir / "report" / "report.md").read_text()
    assert "Winners re-run over seeds" in md and "Welch's t-test p = " in md
    assert len(read_meta(run_dir)["repeats"]) == 1
    # what the winner is: the searched lr first, its other settings off the defaults, the rest folded away
    chosen = md.split("## What the winner is")[1].split("##")[0]
    assert "searched by the sweep:" in chosen and "| lr |" in chosen and "set off the family's defaults:" in chosen
    assert "| units | 16 |" in chosen and "| momentum |" not in chosen
    assert "## The winner's every setting" in md and "| momentum |" in md


def test_a_sweep_whose_every_trial_is_over_budget_says_why_there_is_no_report(tmp_path, local_ray):
    from click.testing import CliRunner

    from orchestrator.cli import main

    data = write_idx_dataset(tmp_path / "data", n_train=300, n_test=60)
    sweep = tmp_path / "mp.yaml"
    sweep.write_text(f"name: mp\ndataset: {{name: fashion_mnist, data_dir: {data}}}\n"
                     "families: {dense: {num_samples: 2}}\nscheduler: {kind: fifo, max_epochs: 1}\nmax_params: 10\n")
    result = CliRunner().invoke(main, ["sweep", str(sweep), "--results", str(tmp_path / "res"), "--no-progress",
                                       "--report"])
    assert result.exit_code == 0, result.output
    assert "sweep finished in " in result.stdout and ": 2 over budget" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == ("tunefm: no report written: no trial has a validation "
                                                      "result (2 over budget)")


def test_report_says_how_sure_and_at_what_cost(e2e_run, e2e_report):
    """Intervals, paired tests and the trade-off, checked against independent computations."""
    import keras
    import pandas as pd
    from scipy.stats import binomtest

    from orchestrator.report.pareto import best_within, parse_budget
    from trainables.datasets import load_trial_data

    summary, _, text = e2e_run
    out = e2e_report.report_dir
    boards = pd.read_parquet(out / "leaderboard.parquet")
    overall = boards[(boards["board"] == "overall") & boards["rank"].notna()]
    n = 300
    for _, r in overall.iterrows():     # Wilson's interval around every ranked accuracy
        k, low, high = round(r["score"] * n), r["ci_low"], r["ci_high"]
        ci = binomtest(k, n).proportion_ci(method="wilson")
        assert low == pytest.approx(ci.low) and high == pytest.approx(ci.high) and low <= r["score"] <= high

    # the validation split rebuilt by the report is the sweep's: checkpoints score what was recorded
    val_eval = pd.read_parquet(out / "validation_eval.parquet")
    assert len(val_eval) == 2 and (val_eval["recorded"] - val_eval["recomputed"]).abs().max() < 1e-9

    # McNemar's counts from the checkpoints' own predictions on the validation split
    ties = pd.read_parquet(out / "ties.parquet")
    assert len(ties) == 1 and ties["test"].iloc[0] == "McNemar exact"
    val = load_trial_data(parse_sweep(text, "e2e.yaml").dataset).val
    trials = read_trials(summary.run_dir).set_index(S.TRIAL_ID)
    right = {}
    for tid in (ties["leader"].iloc[0], ties["against"].iloc[0]):
        model = keras.models.load_model(summary.run_dir / trials.loc[tid, "checkpoint"] / "model.keras")
        right[tid] = model.predict(val.x, verbose=0).argmax(axis=1) == val.y
    a, b = right[ties["leader"].iloc[0]], right[ties["against"].iloc[0]]
    assert ties["only_leader_right"].iloc[0] == np.sum(a & ~b)
    assert ties["only_other_right"].iloc[0] == np.sum(~a & b)
    p = 1.0 if np.sum(a != b) == 0 else binomtest(int(np.sum(a & ~b)), int(np.sum(a != b))).pvalue
    assert ties["p_value"].iloc[0] == pytest.approx(p)
    assert ties["verdict"].iloc[0] == ("tied" if p >= 0.05 else "#1 ahead")
    assert e2e_report.ranking.startswith("#1 (") and ("tied" in e2e_report.ranking) == (p >= 0.05)

    # the trade-off: latency measured for each checkpoint, fronts dominated by nothing
    trade = pd.read_parquet(out / "tradeoff.parquet")
    assert (trade["ms_per_image_batch1"].dropna() > 0).all() and trade["ms_per_image_batch1"].notna().sum() >= 2
    front = trade[trade["on_params_front"]]
    for _, f in front.iterrows():
        better = trade[(trade["score"] >= f["score"]) & (trade["params"] <= f["params"])
                       & ((trade["score"] > f["score"]) | (trade["params"] < f["params"]))]
        assert better.empty
    smallest = trade.loc[trade["params"].idxmin()]
    assert bool(smallest["on_params_front"]) or (trade["params"] == smallest["params"]).sum() > 1
    limit = int(trade["params"].median())
    best = best_within(trade, parse_budget(f"params={limit}"), "score", "max")
    assert best["params"] <= limit and best["score"] == trade[trade["params"] <= limit]["score"].max()
    report = (out / "report.md").read_text()
    assert "95% interval" in report and "Is #1 ahead?" in report and "Pareto front" in report
    assert (out / "figures" / "pareto.png").stat().st_size > 10_000


def test_a_failed_trial_is_one_line_on_the_terminal_and_its_traceback_stays_in_the_run(tmp_path):
    """Ray's own output for a failed trial was ~60 lines: its traceback twice over, the list
    of trials that did not complete, and TensorFlow's start-up lines from the driver, which
    imported TensorFlow to unpickle the error's class."""
    import subprocess
    import sys

    data = write_idx_dataset(tmp_path / "data", n_train=300, n_test=60)
    sweep = tmp_path / "fails.yaml"
    sweep.write_text(f"""
name: fails
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 200, val_size: 60}}
families:
  dense: {{params: {{units: 8}}}}
  broken:
    family: cnn
    params: {{blocks: 4, padding: valid, kernel_size: 5, filters: 2, dense_units: 8}}
scheduler: {{kind: fifo, max_epochs: 1}}
resources: {{cpus: 1}}
""")
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "sweep", str(sweep), "--results",
                           str(tmp_path / "res"), "--no-progress"], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "1 completed, 1 failed" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    told = lines[0]
    assert told.startswith("tunefm: trial ") and "(broken) failed: " in told and "Error" in told, told
    traceback = Path(told.rsplit("(traceback: ", 1)[1].rstrip(")"))
    assert traceback.is_file() and "Traceback (most recent call last)" in traceback.read_text()
    run_dir = next((tmp_path / "res" / "fails").iterdir())
    assert traceback.resolve().is_relative_to(run_dir.resolve())
    trials = read_trials(run_dir)
    broken = trials[trials[S.FAMILY] == "broken"].iloc[0]
    shown = told.split(" failed: ", 1)[1].rsplit(" (traceback: ", 1)[0].rstrip("…")
    assert broken["error"].startswith(shown) and broken["error"].startswith("ValueError: ")
