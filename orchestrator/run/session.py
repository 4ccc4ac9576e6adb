"""A Ray session for one plan: the workers' environment, init or join, the feature cache.

``RaySession`` is the one place that decides what the worker processes' environment
holds (``worker_env``, through ``runtime_env``) and what Ray Tune's driver reads from
this process's (``TUNE_SETTINGS``).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Iterator

from trainables.contract.errors import UserError

# Read by Ray Tune in the worker that runs a trial. A reused worker takes the next trial
# only once this one has returned; Ray waits 2 s for that by default and otherwise fails
# the *next* trial ("Trainable runner reuse requires reset_config() ..."): that lost 3 of
# 16 trials of a benchmark run under load. A slow stop should delay, not fail.
# PL_DISABLE_FORK is what Ray Tune itself gives its trainables (``trainables_without_env``).
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore", "TUNE_FUNCTION_THREAD_TIMEOUT_S": "60",
              "PL_DISABLE_FORK": "1"}

# Read by Ray Tune in *this* process while Tuner.fit runs, from the environment only: the
# Tuner API has no parameter for the experiment-state period (TUNE_GLOBAL_CHECKPOINT_S),
# the console output style (RAY_AIR_NEW_OUTPUT) or leaving out its own CSV/JSON/TensorBoard
# loggers (TUNE_DISABLE_AUTO_CALLBACK_LOGGERS). They are set for the call only, where the
# user has not set them, and put back after it.
TUNE_SETTINGS = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",   # Parquet is our record
    "RAY_AIR_NEW_OUTPUT": "0",                   # with verbose=0: no tables, no banner
    "TUNE_GLOBAL_CHECKPOINT_S": "5",             # Ray's experiment state lags at most ~5 s
    # The plan's own Ctrl-C handler (early_stops) stays in place through the fit; the
    # recorder ends the fit with SIGUSR1 at its next step that has trials
    # (live.stop_if_asked). Tune's handler stopped a fit before it had created a trial,
    # and Ray's state without trials cannot be restored (its _restore_trials reads
    # trials[0]): the run said "resume it" and could not be resumed.
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
}

# Read by Ray Tune in this process: how many trials it may create (and request resources
# for) before one of them runs. Its own rule gives its variant generator (random and grid
# configs) at least 200 and a searcher wrapped for ``max_concurrent`` that many, but any
# other searcher 1, so that a model-based one proposes with the most results in hand;
# tunefm's QueueSearcher holds configs decided up front but looked like the latter. With
# 1, the second of two trial slots sat idle until the first trial's worker had started
# (0.54 s of a 7.5 s tiny sweep), and each hand-over in a sweep of very short trials
# waited on the next trial's creation (trivial benchmark: 9.1 of 16.9 slot-seconds
# between trials, 1.3 with one per CPU). Ray saves the value with its experiment state: a
# resumed run keeps the one its first session had (1 for runs made before this).
PENDING_TRIALS_ENV = "TUNE_MAX_PENDING_TRIALS_PG"


# Ray runs this setup hook in every worker process that has it in its environment. Public
# Ray sets it only through a job's ``runtime_env``; for the embedded Ray the variable and
# WORKER_ENV are put in the environment the local Ray processes inherit instead, so the
# idle workers Ray prestarts at ``ray.init`` (one per CPU) have it too: as many of them as
# trials can run at once (``warm.TICKETS_ENV``) import Keras while Ray starts and the
# data loads, and Tune's first trials run in them (``trainables_without_env``).
# Private Ray name; if Ray stops reading it, workers import Keras at their first trial.
SETUP_HOOK_ENV = "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"

# Read by the embedded Ray's raylet: how many idle workers it keeps. By default that is
# the number of CPUs not reserved, and Tune reserves every trial's CPUs (a placement
# group) before it starts the trial's actor: the raylet then killed the prestarted,
# importing workers a second before the trial could use them (seen by process id). Kept:
# one per CPU, as many as Ray prestarts.
IDLE_WORKERS_ENV = "RAY_num_workers_soft_limit"


def trial_slots(spec, cpus: float | None, gpus: float | None, trials: int | None = None) -> int:
    """How many trials of ``spec`` can run at once on an embedded Ray of ``cpus`` CPUs
    (None: the cores this process may use) and ``gpus`` GPUs (None: this machine's): the
    most any one family fits, at most ``max_concurrent`` and ``trials`` (the trials the
    plan runs, when known), at least one."""
    from trainables.training.runtime import available_cpus

    total = cpus if cpus is not None else available_cpus()
    if gpus is None and any(spec.resources_of(f.label).gpus > 0 for f in spec.families):
        from orchestrator.run.preflight import local_gpus

        gpus = local_gpus()
    fits = []
    for family in spec.families:
        need = spec.resources_of(family.label)
        n = total // need.cpus if need.cpus > 0 else total
        if need.gpus > 0:
            n = min(n, (gpus or 0) // need.gpus)
        fits.append(int(n))
    slots = max(fits, default=1)
    for cap in (spec.max_concurrent, trials):
        if cap:
            slots = min(slots, cap)
    return max(1, slots)


TICKETS_PREFIX = "tunefm-warm-"


def ticket_folder(base: str | None = None) -> str:
    """A new folder for this session's import tickets (``warm.TICKETS_ENV``), named after
    this process (``tunefm-warm-<pid>.<pid namespace>-<random>``). A driver killed outright
    (SIGKILL, a lost machine) never removes its own, so this user's folders of drivers
    that are gone, in this pid namespace, are removed first. Anything else is left
    alone: folders of live processes, of other users or other containers, links, names
    that are not ours. Cleaning up never stops a session from starting."""
    base = base or tempfile.gettempdir()
    space = _pid_namespace()
    if os.name == "posix":
        try:
            names = os.listdir(base)
        except OSError:
            names = []
        for name in names:
            pid = _owner(name, space)
            if pid is None or _alive(pid):
                continue
            path = os.path.join(base, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
                shutil.rmtree(path, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{TICKETS_PREFIX}{os.getpid()}.{space}-", dir=base)


def _owner(name: str, space: str) -> int | None:
    """The process id in a ticket folder's name, when the folder is of this pid namespace."""
    match = re.fullmatch(re.escape(TICKETS_PREFIX) + r"([0-9]{1,9})\.([0-9]+)-.*", name)
    return int(match.group(1)) if match and match.group(2) == space else None


def _pid_namespace() -> str:
    try:
        return re.sub(r"[^0-9]", "", os.readlink("/proc/self/ns/pid")) or "0"
    except OSError:
        return "0"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):   # another user's process: alive
        return True
    return True


