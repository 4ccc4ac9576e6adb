"""Who copied whom in a population-based sweep, and the schedule a winner was trained by.

A PBT member that copies a donor at epoch ``n`` continues from the donor's epoch-``n``
checkpoint with its own new parameters; its epoch ``n + 1`` row names the donor
(``copied_from``, ``copied_epoch``). So the weights a trial holds after epoch ``e`` were
trained, epoch by epoch, by a chain of trials: its own rows back to its last copy, then
the donor's rows up to the epoch copied, and so on. ``schedule`` walks that chain and
gives, for every epoch, the trial that trained it and the parameters in force: a PBT
winner is that schedule, not one configuration. Pure: pandas in, pandas out.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from trainables.contract.keys import CONFIG_PREFIX, EPOCH, TRIAL_ID

COPIED_FROM, COPIED_EPOCH = "copied_from", "copied_epoch"
TRAINED_BY = "trained_by"


def copies(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per copy: the copier (``trial_id``), the epoch it continued at (``epoch``,
    its first after the copy), the donor and the donor's epoch copied; by epoch."""
    cols = [TRIAL_ID, EPOCH, COPIED_FROM, COPIED_EPOCH]
    if metrics.empty or COPIED_FROM not in metrics:
        return pd.DataFrame(columns=cols)
    rows = metrics[metrics[COPIED_FROM].notna()][cols]
    return rows.sort_values([EPOCH, TRIAL_ID]).reset_index(drop=True)


def schedule(metrics: pd.DataFrame, trial_id: str, upto: int, params: list[str]) -> pd.DataFrame:
    """Epochs 1..``upto`` of the weights ``trial_id`` held after epoch ``upto``: for each,
    the trial that trained it (``trained_by``) and each of ``params`` in force then.
    Stops short (fewer rows) where the chain leads to an epoch no row records.

    >>> m = pd.DataFrame({"trial_id": ["a", "a", "b", "b", "b"], "epoch": [1, 2, 1, 2, 3],
    ...                   "copied_from": [None, None, None, None, "a"], "copied_epoch": [None, None, None, None, 2],
    ...                   "config_lr": [0.1, 0.1, 0.5, 0.5, 0.08]})
    >>> schedule(m, "b", 3, ["lr"]).values.tolist()
    [[1, 'a', 0.1], [2, 'a', 0.1], [3, 'b', 0.08]]
    """
    columns = [CONFIG_PREFIX + p for p in params]
    by_trial = {tid: rows.set_index(EPOCH) for tid, rows in metrics.groupby(TRIAL_ID)}
    out: list[list[Any]] = []
    trial, epoch, seen = trial_id, int(upto), set()
    while epoch >= 1:
        rows = by_trial.get(trial)
        if rows is None or epoch not in rows.index or (trial, epoch) in seen:
            break
        seen.add((trial, epoch))
        row = rows.loc[epoch]
        out.append([epoch, trial, *[row.get(c) if c in row.index else None for c in columns]])
        donor = row.get(COPIED_FROM) if COPIED_FROM in row.index else None
        if isinstance(donor, str) and donor:
            trial, epoch = donor, int(row[COPIED_EPOCH])    # epochs up to the copy were the donor's
        else:
            epoch -= 1
    out.reverse()
    return pd.DataFrame(out, columns=[EPOCH, TRAINED_BY, *params])


def changes(sched: pd.DataFrame, params: list[str]) -> dict[str, list[list[Any]]]:
    """Per parameter, ``[[first epoch, value], ...]`` at each change (the first entry at
    epoch 1): what ``repeat`` replays and the model card prints.

    >>> s = pd.DataFrame({"epoch": [1, 2, 3, 4], "trained_by": list("aabb"), "lr": [0.1, 0.1, 0.08, 0.08]})
    >>> changes(s, ["lr"])
    {'lr': [[1, 0.1], [3, 0.08]]}
    """
    out: dict[str, list[list[Any]]] = {}
    for p in params:
        steps: list[list[Any]] = []
        for epoch, value in zip(sched[EPOCH], sched[p]):
            value = _plain(value)
            if not steps or steps[-1][1] != value:
                steps.append([int(epoch), value])
        out[p] = steps
    return out


def describe(steps: dict[str, list[list[Any]]]) -> list[str]:
    """One line per parameter: ``lr: 0.001 (epochs 1-2), 0.0008 (from 3)``."""
    lines = []
    for p, s in steps.items():
        parts = []
        for i, (first, value) in enumerate(s):
            last = s[i + 1][0] - 1 if i + 1 < len(s) else None
            span = f"from {first}" if last is None else (f"epoch {first}" if last == first else f"epochs {first}-{last}")
            parts.append(f"{_fmt(value)} ({span})")
        lines.append(f"{p}: " + ", ".join(parts))
    return lines


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
