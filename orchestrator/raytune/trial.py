"""Ray Tune's side of a trial: the ``TrialContext`` the trial loop gets in its settings.

Everything a tunefm trial asks of Ray goes through here: its id, reporting an epoch with
its checkpoint, the checkpoint it restarts from, Tune's stop flag, the node and the GPUs
it runs on, and the sweep's shared backbone features (``features``).
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

from orchestrator.raytune import private

T = TypeVar("T")


@dataclass(frozen=True)
class RayTrialContext:
    feature_cache: str | None = None     # the sweep's feature-cache actor, when a family shares features

    def trial_id(self) -> str | None:
        try:
            from ray import tune

            return tune.get_context().get_trial_id()
        except Exception:  # outside Ray
            return None

    def report(self, metrics: dict, checkpoint_dir: str | None = None) -> None:
        from ray import tune

        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(metrics, checkpoint=checkpoint)

    @contextlib.contextmanager
    def restored(self) -> Iterator[str | None]:
        """The latest checkpoint Ray hands this trial, or, where its files are gone, the
        newest complete one beside it (``trainables.training.checkpoints.usable``)."""
        from ray import tune

        from trainables.training.checkpoints import usable

        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        fs = checkpoint.filesystem
        path = usable(fs, checkpoint.path)
        with tune.Checkpoint(path, filesystem=fs).as_directory() as folder:
            yield folder

    def cpus(self) -> float | None:
        """The cores the trial holds now (a trial given idle cores starts again with more:
        ``raytune.growth``); None outside Ray."""
        try:
            from ray import tune

            return float(tune.get_context().get_trial_resources().required_resources.get("CPU", 0.0)) or None
        except Exception:  # outside Ray
            return None

    def stop_event(self) -> threading.Event | None:
        return private.trial_stop_event()

    def node_id(self) -> str | None:
        try:
            import ray

            return ray.get_runtime_context().get_node_id()
        except Exception:  # outside Ray
            return None

    def gpu_ids(self) -> str:
        try:
            import ray

            return ",".join(map(str, ray.get_runtime_context().get_accelerator_ids().get("GPU", [])))
        except Exception:
            return ""

    def shared_features(self, key: str, compute: Callable[[], T]) -> tuple[T, bool]:
        from orchestrator.raytune.features import get_or_compute

        return get_or_compute(self.feature_cache, key, compute)
