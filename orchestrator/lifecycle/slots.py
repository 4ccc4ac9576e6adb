"""Who gets the cores that fall idle at a sweep's tail.

While a trial waits to start, or the search may still propose one, every core has its
trial and nothing changes (a trial's speed never drops while every slot is busy). Once
nothing waits, a core left by a trial that ended goes to a trial still running: the
trial pauses at its next epoch's report and starts again from that epoch's checkpoint,
in a worker whose backend runs as many threads as it now has cores. The restart costs
seconds (a new worker, the backend's import, the model built and its weights loaded),
so a trial grows only where the time it saves over its remaining epochs is larger.

The cores of one machine are shared fairly among the trials running on it; a GPU
trial never grows (its speed is the GPU's, not its threads').

>>> big = Slot("a", "n1", cpus=1, epochs_left=6, epoch_seconds=24.0)
>>> grown(big, [big], node_cpus=2)                       # alone on 2 cores: 2 threads
2
>>> grown(big, [big, Slot("b", "n1", 1, 3, 24.0)], node_cpus=2) is None     # both cores busy
True
>>> grown(Slot("c", "n1", 1, 6, 0.6), [Slot("c", "n1", 1, 6, 0.6)], node_cpus=2) is None  # not worth a restart
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from trainables.contract.errors import UserError

# What a grown trial's restart costs: the pause at its report, a new worker (the
# backend's import), the model built, its weights loaded. Measured on this project's
# 2-core machine as the gap between the report before the restart and the start of the
# first epoch after it: 4.4 s (a 0.9M-parameter CNN, 6,000 images), 5.6 s and 5.0 s in
# benchmarks/tail.py's runs (it prints it for each run: "restart").
RESTART_SECONDS = 5.0
RESTART_ENV = "TUNEFM_RESTART_SECONDS"   # another machine's restart cost (a cluster with slow imports)
# A trial's epoch with k times the threads takes 1 / k**THREAD_EXPONENT of the time:
# measured on 2 cores, a 0.9M-parameter two-block CNN's epoch went
# from 4.05 s to 2.5 s with a second thread (1.6x = 2**0.68); a 30k-parameter one's
# did not change, and its epochs are too short to pass the restart cost anyway.
THREAD_EXPONENT = 0.68


def restart_seconds(environ: Mapping[str, str]) -> float:
    """The restart cost a trial's saving must beat: ``TUNEFM_RESTART_SECONDS``, or the one
    measured here.

    >>> restart_seconds({}), restart_seconds({"TUNEFM_RESTART_SECONDS": "12"})
    (5.0, 12.0)
    """
    text = environ.get(RESTART_ENV)
    if text is None:
        return RESTART_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or math.isinf(value):
        raise UserError(f"{RESTART_ENV}={text!r}: must be a number of seconds, 0 or more")
    return value


@dataclass(frozen=True)
class Slot:
    """A running trial, as its latest epoch's report saw it."""

    trial_id: str
    node: str                # the machine it runs on
    cpus: float              # the cores it holds (or will hold, where it grows)
    epochs_left: int         # to its epoch budget (ASHA may stop it sooner)
    epoch_seconds: float     # its latest epoch's


def seconds_saved(cpus: float, new_cpus: float, epochs_left: int, epoch_seconds: float) -> float:
    """Time the trial's remaining epochs save by running with ``new_cpus`` threads.

    >>> round(seconds_saved(1, 2, 5, 24.0))
    45
    """
    speedup = (new_cpus / cpus) ** THREAD_EXPONENT
    return epochs_left * epoch_seconds * (1.0 - 1.0 / speedup)


def grown(slot: Slot, running: Sequence[Slot], node_cpus: float,
          restart_seconds: float = RESTART_SECONDS) -> int | None:
    """The cores ``slot``'s trial should start again with, or None to leave it be.

    ``running``: every trial running now (``slot`` among them), each with the cores it
    holds or was already given; ``node_cpus``: the cores of ``slot``'s machine. The
    caller asks only when no trial waits to start and the search proposes no more."""
    on_node = [r for r in running if r.node == slot.node] or [slot]
    free = node_cpus - sum(r.cpus for r in on_node)
    fair = math.floor(node_cpus / len(on_node))
    new = min(fair, math.floor(slot.cpus + free))
    if new <= slot.cpus or slot.epochs_left <= 0:
        return None
    if seconds_saved(slot.cpus, new, slot.epochs_left, slot.epoch_seconds) <= restart_seconds:
        return None
    return new
