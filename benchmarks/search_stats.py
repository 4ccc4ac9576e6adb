"""From many search runs (tools x seeds) to the comparison table: pure arithmetic.

A run is what one tool did with one sampler seed: its wall time, epochs trained, best
validation accuracy, its winner's test accuracy and its anytime curve, the list of
``[seconds since the command started, validation accuracy of that epoch]``.

The bar every tool is timed against is the peers' median best: the median, over every
run of every tool other than tunefm's, of that run's best validation accuracy; and a
second bar 0.5 points below it. A run that never reaches a bar counts as infinitely
slow, so a median over seeds is "never" when most runs never got there.
"""
from __future__ import annotations

import math
import statistics
from typing import Any

OURS_PREFIX = "tunefm"
HALF_POINT = 0.005
IDLE_TARGET = 0.05    # issue 31: idle slot-time under 5%
STALL_RATIO = 2.0     # an epoch over twice its trial's median counts as stalled


def first_time(curve: list[list[float]], threshold: float) -> float | None:
    """Seconds until the best validation accuracy so far first reaches ``threshold``."""
    best = float("-inf")
    for t, value in sorted(curve):
        best = max(best, value)
        if best >= threshold - 1e-12:
            return round(float(t), 1)
    return None


def peers_bar(runs: dict[str, list[dict[str, Any]]]) -> float | None:
    """The median best validation accuracy over every peer run (not tunefm's own)."""
    bests = [run["best_val_accuracy"] for tool, rs in runs.items() if not tool.startswith(OURS_PREFIX)
             for run in rs]
    return round(statistics.median(bests), 4) if bests else None


def spread(values: list[float | None]) -> dict[str, float | None]:
    """Median, min and max; None stands for "never" (infinity) and stays None."""
    finite = [math.inf if v is None else float(v) for v in values]
    if not finite:
        return {"median": None, "min": None, "max": None}

    def back(x: float) -> float | None:
        return None if math.isinf(x) else round(x, 4)

    return {"median": back(statistics.median(finite)), "min": back(min(finite)), "max": back(max(finite))}


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per tool: the spread over seeds of each measure, and of the times to both bars."""
    bar = peers_bar(runs)
    tools = {}
    for tool, rs in runs.items():
        for run in rs:
            run["seconds_to_bar"] = None if bar is None else first_time(run["curve"], bar)
            run["seconds_to_bar_minus_half_point"] = None if bar is None else first_time(run["curve"], bar - HALF_POINT)
            run["stalled_epochs"] = stalled_epochs(run["epochs"]) if run.get("epochs") else None
        tools[tool] = {"runs": len(rs), **{key: spread([run.get(key) for run in rs]) for key in (
            "wall_seconds", "epochs_trained", "trials", "best_val_accuracy", "winner_test_accuracy",
            "seconds_to_bar", "seconds_to_bar_minus_half_point", "idle_slot_share")},
            "stalled_epochs": spread([run["stalled_epochs"] for run in rs if run["stalled_epochs"] is not None])}
    return {"bar": bar, "bar_minus_half_point": None if bar is None else round(bar - HALF_POINT, 4),
            "tools": tools, "verdict": verdict(tools), "targets": targets(runs)}


def targets(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Issue 31's other targets per tunefm variant, on the medians over seeds: the whole
    sweep at most the fastest peer's, the winner's test accuracy at least the best peer's,
    idle slot-time under ``IDLE_TARGET``. Each: our median, the peer's it is held to (and
    which peer), and met. A tool with a run that lacks the value has no median for it
    (not "never", as for a time to the bar): a peer without one is left out, and our own
    missing median makes the target not measured (met None)."""
    peers = [t for t in runs if not t.startswith(OURS_PREFIX)]

    def median(tool: str, key: str) -> float | None:
        values = [run.get(key) for run in runs[tool]]
        if not values or any(v is None for v in values):
            return None
        return round(statistics.median(float(v) for v in values), 4)

    def against(tool: str, key: str, pick, ok) -> dict[str, Any]:
        known = [(median(t, key), t) for t in peers if median(t, key) is not None]
        mine = median(tool, key)
        if not known or mine is None:
            return {"ours": mine, "peer": None, "peer_tool": None, "met": None}
        value, who = pick(known)
        return {"ours": mine, "peer": value, "peer_tool": who, "met": ok(mine, value)}

    out = {}
    for tool in (t for t in runs if t.startswith(OURS_PREFIX)):
        idle = median(tool, "idle_slot_share")
        out[tool] = {"wall_seconds": against(tool, "wall_seconds", min, lambda a, b: a <= b),
                     "winner_test_accuracy": against(tool, "winner_test_accuracy", max, lambda a, b: a >= b),
                     "idle_slot_share": {"ours": idle, "target": IDLE_TARGET,
                                         "met": None if idle is None else idle < IDLE_TARGET}}
    return out


