"""Who gets the cores that fall idle at a sweep's tail (lifecycle.slots: pure)."""
from __future__ import annotations

import pytest

from orchestrator.lifecycle.slots import RESTART_SECONDS, Slot, grown, restart_seconds, seconds_saved
from trainables.contract.errors import UserError


def slot(tid: str, cpus: float = 1, left: int = 6, seconds: float = 24.0, node: str = "n1") -> Slot:
    return Slot(tid, node, cpus, left, seconds)


def test_a_trial_alone_on_a_machine_takes_its_idle_cores():
    a = slot("a")
    assert grown(a, [a], node_cpus=2) == 2
    assert grown(a, [a], node_cpus=8) == 8


def test_nothing_changes_while_every_core_is_busy():
    a = slot("a")
    assert grown(a, [a, slot("b")], node_cpus=2) is None
    big = slot("big", cpus=2)
    assert grown(big, [big, slot("b"), slot("c")], node_cpus=4) is None


def test_the_idle_cores_of_a_machine_are_shared_fairly_among_its_trials():
    # 16 cores, three 2-core trials: each may go to 5 (16 // 3), one at a time as they report
    a, b, c = slot("a", 2), slot("b", 2), slot("c", 2)
    assert grown(a, [a, b, c], node_cpus=16) == 5
    a5 = slot("a", 5)
    assert grown(b, [a5, b, c], node_cpus=16) == 5
    b5 = slot("b", 5)
    assert grown(c, [a5, b5, c], node_cpus=16) == 5       # 1 core stays idle: 16 is not a multiple of 3
    assert grown(a5, [a5, b5, slot("c", 5)], node_cpus=16) is None


def test_only_the_cores_of_the_trials_own_machine_count():
    a = slot("a", node="n1")
    others = [slot("x", node="n2"), slot("y", node="n2")]
    assert grown(a, [a, *others], node_cpus=2) == 2          # n2's trials do not hold n1's cores
    assert grown(a, [a, slot("b", node="n1")], node_cpus=2) is None


def test_a_trial_grows_only_where_its_remaining_epochs_save_more_than_the_restart():
    # 1 -> 2 cores saves 1 - 2**-0.68 = 37.6% of each remaining epoch
    assert seconds_saved(1, 2, 10, 1.0) == pytest.approx(10 * (1 - 2 ** -0.68))
    short = slot("s", left=6, seconds=0.6)                       # a small model: 1.4 s to gain
    assert grown(short, [short], node_cpus=2) is None
    last = slot("l", left=1, seconds=12.0)                       # one 12 s epoch left: 4.5 s to gain
    assert grown(last, [last], node_cpus=2) is None
    assert grown(last, [last], node_cpus=2, restart_seconds=4.0) == 2
    done = slot("d", left=0)
    assert grown(done, [done], node_cpus=2, restart_seconds=0.0) is None


def test_the_restart_cost_may_be_set_for_another_machine_and_nonsense_is_refused():
    assert restart_seconds({}) == RESTART_SECONDS
    assert restart_seconds({"TUNEFM_RESTART_SECONDS": "0"}) == 0.0
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(UserError, match="TUNEFM_RESTART_SECONDS="):
            restart_seconds({"TUNEFM_RESTART_SECONDS": bad})
