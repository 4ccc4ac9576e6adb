"""The three plans over one run folder: start a run, resume it, repeat its winners.

Each is short: check what can fail, hold the run's lock, open a Ray session, build (or
restore) the Tuner, ``drive`` it. Callable from Python as well as from the CLI::

    from orchestrator.run.plans import SweepOptions, run_sweep, resume_sweep
    from orchestrator.spec.sweep import load_sweep
    summary = run_sweep(load_sweep("sweeps/quick.yaml"), SweepOptions(cpus=2))
    summary = resume_sweep(summary.location)   # after Ctrl-C, SIGTERM, a kill or a reboot
"""
from __future__ import annotations

import contextlib
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from orchestrator.run.budget import Budget, session_clock, spent_before
from orchestrator.run.data_check import data_changes
from orchestrator.run.drive import RunSummary, drive, late_stop, versions
from orchestrator.store.folder import RunFolder, create, sha256_text, writing
from orchestrator.store.snapshot import check_finished
from orchestrator.run.live import LiveRun
from orchestrator.run.session import (RaySession, early_stops, silent_returns_allowed, trial_slots,
                                      tune_environment)
from orchestrator.run.tracking import check_trackers, tracker_callbacks
from orchestrator.run.tuner import (UNREADABLE_SUFFIX, build_tuner, check_families, known_trials, param_kinds,
                                    phase_name, restore_tuner, searcher_for, set_aside_unreadable_states, trainable)
from orchestrator.spec.names import segment_problem
from orchestrator.spec.sweep import SweepSpec
from orchestrator.store.records import DataSummary, RepeatPhase, RunMeta, RunStatus
from trainables.contract.errors import UserError
from trainables.contract.keys import EPOCH, STATUS, TRIAL_ID
from trainables.contract.status import DONE


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
    # run_trial). Not saved with the run: pass it again to resume_sweep. A trial that ends
    # before max_epochs without a final status of its own (as run_trial's diverged) is
    # recorded "stopped", which a finished run cannot hold (snapshot.finished_contradiction).
    trial_function: Callable | None = None
    repeat: bool = True                # run the sweep file's repeat: block when the sweep finishes
    allow_changed_data: bool = False   # resume / repeat although the data changed since the sweep


def _session(options: SweepOptions, spec: SweepSpec, recorded_address: str | None = None,
             trials: int | None = None, up_front: bool | None = None) -> RaySession:
    """``trials``: how many the plan runs, when known (no more workers import Keras).
    ``up_front``: its configs are decided before it starts (None: unless the sweep's
    search is TPE); Tune then creates trials ahead (``session.PENDING_TRIALS_ENV``),
    unless ``max_concurrent`` already makes it."""
    up_front = spec.search != "tpe" if up_front is None else up_front
    return RaySession(options.cpus, options.gpus, options.address or recorded_address,
                      slots=trial_slots(spec, options.cpus, options.gpus, trials),
                      queue_ahead=up_front and not spec.max_concurrent)


def _load_beside_ray(dataset) -> Future:
    """Start reading and splitting the data in a thread, to overlap Ray's start-up (4-5 s
    on 2 cores, most of it waiting for Ray's processes): on a tiny sweep the load (IDX
    decompression, the split, scikit-learn's import) took 3.6 s of the driver's time
    before Ray's first trial could start. ``result()`` re-raises the loader's error."""
    import ray.tune  # noqa: F401  (before the thread's imports of Ray's integrations, not beside them)

    from trainables.datasets import load_trial_data
    from trainables.datasets.registry import check_test_split

    future: Future = Future()

    def load() -> None:
        future.set_running_or_notify_cancel()
        try:
            data = load_trial_data(dataset)
            check_test_split(dataset)          # read, never used: the report will be able to
            future.set_result(data)
        except BaseException as e:   # handed to result(): the driver says it in one line
            future.set_exception(e)
            return
        _import_what_fit_imports()

    # a daemon thread: when Ray fails to start or the user stops the run, the process
    # exits at once instead of waiting for a load nobody will use
    threading.Thread(target=load, name="tunefm-data", daemon=True).start()
    return future


def _import_what_fit_imports() -> None:
    """Ray Tune's ``fit`` counts the callbacks it is given for its usage telemetry, and to
    do so imports its logger integrations, MLflow's among them where MLflow is installed
    (the ``tracking`` extra): 1.1-1.9 s of the driver's time on 2 cores between Ray's
    start and the first trial. Imported here, in the loading thread, while Ray starts
    (when the data loads sooner than Ray starts, as it does for small sets).
    ``_count_callbacks`` is Ray's private helper; if it goes, ``fit`` imports as before."""
    try:
        from ray.air._internal.usage import _count_callbacks

        _count_callbacks([])
    except Exception:
        pass


