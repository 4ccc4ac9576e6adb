"""A phase of a run, as its plan declares it: what it trains and what it records.

A run has one or more phases, each one ``Tuner.fit`` with its own Ray experiment folder
(``ray`` for the sweep, ``ray-repeat-<n>`` for the n-th later one) and, past the first,
an entry in run.json's phases (``RepeatPhase``) so that ``tunefm resume`` continues it.
The plans (``plans.py``, ``extend.py``) declare a ``Phase``; one runner (``runner.py``)
runs every kind.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from orchestrator.lifecycle.budget import Budget
from orchestrator.spec.sweep import SweepSpec
from orchestrator.store.records import RepeatPhase
from trainables.contract.errors import UserError

SWEEP, REPEAT, EXTENSION, RACE = "sweep", "repeat", "extension", "race"


@dataclass(frozen=True)
class Phase:
    kind: str                                  # SWEEP, REPEAT, EXTENSION
    index: int                                 # 0: the sweep; n: run.json's n-th later phase
    max_epochs: int                            # the phase's epoch budget
    total: int | None                          # trials the run will have (None: as many as it needs: a race)
    num_samples: int = 0                       # trials this phase adds (a new Tuner)
    searcher: Any = None                       # a Ray searcher (a new Tuner)
    scheduler: Any = None                      # a PerFamilyScheduler (a new Tuner)
    up_front: bool = True                      # its configs are decided before it starts: queue them ahead
    record: RepeatPhase | None = None          # what run.json's phases gain as it starts (a later phase)
    restore: bool = False                      # continue Ray's saved experiment of this phase (resume)
    budget: Budget | None = None               # the sweep's time budget (the sweep phase only)
    feature_cache: bool = False                # families that share backbone features
    trackers: bool = True                      # TensorBoard / MLflow as the sweep file asks
    done: frozenset[str] = frozenset()         # resume: trials done in the Parquet since Ray's state
    drop: frozenset[str] = frozenset()         # resume: trials Ray's state never saw
    recorded_epochs: Mapping[str, int] = field(default_factory=dict)   # resume: each trial's last epoch on disk
    continue_from: Mapping[str, str] = field(default_factory=dict)     # extend: trial id -> checkpoint folder
    note: str | None = None                    # the summary's note when it finishes without one
    conclude: Callable[[Any], str] | None = None   # ... or that note, from the run's command once it ends (the race's verdict)
    left: Callable[[Any], int] | None = None   # total None: trials it had yet to start when its fit ended,
                                               # from the run's command (the race: 1 while it could go on)

    @property
    def ray_name(self) -> str:
        from orchestrator.raytune.tuner import phase_name

        return phase_name(self.index)


def decided_up_front(spec: SweepSpec) -> bool:
    """Whether a search phase's configs are all decided before it starts (random, grid,
    ablation); TPE proposes each as results come in. Later phases are always queues."""
    return spec.search != "tpe"


def phase_kind(record: RepeatPhase) -> str:
    return {"extend": EXTENSION, "race": RACE}.get(record.kind, REPEAT)


def phase_epochs(spec: SweepSpec, phases: tuple[RepeatPhase, ...]) -> SweepSpec:
    """The spec with the epoch budget the run's latest extension gave it (if any)."""
    budgets = [p.max_epochs for p in phases if p.max_epochs]
    if not budgets:
        return spec
    return dataclasses.replace(spec, scheduler=dataclasses.replace(spec.scheduler, max_epochs=budgets[-1]))


def follows(kind: str, spec: SweepSpec, repeat: bool = True) -> str | None:
    """The phase a sweep file declares after a phase of ``kind``, if any: its ``repeat:``
    block after the sweep, then its ``decide:`` block (the race). ``repeat``: the command
    runs the repeat block (``SweepOptions.repeat``)."""
    if kind == SWEEP and repeat and spec.repeat_top_k:
        return REPEAT
    if kind in (SWEEP, REPEAT) and spec.decide is not None:
        return RACE
    return None


def continue_from(folder, trials, trial_ids) -> dict[str, str]:
    """Earlier trial id -> the absolute folder of its latest checkpoint (what it continues from)."""
    from orchestrator.store import schema as S
    from orchestrator.store.parquet import checkpoint_dir
    from trainables.training.checkpoints import readable

    rows = trials.set_index(S.TRIAL_ID)
    out = {}
    for tid in trial_ids:
        last = rows.loc[tid, "last_checkpoint"] if tid in rows.index else None
        if not isinstance(last, str) or not readable(checkpoint_dir(folder.path, last)):
            raise UserError(f"{folder.location}: trial {tid} has no readable latest checkpoint to continue from")
        out[tid] = str(checkpoint_dir(folder.path, last))
    return out
