"""Ray's side of ``lifecycle.slots``: at a trial's report, whether it should start again
with the cores that fell idle, and, once it has paused, giving it those cores.

Ray Tune's own ``ResourceChangingScheduler`` does this for one resource shape and
without reused workers; tunefm's families ask for different resources and its workers
are reused, so the per-family scheduler does it itself, and only when no trial waits
and the search proposes no more (then Tune caches no idle worker that could hold a
core: ``TuneController._maybe_cache_trial_actor``).
"""
from __future__ import annotations

from typing import Any

from ray.tune import PlacementGroupFactory
from ray.tune.experiment import Trial

from orchestrator.lifecycle.slots import Slot, grown


def node_cpus() -> dict[str, float]:
    """The CPUs of each live machine of the cluster, by its address."""
    import ray

    return {n["NodeManagerAddress"]: float(n.get("Resources", {}).get("CPU", 0.0))
            for n in ray.nodes() if n.get("Alive")}


def cpus_of(trial) -> tuple[float, float]:
    needs = trial.placement_group_factory.required_resources
    return float(needs.get("CPU", 0.0)), float(needs.get("GPU", 0.0))


def should_grow(tune_controller, trial, result: dict[str, Any], given: dict[str, float],
                restart_seconds: float) -> int | None:
    """The cores ``trial`` should start again with (it reported ``result``), or None.

    ``given``: trials already paused to grow, and their new cores; ``restart_seconds``:
    what the restart costs (``slots.restart_seconds``)."""
    epoch, budget, seconds = result.get("epoch"), result.get("max_epochs"), result.get("epoch_seconds")
    node = result.get("node_ip")
    if not epoch or not budget or not seconds or not node or result.get("done"):
        return None              # not an epoch's report of a trial that goes on
    cpus, gpus = cpus_of(trial)
    if gpus > 0 or cpus < 1:
        return None
    if not tune_controller.search_alg.is_finished():
        return None              # the search may still propose a trial: every core is its
    live = tune_controller.get_live_trials()
    if any(t.status == Trial.PENDING or (t.status == Trial.PAUSED and t.trial_id not in given) for t in live):
        return None              # a trial waits for a core
    machines = node_cpus()
    if node not in machines:
        return None
    slot = Slot(trial.trial_id, str(node), cpus, int(budget) - int(epoch), float(seconds))
    running = [slot]
    for other in live:
        if other is trial:
            continue
        where = (other.last_result or {}).get("node_ip") or (slot.node if len(machines) == 1 else None)
        if where is None:
            return None          # a trial that has not reported yet, on a cluster: where it runs is unknown
        running.append(Slot(other.trial_id, str(where), given.get(other.trial_id, cpus_of(other)[0]), 0, 0.0))
    return grown(slot, running, machines[slot.node], restart_seconds)


def give(trial, cpus: float) -> None:
    """Set a paused trial's cores (its GPUs stay as they were)."""
    _, gpus = cpus_of(trial)
    trial.update_resources(PlacementGroupFactory([{"CPU": float(cpus), "GPU": gpus}]))
