"""Run a sweep, or resume one: load the data once, start (or join) Ray, run Tune.

Callable from Python as well as from the CLI::

    from orchestrator.runner import SweepOptions, run_sweep, resume_sweep
    from orchestrator.sweep import load_sweep
    summary = run_sweep(load_sweep("sweeps/quick.yaml"), SweepOptions(cpus=2))
    summary = resume_sweep(summary.run_dir)   # after Ctrl-C, a kill or a reboot
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from orchestrator import schema as S
from orchestrator.errors import UserError
from orchestrator.sweep import SweepSpec, dump_spec


@dataclass(frozen=True)
class SweepOptions:
    cpus: float | None = None          # size of the embedded Ray (None: all cores)
    gpus: float | None = None
    address: str | None = None         # an existing Ray cluster
    results_dir: str = "results"
    run_name: str | None = None
    reuse_workers: bool = True
    progress: bool = True
    sweep_text: str | None = None      # the sweep file as written, frozen into the run
    command: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)   # CLI overrides, re-applied on resume
    extra_callbacks: tuple = ()        # more Ray Tune callbacks, e.g. your own logger
    # what each trial runs: f(config, data, settings) reporting like run_trial (default
    # run_trial). Not saved with the run: pass it again to resume_sweep.
    trial_function: Callable | None = None


@dataclass
class RunSummary:
    run_dir: Path
    status: str                        # finished | interrupted
    counts: dict[str, int]
    best: dict[str, Any] | None
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    uri: str | None = None             # the run folder's URI; run_dir is then its local staging copy

    @property
    def location(self) -> str:
        return self.uri or str(self.run_dir)


def new_run_dir(root: Path, sweep_name: str, run_name: str | None) -> Path:
    base = root / sweep_name
    name = run_name or datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir, n = base / name, 1
    while run_dir.exists():
        if run_name:
            raise UserError(f"run folder {run_dir} exists already; choose another --name")
        n += 1
        run_dir = base / f"{name}-{n}"
    try:
        run_dir.mkdir(parents=True)
    except OSError as e:
        raise UserError(f"cannot create run folder {run_dir}: {e.strerror}") from None
    return run_dir


def new_remote_run(results_uri: str, sweep_name: str, run_name: str | None):
    """A fresh run folder under a results URI, and its (emptied) local staging copy."""
    import shutil

    from orchestrator.remote import Remote, join

    name = run_name or datetime.now().strftime("%Y%m%d-%H%M%S")
    remote, n = Remote(join(results_uri, sweep_name, name)), 1
    while remote.exists("run.json"):
        if run_name:
            raise UserError(f"run folder {remote.uri} exists already; choose another --name")
        n += 1
        remote = Remote(join(results_uri, sweep_name, f"{name}-{n}"))
    shutil.rmtree(remote.local, ignore_errors=True)
    remote.local.mkdir(parents=True)
    return remote


def _storage(run_dir: Path, remote) -> dict[str, Any]:
    """Where Ray Tune keeps its state and the checkpoints: the run folder, local or on its URI."""
    if remote is None:
        return {"storage_path": str(run_dir)}
    fs, path = remote.filesystem()
    return {"storage_path": path, "storage_filesystem": fs}


TUNE_SETTINGS = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",   # Parquet is our record
    "RAY_AIR_NEW_OUTPUT": "0",                   # with verbose=0: no tables, no banner
    "TUNE_GLOBAL_CHECKPOINT_S": "5",             # Ray's experiment state lags at most ~5 s
}


def _tune_environment(func):
    """Ray Tune reads these from the environment: set them (where the user has not) for
    the call only, so a program that also runs its own Ray Tune keeps Ray's defaults."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        added = [k for k in TUNE_SETTINGS if k not in os.environ]
        os.environ.update({k: TUNE_SETTINGS[k] for k in added})
        try:
            return func(*args, **kwargs)
        finally:
            for k in added:
                os.environ.pop(k, None)

    return wrapper


