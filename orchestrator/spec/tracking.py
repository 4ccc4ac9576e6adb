"""The ``tracking:`` section: where else a sweep's trials are recorded.

    tracking:
      tensorboard: true                 # event files under the run folder
      mlflow:
        tracking_uri: file:///tmp/mlruns  # or http://host:5000, sqlite:///mlflow.db
        experiment: fashion               # default: the sweep's name
        log_checkpoint: false             # the best checkpoint as each run's artifact

Both trackers are optional extras (``pip install 'tunefm[tracking]'``); a run that asks
for one that is not installed is refused before any work (a report, which needs neither,
still reads the file).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from trainables.contract.errors import SweepFileError

TRACKING_EXTRA = "pip install 'tunefm[tracking]'"


@dataclass(frozen=True)
class MlflowSpec:
    tracking_uri: str
    experiment: str
    log_checkpoint: bool = False


@dataclass(frozen=True)
class TrackingSpec:
    tensorboard: bool = False
    mlflow: MlflowSpec | None = None

    @property
    def any(self) -> bool:
        return self.tensorboard or self.mlflow is not None


def missing_tracker(tensorboard: bool, mlflow: bool) -> str | None:
    """The first module a requested tracker needs that is not installed (None: all there)."""
    needs = (["tensorboardX"] if tensorboard else []) + (["mlflow"] if mlflow else [])
    return next((m for m in needs if importlib.util.find_spec(m) is None), None)


def tracking_spec(block, sweep_name: str, source: str) -> TrackingSpec:
    """``block``: the validated ``schema.TrackingBlock`` (None: no tracking)."""
    if block is None:
        return TrackingSpec()
    mlflow = None
    if block.mlflow is not None:
        m = block.mlflow
        mlflow = MlflowSpec(tracking_uri=m.tracking_uri, experiment=sweep_name if m.experiment is None else m.experiment,
                            log_checkpoint=m.log_checkpoint)
        if not mlflow.tracking_uri.strip():
            raise SweepFileError(source, "tracking.mlflow.tracking_uri", "must not be empty")
        if not mlflow.experiment.strip():
            raise SweepFileError(source, "tracking.mlflow.experiment", "must not be empty")
    return TrackingSpec(block.tensorboard, mlflow)   # installed? checked when a run starts (raytune/tracking.py)
