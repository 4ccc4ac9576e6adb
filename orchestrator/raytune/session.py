"""A Ray session for one command: the workers' environment, init or join, the feature cache.

``RaySession`` is the one place that decides what the worker processes' environment
holds (``worker_env``, through ``runtime_env``) and what Ray Tune's driver reads from
this process's (``TUNE_SETTINGS``). It starts Ray without taking the command's signal
handler away (``ray.init`` sets its own SIGTERM handler, ``sys.exit``, for good).
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
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Iterator, TypeVar

from orchestrator.lifecycle.stop import Reason, Stop, Stopped, handlers_kept
from orchestrator.raytune import private
from orchestrator.raytune.worker import HOOK, TICKETS_ENV
from trainables.contract.errors import UserError

T = TypeVar("T")

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
# loggers (TUNE_DISABLE_AUTO_CALLBACK_LOGGERS), or printing a failed trial's whole traceback
# (TUNE_PRINT_ALL_TRIAL_ERRORS). They are set for the call only, where the user has not set
# them, and put back after it.
TUNE_SETTINGS = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",   # Parquet is our record
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",          # the recorder prints one line and where the traceback is
    "RAY_AIR_NEW_OUTPUT": "0",                   # with verbose=0: no tables, no banner
    "TUNE_GLOBAL_CHECKPOINT_S": "5",             # Ray's experiment state lags at most ~5 s
}
# Always, whatever the user set: the command's own handler (lifecycle.stop) stays in place
# through the fit, and the fit ends at its next step that has trials (fit.end_fit_if_asked).
# Tune's handler stopped a fit before it had created a trial, and Ray's state without
# trials cannot be restored (its _restore_trials reads trials[0]): the run said "resume
# it" and could not be resumed.
TUNE_FORCED = {"TUNE_DISABLE_SIGINT_HANDLER": "1"}

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


def beside_ray(load: Callable[[], T]) -> Future:
    """Run ``load`` in a thread, to overlap Ray's start-up (4-5 s on 2 cores, most of it
    waiting for Ray's processes): on a tiny sweep the data's load (IDX decompression, the
    split, scikit-learn's import) took 3.6 s of the driver's time before Ray's first trial
    could start. Then, in the same thread, what ``Tuner.fit`` would import later
    (``private.import_fit_integrations``). ``Stop.result`` re-raises what ``load`` raised."""
    import ray.tune  # noqa: F401  (before the thread's imports of Ray's integrations, not beside them)

    future: Future = Future()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(load())
        except BaseException as e:   # handed to result(): the driver says it in one line
            future.set_exception(e)
            return
        private.import_fit_integrations()

    # a daemon thread: when Ray fails to start or the user stops the run, the process
    # exits at once instead of waiting for a load nobody will use
    threading.Thread(target=run, name="tunefm-data", daemon=True).start()
    return future


def trial_slots(spec, cpus: float | None, gpus: float | None, trials: int | None = None) -> int:
    """How many trials of ``spec`` can run at once on an embedded Ray of ``cpus`` CPUs
    (None: the cores this process may use) and ``gpus`` GPUs (None: this machine's): the
    most any one family fits, at most ``max_concurrent`` and ``trials`` (the trials the
    plan runs, when known), at least one."""
    from trainables.training.runtime import available_cpus

    total = cpus if cpus is not None else available_cpus()
    if gpus is None and any(spec.resources_of(f.label).gpus > 0 for f in spec.families):
        from orchestrator.raytune.cluster import local_gpus

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
    as Ray starts it (``raytune.worker``)."""
    return {"env_vars": dict(WORKER_ENV), "worker_process_setup_hook": HOOK}


@contextlib.contextmanager
def inherited_worker_env(tickets: str, idle_workers: int) -> Iterator[None]:
    """WORKER_ENV, the warm-up hook and the prestarted workers' import tickets
    (``worker.TICKETS_ENV``) in this process's environment while the embedded Ray starts
    (its processes copy it), put back after; values the user set win. (On a cluster
    only workers started for the job import Keras: ``worker.setup``.)"""
    with _env_defaults({**WORKER_ENV, private.SETUP_HOOK_ENV: HOOK, TICKETS_ENV: tickets,
                        private.IDLE_WORKERS_ENV: str(idle_workers)}):
        yield


@contextlib.contextmanager
def tune_environment() -> Iterator[None]:
    """TUNE_SETTINGS where the user has not set them, and TUNE_FORCED always, for the block."""
    forced = {k: os.environ.get(k) for k in TUNE_FORCED}
    os.environ.update(TUNE_FORCED)
    try:
        with _env_defaults(TUNE_SETTINGS):
            yield
    finally:
        for k, v in forced.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
    the variables are still passed). Where Tune's tables moved, trials start new workers
    as before."""
    tables = private.trainable_env_tables()
    if tables is None:
        yield
        return
    table, propagated = tables
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
class RaySession:
    """Start the embedded Ray (or join ``address``) for the length of a command and, when
    asked, the feature cache. ``stop``: the command's stop token; a SIGTERM that reaches
    Ray's own handler while Ray starts is handed to it."""

    cpus: float | None = None
    gpus: float | None = None
    address: str | None = None
    slots: int = 1                     # trials that can run at once: that many warm workers
    stop: Stop | None = None
    started: bool = False
    cache: object | None = field(default=None, repr=False)
    tickets: str | None = field(default=None, repr=False)
    _envs: list = field(default_factory=list, repr=False)

    def __enter__(self) -> "RaySession":
        import ray

        from orchestrator.raytune.fit import explained_unlogged

        try:
            self._enter(explained_unlogged())
            if not ray.is_initialized():
                self._start()
            self._enter(tune_environment())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _enter(self, env: contextlib.AbstractContextManager) -> None:
        env.__enter__()
        self._envs.append(env)

    def _start(self) -> None:
        import ray

        common = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        if self.address:
            from orchestrator.raytune.cluster import check_address

            check_address(self.address)
            try:
                with self._ray_init():
                    ray.init(address=self.address, runtime_env=worker_runtime_env(), **common)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise UserError(f"--address {self.address}: cannot connect to a Ray cluster "
                                f"({str(e).splitlines()[0]})") from None
        else:
            from orchestrator.raytune.cluster import check_local_gpus

            check_local_gpus(self.gpus)
            self.tickets = ticket_folder()
            cores = int(self.cpus) if self.cpus is not None else (os.cpu_count() or 1)
            with inherited_worker_env(f"{self.tickets}:{self.slots}", max(1, cores)), self._ray_init():
                ray.init(num_cpus=self.cpus, num_gpus=self.gpus, **common)
        self.started = True
        self._enter(trainables_without_env(embedded=not self.address))

    @contextlib.contextmanager
    def _ray_init(self) -> Iterator[None]:
        """``ray.init`` with the command's signal handlers put back after it. Ray sets its
        own SIGTERM handler first thing (``sys.exit(15)``): a SIGTERM while it starts ends
        ``ray.init`` with SystemExit(15), which is the command's stop, not a silent exit.
        (That its shutdown leaves the handlers alone is ``private.NO_FAILURE_SIGNAL_HANDLER_ENV``.)"""
        self.started = True            # whatever ray.init got to, __exit__ shuts it down
        try:
            with handlers_kept():
                yield
        except SystemExit as e:
            if e.code != signal.SIGTERM or self.stop is None:
                raise
            self.stop.request(Reason.SIGTERM)
            raise Stopped(self.stop.requested) from None

    def queue_ahead(self, up_front: bool) -> contextlib.AbstractContextManager:
        """For one fit: configs decided up front are queued one per CPU of the cluster (the
        embedded one: --cpus), at least one (``PENDING_TRIALS_ENV``); the user's value wins."""
        import ray

        if not up_front:
            return contextlib.nullcontext()
        return _env_defaults({PENDING_TRIALS_ENV: str(max(1, int(ray.cluster_resources().get("CPU", 1))))})

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
        from orchestrator.raytune import features
        from trainables.families import get_family

        if self.cache is not None:
            return features.actor_name(self._cache_name)
        if not any(get_family(f.family).planner for f in spec.families):
            return None
        self._cache_name = f"{run_id}-{os.getpid()}"   # two copies of one run may run on one cluster
        self.cache = features.start(self._cache_name)
        return features.actor_name(self._cache_name)

    def __exit__(self, *exc) -> None:
        import ray

        if self.cache is not None:
            try:
                ray.kill(self.cache)
            except Exception:
                pass
            self.cache = None
        for env in reversed(self._envs):
            env.__exit__(None, None, None)
        self._envs.clear()
        if self.started:
            with handlers_kept():
                ray.shutdown()
            self.started = False
        if self.tickets:
            shutil.rmtree(self.tickets, ignore_errors=True)