def _init_ray(options: SweepOptions) -> bool:
    """Start the embedded Ray or join a cluster; return True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    common = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                  runtime_env={"env_vars": env})
    if options.address:
        from orchestrator.preflight import check_address

        check_address(options.address)
        try:
            ray.init(address=options.address, **common)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise UserError(f"--address {options.address}: cannot connect to a Ray cluster "
                            f"({str(e).splitlines()[0]})") from None
    else:
        from orchestrator.preflight import check_local_gpus

        check_local_gpus(options.gpus)
        ray.init(num_cpus=options.cpus, num_gpus=options.gpus, **common)
    return True


def _check_resources(spec: SweepSpec) -> None:
    import ray

    have = ray.cluster_resources()
    for key, name in (("CPU", "cpus"), ("GPU", "gpus")):
        want = getattr(spec.max_resources(), name)
        if want > have.get(key, 0):
            raise UserError(f"{spec.source}: resources.{name}: a trial asks for {want:g} {key}s but the "
                            f"Ray cluster has {have.get(key, 0):g}; lower it or give Ray more (--{name})")


def _preflight(spec: SweepSpec, configs: list[dict[str, Any]]) -> None:
    """Family checks that need no worker (weights files exist ...), once per distinct config."""
    from trainables.families import get_family

    seen = set()
    for config in configs:
        key = tuple(sorted((k, str(v)) for k, v in config.items() if k != "seed"))
        if key in seen:
            continue
        seen.add(key)
        try:
            get_family(config["model"]).check(config)
        except UserError as e:
            raise UserError(f"{spec.source}: families.{config['family']}: {e}") from None


def _param_kinds(spec: SweepSpec) -> list[tuple[str, str]]:
    from orchestrator.ray_space import FACTOR_KEY, FACTOR_VALUE_KEY, config_param_names
    from orchestrator.repeats import REPEAT_KEY
    from trainables.families import get_family

    kinds: dict[str, str] = {FACTOR_KEY: "str", FACTOR_VALUE_KEY: "str", REPEAT_KEY: "str"}
    for fam in spec.families:
        for p in get_family(fam.family).all_params:
            kinds.setdefault(p.name, p.kind)
    return [(name, kinds[name]) for name in [*config_param_names(spec), REPEAT_KEY]]


def _trainable(spec: SweepSpec, data, run_id: str, with_cache: bool, done: frozenset[str] = frozenset(),
               trial_function: Callable | None = None):
    from ray import tune

    from orchestrator.ray_space import FAMILY_KEY
    from trainables.training import feature_cache
    from trainables.training.settings import TrialSettings
    from trainables.training.trial import run_trial

    settings = TrialSettings(max_epochs=spec.scheduler.max_epochs, metric=spec.metric, mode=spec.mode,
                             max_params=spec.max_params, cpus=spec.max_resources().cpus,
                             feature_cache=feature_cache.actor_name(run_id) if with_cache else None,
                             done_trials=done)
    per_family = {f.label: spec.resources_of(f.label) for f in spec.families}
    return tune.with_resources(
        tune.with_parameters(trial_function or run_trial, data=data, settings=settings),
        lambda config: {"cpu": per_family[config[FAMILY_KEY]].cpus, "gpu": per_family[config[FAMILY_KEY]].gpus})


def _searcher(spec: SweepSpec, configs: list[dict[str, Any]]):
    """Random and grid configs are decided up front; TPE proposes as results come in."""
    if spec.search == "tpe":
        from orchestrator.tpe import build_tpe_searcher

        return build_tpe_searcher(spec)
    from orchestrator.searcher import QueueSearcher

    return QueueSearcher(configs)


def _needs_feature_cache(spec: SweepSpec) -> bool:
    from trainables.families import get_family

    return any(get_family(f.family).planner for f in spec.families)


@_tune_environment
def run_sweep(spec: SweepSpec, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Start a new run of ``spec``. Every check that can fail runs before the run folder exists."""
    from ray import tune

    from orchestrator.callback import RunRecorder, RunSettings
    from orchestrator.preflight import check_results_dir
    from orchestrator.ray_space import trial_configs
    from orchestrator.scheduler import build_scheduler
    from orchestrator.store import RAY_DIR, RunStore
    from trainables.datasets import load_trial_data
    from trainables.training import feature_cache

    started = time.monotonic()
    configs = trial_configs(spec)
    _preflight(spec, configs)                     # e.g. missing transfer weights
    root = check_results_dir(options.results_dir, spec)
    data = load_trial_data(spec.dataset)          # a missing data set stops here, before any folder
    params = _param_kinds(spec)
    we_started_ray = _init_ray(options)
    cache = None
    try:
        _check_resources(spec)
        remote = new_remote_run(str(root), spec.name, options.run_name) if isinstance(root, str) else None
        run_dir = remote.local if remote else new_run_dir(root, spec.name, options.run_name)
        run_id = run_dir.name
        store = RunStore(run_dir, params, mirror=remote)
        if options.sweep_text is not None:
            store.write_sweep_copy(options.sweep_text)
        elif Path(spec.source).is_file():
            store.write_sweep_copy(Path(spec.source).read_text())
        meta: dict[str, Any] = {
            "run_id": run_id, "sweep": spec.name, "source": str(Path(spec.source).resolve())
            if Path(spec.source).is_file() else spec.source, "status": "running",
            "metric": spec.metric, "mode": spec.mode, "max_epochs": spec.scheduler.max_epochs,
            "trials": len(configs), "started_at": datetime.now(timezone.utc).isoformat(),
            "command": options.command, "overrides": options.overrides, "reuse_workers": options.reuse_workers,
            "address": options.address, "remote": remote.uri if remote else None,
            "data": {"train": len(data.train), "val": len(data.val), "classes": list(data.class_names),
                     "input_shape": list(data.input_shape)},
            "versions": _versions(), "spec": dump_spec(spec),
        }
        store.write_meta(meta)
        if _needs_feature_cache(spec):
            cache = feature_cache.start(run_id)
        scheduler = build_scheduler(spec.scheduler, spec.metric, spec.mode)
        recorder = RunRecorder(RunSettings(str(run_dir), params, spec.metric, spec.mode,
                                           spec.scheduler.max_epochs, len(configs), remote.uri if remote else None),
                               scheduler, options.progress)
        tuner = tune.Tuner(
            _trainable(spec, data, run_id, cache is not None, trial_function=options.trial_function),
            tune_config=tune.TuneConfig(
                metric=spec.metric, mode=spec.mode, search_alg=_searcher(spec, configs),
                scheduler=scheduler, num_samples=len(configs),
                max_concurrent_trials=spec.max_concurrent, time_budget_s=spec.time_budget_s,
                reuse_actors=options.reuse_workers,
                trial_dirname_creator=lambda trial: trial.trial_id),
            run_config=tune.RunConfig(
                name=RAY_DIR, verbose=0, **_storage(run_dir, remote),
                callbacks=[recorder, *options.extra_callbacks],
                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                # the best epoch (for the report) and, always, the latest (for resuming);
                # trials rank their checkpoints so that ties keep the first best epoch
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=1, checkpoint_score_attribute="checkpoint_rank",
                    checkpoint_score_order="max")),
        )
        return _fit(tuner, recorder, store, meta, spec, started)
    finally:
        _cleanup(cache, we_started_ray)


