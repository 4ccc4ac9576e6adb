"""Backbone features computed once per sweep and shared through Ray's object store.

A frozen backbone maps the same images to the same features in every trial, so the
first trial that needs a (backbone, input size, weights, pooling, data) combination
computes them and publishes them; later trials fetch them and train only their head.
A named actor owns the objects for the sweep's lifetime and makes concurrent trials
wait for the one already computing instead of computing twice. A trial reaches it through
its context (``trial.RayTrialContext.shared_features``).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

WAIT_SECONDS = 0.5


class FeatureCache:
    """Ray actor: key -> ObjectRef of the features, plus who is computing what."""

    def __init__(self):
        self._refs: dict[str, Any] = {}
        self._computing: set[str] = set()

    def lookup(self, key: str) -> tuple[str, list]:
        if key in self._refs:
            return "hit", [self._refs[key]]          # wrapped: a bare ref would be resolved
        if key in self._computing:
            return "wait", []
        self._computing.add(key)
        return "compute", []

    def publish(self, key: str, features: dict[str, np.ndarray]) -> None:
        import ray

        self._refs[key] = ray.put(features)           # owned by this actor, lives with the sweep
        self._computing.discard(key)

    def abandon(self, key: str) -> None:
        self._computing.discard(key)


def actor_name(run_id: str) -> str:
    return f"tunefm-features-{run_id}"


def start(run_id: str):
    """Create the sweep's cache actor (driver side); returns its handle."""
    import ray

    from orchestrator.raytune.worker import WARM_ENV

    # it holds arrays and never trains: its worker does not import Keras (7-8 s of CPU)
    return ray.remote(num_cpus=0, runtime_env={"env_vars": {WARM_ENV: "0"}})(FeatureCache).options(
        name=actor_name(run_id)).remote()


def get_or_compute(name: str | None, key: str, compute: Callable[[], dict[str, np.ndarray]]
                   ) -> tuple[dict[str, np.ndarray], bool]:
    """Features for ``key`` and whether they came from the cache (no cache: compute)."""
    if name is None:
        return compute(), False
    import ray

    try:
        cache = ray.get_actor(name)
    except ValueError:          # not running under a sweep with a cache
        return compute(), False
    while True:
        state, ref = ray.get(cache.lookup.remote(key))
        if state == "hit":
            return ray.get(ref[0]), True
        if state == "compute":
            break
        time.sleep(WAIT_SECONDS)
    try:
        features = compute()
    except BaseException:
        cache.abandon.remote(key)
        raise
    ray.get(cache.publish.remote(key, features))
    return features, False
