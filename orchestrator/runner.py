"""Run a sweep: load the data once, start (or join) Ray, run Tune, record everything.

Callable from Python as well as from the CLI::

    from orchestrator.runner import SweepOptions, run_sweep
    from orchestrator.sweep import load_sweep
    summary = run_sweep(load_sweep("sweeps/quick.yaml"), SweepOptions(cpus=2))
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
    extra_callbacks: tuple = ()        # more Ray Tune callbacks, e.g. your own logger


@dataclass
class RunSummary:
    run_dir: Path
    status: str
    counts: dict[str, int]
    best: dict[str, Any] | None
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def new_run_dir(results_dir: str, sweep_name: str, run_name: str | None) -> Path:
    base = Path(results_dir).expanduser().resolve() / sweep_name
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


def _init_ray(options: SweepOptions) -> bool:
    """Start the embedded Ray or join a cluster; return True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    common = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                  runtime_env={"env_vars": env})
    if options.address:
        ray.init(address=options.address, **common)
    else:
        ray.init(num_cpus=options.cpus, num_gpus=options.gpus, **common)
    return True


def _check_resources(spec: SweepSpec) -> None:
    import ray

    have = ray.cluster_resources()
    for key, name in (("CPU", "cpus"), ("GPU", "gpus")):
        want = getattr(spec.max_resources(), name)
        if want > have.get(key, 0):
            raise UserError(f"{spec.source}: resources.{name}: each trial asks for {want:g} {key}s but the "
                            f"Ray cluster has {have.get(key, 0):g}; lower it or start Ray with more "
                            f"(--{name})")


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


def run_sweep(spec: SweepSpec, options: SweepOptions = SweepOptions()) -> RunSummary:
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # Parquet is our record
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no tables, no banner
    from ray import tune

    from orchestrator.callback import RunRecorder
    from orchestrator.ledger import Ledger
    from orchestrator.progress import ProgressPrinter
    from orchestrator.ray_space import FAMILY_KEY, config_param_names, trial_configs
    from orchestrator.scheduler import build_scheduler
    from orchestrator.searcher import QueueSearcher
    from orchestrator.store import RAY_DIR, RunStore
    from trainables.datasets import load_trial_data
    from trainables.families import get_family
    from trainables.training import feature_cache
    from trainables.training.settings import TrialSettings
    from trainables.training.trial import run_trial

    started = time.monotonic()
    configs = trial_configs(spec)
    _preflight(spec, configs)                           # e.g. missing transfer weights: before anything else
    data = load_trial_data(spec.dataset)          # a missing data set stops us here, before any folder
    kinds = {}
    for fam in spec.families:
        for p in get_family(fam.family).all_params:
            kinds.setdefault(p.name, p.kind)
    params = [(name, kinds[name]) for name in config_param_names(spec)]

    we_started_ray = _init_ray(options)
    cache = None
    try:
        _check_resources(spec)
        run_dir = new_run_dir(options.results_dir, spec.name, options.run_name)
        run_id = run_dir.name
        if any(get_family(f.family).planner for f in spec.families):
            cache = feature_cache.start(run_id)
        store = RunStore(run_dir, params)
        if options.sweep_text is not None:
            store.write_sweep_copy(options.sweep_text)
        elif Path(spec.source).is_file():
            store.write_sweep_copy(Path(spec.source).read_text())
        meta: dict[str, Any] = {
            "run_id": run_id, "sweep": spec.name, "source": spec.source, "status": "running",
            "metric": spec.metric, "mode": spec.mode, "max_epochs": spec.scheduler.max_epochs,
            "trials": len(configs), "started_at": datetime.now(timezone.utc).isoformat(),
            "command": options.command, "reuse_workers": options.reuse_workers,
            "address": options.address,
            "data": {"train": len(data.train), "val": len(data.val), "classes": list(data.class_names),
                     "input_shape": list(data.input_shape)},
            "versions": _versions(), "spec": dump_spec(spec),
        }
        store.write_meta(meta)

        ledger = Ledger(run_id, spec.metric, spec.mode, spec.scheduler.max_epochs)
        ledger.total = len(configs)
        scheduler = build_scheduler(spec.scheduler, spec.metric, spec.mode)
        progress = ProgressPrinter(ledger, enabled=options.progress)
        recorder = RunRecorder(ledger, store, scheduler, progress)
        settings = TrialSettings(max_epochs=spec.scheduler.max_epochs, metric=spec.metric, mode=spec.mode,
                                 max_params=spec.max_params, cpus=spec.max_resources().cpus,
                                 feature_cache=feature_cache.actor_name(run_id) if cache else None)
        per_family = {f.label: spec.resources_of(f.label) for f in spec.families}
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, data=data, settings=settings),
            lambda config: {"cpu": per_family[config[FAMILY_KEY]].cpus, "gpu": per_family[config[FAMILY_KEY]].gpus})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                metric=spec.metric, mode=spec.mode, search_alg=QueueSearcher(configs),
                scheduler=scheduler, num_samples=len(configs),
                max_concurrent_trials=spec.max_concurrent, time_budget_s=spec.time_budget_s,
                reuse_actors=options.reuse_workers,
                trial_dirname_creator=lambda trial: trial.trial_id),
            run_config=tune.RunConfig(
                name=RAY_DIR, storage_path=str(run_dir), verbose=0, callbacks=[recorder, *options.extra_callbacks],
                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=1, checkpoint_score_attribute=spec.metric,
                    checkpoint_score_order=spec.mode)),
        )
        status = "finished"
        try:
            tuner.fit()
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            ledger.interrupt_running()
            store.flush_metrics()
            store.write_trials(ledger.trial_rows())
            progress.close()
            counts = ledger.counts()
            best = ledger.best()
            best_info = None if best is None else {
                "trial_id": best.trial_id, "family": best.family, "metric": spec.metric,
                "value": best.best_metric, "epoch": best.best_epoch}
            meta.update(status=status, ended_at=datetime.now(timezone.utc).isoformat(),
                        wall_seconds=time.monotonic() - started,
                        counts={k: v for k, v in counts.items() if v}, best=best_info)
            store.write_meta(meta)
        return RunSummary(run_dir, status, counts, best_info, time.monotonic() - started)
    finally:
        import ray

        if cache is not None:
            ray.kill(cache)
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
    lines.append(f"run folder: {summary.run_dir}")
    lines.append(f"report it:  tunefm report {summary.run_dir}")
    return lines