def worker_runtime_env() -> dict:
    """The ``runtime_env`` tunefm's workers need; pass it to ``ray.init`` when you start
    Ray yourself before calling ``run_sweep``. Each worker starts importing Keras as soon
    as Ray starts it (``trainables.training.warm``)."""
    from trainables.training.warm import HOOK

    return {"env_vars": dict(WORKER_ENV), "worker_process_setup_hook": HOOK}


@contextlib.contextmanager
def inherited_worker_env(tickets: str, idle_workers: int) -> Iterator[None]:
    """WORKER_ENV, the warm-up hook and the prestarted workers' import tickets
    (``warm.TICKETS_ENV``) in this process's environment while the embedded Ray starts
    (its processes copy it), put back after; values the user set win. (On a cluster
    only workers started for the job import Keras: ``warm.setup``.)"""
    from trainables.training.warm import HOOK, TICKETS_ENV

    with _env_defaults({**WORKER_ENV, SETUP_HOOK_ENV: HOOK, TICKETS_ENV: tickets,
                        IDLE_WORKERS_ENV: str(idle_workers)}):
        yield


def tune_environment():
    return _env_defaults(TUNE_SETTINGS)


@contextlib.contextmanager
def trainables_without_env(embedded: bool) -> Iterator[None]:
    """Ray Tune gives its trainable actors a runtime env of their own
    (``{"env_vars": {"PL_DISABLE_FORK": "1"}}``, for PyTorch Lightning, plus the driver's
    ``AWS_*`` and a few Ray Train variables when set), and Ray gives an actor only an
    idle worker whose runtime env matches: so no trial could run in the workers Ray
    prestarts, and every first trial waited for a new worker and its TensorFlow import
    (7-8 s on 2 cores). While the block runs, the trainables get no env of their own:
    WORKER_ENV sets the variable for every worker, and the embedded Ray's workers
    inherited this process's environment when it started (``embedded``; on a cluster
    the variables are still passed). Tune's private tables; where they are missing,
    trials start new workers as before."""
    try:
        from ray.tune.execution import class_cache
        table, propagated = class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE
    except (ImportError, AttributeError):
        yield
        return
    saved_table, saved_propagated = dict(table), set(propagated)
    table.clear()
    if embedded and isinstance(propagated, set):
        propagated.clear()
    try:
        yield
    finally:
        table.clear()
        table.update(saved_table)
        if isinstance(propagated, set):
            propagated.clear()
            propagated.update(saved_propagated)