def run_sweep(spec: SweepSpec, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Start a new run of ``spec``. Every check that can fail runs before the run folder exists;
    a Ctrl-C or SIGTERM before the first trial is acted on at the next step."""
    with early_stops() as early:
        summary = _run_sweep(spec, options, early)
    return late_stop(summary, early)


def _run_sweep(spec: SweepSpec, options: SweepOptions, early) -> RunSummary:
    from orchestrator.run.preflight import check_results_dir
    from orchestrator.run.recorder import RunRecorder
    from orchestrator.search.ray_space import trial_configs
    from orchestrator.search.scheduler import build_scheduler
    from orchestrator.store.parquet import RunStore
    from trainables.datasets.provenance import resolve
    from trainables.datasets.registry import locate_data

    started, started_iso = session_clock()
    if options.run_name is not None and segment_problem(options.run_name):
        raise UserError(f"--name {options.run_name!r}: {segment_problem(options.run_name)}")
    configs = trial_configs(spec)
    check_families(spec, configs)                 # e.g. missing transfer weights
    check_trackers(spec)                          # tracking: asks for an extra that is not installed
    root = check_results_dir(options.results_dir, spec)
    locate_data(spec.dataset)                     # a missing data set stops here, before Ray starts
    source = Path(spec.source)
    text = options.sweep_text if options.sweep_text is not None else \
        (source.read_text() if source.is_file() else None)     # a spec built in Python has no file
    params = param_kinds(spec)
    # The data loads while Ray starts (and trial workers import Keras as Ray starts them).
    loading = _load_beside_ray(spec.dataset)
    with tune_environment(), _session(options, spec, trials=len(configs) or None) as session:
        session.check_resources(spec)
        early.check()
        data = loading.result()                   # a data set that cannot be read stops here, before any folder
        provenance = resolve(spec.dataset, data.train, data.val, data.num_classes)
        early.check()                             # a Ctrl-C while the data loaded: nothing written yet
        folder = create(root, spec.name, options.run_name)
        with folder.lock(options.command):
            meta = RunMeta(
                run_id=folder.name, sweep=spec.name, metric=spec.metric, mode=spec.mode,
                max_epochs=spec.scheduler.max_epochs, trials=len(configs),
                source=str(source.resolve()) if source.is_file() else spec.source, command=options.command,
                overrides=options.overrides, reuse_workers=options.reuse_workers, address=options.address,
                remote=folder.uri, data=DataSummary(len(data.train), len(data.val), data.class_names,
                                                    data.input_shape),
                versions=versions(), spec=_dump(spec), sweep_sha256=sha256_text(text) if text else None,
                provenance=provenance)
            meta = meta.with_(session_started_at=started_iso)
            with writing(folder):
                store = RunStore(folder.path, params, mirror=folder.remote)
                if text is not None:
                    store.write_sweep_copy(text)
                store.write_meta(meta)
            cache = session.start_feature_cache(spec, meta.run_id)
            scheduler = build_scheduler(spec.scheduler, spec.metric, spec.mode)
            recorder = RunRecorder(scheduler)
            tuner = build_tuner(spec, folder, trainable(spec, data, cache, trial_function=options.trial_function),
                                searcher=searcher_for(spec, configs), scheduler=scheduler,
                                num_samples=len(configs),
                                callbacks=[recorder, *tracker_callbacks(spec, folder.location), *options.extra_callbacks],
                                reuse_workers=options.reuse_workers)
            live = LiveRun(folder, tuple(params), spec.metric, spec.mode, spec.scheduler.max_epochs, len(configs),
                           options.progress, budget=_budget(spec, 0.0, started))
            summary = drive(tuner, live, store, meta, started, early=early)
            return _then_repeat(summary, folder, spec, options, data, early)


def resume_sweep(location: str | Path, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Continue an interrupted run where its folder is now: finished trials stay finished,
    unfinished ones continue from their last checkpoint, trials never started start."""
    from orchestrator.store.parquet import RunStore, read_metrics, read_trials
    from orchestrator.store.schema import WALL_TIME

    started, started_iso = session_clock()
    folder, lock = RunFolder.drive(location, options.command)
    with lock, early_stops() as early:
        meta = folder.meta()
        if meta.status == RunStatus.FINISHED:
            check_finished(folder, meta, folder.spec())
            raise UserError(f"{folder.location}: this run finished; nothing to resume "
                            "(start a new one with tunefm sweep)")
        from orchestrator.run.extend import continue_from, phase_epochs

        spec = phase_epochs(folder.spec(check_frozen=True), meta.repeats)   # an extension's epoch budget
        changed = data_changes(meta, spec, folder.location, options.allow_changed_data)
        params = param_kinds(spec)
        continues = continue_from(folder, read_trials(folder.path), meta.repeats[-1].continued) \
            if meta.repeats else {}
        loading = _load_beside_ray(spec.dataset)
        with tune_environment(), _session(options, spec, meta.address) as session:
            session.check_resources(spec)
            data = loading.result()
            cache = session.start_feature_cache(spec, meta.run_id)
            # Ray's saved state can lag the Parquet by a few seconds: trials done since then
            # are not trained again, trials started since then are discarded (Ray reruns them).
            # A repeat phase starts only once the sweep finished: an interrupted run with
            # repeats was interrupted in its last one, and that phase is what continues.
            phases = len(meta.repeats)
            unreadable = set_aside_unreadable_states(folder, phase_name(phases))
            if unreadable:
                print(f"tunefm: {folder.location}: Ray's newest saved state was cut short (its driver was killed "
                      f"while writing it), set aside with {UNREADABLE_SUFFIX}; a resume continues from the state "
                      "of the session before: " + ", ".join(sorted(unreadable)), file=sys.stderr)
            ours, metrics = read_trials(folder.path), read_metrics(folder.path)
            known = known_trials(folder, phases)
            ours_ids = (set(ours[TRIAL_ID]) if len(ours) else set()) | (set(metrics[TRIAL_ID]) if len(metrics) else set())
            done = frozenset(ours[ours[STATUS].isin(DONE)][TRIAL_ID]) & known if len(ours) else frozenset()
            tuner = restore_tuner(folder, trainable(spec, data, cache if not phases else None, done,
                                                    options.trial_function, continues), phase_name(phases))
            # the time budget is the run's: what the sessions before this one spent counts
            spent = spent_before(meta, [t.timestamp() for t in metrics[WALL_TIME].dropna()] if len(metrics) else ())
            meta = meta.with_(status=RunStatus.RUNNING, resumed=(*meta.resumed, started_iso), remote=folder.uri,
                              data_changes=(*meta.data_changes, *changed), wall_seconds=spent,
                              session_started_at=started_iso)
            store = RunStore(folder.path, params, mirror=folder.remote)
            with writing(folder):
                store.write_meta(meta)
            total = meta.trials + sum(r.trials for r in meta.repeats)
            live = LiveRun(folder, tuple(params), spec.metric, spec.mode, spec.scheduler.max_epochs, total,
                           options.progress, drop=frozenset(ours_ids - known),
                           budget=None if phases else _budget(spec, spent, started),   # repeats: no budget
                           recorded_epochs=metrics.groupby(TRIAL_ID)[EPOCH].max().astype(int).to_dict()
                           if len(metrics) else {})
            with silent_returns_allowed() if done else contextlib.nullcontext():
                summary = drive(tuner, live, store, meta, started, spent, early)
            if phases:      # a resumed repeat or extension says so
                summary = replace(summary, phase="extension" if meta.repeats[-1].kind == "extend" else "repeat")
            else:           # the sweep resumed to its end: its file's repeat: block runs now, as after a sweep
                summary = _then_repeat(summary, folder, spec, options, data, early, meta.address)
    return late_stop(summary, early)


def repeat_run(location: str | Path, top_k: int, seeds: int, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Train the ``top_k`` best configurations of a finished run again with ``seeds`` new
    seeds each, to the full epoch budget (no early stopping), into the same Parquet."""
    from trainables.datasets import load_trial_data

    folder, lock = RunFolder.drive(location, options.command)
    with lock, early_stops() as early:
        meta = folder.meta()
        if meta.status != RunStatus.FINISHED:
            raise UserError(f"{folder.location}: the run is {meta.status.value}, not finished; "
                            f"resume it first: tunefm resume {folder.location}")
        from orchestrator.run.extend import phase_epochs

        # the run's epoch budget: an `extend --max-epochs` raised it (as a resume of this phase will read it)
        spec = phase_epochs(folder.spec(check_frozen=True), meta.repeats)
        check_finished(folder, meta, spec)
        changed = data_changes(meta, spec, folder.location, options.allow_changed_data)
        summary = _repeat(folder, spec, top_k, seeds, options, load_trial_data(spec.dataset), meta.address, changed,
                          early)
    return late_stop(summary, early)


class RepeatNotStarted(KeyboardInterrupt):
    """A Ctrl-C or SIGTERM (``args[0]``) came before the repeat phase was recorded."""


def _then_repeat(summary: RunSummary, folder: RunFolder, spec: SweepSpec, options: SweepOptions, data, early,
                 address: str | None = None) -> RunSummary:
    """The sweep file's ``repeat:`` block, once the sweep has finished with a best trial.
    A Ctrl-C or SIGTERM before the repeat phase is recorded leaves the run finished and
    unrepeated: run.json's note and the summary say so, with the command that repeats it."""
    if not (options.repeat and spec.repeat_top_k and summary.status == RunStatus.FINISHED and summary.best):
        return summary
    by = early.requested
    if not by:
        try:
            return _repeat(folder, spec, spec.repeat_top_k, spec.repeat_seeds, options, data, address, early=early)
        except RepeatNotStarted as e:
            by = e.args[0]
    note = f"its repeat phase did not run: stopped by {by} before it began"
    skipped = f"tunefm repeat {folder.location} --top-k {spec.repeat_top_k} --seeds {spec.repeat_seeds}"
    unsaved = summary.unsaved
    try:
        from orchestrator.store.parquet import RunStore

        RunStore(folder.path, param_kinds(spec), mirror=folder.remote).write_meta(folder.meta().with_(note=note))
    except OSError as e:
        unsaved = unsaved or f"{e.strerror or e}: {e.filename or ''}"
    return replace(summary, note=note, skipped=skipped, unsaved=unsaved, stopped_by=by)


def _repeat(folder: RunFolder, spec: SweepSpec, top_k: int, seeds: int, options: SweepOptions, data,
            address: str | None = None, changed: tuple[str, ...] = (), early=None) -> RunSummary:
    from orchestrator.report.leaderboard import board, leaderboards
    from orchestrator.run.recorder import RunRecorder
    from orchestrator.search.repeats import repeat_configs
    from orchestrator.search.scheduler import build_scheduler
    from orchestrator.search.searcher import QueueSearcher
    from orchestrator.spec.sweep import SchedulerSpec
    from orchestrator.store.parquet import RunStore
    from orchestrator.store.snapshot import read_snapshot

    started, started_iso = session_clock()
    snap = read_snapshot(folder)
    configs = repeat_configs(snap.trials, board(leaderboards(snap.trials, snap.metrics, spec.metric, spec.mode)),
                             top_k, seeds, spec.seed + len(snap.trials))
    if not configs:
        raise UserError(f"{folder.location}: no trial has a validation result to repeat")
    params = param_kinds(spec)
    meta = snap.meta
    with tune_environment(), _session(options, spec, address, trials=len(configs), up_front=True) as session:
        session.check_resources(spec)
        scheduler = build_scheduler(SchedulerSpec(kind="fifo", max_epochs=spec.scheduler.max_epochs),
                                    spec.metric, spec.mode)
        tuner = build_tuner(spec, folder, trainable(spec, data, None, trial_function=options.trial_function),
                            searcher=QueueSearcher(configs), scheduler=scheduler, num_samples=len(configs),
                            callbacks=[RunRecorder(scheduler), *tracker_callbacks(spec, folder.location)],
                            reuse_workers=options.reuse_workers,
                            ray_name=phase_name(1 + len(meta.repeats)))
        if early is not None and early.requested:   # before the phase is recorded: the run stays as it was
            raise RepeatNotStarted(early.requested)
        meta = meta.with_(repeats=(*meta.repeats, RepeatPhase(top_k, seeds, len(configs))),
                          status=RunStatus.RUNNING, data_changes=(*meta.data_changes, *changed),
                          session_started_at=started_iso)
        store = RunStore(folder.path, params, mirror=folder.remote)
        with writing(folder):
            store.write_meta(meta)
        live = LiveRun(folder, tuple(params), spec.metric, spec.mode, spec.scheduler.max_epochs,
                       len(snap.trials) + len(configs), options.progress)
        return replace(drive(tuner, live, store, meta, started, meta.wall_seconds or 0.0, early), phase="repeat")


def _budget(spec: SweepSpec, spent: float, started: float) -> Budget | None:
    return None if spec.time_budget_s is None else Budget(float(spec.time_budget_s), spent, started)


def _dump(spec: SweepSpec) -> dict:
    from orchestrator.spec.sweep import dump_spec

    return dump_spec(spec)


__all__ = ["SweepOptions", "RunSummary", "run_sweep", "resume_sweep", "repeat_run"]