@_tune_environment
def resume_sweep(run_dir: str | Path, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Continue an interrupted run: finished trials stay finished, unfinished ones continue
    from their last checkpoint, trials never started start."""
    from ray import tune

    from orchestrator.callback import RunRecorder
    from orchestrator.store import RAY_DIR, SWEEP_FILE, RunStore, read_meta, read_metrics, read_trials
    from orchestrator.sweep import parse_sweep, with_overrides
    from orchestrator.remote import remote_of
    from trainables.datasets import load_trial_data
    from trainables.training import feature_cache

    started = time.monotonic()
    remote = remote_of(run_dir)
    if remote is not None:   # the driver died: its staging copy is replaced by what reached the URI
        run_dir = remote.fetch(remote.local)
    run_dir = Path(run_dir).expanduser().resolve()
    if not (run_dir / "run.json").is_file() or not (run_dir / SWEEP_FILE).is_file():
        raise UserError(f"{run_dir}: not a tunefm run folder (no run.json or sweep.yaml)")
    meta = read_meta(run_dir)
    if remote is None and meta.get("remote"):
        raise UserError(f"{run_dir} is the local copy of a run that lives at {meta['remote']}; "
                        f"resume that: tunefm resume {meta['remote']}")
    if remote is not None:
        meta["remote"] = remote.uri
    if meta.get("status") == "finished":
        raise UserError(f"{run_dir}: this run finished; nothing to resume (start a new one with tunefm sweep)")
    storage = _storage(run_dir, remote)
    ray_path, fs = f"{storage['storage_path']}/{RAY_DIR}", storage.get("storage_filesystem")
    if not tune.Tuner.can_restore(ray_path, storage_filesystem=fs):
        raise UserError(f"{run_dir}: Ray saved no experiment state before the run stopped; start it again")
    spec = with_overrides(parse_sweep((run_dir / SWEEP_FILE).read_text(), meta.get("source") or str(run_dir)),
                          **meta.get("overrides", {}))
    data = load_trial_data(spec.dataset)
    params = _param_kinds(spec)
    options = options if options.address or not meta.get("address") else \
        SweepOptions(**{**options.__dict__, "address": meta["address"]})
    we_started_ray = _init_ray(options)
    cache = None
    try:
        _check_resources(spec)
        if _needs_feature_cache(spec):
            cache = feature_cache.start(run_dir.name)
        # Ray's saved state can lag the Parquet by a few seconds: trials done since then
        # are not trained again, trials started since then are discarded (Ray reruns them).
        ours = read_trials(run_dir)
        ours_ids = set(ours[S.TRIAL_ID]) if len(ours) else set()
        metrics = read_metrics(run_dir)
        ours_ids |= set(metrics[S.TRIAL_ID]) if len(metrics) else set()
        known = {t.trial_id for t in tune.ExperimentAnalysis(ray_path, storage_filesystem=fs).trials}
        done = frozenset(ours[ours[S.STATUS].isin(S.DONE_STATUSES)][S.TRIAL_ID]) & known if len(ours) else frozenset()
        orphans = frozenset(ours_ids - known)
        tuner = tune.Tuner.restore(ray_path, trainable=_trainable(
            spec, data, run_dir.name, cache is not None, done, options.trial_function),
                                   resume_unfinished=True, resume_errored=False, storage_filesystem=fs)
        recorders = [c for c in tuner._local_tuner.get_run_config().callbacks if isinstance(c, RunRecorder)]
        if not recorders:
            raise UserError(f"{run_dir}: the saved experiment has no tunefm recorder; start the run again")
        recorder = recorders[0]
        recorder.relocate(run_dir, options.progress, drop=orphans, remote=remote.uri if remote else None)
        meta.update(status="running", resumed=[*meta.get("resumed", []), datetime.now(timezone.utc).isoformat()])
        store = RunStore(run_dir, params, mirror=remote)
        store.write_meta(meta)
        return _fit(tuner, recorder, store, meta, spec, started)
    finally:
        _cleanup(cache, we_started_ray)


@_tune_environment
def repeat_run(run_dir: str | Path, top_k: int, seeds: int, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Train the ``top_k`` best configurations of a finished run again with ``seeds`` new
    seeds each, to the full epoch budget (no early stopping), into the same Parquet."""
    from ray import tune

    from orchestrator.callback import RunRecorder, RunSettings
    from orchestrator.leaderboard import board, leaderboards
    from orchestrator.repeats import repeat_configs
    from orchestrator.scheduler import build_scheduler
    from orchestrator.searcher import QueueSearcher
    from orchestrator.snapshot import read_snapshot
    from orchestrator.store import RunStore
    from orchestrator.sweep import SchedulerSpec, with_overrides
    from orchestrator.remote import remote_of
    from trainables.datasets import load_trial_data

    started = time.monotonic()
    remote = remote_of(run_dir)
    snap = read_snapshot(remote.fetch(remote.view) if remote else run_dir)
    if remote is not None and not snap.running:
        snap = read_snapshot(remote.fetch(remote.local))   # the driver's copy, now that none is running
    if snap.running:
        raise UserError(f"{snap.run_dir}: the sweep is still running (or was interrupted: resume it first)")
    spec = with_overrides(snap.spec, **snap.meta.get("overrides", {}))
    overall = board(leaderboards(snap.trials, snap.metrics, spec.metric, spec.mode))
    configs = repeat_configs(snap.trials, overall, top_k, seeds, spec.seed + len(snap.trials))
    if not configs:
        raise UserError(f"{snap.run_dir}: no trial has a validation result to repeat")
    data = load_trial_data(spec.dataset)
    params = _param_kinds(spec)
    run_id = snap.run_dir.name
    options = options if options.address or not snap.meta.get("address") else \
        SweepOptions(**{**options.__dict__, "address": snap.meta["address"]})
    we_started_ray = _init_ray(options)
    try:
        _check_resources(spec)
        n = 1 + len(snap.meta.get("repeats", []))
        scheduler = build_scheduler(SchedulerSpec(kind="fifo", max_epochs=spec.scheduler.max_epochs),
                                    spec.metric, spec.mode)
        recorder = RunRecorder(RunSettings(str(snap.run_dir), params, spec.metric, spec.mode,
                                           spec.scheduler.max_epochs, len(snap.trials) + len(configs),
                                           remote.uri if remote else None),
                               scheduler, options.progress)
        tuner = tune.Tuner(
            _trainable(spec, data, run_id, with_cache=False, trial_function=options.trial_function),
            tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, search_alg=QueueSearcher(configs),
                                        scheduler=scheduler, num_samples=len(configs),
                                        max_concurrent_trials=spec.max_concurrent,
                                        reuse_actors=options.reuse_workers,
                                        trial_dirname_creator=lambda trial: trial.trial_id),
            run_config=tune.RunConfig(
                name=f"ray-repeat-{n}", verbose=0, callbacks=[recorder], **_storage(snap.run_dir, remote),
                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute="checkpoint_rank",
                                                        checkpoint_score_order="max")))
        meta = dict(snap.meta)
        meta["repeats"] = [*meta.get("repeats", []), {"top_k": top_k, "seeds": seeds, "trials": len(configs),
                                                      "at": datetime.now(timezone.utc).isoformat()}]
        store = RunStore(snap.run_dir, params, mirror=remote)
        return _fit(tuner, recorder, store, meta, spec, started)
    finally:
        _cleanup(None, we_started_ray)


