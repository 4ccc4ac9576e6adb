"""Replaying a sweep over recorded learning curves: which trials a promotion rule lets
train, and when each epoch ends, on a given number of slots.

A trial's validation accuracy after epoch k does not depend on whether it is stopped
later, so a table of trials trained to max_epochs (``Curve``) answers every early-stopping
rule's sweep exactly, apart from timing noise: this is how Syne Tune's simulator backend
replays its tabulated benchmarks. Here the rule's decisions are Ray Tune's own
``AsyncHyperBandScheduler`` (what tunefm runs), fed the metric and the clock each rule
names (``Rule``); the clock is event-driven: each slot trains one trial at a time, a
trial's set-up and epochs take their recorded seconds, and a freed slot starts the next
trial in the replay's order.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np


@dataclass(frozen=True)
class Curve:
    """One trial trained to max_epochs: its validation accuracy and seconds per epoch
    (1-based epochs at index 0...), and its set-up seconds before the first epoch."""

    trial: str
    val: tuple[float, ...]
    seconds: tuple[float, ...]
    setup: float = 0.0
    params: int = 0

    def __post_init__(self):
        if not self.val or len(self.val) != len(self.seconds):
            raise ValueError(f"curve {self.trial}: {len(self.val)} accuracies for {len(self.seconds)} epochs")
        if not all(math.isfinite(x) and x >= 0 for x in (self.setup, *self.seconds)):
            raise ValueError(f"curve {self.trial}: set-up and epoch seconds must be finite and >= 0")


@dataclass(frozen=True)
class Rule:
    """An ASHA promotion rule.

    - ``clock`` "epochs": rungs at ``grace`` x reduction^k epochs (tunefm's default);
      "seconds": rungs at ``grace`` x reduction^k seconds of the trial's own training
      (a time budget per rung: a cheap trial reaches a rung after more epochs);
    - ``cost_weight`` w > 0: a rung ranks accuracy / (seconds per epoch so far) ** w,
      accuracy per cost (0: accuracy alone). Trials end at max_epochs either way.
    """

    name: str
    clock: str = "epochs"
    grace: float = 1.0
    reduction: float = 3.0
    brackets: int = 1
    cost_weight: float = 0.0

    def __post_init__(self):
        if self.clock not in ("epochs", "seconds"):
            raise ValueError(f"rule {self.name}: clock must be epochs or seconds, got {self.clock!r}")
        if self.grace <= 0 or self.reduction <= 1 or self.brackets < 1 or self.cost_weight < 0:
            raise ValueError(f"rule {self.name}: grace > 0, reduction > 1, brackets >= 1, cost_weight >= 0")


@dataclass(frozen=True)
class Replay:
    """One replayed sweep: every epoch trained as (end time s, trial, epoch, val accuracy),
    in the order they ended; ``wall`` is the last one's end."""

    epochs: tuple[tuple[float, str, int, float], ...]
    stopped: tuple[str, ...]
    first_start: float = 0.0     # when the first epoch began (after its trial's set-up)

    @property
    def wall(self) -> float:
        return self.epochs[-1][0] if self.epochs else 0.0

    @property
    def best(self) -> float:
        return max((v for *_, v in self.epochs), default=float("nan"))

    def first_time(self, bar: float) -> float | None:
        """When an epoch first reached ``bar`` (None: never)."""
        return next((t for t, _, _, v in self.epochs if v >= bar), None)


def scheduler(rule: Rule, max_epochs: int, max_seconds: float):
    """Ray Tune's ASHA as ``rule`` asks: metric "score", clock "clock"."""
    from ray.tune.schedulers import AsyncHyperBandScheduler

    max_t = max_epochs if rule.clock == "epochs" else max(max_seconds, rule.grace)
    return AsyncHyperBandScheduler(time_attr="clock", metric="score", mode="max", max_t=max_t,
                                   grace_period=rule.grace, reduction_factor=rule.reduction,
                                   brackets=rule.brackets, stop_last_trials=False)


def replay(curves: Sequence[Curve], rule: Rule, slots: int, seed: int, max_seconds: float | None = None) -> Replay:
    """The sweep of ``curves`` in this order on ``slots`` slots under ``rule``; ``seed``
    draws ASHA's brackets (Ray draws them from numpy's global generator). ``max_seconds``
    (the "seconds" clock's top rung) should be the same for every replay compared: by
    default the longest of these curves' training."""
    from ray.tune.schedulers import TrialScheduler

    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    max_epochs = max(len(c.val) for c in curves)
    asha = scheduler(rule, max_epochs, max_seconds or max(sum(c.seconds) for c in curves))
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        events: list[tuple[float, int, int, int]] = []   # (end time, tie-break, curve index, epoch)
        pending = list(range(len(curves)))[::-1]
        done: list[tuple[float, str, int, float]] = []
        stopped: list[str] = []
        order = 0
        first_start = float("inf")

        def start(now: float) -> None:
            nonlocal order, first_start
            if pending:
                i = pending.pop()
                asha.on_trial_add(None, _trial(curves[i]))
                first_start = min(first_start, now + curves[i].setup)
                heapq.heappush(events, (now + curves[i].setup + curves[i].seconds[0], order, i, 1))
                order += 1

        for _ in range(slots):
            start(0.0)
        while events:
            now, _, i, epoch = heapq.heappop(events)
            c = curves[i]
            done.append((now, c.trial, epoch, c.val[epoch - 1]))
            result = {"clock": epoch if rule.clock == "epochs" else sum(c.seconds[:epoch]),
                      "score": score(c, epoch, rule.cost_weight)}
            last = epoch == len(c.val)
            if last:
                asha.on_trial_complete(None, _trial(c), result)
            elif asha.on_trial_result(None, _trial(c), result) == TrialScheduler.STOP:
                stopped.append(c.trial)
                last = True
            if last:
                start(now)
            else:
                heapq.heappush(events, (now + c.seconds[epoch], order, i, epoch + 1))
                order += 1
        return Replay(tuple(done), tuple(stopped), first_start if done else 0.0)
    finally:
        np.random.set_state(state)


def score(curve: Curve, epoch: int, cost_weight: float) -> float:
    """What a rung ranks: the accuracy after ``epoch``, divided by the seconds per epoch
    so far to the power ``cost_weight`` (what a real trial knows at that point)."""
    accuracy = curve.val[epoch - 1]
    if cost_weight == 0:
        return accuracy
    per_epoch = sum(curve.seconds[:epoch]) / epoch
    return accuracy / math.pow(max(per_epoch, 1e-9), cost_weight)


def _trial(curve: Curve) -> SimpleNamespace:
    return SimpleNamespace(trial_id=curve.trial)


def cost_tilted_draw(params: Sequence[int], k: int, tilt: float, rng: np.random.Generator) -> list[int]:
    """``k`` of the curves, drawn without replacement with probability proportional to
    params ** -tilt (0: uniform): proposals that know what a model costs before it trains
    (its parameter count) and favour the cheap ones, as a cost-aware sampler would (an
    acquisition per second, Snoek et al. 2012, or a cost-weighted prior). Over a pool
    recorded by a uniform sampler this re-weights the pool; it cannot propose a model the
    pool lacks."""
    if tilt < 0 or k > len(params) or any(p <= 0 for p in params):
        raise ValueError(f"cost_tilted_draw: tilt >= 0, k <= {len(params)} curves and parameter counts > 0")
    w = np.asarray(params, dtype=float) ** -tilt
    return [int(i) for i in rng.choice(len(params), size=k, replace=False, p=w / w.sum())]
