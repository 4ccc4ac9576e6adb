"""TensorBoard and MLflow on a real tiny sweep, read back with their own readers."""
from __future__ import annotations

import pytest

from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics, read_trials
from tests.conftest import run_text, write_idx_dataset

pytestmark = pytest.mark.integration

SWEEP = """
name: tracked
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 400, val_size: 100}}
seed: 1
families:
  dense: {{num_samples: 2, params: {{units: {{choice: [8, 16]}}, lr: 0.003}}}}
  exploding: {{family: dense, params: {{optimizer: sgd, lr: 100.0, units: 8}}}}
scheduler: {{kind: fifo, max_epochs: 2}}
resources: {{cpus: 1}}
tracking:
  tensorboard: true
  mlflow: {{tracking_uri: "{mlruns}", experiment: probe, log_checkpoint: true}}
"""


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, local_ray):
    root = tmp_path_factory.mktemp("tracking")
    data = write_idx_dataset(root / "data", n_train=600, n_test=50)
    mlruns = (root / "mlruns").as_uri()
    summary = run_text(SWEEP.format(data=data, mlruns=mlruns), root / "res")
    return summary, mlruns


def test_tensorboard_reads_every_epoch_and_the_hparams(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    summary, _ = tracked
    metrics = read_metrics(summary.run_dir)
    trials = read_trials(summary.run_dir)
    for tid in trials[S.TRIAL_ID]:
        events = list(summary.run_dir.rglob(f"{tid}/events.out.tfevents.*"))
        assert events, tid
        acc = EventAccumulator(str(events[0].parent)).Reload()
        ours = metrics[metrics[S.TRIAL_ID] == tid].sort_values(S.EPOCH)
        if ours["val_accuracy"].notna().any():
            scalars = acc.Scalars("ray/tune/val_accuracy")
            assert [round(s.value, 5) for s in scalars] == [round(v, 5) for v in ours["val_accuracy"]]
        from tensorboard.plugins.hparams import plugin_data_pb2

        content = acc.PluginTagToContent("hparams")          # HParams: written when the trial ended
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hparams = start.session_start_info.hparams
        assert {"lr", "units", "family", "seed"} <= set(hparams)
        assert hparams["units"].number_value == trials.set_index(S.TRIAL_ID).loc[tid, "config_units"]


def test_mlflow_has_one_run_per_trial_with_params_metrics_status_and_checkpoint(tracked):
    import mlflow

    summary, uri = tracked
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("probe")
    runs = client.search_runs([experiment.experiment_id])
    trials = read_trials(summary.run_dir).set_index(S.TRIAL_ID)
    metrics = read_metrics(summary.run_dir)
    assert len(runs) == len(trials) == 3
    for run in runs:
        tid = next(t for t in trials.index if t in run.info.run_name)
        assert run.data.tags["tunefm.status"] == trials.loc[tid, S.STATUS]
        assert run.data.tags["tunefm.family"] == trials.loc[tid, S.FAMILY]
        assert run.data.tags["tunefm.run"] == str(summary.location)
        assert run.data.params["lr"] in ("0.003", "100.0")
        history = client.get_metric_history(run.info.run_id, "epoch")
        assert sorted(int(m.value) for m in history) == sorted(metrics[metrics[S.TRIAL_ID] == tid][S.EPOCH])
        assert run.info.status == "FINISHED"
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "best_checkpoint")}
        if isinstance(trials.loc[tid, "checkpoint"], str):
            assert "best_checkpoint/model.keras" in artifacts
        else:
            assert not artifacts
    assert set(trials[S.STATUS]) >= {S.COMPLETED, S.DIVERGED}


def test_an_address_that_answers_but_is_not_mlflow_is_refused_before_the_run_folder(tmp_path):
    import http.server
    import socketserver
    import threading

    from trainables.contract.errors import UserError

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = socketserver.TCPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        data = write_idx_dataset(tmp_path / "data", n_train=100, n_test=20)
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        text = SWEEP.format(data=data, mlruns=uri).replace("tensorboard: true", "tensorboard: false")
        with pytest.raises(UserError, match=rf"tracking.mlflow.tracking_uri: {uri} answers, but not as an MLflow "
                                            r"tracking server \(API request to .* failed with error code 501"):
            run_text(text, tmp_path / "res")
        assert not (tmp_path / "res").exists() or not any((tmp_path / "res").rglob("run.json"))
    finally:
        server.shutdown()
        server.server_close()


def test_an_mlflow_store_that_breaks_mid_sweep_is_dropped_in_one_line_and_the_sweep_finishes(tmp_path, local_ray,
                                                                                            capfd):
    """Before, MLflow's exception ended the fit and left a run that resume could not continue."""
    import shutil

    from ray.tune import Callback

    data = write_idx_dataset(tmp_path / "data", n_train=600, n_test=50)
    mlruns = tmp_path / "mlruns"

    class BreakTheStore(Callback):          # the MLflow store turns into a file after the first epoch
        def on_trial_result(self, iteration, trials, trial, result, **info):
            if mlruns.is_dir():
                shutil.rmtree(mlruns)
                mlruns.write_text("not a store")

    text = SWEEP.format(data=data, mlruns=mlruns.as_uri()).replace("tensorboard: true", "tensorboard: false")
    summary = run_text(text, tmp_path / "res", extra_callbacks=(BreakTheStore(),))
    assert summary.status == "finished"
    trials = read_trials(summary.run_dir)
    assert len(trials) == 3 and set(trials[S.STATUS]) <= {S.COMPLETED, S.DIVERGED}
    assert len(read_metrics(summary.run_dir)) >= 4
    said = [line for line in capfd.readouterr().err.splitlines() if "MLflow tracking" in line]
    assert len(said) == 1 and "is dropped for the rest of this session" in said[0], said
    assert "the sweep goes on" in said[0]


def test_every_tune_callback_hook_of_the_mlflow_tracker_is_guarded():
    import inspect

    from ray.tune import Callback

    from orchestrator.raytune.tracking import GUARDED_HOOKS

    hooks = {n for n, _ in inspect.getmembers(Callback, inspect.isfunction) if n.startswith(("on_", "setup"))}
    assert hooks == set(GUARDED_HOOKS)
