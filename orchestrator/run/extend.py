"""``tunefm extend``: one more phase of a run, with more trials (and maybe more epochs).

Same run folder, same Parquet; Ray's state of the phase in ``ray-repeat-<n>`` like a
repeat's, and the phase recorded in run.json (``RepeatPhase`` of kind "extend"), so
``tunefm resume`` continues an interrupted extension. What is drawn and what the search
already knows: ``search/extension.py``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from orchestrator.lifecycle.budget import session_clock
from orchestrator.lifecycle.options import SweepOptions
from orchestrator.lifecycle.stop import Stop, command_stop
from orchestrator.raytune.space import param_kinds
from orchestrator.run.phase import EXTENSION, Phase, continue_from, decided_up_front, phase_epochs
from orchestrator.run.plans import check_families, finished_run, load_data, session_for
from orchestrator.run.runner import Command, RunSummary, run_phase, settle
from orchestrator.spec.sweep import MAX_EPOCHS, SweepSpec
from orchestrator.store.data_check import data_changes
from orchestrator.store.records import RepeatPhase
from trainables.contract.errors import UserError


def extend_run(location: str | Path, num_samples: int, family: str | None = None, max_epochs: int | None = None,
               continue_top: int = 3, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Add ``num_samples`` new trials per family (or to ``family``) to a finished run (an
    interrupted one is refused: resume it first); with ``max_epochs`` above the run's
    budget, its ``continue_top`` best trials per family that trained to the old budget
    also continue to the new one."""
    with command_stop() as stop:
        return settle(_extend(location, num_samples, family, max_epochs, continue_top, options, stop), stop)


def _extend(location, num_samples: int, family: str | None, max_epochs: int | None, continue_top: int,
            options: SweepOptions, stop: Stop) -> RunSummary:
    from orchestrator.ranking.leaderboard import board, leaderboards
    from orchestrator.raytune.scheduler import build_scheduler
    from orchestrator.raytune.searcher import QueueSearcher
    from orchestrator.raytune.tracking import check_trackers
    from orchestrator.search import extension as X
    from orchestrator.store.snapshot import read_snapshot

    started, started_iso = session_clock()
    with finished_run(location, options, "extend") as (folder, meta, old):
        if old.scheduler.population is not None:
            raise UserError(f"{folder.location}: a {old.scheduler.kind} population is trained as one; new members "
                            "would join without its history, and its members' schedules end at its budget. Start "
                            "a new sweep (more members, or a larger max_epochs); `tunefm extend --race` races its "
                            "leaders' schedules")
        old_epochs = old.scheduler.max_epochs
        if max_epochs is not None and max_epochs < old_epochs:
            raise UserError(f"--max-epochs {max_epochs}: below the run's budget of {old_epochs} epochs; an "
                            "extension only adds")
        new_epochs = max_epochs or old_epochs
        if not 1 <= new_epochs <= MAX_EPOCHS:
            raise UserError(f"--max-epochs {new_epochs}: must be between 1 and {MAX_EPOCHS}")
        spec = phase_epochs(old, (RepeatPhase(0, 0, 0, kind="extend", max_epochs=new_epochs),))
        families = X.check_extendable(spec, family)
        check_trackers(spec)
        changed = data_changes(meta, spec, folder.location, options.allow_changed_data)
        snap = read_snapshot(folder)
        index = 1 + len(meta.repeats)

        configs, drawn, exhausted = [], {}, []
        if spec.search != "tpe" and num_samples > 0:
            for fam in families:
                before = fam.trial_count(spec.search) + sum(p.drawn.get(fam.label, 0) for p in meta.repeats)
                new, taken = X.continue_stream(fam, spec.search, spec.seed, before, num_samples,
                                               X.tried_keys(snap.trials, fam.label))
                if len(new) < num_samples:
                    exhausted.append(f"{fam.label} has {len(new)} untried configuration(s) left")
                configs += new
                drawn[fam.label] = taken
        overall = board(leaderboards(snap.trials, snap.metrics, spec.metric, spec.mode))
        continued = (X.continuations(snap.trials, overall, [f.label for f in families], continue_top, old_epochs)
                     if new_epochs > old_epochs else [])
        configs = [X.continuation_config(snap.trials, t) for t in continued] + configs
        if not configs and (spec.search != "tpe" or num_samples == 0):
            why = "; ".join(exhausted) or "no new trials and no trial to continue"
            raise UserError(f"{folder.location}: this extension adds nothing ({why}); "
                            "--max-epochs above the budget continues the best trials")
        check_families(spec, configs)
        loading = load_data(spec.dataset)
        with session_for(options, spec, stop, meta.address) as session:
            session.check_resources(spec)
            data = stop.result(loading)
            scheduler = build_scheduler(spec.scheduler, spec.metric, spec.mode)   # starts from the run's results
            earlier = sum(len(t) for t in X.histories(snap.metrics, snap.trials, spec.metric).values())
            if spec.search == "tpe":
                searcher = _warm_tpe(spec, families, num_samples, snap, index, configs)
                total_new = len(configs) + num_samples * len(families)
            else:
                searcher, total_new = QueueSearcher(configs), len(configs)
            record = RepeatPhase(top_k=len(continued), seeds=0, trials=total_new, kind="extend",
                                 max_epochs=new_epochs if new_epochs != old_epochs else None, drawn=drawn,
                                 continued=tuple(continued))
            phase = Phase(EXTENSION, index, new_epochs, total=len(snap.trials) + total_new, num_samples=total_new,
                          searcher=searcher, scheduler=scheduler, up_front=decided_up_front(spec), record=record,
                          continue_from=continue_from(folder, snap.trials, continued),
                          note=(f"extended: {total_new} trials ({len(continued)} continued), "
                                + (f"ASHA starting from the results of {earlier} earlier trials"
                                   if spec.scheduler.kind == "asha" else "")
                                + "".join(f"; {e}" for e in exhausted)))
            cmd = Command(folder, spec, options, stop, session, data,
                          meta.with_(data_changes=(*meta.data_changes, *changed)), param_kinds(spec),
                          clock=started, started_iso=started_iso)
            summary = run_phase(cmd, phase)
            if summary is None:       # a stop before the phase was recorded: the run is as it was
                stop.check()
            return summary


