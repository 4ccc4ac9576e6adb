"""A schedule replayed: a PBT winner's parameters changing at given epochs.

``config[SCHEDULE_KEY]`` holds, as JSON, ``{param: [[first epoch, value], ...]}``
(``orchestrator.ranking.lineage.changes``). The trial trains in spans: each span
rebuilds the model with the values in force from its first epoch and continues from
the weights and optimizer state the span before left, as the population's member did
when it changed them. A config without a schedule is one span.
"""
from __future__ import annotations

import json
from typing import Any

from trainables.contract.keys import SCHEDULE_KEY


def steps_of(config: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """The schedule a config carries (empty for none); a malformed one is an error."""
    raw = config.get(SCHEDULE_KEY)
    if raw in (None, ""):
        return {}
    steps = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(steps, dict) or not all(isinstance(s, list) and s and all(len(x) == 2 for x in s)
                                              for s in steps.values()):
        raise ValueError(f"config {SCHEDULE_KEY}: expected {{param: [[epoch, value], ...]}}, got {raw!r}")
    return steps


def value_at(steps: list[list[Any]], epoch: int) -> Any:
    """The value ``steps`` give epoch ``epoch`` (1-based).

    >>> value_at([[1, 0.1], [3, 0.08]], 2), value_at([[1, 0.1], [3, 0.08]], 3)
    (0.1, 0.08)
    """
    value = steps[0][1]
    for first, v in steps:
        if first <= epoch:
            value = v
    return value


def spans(config: dict[str, Any], max_epochs: int) -> list[tuple[dict[str, Any], int]]:
    """``[(config in force, last epoch of the span), ...]`` covering epochs 1..max_epochs.

    >>> spans({"lr": 0.1, "schedule": '{"lr": [[1, 0.1], [3, 0.05]]}'}, 4)
    [({'lr': 0.1}, 2), ({'lr': 0.05}, 4)]
    >>> spans({"lr": 0.1}, 4)
    [({'lr': 0.1}, 4)]
    """
    steps = steps_of(config)
    plain = {k: v for k, v in config.items() if k != SCHEDULE_KEY}
    firsts = sorted({int(first) for s in steps.values() for first, _ in s if 1 < int(first) <= max_epochs})
    starts = [1, *firsts]
    out = []
    for i, first in enumerate(starts):
        last = starts[i + 1] - 1 if i + 1 < len(starts) else max_epochs
        out.append(({**plain, **{p: value_at(s, first) for p, s in steps.items()}}, last))
    return out