def _fit(tuner, recorder, store, meta: dict[str, Any], spec: SweepSpec, started: float) -> RunSummary:
    interrupted = False
    try:
        tuner.fit()
    except KeyboardInterrupt:          # a second Ctrl-C while Tune was saving its state
        interrupted = True
    unfinished = 0
    if recorder.ledger is not None:
        counts = recorder.ledger.counts()
        unfinished = counts[S.PENDING] + counts[S.RUNNING]
    ledger = recorder.finish()
    if recorder.store is not None:
        store = recorder.store         # the one that wrote the parts
    budget_spent = spec.time_budget_s is not None and time.monotonic() - started >= spec.time_budget_s * 0.95
    status = "interrupted" if (interrupted or unfinished) and not budget_spent else "finished"
    store.compact()
    counts = ledger.counts() if ledger else {s: 0 for s in S.STATUSES}
    best = ledger.best() if ledger else None
    best_info = None if best is None else {
        "trial_id": best.trial_id, "family": best.family, "metric": spec.metric,
        "value": best.best_metric, "epoch": best.best_epoch}
    wall = time.monotonic() - started
    meta.update(status=status, ended_at=datetime.now(timezone.utc).isoformat(),
                wall_seconds=meta.get("wall_seconds", 0.0) + wall if meta.get("resumed") else wall,
                counts={k: v for k, v in counts.items() if v}, best=best_info,
                note="time budget reached" if budget_spent else None)
    store.write_meta(meta)                 # for a URI run this also retries any failed upload
    extra = {"unsynced": store.unsynced} if store.unsynced else {}
    return RunSummary(Path(store.run_dir), status, counts, best_info, wall, extra, uri=meta.get("remote"))


