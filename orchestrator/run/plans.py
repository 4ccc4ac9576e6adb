"""The plans over one run folder: start a run, resume it, repeat its winners.

Each declares its phases and leaves the rest to the runner (``runner.py``): check what
can fail, hold the run's lock, open one Ray session, run the phase. Callable from Python
as well as from the CLI::

    from orchestrator.run.plans import SweepOptions, run_sweep, resume_sweep
    from orchestrator.spec.sweep import load_sweep
    summary = run_sweep(load_sweep("sweeps/quick.yaml"), SweepOptions(cpus=2))
    summary = resume_sweep(summary.location)   # after Ctrl-C, SIGTERM, a kill or a reboot

A Ctrl-C or SIGTERM anywhere in a plan reaches the command's one stop token
(``lifecycle.stop``): before the run folder exists the plan raises ``Stopped`` and
nothing is written; after, the run ends as the outcome table says.
"""
from __future__ import annotations

import os

import contextlib
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Iterator

from orchestrator.lifecycle.budget import Budget, session_clock, spent_before
from orchestrator.lifecycle.options import SweepOptions
from orchestrator.lifecycle.stop import Stop, command_stop
from orchestrator.raytune.session import RaySession, trial_slots
from orchestrator.raytune.space import param_kinds
from orchestrator.run.phase import RACE, REPEAT, SWEEP, Phase, continue_from, decided_up_front, phase_epochs, phase_kind
from orchestrator.run.runner import Command, RunSummary, run_phase, run_phases, settle
from orchestrator.search.race import check_rounds
from orchestrator.spec.names import segment_problem
from orchestrator.spec.sweep import SweepSpec
from orchestrator.store.data_check import data_changes
from orchestrator.store.folder import RunFolder, create, sha256_text, writing
from orchestrator.store.records import DataSummary, RepeatPhase, RunMeta, RunStatus, versions
from orchestrator.store.snapshot import check_finished
from trainables.contract.errors import UserError
from trainables.contract.keys import EPOCH, FAMILY_KEY, MODEL_KEY, STATUS, TRIAL_ID
from trainables.contract.status import DONE


def session_for(options: SweepOptions, spec: SweepSpec, stop: Stop, recorded_address: str | None = None,
                trials: int | None = None) -> RaySession:
    """The command's Ray session. ``trials``: how many the command runs, when known (no
    more workers import Keras). A ``TUNEFM_RESTART_SECONDS`` that is not a number stops the
    command here, before Ray starts and before a sweep makes its run folder."""
    from orchestrator.lifecycle.slots import restart_seconds

    restart_seconds(os.environ)
    return RaySession(options.cpus, options.gpus, options.address or recorded_address,
                      slots=trial_slots(spec, options.cpus, options.gpus, trials), stop=stop)


def load_data(dataset) -> Future:
    """The data set, read and split in a thread while Ray starts (``session.beside_ray``);
    its test split is read once too, never used, so a damaged one stops the sweep before
    it trains rather than its report after."""
    from orchestrator.raytune.session import beside_ray
    from trainables.datasets import load_trial_data
    from trainables.datasets.registry import check_test_split

    def load():
        data = load_trial_data(dataset)
        check_test_split(dataset)
        for line in data.warnings:      # before anything trains; a new run records them (DataSummary)
            print(f"tunefm: warning: {line}", file=sys.stderr, flush=True)
        return data

    return beside_ray(load)


def check_families(spec: SweepSpec, configs: list[dict[str, Any]]) -> None:
    """Family checks that need no worker (weights files exist ...), once per distinct config."""
    from trainables.families import get_family

    seen = set()
    for config in configs:
        key = tuple(sorted((k, str(v)) for k, v in config.items() if k != "seed"))
        if key in seen:
            continue
        seen.add(key)
        try:
            get_family(config[MODEL_KEY]).check(config)
        except UserError as e:
            raise UserError(f"{spec.source}: families.{config[FAMILY_KEY]}: {e}") from None


# --- tunefm sweep ---------------------------------------------------------------------------

