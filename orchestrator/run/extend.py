"""``tunefm extend``: one more phase of a run, with more trials (and maybe more epochs).

Same run folder, same Parquet; Ray's state of the phase in ``ray-repeat-<n>`` like a
repeat's, and the phase recorded in run.json (``RepeatPhase`` of kind "extend"), so
``tunefm resume`` continues an interrupted extension. What is drawn and what the search
already knows: ``search/extension.py``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from orchestrator.run.budget import session_clock
from orchestrator.run.data_check import data_changes
from orchestrator.run.drive import RunSummary, drive, late_stop
from orchestrator.run.live import LiveRun
from orchestrator.run.plans import SweepOptions, _session
from orchestrator.run.session import early_stops, tune_environment
from orchestrator.run.tracking import check_trackers, tracker_callbacks
from orchestrator.run.tuner import build_tuner, check_families, param_kinds, phase_name, trainable
from orchestrator.spec.sweep import MAX_EPOCHS, SweepSpec
from orchestrator.store.folder import RunFolder, writing
from orchestrator.store.records import RepeatPhase, RunStatus
from orchestrator.store.snapshot import check_finished
from trainables.contract.errors import UserError


def phase_epochs(spec: SweepSpec, phases: tuple[RepeatPhase, ...]) -> SweepSpec:
    """The spec with the epoch budget the run's latest extension gave it (if any)."""
    budgets = [p.max_epochs for p in phases if p.max_epochs]
    if not budgets:
        return spec
    sched = dataclasses.replace(spec.scheduler, max_epochs=budgets[-1])
    return dataclasses.replace(spec, scheduler=sched)


def continue_from(folder: RunFolder, trials, trial_ids) -> dict[str, str]:
    """Earlier trial id -> the absolute folder of its latest checkpoint (what it continues from)."""
    from orchestrator.store import schema as S
    from orchestrator.store.parquet import checkpoint_dir

    rows = trials.set_index(S.TRIAL_ID)
    out = {}
    for tid in trial_ids:
        last = rows.loc[tid, "last_checkpoint"] if tid in rows.index else None
        if not isinstance(last, str) or not (checkpoint_dir(folder.path, last) / "model.keras").is_file():
            raise UserError(f"{folder.location}: trial {tid} has no readable latest checkpoint to continue from")
        out[tid] = str(checkpoint_dir(folder.path, last))
    return out


def extend_run(location: str | Path, num_samples: int, family: str | None = None, max_epochs: int | None = None,
               continue_top: int = 3, options: SweepOptions = SweepOptions()) -> RunSummary:
    """Add ``num_samples`` new trials per family (or to ``family``) to a finished run
    (an interrupted one is refused: resume it first); with ``max_epochs`` above the run's budget, its ``continue_top`` best
    trials per family that trained to the old budget also continue to the new one."""
    from orchestrator.report.leaderboard import board, leaderboards
    from orchestrator.run.recorder import RunRecorder
    from orchestrator.search import extension as X
    from orchestrator.search.scheduler import build_scheduler
    from orchestrator.search.searcher import QueueSearcher
    from orchestrator.store.parquet import RunStore
    from orchestrator.store.snapshot import read_snapshot
    from trainables.datasets import load_trial_data

    started, started_iso = session_clock()
    folder, lock = RunFolder.drive(location, options.command)
    with lock, early_stops() as early:
        meta = folder.meta()
        if meta.status != RunStatus.FINISHED:
            # an extension is a new phase: the unfinished trials of the last one would stay unfinished,
            # and resume could no longer reach them
            raise UserError(f"{folder.location}: the run is {meta.status.value}; finish it first (tunefm resume "
                            f"{folder.location}), then extend it")
        base = folder.spec(check_frozen=True)
        check_finished(folder, meta, base)
        old = phase_epochs(base, meta.repeats)
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
        phase = 1 + len(meta.repeats)

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
        data = load_trial_data(spec.dataset)
        params = param_kinds(spec)
        with tune_environment(), _session(options, spec, meta.address) as session:
            session.check_resources(spec)
            scheduler = build_scheduler(spec.scheduler, spec.metric, spec.mode)
            seeded = scheduler.warm_start(X.histories(snap.metrics, snap.trials, spec.metric))
            if spec.search == "tpe":
                searcher = _warm_tpe(spec, families, num_samples, snap, phase, configs)
                total_new = len(configs) + num_samples * len(families)
            else:
                searcher, total_new = QueueSearcher(configs), len(configs)
            tuner = build_tuner(spec, folder, trainable(spec, data, None, trial_function=options.trial_function,
                                                        continue_from=continue_from(folder, snap.trials, continued)),
                                searcher=searcher, scheduler=scheduler, num_samples=total_new,
                                callbacks=[RunRecorder(scheduler), *tracker_callbacks(spec, folder.location)],
                                reuse_workers=options.reuse_workers, ray_name=phase_name(phase))
            early.check()
            record = RepeatPhase(top_k=len(continued), seeds=0, trials=total_new, kind="extend",
                                 max_epochs=new_epochs if new_epochs != old_epochs else None, drawn=drawn,
                                 continued=tuple(continued))
            meta = meta.with_(repeats=(*meta.repeats, record), status=RunStatus.RUNNING,
                              data_changes=(*meta.data_changes, *changed), note=None, session_started_at=started_iso)
            store = RunStore(folder.path, params, mirror=folder.remote)
            with writing(folder):
                store.write_meta(meta)
            live = LiveRun(folder, tuple(params), spec.metric, spec.mode, new_epochs,
                           len(snap.trials) + total_new, options.progress)
            summary = drive(tuner, live, store, meta, started, meta.wall_seconds or 0.0, early)
            summary = dataclasses.replace(summary, phase="extension", note=summary.note or
                                          (f"extended: {total_new} trials ({len(continued)} continued), "
                                           f"{seeded} earlier results seeded ASHA's rungs"
                                           + "".join(f"; {e}" for e in exhausted)))
    return late_stop(summary, early)


def _warm_tpe(spec: SweepSpec, families, num_samples: int, snap, phase: int, continuations: list[dict]):
    """TPE told every earlier result of its family; continuations first, in a queue."""
    from orchestrator.search.extension import tried_points
    from orchestrator.search.tpe import build_tpe_searcher

    only = dataclasses.replace(spec, families=tuple(dataclasses.replace(f, num_samples=num_samples)
                                                    for f in families))
    searcher = build_tpe_searcher(only, tried_points(only, snap), phase)
    if not continuations:
        return searcher
    from orchestrator.search.searcher import ChainSearcher

    return ChainSearcher(continuations, searcher)
