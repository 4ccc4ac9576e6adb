"""TensorBoard and MLflow for a run: Ray Tune's own logger callbacks, given tunefm's facts.

``tensorboard: true`` uses Ray's ``TBXLoggerCallback``: each trial's per-epoch scalars
(``ray/tune/val_accuracy``, ...) in event files in its folder under the run folder, and
its hyperparameters with its final scores in the HParams table when it ends, so
``tensorboard --logdir RUN_DIR`` shows both. ``mlflow:`` uses Ray's
``MLflowLoggerCallback``: one MLflow run per trial with its parameters and per-epoch
metrics; tunefm adds the trial's status as it recorded it (``early_stopped``,
``diverged``, ...) as a tag and, when asked, the best checkpoint as an artifact.
"""
from __future__ import annotations

from pathlib import Path

from orchestrator.spec.sweep import SweepSpec
from orchestrator.spec.tracking import TRACKING_EXTRA, missing_tracker
from trainables.contract.errors import UserError

STATUS_TAG, RUN_TAG, FAMILY_TAG = "tunefm.status", "tunefm.run", "tunefm.family"


def check_trackers(spec: SweepSpec) -> None:
    """Refuse a run whose trackers are not installed, in one line, before any work."""
    import importlib.util

    missing = missing_tracker(spec.tracking.tensorboard, spec.tracking.mlflow is not None)
    if missing:
        what = "tracking.tensorboard" if missing == "tensorboardX" else "tracking.mlflow"
        raise UserError(f"{spec.source}: {what} needs {missing}, which is not installed: {TRACKING_EXTRA}")
    m = spec.tracking.mlflow
    if m is not None and m.tracking_uri.split(":", 1)[0] in DATABASE_SCHEMES \
            and importlib.util.find_spec("sqlalchemy") is None:
        raise UserError(f"{spec.source}: tracking.mlflow.tracking_uri: a database store ({m.tracking_uri}) needs "
                        "the full MLflow (SQLAlchemy): pip install mlflow")


    if m is not None and m.tracking_uri.split(":", 1)[0] in ("http", "https"):
        _check_reachable(spec.source, m.tracking_uri)
        _check_speaks_mlflow(spec.source, m.tracking_uri)


DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
PROBE_SECONDS = 5.0


def _check_reachable(source: str, uri: str) -> None:
    """An MLflow server that does not answer would hang the run's first trial start: say so first."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=PROBE_SECONDS).close()
    except OSError as e:
        raise UserError(f"{source}: tracking.mlflow.tracking_uri: {uri} does not answer ({e.strerror or e}); "
                        "start the MLflow server or fix the address") from None


def _check_speaks_mlflow(source: str, uri: str) -> None:
    """An address that answers but is not an MLflow server (any web server, a proxy's login
    page) failed the sweep at its first trial with MLflow's 90-line traceback: ask it the
    cheapest question of MLflow's REST API first, once, without MLflow's retries."""
    import os
    from unittest import mock

    import mlflow

    once = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(PROBE_SECONDS))}
    try:
        with mock.patch.dict(os.environ, once):      # set for the call, put back after it
            mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as e:   # MlflowException, requests' errors: what the server said is the story
        raise UserError(f"{source}: tracking.mlflow.tracking_uri: {uri} answers, but not as an MLflow tracking "
                        f"server ({_first_line(e)}); fix the address or start MLflow there") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    return first if len(first) <= 160 else first[:159] + "…"


def _allow_file_store(uri: str) -> None:
    """MLflow 3 refuses its file store unless told it is wanted; a sweep file that names a
    ``file:`` URI (or a plain path) wants exactly that."""
    import os

    scheme = uri.split(":", 1)[0] if "://" in uri else "file"
    if scheme == "file":
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def tracker_callbacks(spec: SweepSpec, run_location: str) -> list:
    callbacks: list = []
    if spec.tracking.tensorboard:
        from ray.tune.logger import TBXLoggerCallback

        callbacks.append(TBXLoggerCallback())
    if spec.tracking.mlflow is not None:
        m = spec.tracking.mlflow
        _allow_file_store(m.tracking_uri)
        callbacks.append(_mlflow_class()(tracking_uri=m.tracking_uri, experiment_name=m.experiment,
                                         tags={RUN_TAG: run_location, "tunefm.sweep": spec.name},
                                         log_checkpoint=m.log_checkpoint))
    return callbacks


def _mlflow_class():
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class TunefmMLflow(MLflowLoggerCallback):
        """Ray's MLflow logger, plus the status and best checkpoint tunefm recorded.

        A tracker is a copy of what the run records: when MLflow fails mid-sweep (its
        server went down, its store broke) it is dropped with one line and the sweep goes
        on; before, its exception ended the fit and left a run that could not be resumed."""

        def __init__(self, *, log_checkpoint: bool, **kwargs):
            super().__init__(save_artifact=False, **kwargs)
            self.log_checkpoint = log_checkpoint
            self.dropped: str | None = None

        def __setstate__(self, state: dict) -> None:   # a resumed run tries MLflow again
            self.__dict__.update(state)
            self.dropped = None

        def log_trial_start(self, trial) -> None:
            super().log_trial_start(trial)
            from trainables.contract.keys import FAMILY_KEY

            self._client().set_tag(self._trial_runs[trial], FAMILY_TAG, str(trial.config.get(FAMILY_KEY, "")))

        def _client(self):
            import mlflow

            return mlflow.MlflowClient(tracking_uri=self.tracking_uri)

        def log_trial_end(self, trial, failed: bool = False) -> None:
            run_id = self._trial_runs[trial]
            record = _recorded(trial.trial_id)
            client = self._client()
            if record is not None:
                client.set_tag(run_id, STATUS_TAG, record.status.value)
                if self.log_checkpoint and record.checkpoint:
                    from orchestrator.raytune import fit

                    folder = Path(fit.current().listener.folder.path) / record.checkpoint
                    if folder.is_dir():
                        client.log_artifacts(run_id, str(folder), artifact_path="best_checkpoint")
            super().log_trial_end(trial, failed=failed)

    for hook in GUARDED_HOOKS:
        setattr(TunefmMLflow, hook, _guarded(getattr(TunefmMLflow, hook)))
    return TunefmMLflow


# every hook through which Ray Tune calls a callback (ray.tune.Callback)
GUARDED_HOOKS = ("setup", "on_step_begin", "on_step_end", "on_trial_start", "on_trial_restore", "on_trial_save",
                 "on_trial_result", "on_trial_complete", "on_trial_error", "on_trial_recover", "on_checkpoint",
                 "on_experiment_end")


def _guarded(hook):
    import functools
    import sys

    @functools.wraps(hook)
    def run(self, *args, **kwargs):
        if self.dropped is not None:
            return None
        try:
            return hook(self, *args, **kwargs)
        except Exception as e:
            self.dropped = _first_line(e)
            print(f"tunefm: warning: MLflow tracking ({self.tracking_uri}) failed and is dropped for the rest of "
                  f"this session: {type(e).__name__}: {self.dropped}; the sweep goes on and records every epoch "
                  "in the run folder", file=sys.stderr, flush=True)
            return None

    return run


def _recorded(trial_id: str):
    """The trial as the run's recorder saw it end (None outside a tunefm fit)."""
    from orchestrator.raytune import fit

    bound = fit.current()
    ledger = getattr(bound.listener, "ledger", None) if bound is not None else None
    return ledger.trials.get(trial_id) if ledger is not None else None
