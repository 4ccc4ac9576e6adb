"""The command's one stop token and its one signal handler (real signals, sent to this
process)."""
from __future__ import annotations

import gc
import os
import signal
import sys
import threading

import pytest

from orchestrator.lifecycle.stop import Reason, Stop, Stopped, command_stop, current, handlers_kept


def test_the_first_request_wins_and_later_ones_are_kept():
    stop = Stop()
    assert not stop and stop.requested is None
    assert stop.request(Reason.WRITE_FAILED, "disk full")
    assert not stop.request(Reason.CTRL_C)
    assert stop.requested.reason == Reason.WRITE_FAILED and stop.requested.detail == "disk full"
    assert stop.has(Reason.CTRL_C) and not stop.has(Reason.SIGTERM)
    with pytest.raises(Stopped) as raised:
        stop.check()
    assert raised.value.request.reason == Reason.WRITE_FAILED and str(raised.value) == "stopped by a failed write: disk full"


def test_check_since_a_mark_sees_only_later_requests():
    stop = Stop()
    stop.request(Reason.CTRL_C)
    mark = stop.mark()
    stop.check(since=mark)                       # nothing new
    stop.request(Reason.SIGTERM)
    with pytest.raises(Stopped) as raised:
        stop.check(since=mark)
    assert raised.value.request.reason == Reason.SIGTERM


def test_a_driving_command_records_a_signal_and_goes_on_to_its_next_safe_step():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with command_stop() as stop:
        assert current() is stop
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested.reason == Reason.SIGTERM and stop.has(Reason.CTRL_C)   # both seen, nothing raised
        with pytest.raises(Stopped):
            stop.check()
    assert current() is None
    assert {s: signal.getsignal(s) for s in before} == before                       # the handlers put back


def test_a_reading_command_stops_where_it_is():
    with pytest.raises(Stopped) as raised:
        with command_stop(interrupt=True):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10**6):              # the handler runs at the next bytecode
                pass
            pytest.fail("the Ctrl-C did not stop the command")
    assert raised.value.request.reason == Reason.CTRL_C


def test_a_nested_plan_uses_the_commands_token_in_its_own_mode():
    with command_stop(interrupt=True) as outer:
        with command_stop(interrupt=False) as inner:        # run_sweep inside the CLI's command
            assert inner is outer and not outer.interrupting
            os.kill(os.getpid(), signal.SIGINT)              # recorded, not raised
            assert inner.requested.reason == Reason.CTRL_C
        assert outer.interrupting


def test_a_ctrl_c_python_drops_in_a_finalizer_is_still_seen_by_the_next_check():
    """Python ignores what a ``__del__`` raises: a reading command's Ctrl-C that lands in
    one (Keras's clear_session collects many) used to be lost, and the report went on."""

    class Finalized:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)            # the handler raises Stopped here, and Python drops it

    dropped = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda info: dropped.append(info.exc_type)
    try:
        with command_stop(interrupt=True) as stop:
            Finalized()
            gc.collect()
            assert dropped == [Stopped]                      # Python dropped what the handler raised
            assert stop.requested.reason == Reason.CTRL_C   # not lost
            with pytest.raises(Stopped):
                stop.check()
    finally:
        sys.unraisablehook = hook


def test_handlers_set_inside_are_put_back():
    mine = lambda signum, frame: None                       # noqa: E731
    before = signal.signal(signal.SIGTERM, mine)
    usr1 = signal.getsignal(signal.SIGUSR1)
    try:
        with handlers_kept():
            signal.signal(signal.SIGTERM, lambda signum, frame: None)     # as ray.init does
            signal.signal(signal.SIGUSR1, lambda signum, frame: None)     # as Tune's fit does
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGUSR1) is usr1
    finally:
        signal.signal(signal.SIGTERM, before)


def test_off_the_main_thread_the_token_works_without_a_handler():
    seen = []

    def plan() -> None:
        with command_stop() as stop:
            stop.request(Reason.WRITE_FAILED)
            seen.append(stop.requested.reason)

    thread = threading.Thread(target=plan)
    thread.start()
    thread.join()
    assert seen == [Reason.WRITE_FAILED]


def test_a_sigterm_that_reaches_rays_own_handler_while_it_starts_is_the_commands_stop():
    """``ray.init`` sets ``sys.exit(15)`` as the SIGTERM handler first thing: a SIGTERM while
    Ray starts ended the command with exit 15 and nothing on the terminal."""
    from orchestrator.raytune.session import RaySession

    with command_stop() as stop:
        session = RaySession(stop=stop)
        with pytest.raises(Stopped) as raised:
            with session._ray_init():
                signal.signal(signal.SIGTERM, lambda signum, frame: exit(signum))   # Ray's handler
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(10**6):
                    pass
        assert raised.value.request.reason == Reason.SIGTERM and stop.requested.reason == Reason.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is not None and current() is stop
    session.started = False       # no Ray was started here