def silent_returns_allowed() -> contextlib.AbstractContextManager:
    """A resume's fit where some trials Ray's saved state still has as unfinished are done
    in the Parquet: they return at once without a report (``run_trial``'s ``done_trials``),
    and Ray's end-of-trial result then carries the config but not the sweep's metric,
    which its strict metric check failed the whole fit on (seen once in CI). Off for that
    fit only, where the user has not set it."""
    return _env_defaults({"TUNE_DISABLE_STRICT_METRIC_CHECKING": "1"})


@contextlib.contextmanager
def _env_defaults(values: dict[str, str]) -> Iterator[None]:
    """``values`` in os.environ where the user has not set them, for the block only."""
    added = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@dataclass
class EarlyStop:
    """Ctrl-C or SIGTERM at any point of a plan (loading data, starting Ray, in a fit,
    between two fits, writing the run's last files): remembered here. A fit ends at its
    next step that has trials (``live.stop_if_asked``; Tune's own SIGINT handler is off,
    TUNE_SETTINGS); the plan acts on it at its next step instead of losing it."""

    requested: str | None = None      # "Ctrl-C" or "SIGTERM"

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt(self.requested)


@contextlib.contextmanager
def early_stops() -> Iterator[EarlyStop]:
    stop = EarlyStop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def remember(signum, frame) -> None:
        stop.requested = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"

    previous = {s: signal.signal(s, remember) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@dataclass
class Termination:
    """Whether SIGTERM asked the plan to stop (what batch schedulers and docker send)."""

    received: bool = False


@contextlib.contextmanager
def sigterm_as_sigint() -> Iterator[Termination]:
    """SIGTERM stops the run as Ctrl-C does: Ray Tune's own SIGINT handler ends the run
    gracefully, saves its state, and the plan records the run as interrupted."""
    term = Termination()
    if threading.current_thread() is not threading.main_thread():
        yield term
        return

    def forward(signum, frame) -> None:
        term.received = True
        signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield term
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class FitSignals:
    caught: bool = False      # Tune's handler caught a signal during the fit (which may still have ended it all)


@contextlib.contextmanager
def tune_signal_handlers_undone() -> Iterator[FitSignals]:
    """Put back this process's SIGINT and SIGUSR1 handlers after ``Tuner.fit``. Tune sets
    its own for the fit (SIGUSR1 always; SIGINT where the user turned its handler back on
    with TUNE_DISABLE_SIGINT_HANDLER=0) and leaves them in place: a Ctrl-C after the fit
    would reach a handler that sets a flag nobody reads any more, and be lost. Tune's
    SIGINT handler, once it caught a signal, puts back the handler it found; that is how
    ``caught`` is told (a Ctrl-C in the fit's last moments ends it as finished, and the
    plan still has to stop)."""
    seen = FitSignals()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    kept = _handlers_of(_TUNE_SIGNALS)
    try:
        yield seen
    finally:
        tune_sets_sigint = not int(os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") or 0)
        seen.caught = tune_sets_sigint and signal.getsignal(signal.SIGINT) is kept[signal.SIGINT]
        _put_back(kept)


@contextlib.contextmanager
def sigterm_handler_kept() -> Iterator[None]:
    """``ray.init`` sets its own SIGTERM handler (``sys.exit``) on the driver for good: a
    SIGTERM while the data loads or after the last fit would end the plan mid-write
    instead of being remembered by ``early_stops``. Put back the one before it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kept = _handlers_of((signal.SIGTERM,))
    try:
        yield
    finally:
        _put_back(kept)


_TUNE_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGUSR1") if hasattr(signal, name))


def _handlers_of(signums) -> dict:
    return {s: signal.getsignal(s) for s in signums}


def _put_back(kept: dict) -> None:
    for s, handler in kept.items():
        if handler is not None:        # None: set outside Python; it cannot be put back
            signal.signal(s, handler)


@dataclass
class RaySession:
    """Start the embedded Ray (or join ``address``) and, when asked, the feature cache."""

    cpus: float | None = None
    gpus: float | None = None
    address: str | None = None
    slots: int = 1                     # trials that can run at once: that many warm workers
    queue_ahead: bool = False          # configs decided up front: Tune creates more trials ahead (PENDING_TRIALS_ENV)
    started: bool = False
    cache: object | None = field(default=None, repr=False)
    tickets: str | None = field(default=None, repr=False)
    _tune_env: contextlib.AbstractContextManager | None = field(default=None, repr=False)
    _queue_env: contextlib.AbstractContextManager | None = field(default=None, repr=False)

    def __enter__(self) -> "RaySession":
        import ray

        if not ray.is_initialized():
            self._start()
        if self.queue_ahead:
            try:
                # one per CPU of the cluster (the embedded one: --cpus), at least one; the user's value wins
                ahead = max(1, int(ray.cluster_resources().get("CPU", 1)))
            except BaseException:
                self.__exit__(None, None, None)
                raise
            self._queue_env = _env_defaults({PENDING_TRIALS_ENV: str(ahead)})
            self._queue_env.__enter__()
        return self

    def _start(self) -> None:
        import ray

        common = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        if self.address:
            from orchestrator.run.preflight import check_address

            check_address(self.address)
            try:
                with sigterm_handler_kept():
                    ray.init(address=self.address, runtime_env=worker_runtime_env(), **common)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise UserError(f"--address {self.address}: cannot connect to a Ray cluster "
                                f"({str(e).splitlines()[0]})") from None
        else:
            from orchestrator.run.preflight import check_local_gpus

            check_local_gpus(self.gpus)
            self.tickets = ticket_folder()
            cores = int(self.cpus) if self.cpus is not None else (os.cpu_count() or 1)
            try:
                with inherited_worker_env(f"{self.tickets}:{self.slots}", max(1, cores)), sigterm_handler_kept():
                    ray.init(num_cpus=self.cpus, num_gpus=self.gpus, **common)
            except BaseException:
                shutil.rmtree(self.tickets, ignore_errors=True)
                raise
        self.started = True
        self._tune_env = trainables_without_env(embedded=not self.address)
        self._tune_env.__enter__()

    def check_resources(self, spec) -> None:
        import ray

        have = ray.cluster_resources()
        for key, name in (("CPU", "cpus"), ("GPU", "gpus")):
            want = getattr(spec.max_resources(), name)
            if want > have.get(key, 0):
                raise UserError(f"{spec.source}: resources.{name}: a trial asks for {want:g} {key}s but the "
                                f"Ray cluster has {have.get(key, 0):g}; lower it or give Ray more (--{name})")

    def start_feature_cache(self, spec, run_id: str) -> str | None:
        """The frozen-backbone feature cache, when a family uses it; returns its name."""
        from trainables.families import get_family
        from trainables.training import feature_cache

        if not any(get_family(f.family).planner for f in spec.families):
            return None
        name = f"{run_id}-{os.getpid()}"   # two copies of one run may run on one cluster
        self.cache = feature_cache.start(name)
        return feature_cache.actor_name(name)

    def __exit__(self, *exc) -> None:
        import ray

        if self.cache is not None:
            try:
                ray.kill(self.cache)
            except Exception:
                pass
        for env in (self._queue_env, self._tune_env):
            if env is not None:
                env.__exit__(None, None, None)
        if self.started:
            ray.shutdown()
        if self.tickets:
            shutil.rmtree(self.tickets, ignore_errors=True)