def stalled_epochs(epochs: list[list]) -> int:
    """Epochs that took over ``STALL_RATIO`` times their trial's median epoch at the same
    slot count; ``epochs`` holds [trial, start, end, worker, (slots, default 1)]. A trial's
    first epoch at each slot count (it traces the train step) is left out, and a trial
    with fewer than 3 other epochs at that count is not judged.

    >>> stalled_epochs([["a", 0, 9, 1]] + [["a", 9 + i, 10 + i, 1] for i in range(3)] + [["a", 12, 15, 1]])
    1
    """
    groups: dict[tuple[str, float], list[float]] = {}
    for e in sorted(epochs, key=lambda e: e[1]):
        groups.setdefault((str(e[0]), (e[4] if len(e) > 4 else None) or 1), []).append(e[2] - e[1])
    stalled = 0
    for seconds in groups.values():
        rest = seconds[1:]
        if len(rest) >= 3:
            m = statistics.median(rest)
            stalled += sum(x > STALL_RATIO * m for x in rest)
    return stalled


def verdict(tools: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Is each tunefm variant's median time to the bar below every peer's median (a peer that
    never gets there counts as slower), and below half the fastest peer's?"""
    def median_time(tool: str) -> float:
        v = tools[tool]["seconds_to_bar"]["median"]
        return math.inf if v is None else v

    peers = [t for t in tools if not t.startswith(OURS_PREFIX)]
    fastest = min((median_time(t) for t in peers), default=math.inf)
    out = {}
    for tool in (t for t in tools if t.startswith(OURS_PREFIX)):
        mine = median_time(tool)
        out[tool] = {"beats_every_peer": bool(peers) and not math.isinf(mine) and all(mine < median_time(t)
                                                                                     for t in peers),
                     "within_half_of_fastest_peer": not math.isinf(mine) and mine <= fastest / 2}
    return out


def idle_share(epochs: list[list], slots: int) -> float | None:
    """The share of slot-time, from the first epoch's start to the last one's end, in which a
    slot trained nothing: ``epochs`` holds [trial, start, end, worker, (slots it filled,
    default 1)] per epoch; a grown trial fills more than one slot.

    >>> idle_share([["a", 0, 10, 1], ["b", 0, 5, 2], ["b", 5, 10, 2, 2]], 2)
    0.0
    >>> idle_share([["a", 0, 10, 1], ["b", 0, 5, 2]], 2)
    0.25
    """
    if not epochs:
        return None
    starts = [float(e[1]) for e in epochs]
    ends = [float(e[2]) for e in epochs]
    fills = [float(e[4]) if len(e) > 4 and e[4] else 1.0 for e in epochs]
    edges = sorted(set(starts + ends))
    used = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        mid = (a + b) / 2
        used += min(slots, sum(f for s, e, f in zip(starts, ends, fills) if s <= mid < e)) * (b - a)
    span = edges[-1] - edges[0]
    return round(1 - used / (slots * span), 3) if span > 0 else 0.0