def _cleanup(cache, we_started_ray: bool) -> None:
    import ray

    if cache is not None:
        try:
            ray.kill(cache)
        except Exception:
            pass
    if we_started_ray:
        ray.shutdown()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("ray", "keras", "tensorflow", "numpy", "pandas", "pyarrow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def summary_lines(summary: RunSummary) -> list[str]:
    c = summary.counts
    finished = ", ".join(f"{c[s]} {s.replace('_', ' ')}" for s in S.FINAL_STATUSES if c.get(s))
    lines = [f"sweep {summary.status} in {summary.wall_seconds:.0f} s: {finished or 'no trial finished'}"]
    if summary.best:
        b = summary.best
        lines.append(f"best {b['metric']} {b['value']:.4f}: trial {b['trial_id']} ({b['family']}, epoch {b['epoch']})")
    lines.append(f"run folder: {summary.location}")
    if summary.uri:
        lines.append(f"local copy: {summary.run_dir}")
    if summary.extra.get("unsynced"):
        lines.append(f"warning: {summary.extra['unsynced']} file(s) did not reach {summary.uri}; the local copy "
                     "has everything: copy it there before resuming or reporting from the URI")
    if summary.status == "interrupted":
        lines.append(f"resume it:  tunefm resume {summary.location}")
    lines.append(f"report it:  tunefm report {summary.location}")
    return lines
