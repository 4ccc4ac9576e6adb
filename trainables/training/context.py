"""What a trial needs from the tuner that runs it, as one small interface.

The trial loop (``trial.run_trial``) reports each epoch with its checkpoint, restarts
from the checkpoint the tuner hands it, watches the tuner's stop flag and shares
backbone features with the other trials of its sweep, all through a ``TrialContext``
that its ``TrialSettings`` carry. Ray Tune's is ``orchestrator.raytune.trial``; the
trial code never names Ray. ``LocalContext`` runs a trial's pieces outside any tuner
(a notebook, a test): features are computed, and a report is an error.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, ContextManager, Iterator, Protocol, TypeVar

T = TypeVar("T")


class TrialContext(Protocol):
    def trial_id(self) -> str | None:
        """The tuner's id of this trial (None outside a tuner)."""

    def report(self, metrics: dict, checkpoint_dir: str | None = None) -> None:
        """Report one epoch, with the checkpoint folder written for it (the tuner copies it)."""

    def restored(self) -> ContextManager[str | None]:
        """The local folder of the checkpoint this trial restarts from (a retry, a resume),
        or None for a trial that starts afresh."""

    def cpus(self) -> float | None:
        """The cores the tuner gives this trial now (None: the sweep's ``resources.cpus``)."""

    def stop_event(self) -> threading.Event | None:
        """Set once the tuner asks this trial to stop (None: only seen at a report)."""

    def node_id(self) -> str | None: ...

    def gpu_ids(self) -> str:
        """The GPUs given to this trial, e.g. "0" or "0,1"; "" on CPU."""

    def shared_features(self, key: str, compute: Callable[[], T]) -> tuple[T, bool]:
        """``compute()``'s value for ``key``, computed once per sweep and shared by its
        trials; True when it came from another trial."""


class LocalContext:
    """A trial outside any tuner: nothing to restart from, nobody to report to."""

    def trial_id(self) -> str | None:
        return None

    def report(self, metrics: dict, checkpoint_dir: str | None = None) -> None:
        raise RuntimeError("this trial runs outside a tuner (its settings carry no trial context): "
                           "nothing receives its reports")

    @contextlib.contextmanager
    def restored(self) -> Iterator[str | None]:
        yield None

    def cpus(self) -> float | None:
        return None

    def stop_event(self) -> threading.Event | None:
        return None

    def node_id(self) -> str | None:
        return None

    def gpu_ids(self) -> str:
        return ""

    def shared_features(self, key: str, compute: Callable[[], T]) -> tuple[T, bool]:
        return compute(), False