def run_sweep(spec: SweepSpec, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Start a new run of ``spec``. Every check that can fail runs before the run folder
    exists; a Ctrl-C or SIGTERM before it does raises ``Stopped`` with nothing written."""
    with command_stop() as stop:
        return settle(_run_sweep(spec, options, stop), stop)


def _run_sweep(spec: SweepSpec, options: SweepOptions, stop: Stop) -> RunSummary:
    from orchestrator.raytune.scheduler import build_scheduler
    from orchestrator.raytune.space import trial_configs
    from orchestrator.raytune.tracking import check_trackers
    from orchestrator.raytune.tuner import searcher_for
    from orchestrator.run.preflight import check_results_dir
    from trainables.datasets.provenance import resolve
    from trainables.datasets.registry import locate_data

    started, started_iso = session_clock()
    if options.run_name is not None and segment_problem(options.run_name):
        raise UserError(f"--name {options.run_name!r}: {segment_problem(options.run_name)}")
    configs = trial_configs(spec)
    check_families(spec, configs)                 # e.g. missing transfer weights
    check_rounds(spec)                            # a race that could only end unsettled
    check_trackers(spec)                          # tracking: asks for an extra that is not installed
    root = check_results_dir(options.results_dir, spec)
    locate_data(spec.dataset)                     # a missing data set stops here, before Ray starts
    source = Path(spec.source)
    text = options.sweep_text if options.sweep_text is not None else \
        (source.read_text() if source.is_file() else None)     # a spec built in Python has no file
    params = param_kinds(spec)
    loading = load_data(spec.dataset)       # while Ray starts (and its workers import Keras)
    with session_for(options, spec, stop, trials=len(configs) or None) as session:
        session.check_resources(spec)
        data = stop.result(loading)               # a data set that cannot be read stops here, before any folder
        provenance = resolve(spec.dataset, data.train, data.val, data.num_classes)
        stop.check()                              # a Ctrl-C while the data loaded: nothing written yet
        folder = create(root, spec.name, options.run_name)
        with folder.lock(options.command):
            meta = RunMeta(
                run_id=folder.name, sweep=spec.name, metric=spec.metric, mode=spec.mode,
                max_epochs=spec.scheduler.max_epochs, trials=len(configs),
                source=str(source.resolve()) if source.is_file() else spec.source, command=options.command,
                overrides=options.overrides, reuse_workers=options.reuse_workers, address=options.address,
                remote=folder.uri, data=DataSummary(len(data.train), len(data.val), data.class_names,
                                                    data.input_shape, data.warnings),
                versions=versions(), spec=_dump(spec), sweep_sha256=sha256_text(text) if text else None,
                provenance=provenance, session_started_at=started_iso)
            with writing(folder):
                store = folder_store(folder, params)
                if text is not None:
                    store.write_sweep_copy(text)
                store.write_meta(meta)
            cmd = Command(folder, spec, options, stop, session, data, meta, params, clock=started,
                          started_iso=started_iso)
            up_front = decided_up_front(spec)
            scheduler = build_scheduler(spec.scheduler, spec.metric, spec.mode)
            phase = Phase(SWEEP, 0, spec.scheduler.max_epochs, total=len(configs), num_samples=len(configs),
                          searcher=searcher_for(spec, configs if up_front else None), scheduler=scheduler,
                          up_front=up_front, budget=_budget(spec, 0.0, started), feature_cache=True)
            return run_phases(cmd, run_phase(cmd, phase), declare_next)


def folder_store(folder: RunFolder, params):
    from orchestrator.store.parquet import RunStore

    return RunStore(folder.path, params, mirror=folder.remote)


# --- tunefm resume ---------------------------------------------------------------------------

def resume_sweep(location: str | Path, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Continue an interrupted run where its folder is now: finished trials stay finished,
    unfinished ones continue from their last checkpoint, trials never started start; a
    sweep resumed to its end then runs its file's later phases (``repeat:``)."""
    with command_stop() as stop:
        return settle(_resume(location, options, stop), stop)


def _resume(location, options: SweepOptions, stop: Stop) -> RunSummary:
    from orchestrator.raytune.reconcile import UNREADABLE_SUFFIX, known_trials, set_aside_unreadable_states
    from orchestrator.raytune.tuner import phase_name
    from orchestrator.store.parquet import read_metrics, read_trials
    from orchestrator.store.schema import WALL_TIME

    started, started_iso = session_clock()
    folder, lock = RunFolder.drive(location, options.command)
    with lock:
        meta = folder.meta()
        if meta.status == RunStatus.FINISHED:
            check_finished(folder, meta, folder.spec())
            raise UserError(f"{folder.location}: this run finished; nothing to resume "
                            "(start a new one with tunefm sweep)")
        spec = phase_epochs(folder.spec(check_frozen=True), meta.repeats)   # an extension's epoch budget
        changed = data_changes(meta, spec, folder.location, options.allow_changed_data)
        params = param_kinds(spec)
        # a later phase starts only once the sweep finished: an interrupted run with later
        # phases was interrupted in its last one, and that phase is what continues
        phases = len(meta.repeats)
        continues = continue_from(folder, read_trials(folder.path), meta.repeats[-1].continued) if phases else {}
        loading = load_data(spec.dataset)
        with session_for(options, spec, stop, meta.address) as session:
            session.check_resources(spec)
            data = stop.result(loading)
            # Ray's saved state can lag the Parquet by a few seconds: trials done since then
            # are not trained again, trials started since then are discarded (Ray reruns them).
            unreadable = set_aside_unreadable_states(folder, phase_name(phases))
            if unreadable:
                print(f"tunefm: {folder.location}: Ray's newest saved state was cut short (its driver was killed "
                      f"while writing it), set aside with {UNREADABLE_SUFFIX}; a resume continues from the state "
                      "of the session before: " + ", ".join(sorted(unreadable)), file=sys.stderr)
            ours, metrics = read_trials(folder.path), read_metrics(folder.path)
            known = known_trials(folder, phases)
            ours_ids = (set(ours[TRIAL_ID]) if len(ours) else set()) | (set(metrics[TRIAL_ID]) if len(metrics) else set())
            done = frozenset(ours[ours[STATUS].isin(DONE)][TRIAL_ID]) & known if len(ours) else frozenset()
            # the time budget is the run's: what the sessions before this one spent counts
            spent = spent_before(meta, [t.timestamp() for t in metrics[WALL_TIME].dropna()] if len(metrics) else ())
            meta = meta.with_(resumed=(*meta.resumed, started_iso), remote=folder.uri,
                              data_changes=(*meta.data_changes, *changed), wall_seconds=spent)
            kind = phase_kind(meta.repeats[-1]) if phases else SWEEP
            total = None if kind == RACE else meta.trials + sum(r.trials for r in meta.repeats if r.kind != "race")
            phase = Phase(kind, phases, spec.scheduler.max_epochs, total=total,
                          restore=True, budget=_resumed_budget(kind, spec, meta, spent, started, metrics),
                          feature_cache=not phases, done=done, drop=frozenset(ours_ids - known),
                          recorded_epochs=metrics.groupby(TRIAL_ID)[EPOCH].max().astype(int).to_dict()
                          if len(metrics) else {}, continue_from=continues,
                          conclude=_race_conclusion() if kind == RACE else None)
            cmd = Command(folder, spec, options, stop, session, data, meta, params, clock=started,
                          started_iso=started_iso)
            return run_phases(cmd, run_phase(cmd, phase), declare_next)


# --- tunefm repeat, and a sweep file's repeat: block -------------------------------------------

def repeat_run(location: str | Path, top_k: int, seeds: int, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Train the ``top_k`` best configurations of a finished run again with ``seeds`` new
    seeds each, to the full epoch budget (no early stopping), into the same Parquet."""
    with command_stop() as stop:
        return settle(_repeat_run(location, top_k, seeds, options, stop), stop)


@contextlib.contextmanager
def finished_run(location, options: SweepOptions, then: str) -> Iterator[tuple[RunFolder, RunMeta, SweepSpec]]:
    """A finished run, locked for a new phase (repeat, extend, a race): its folder, its
    run.json and its sweep at the run's epoch budget (an ``extend --max-epochs`` raised it,
    as a resume of that phase reads it). An unfinished run is refused: the new phase would
    leave the last one's unfinished trials where resume could no longer reach them."""
    folder, lock = RunFolder.drive(location, options.command)
    with lock:
        meta = folder.meta()
        if meta.status != RunStatus.FINISHED:
            raise UserError(f"{folder.location}: the run is {meta.status.value}, not finished; finish it first "
                            f"(tunefm resume {folder.location}), then {then} it")
        spec = phase_epochs(folder.spec(check_frozen=True), meta.repeats)
        check_finished(folder, meta, spec)
        yield folder, meta, spec


def _repeat_run(location, top_k: int, seeds: int, options: SweepOptions, stop: Stop) -> RunSummary:
    started, started_iso = session_clock()
    with finished_run(location, options, "repeat") as (folder, meta, spec):
        changed = data_changes(meta, spec, folder.location, options.allow_changed_data)
        loading = load_data(spec.dataset)
        with session_for(options, spec, stop, meta.address, trials=top_k * seeds) as session:
            session.check_resources(spec)
            data = stop.result(loading)
            meta = meta.with_(data_changes=(*meta.data_changes, *changed))
            cmd = Command(folder, spec, options, stop, session, data, meta, param_kinds(spec), clock=started,
                          started_iso=started_iso)
            summary = run_phase(cmd, repeat_phase(cmd, top_k, seeds))
            if summary is None:       # a stop before the phase was recorded: the run is as it was
                stop.check()
            return summary


def declare_next(cmd: Command, kind: str) -> Phase:
    """The phase the sweep file declares next: its ``repeat:`` block after the sweep, its
    ``decide:`` block (the race) after that."""
    if kind == REPEAT:
        return repeat_phase(cmd, cmd.spec.repeat_top_k, cmd.spec.repeat_seeds)
    if kind == RACE:
        from orchestrator.run.race import race_phase

        return race_phase(cmd)
    raise ValueError(f"no plan declares a {kind} phase")


def repeat_phase(cmd: Command, top_k: int, seeds: int) -> Phase:
    from orchestrator.ranking.leaderboard import board, leaderboards
    from orchestrator.raytune.scheduler import build_scheduler
    from orchestrator.raytune.searcher import QueueSearcher
    from orchestrator.search.repeats import repeat_configs
    from orchestrator.search.replay import mutated
    from orchestrator.spec.sweep import SchedulerSpec
    from orchestrator.store.snapshot import read_snapshot

    spec = cmd.spec
    snap = read_snapshot(cmd.folder)
    configs = repeat_configs(snap.trials, board(leaderboards(snap.trials, snap.metrics, spec.metric, spec.mode)),
                             top_k, seeds, spec.seed + len(snap.trials), snap.metrics, mutated(spec))
    if not configs:
        raise UserError(f"{cmd.folder.location}: no trial has a validation result to repeat")
    scheduler = build_scheduler(SchedulerSpec(kind="fifo", max_epochs=spec.scheduler.max_epochs),
                                spec.metric, spec.mode)
    return Phase(REPEAT, 1 + len(cmd.meta.repeats), spec.scheduler.max_epochs,
                 total=len(snap.trials) + len(configs), num_samples=len(configs), searcher=QueueSearcher(configs),
                 scheduler=scheduler, record=RepeatPhase(top_k, seeds, len(configs)))


def _budget(spec: SweepSpec, spent: float, started: float) -> Budget | None:
    return None if spec.time_budget_s is None else Budget(float(spec.time_budget_s), spent, started)


def _resumed_budget(kind: str, spec: SweepSpec, meta: RunMeta, spent: float, started: float,
                    metrics) -> Budget | None:
    """The time budget a resumed phase has left: the sweep's (``time_budget_s``, over all
    its sessions), or the race's (``decide.seconds``, less its time from the phase's start
    to its last recorded epoch); a repeat or an extension has none."""
    if kind == SWEEP:
        return _budget(spec, spent, started)
    if kind == RACE and spec.decide is not None and spec.decide.seconds:
        from datetime import datetime

        from orchestrator.store.schema import WALL_TIME

        began = datetime.fromisoformat(meta.repeats[-1].at).timestamp()
        last = max((t.timestamp() for t in metrics[WALL_TIME].dropna()), default=began) if len(metrics) else began
        return Budget(float(spec.decide.seconds), max(0.0, last - began), started)
    return None


def _race_conclusion():
    from orchestrator.run.race import conclude

    return conclude


def _dump(spec: SweepSpec) -> dict:
    from orchestrator.spec.sweep import dump_spec

    return dump_spec(spec)


__all__ = ["SweepOptions", "RunSummary", "run_sweep", "resume_sweep", "repeat_run"]
