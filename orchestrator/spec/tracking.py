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

from orchestrator.spec.reader import Node

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


def tracking_spec(root: Node, sweep_name: str) -> TrackingSpec:
    if not root.has("tracking"):
        return TrackingSpec()
    node = root.node("tracking")
    tensorboard = node.take_bool("tensorboard", False)
    mlflow = None
    if node.raw("mlflow", None) is not None:
        m = node.node("mlflow")
        mlflow = MlflowSpec(tracking_uri=m.take_str("tracking_uri"), experiment=m.take_str("experiment", sweep_name),
                            log_checkpoint=m.take_bool("log_checkpoint", False))
        if not mlflow.tracking_uri.strip():
            raise m.error("must not be empty", "tracking_uri")
        if not mlflow.experiment.strip():
            raise m.error("must not be empty", "experiment")
        m.done()
    node.done()
    return TrackingSpec(tensorboard, mlflow)   # installed? checked when a run starts (run/tracking.py)
