"""The race phase: the leaders trained again, round after round on new seeds, until the
race is settled, a tie is shown, or its budget runs out (``search/race.py`` says who
enters and what a round trains; ``ranking/race.py`` decides; ``raytune/race.py``
proposes the rounds).

It follows the search (and the repeat phase) when the sweep file has a ``decide:``
block or the sweep runs with ``--decide``; ``tunefm extend RUN --race`` continues a race
that ended unsettled. Like every phase it is recorded in run.json (kind "race"), so a
Ctrl-C, a SIGTERM or a kill leaves it to ``tunefm resume``.
"""
from __future__ import annotations

import dataclasses
import time

from orchestrator.lifecycle.budget import Budget
from orchestrator.run.phase import RACE, Phase
from orchestrator.run.runner import Command, NothingToRun
from orchestrator.store.records import RepeatPhase


def race_phase(cmd: Command, more_rounds: int | None = None, seconds: float | None = None) -> Phase:
    """The race of the run's leaders (or, for an extension, of the candidates an earlier
    race phase entered, for ``more_rounds`` rounds more)."""
    from orchestrator.raytune.race import RaceSearcher
    from orchestrator.raytune.scheduler import build_scheduler
    from orchestrator.search import race
    from orchestrator.spec.sweep import SchedulerSpec
    from orchestrator.store.snapshot import read_snapshot

    spec, decide = cmd.spec, cmd.spec.decide
    snap = read_snapshot(cmd.folder)
    chosen = race.entered(snap.trials) or race.candidates(snap.trials, spec.metric, spec.mode, decide.candidates,
                                                          snap.meta.data.val)
    if len(chosen) < 2:
        raise NothingToRun("fewer than two configurations trained to the epoch budget, so nothing can race")
    rule = race.rule_of(decide)
    done_rounds = max((max(r) + 1 for r in race.scores(snap.trials).values() if r), default=0)
    if more_rounds:
        rule = dataclasses.replace(rule, max_rounds=done_rounds + more_rounds)
        race.check_rounds(spec, rule.max_rounds, key=f"--rounds {more_rounds} (after {done_rounds} round(s))")
    max_trials = decide.trials or len(chosen) * max(1, rule.max_rounds - done_rounds)
    seconds = seconds if seconds is not None else decide.seconds
    scheduler = build_scheduler(SchedulerSpec(kind="fifo", max_epochs=spec.scheduler.max_epochs),
                                spec.metric, spec.mode)
    runs_before = race.cost(snap.trials)[2]
    return Phase(RACE, 1 + len(cmd.meta.repeats), spec.scheduler.max_epochs, total=None,
                 num_samples=max_trials,
                 searcher=RaceSearcher(race.plan(snap.trials, chosen, spec, snap.metrics), rule, spec.mode, max_trials),
                 scheduler=scheduler, up_front=False,
                 record=RepeatPhase(top_k=len(chosen), seeds=0, trials=max_trials, kind="race"),
                 budget=Budget(float(seconds), 0.0, time.monotonic()) if seconds else None,
                 conclude=conclude, left=lambda c: race_left(c, runs_before + max_trials))


def race_left(cmd: Command, most_runs: int) -> int:
    """After a stop: 1 while the race could go on (not decided, rounds and its runs left),
    else 0. A race whose fit ended on its own proposed all it could."""
    from orchestrator.ranking.race import UNSETTLED
    from orchestrator.search import race
    from orchestrator.store.parquet import read_trials

    if cmd.stop.requested is None:
        return 0
    trials = read_trials(cmd.folder.path)
    verdict = race.verdict(trials, cmd.spec)
    if verdict is not None and (verdict.decided or verdict.kind == UNSETTLED):
        return 0
    return 0 if race.cost(trials)[2] >= most_runs else 1


def conclude(cmd: Command) -> str:
    """The race's verdict in one line, with what it cost, from the run's files."""
    from orchestrator.ranking.race import describe
    from orchestrator.search import race
    from orchestrator.store.snapshot import read_snapshot

    snap = read_snapshot(cmd.folder)
    verdict = race.verdict(snap.trials, cmd.spec, out_of_budget=True)
    if verdict is None:
        return "no race ran"
    seconds, epochs, runs = race.cost(snap.trials)
    return f"{describe(verdict, cmd.spec.metric)} ({runs} race runs, {epochs} epochs, {seconds:.0f} s of training)"