def _warm_tpe(spec: SweepSpec, families, num_samples: int, snap, phase: int, continuations: list[dict]):
    """TPE told every earlier result of its family; continuations first, in a queue."""
    from orchestrator.raytune.tpe import build_tpe_searcher
    from orchestrator.search.extension import tried_points

    only = dataclasses.replace(spec, families=tuple(dataclasses.replace(f, num_samples=num_samples)
                                                    for f in families))
    searcher = build_tpe_searcher(only, tried_points(only, snap), phase)
    if not continuations:
        return searcher
    from orchestrator.raytune.searcher import ChainSearcher

    return ChainSearcher(continuations, searcher)


def extend_race(location: str | Path, rounds: int = 4, seconds: float | None = None,
                options: SweepOptions = SweepOptions()) -> RunSummary:
    """Race a finished run's leaders, or go on with a race that ended unsettled, for
    ``rounds`` more rounds (and at most ``seconds``). A run whose sweep file has no
    ``decide:`` block races under the defaults (run.json records that, so its report
    reads the race under the same rule)."""
    with command_stop() as stop:
        return settle(_extend_race(location, rounds, seconds, options, stop), stop)


def _extend_race(location, rounds: int, seconds: float | None, options: SweepOptions, stop: Stop) -> RunSummary:
    from orchestrator.run.race import race_phase
    from orchestrator.run.runner import NothingToRun
    from orchestrator.search.race import verdict
    from orchestrator.spec.sweep import with_overrides
    from orchestrator.store.parquet import read_trials

    started, started_iso = session_clock()
    with finished_run(location, options, "race") as (folder, meta, spec):
        if spec.decide is None:
            spec = with_overrides(spec, decide=True)
            meta = meta.with_(overrides={**meta.overrides, "decide": True})
        so_far = verdict(read_trials(folder.path), spec)
        if so_far is not None and so_far.decided:
            from orchestrator.ranking.race import describe

            raise UserError(f"{folder.location}: the race is decided already ({describe(so_far, spec.metric)}); "
                            "nothing to extend")
        changed = data_changes(meta, spec, folder.location, options.allow_changed_data)
        loading = load_data(spec.dataset)
        with session_for(options, spec, stop, meta.address) as session:
            session.check_resources(spec)
            data = stop.result(loading)
            cmd = Command(folder, spec, options, stop, session, data,
                          meta.with_(data_changes=(*meta.data_changes, *changed)), param_kinds(spec),
                          clock=started, started_iso=started_iso)
            try:
                phase = race_phase(cmd, more_rounds=rounds, seconds=seconds)
            except NothingToRun as e:
                raise UserError(f"{folder.location}: no race: {e}") from None
            summary = run_phase(cmd, phase)
            if summary is None:       # a stop before the phase was recorded: the run is as it was
                stop.check()
            return summary
