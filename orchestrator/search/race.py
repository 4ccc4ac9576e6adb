"""The race among the leaders: who enters, what each round trains, and the verdict.

After the search (and a repeat phase, if any), the configurations that could still be
#1 race: each round trains every one still in the race again on one new seed (the same
seed, and with ``resplit`` the same train/validation fold, for all of them, so the
comparison is paired), to the leader's epoch budget. ``ranking/race.py`` decides after
each round who is out and whether the race is settled, a tie, or still open.

Entering: the leader (the best configuration by its mean validation score over its runs
so far) and every configuration whose 95% interval reaches the leader's score (Wilson
intervals on the validation images, for accuracy; for another metric the nearest
ones), at most ``DecideSpec.candidates``, at least the leader and the runner-up.
Configurations trained to the run's epoch budget are the ones that enter (an early-
stopped trial says little of where it would have ended).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestrator.ranking.race import RaceRule, Verdict, decide
from orchestrator.spec.sweep import DecideSpec, SweepSpec
from orchestrator.store import schema as S
from trainables.contract.errors import SweepFileError
from trainables.contract.keys import (CONTINUES_KEY, FOLD_KEY, FOLDS_KEY, RACE_COL, RACE_KEY, REPEAT_COL,
                                      REPEAT_KEY, ROUND_KEY, SEED_KEY)
from trainables.contract.metrics import Mode
from trainables.contract.status import Status

BOOKKEEPING = (SEED_KEY, REPEAT_KEY, CONTINUES_KEY, RACE_KEY, ROUND_KEY, FOLD_KEY, FOLDS_KEY)
ROUND_COL = S.CONFIG_PREFIX + ROUND_KEY
SCORED = (Status.COMPLETED, Status.DIVERGED)   # a race run counts once it trained its whole budget


def check_rounds(spec: SweepSpec, rounds: int | None = None, key: str = "decide.rounds") -> None:
    """Refuse a race that can only end unsettled: fewer rounds (``rounds``: the race's
    whole count, default the sweep file's) than its test needs even when every round
    agrees (``ranking.race.fewest_rounds``). It ran to its end, and said 'unsettled'."""
    from orchestrator.ranking.race import fewest_rounds

    d = spec.decide
    if d is None:
        return
    rounds = d.rounds if rounds is None else rounds
    least = fewest_rounds(d.candidates, d.alpha)
    if rounds < least:
        raise SweepFileError(spec.source, key, f"{rounds} round(s) can never settle a race of {d.candidates} "
                             f"candidates at alpha {d.alpha:g}: its test needs {least} even when every round "
                             f"agrees; give {least} or more (seeds differ: a few more settle more races)")


def rule_of(decide_spec: DecideSpec) -> RaceRule:
    return RaceRule(alpha=decide_spec.alpha, margin=decide_spec.equivalence, max_rounds=decide_spec.rounds)


def configuration(trials: pd.DataFrame) -> pd.Series:
    """The configuration each trial ran: the candidate a race run runs, the trial a repeat
    repeats, else its own id."""
    own = trials[S.TRIAL_ID]
    for col in (REPEAT_COL, RACE_COL):
        if col in trials:
            own = trials[col].where(trials[col].notna() & (trials[col] != ""), own)
    return own


def candidates(trials: pd.DataFrame, metric: str, mode: str, most: int, val_images: int | None) -> list[str]:
    """The configurations that could still be #1, best first (trial ids of their first runs)."""
    from orchestrator.ranking.intervals import accuracy_interval

    done = trials[trials[S.STATUS] == Status.COMPLETED].dropna(subset=["best_metric"])
    if done.empty:
        return []
    means = done.assign(config=configuration(done)).groupby("config")["best_metric"].mean()
    order = means.sort_values(ascending=Mode(mode).ascending)
    leader = float(order.iloc[0])
    chosen = list(order.index[:2])
    for config, score in order.iloc[2:].items():
        if len(chosen) >= most:
            break
        if metric == "val_accuracy" and val_images:
            if accuracy_interval(float(score), int(val_images)).high >= leader:
                chosen.append(config)
        else:
            chosen.append(config)
    return [str(c) for c in chosen[:most]]


def round_seed(base_seed: int, round_: int) -> int:
    """The seed of a round: the same for every candidate in it."""
    return int(zlib.crc32(f"race:{base_seed}:{round_}".encode()) & 0x7FFFFFFF)


@dataclass(frozen=True)
class RacePlan:
    """What the race trains: each candidate's configuration, and how a round is built."""

    configs: dict[str, dict]        # candidate id -> its configuration (family, model, params)
    base_seed: int
    folds: int | None               # resplit: that many folds, one per round (round mod folds)

    def trial_config(self, candidate: str, round_: int) -> dict:
        config = {**self.configs[candidate], SEED_KEY: round_seed(self.base_seed, round_), RACE_KEY: candidate,
                  ROUND_KEY: round_}
        if self.folds:
            config.update({FOLD_KEY: round_ % self.folds, FOLDS_KEY: self.folds})
        return config


def plan(trials: pd.DataFrame, chosen: list[str], spec: SweepSpec, metrics: pd.DataFrame | None = None) -> RacePlan:
    """Each candidate's configuration (a PBT member's: its schedule, ``replay``)."""
    from orchestrator.search.replay import mutated, rerun_config

    configs = {c: {k: v for k, v in rerun_config(trials, metrics, c, mutated(spec)).items() if k not in BOOKKEEPING}
               for c in chosen}
    return RacePlan(configs, spec.seed, spec.decide.resplit if spec.decide else None)


def scores(trials: pd.DataFrame) -> dict[str, dict[int, float]]:
    """Candidate -> round -> its race run's best validation metric, for the runs that count."""
    if trials.empty or RACE_COL not in trials:
        return {}
    runs = trials[trials[RACE_COL].notna() & (trials[RACE_COL] != "") & trials[S.STATUS].isin(SCORED)]
    out: dict[str, dict[int, float]] = {}
    for row in runs.itertuples(index=False):
        value = getattr(row, "best_metric")
        if value is not None and not pd.isna(value):
            out.setdefault(str(getattr(row, RACE_COL)), {})[int(getattr(row, ROUND_COL))] = float(value)
    return out


def entered(trials: pd.DataFrame) -> list[str]:
    """The candidates of the run's race so far (those with a race run)."""
    if trials.empty or RACE_COL not in trials:
        return []
    values = trials[RACE_COL].dropna()
    return sorted({str(v) for v in values if v != ""})


def verdict(trials: pd.DataFrame, spec: SweepSpec, out_of_budget: bool = False) -> Verdict | None:
    """The race's verdict from the run's trials (None: no race ran)."""
    race = entered(trials)
    if not race or spec.decide is None:
        return None
    got = scores(trials)
    return decide({c: got.get(c, {}) for c in race}, spec.mode, rule_of(spec.decide), out_of_budget)


def cost(trials: pd.DataFrame) -> tuple[float, int, int]:
    """(seconds, epochs, runs) the race's runs trained for."""
    if trials.empty or RACE_COL not in trials:
        return 0.0, 0, 0
    runs = trials[trials[RACE_COL].notna() & (trials[RACE_COL] != "")]
    return float(runs["train_seconds"].fillna(0).sum()), int(runs["epochs"].fillna(0).sum()), len(runs)


def next_round_cost(trials: pd.DataFrame, verdict_: Verdict, slots: int = 1) -> float:
    """Seconds the next round would take on ``slots`` trial slots: each survivor's mean
    race run so far."""
    runs = trials[trials[RACE_COL].isin(list(verdict_.survivors)) & trials[S.STATUS].isin(SCORED)] \
        if RACE_COL in trials else trials.iloc[0:0]
    each = runs.groupby(RACE_COL)["train_seconds"].mean()
    return float(np.sum(each)) / max(1, slots)


@dataclass(frozen=True)
class Finding:
    """What the race says, for the report, the leaderboard, the model card and compare."""

    verdict: Verdict
    text: str                       # the verdict in one line (``ranking.race.describe``)
    seconds: float                  # the race's training time, its epochs and runs
    epochs: int
    runs: int
    chosen: str                     # the configuration to ship: the winner, a tie's pick, or the leader
    why: str                        # ... and why it is that one
    run: str                        # the chosen configuration's run to ship: its median validation score
    run_why: str
    rounds: pd.DataFrame            # candidate x round: each run's score

    next_round: float = 0.0         # an open race: the next round's training seconds
    location: str = "RUN"           # the run folder, for the command that races on

    @property
    def line(self) -> str:
        line = f"{self.text}; race cost {self.seconds:.0f} s of training, {self.epochs} epochs, {self.runs} runs"
        if not self.verdict.decided:
            line += (f"; the next round: {len(self.verdict.survivors)} runs, about {self.next_round:.0f} s of "
                     f"training (tunefm extend {self.location} --race races on)")
        return line


def runs_of(trials: pd.DataFrame, candidate: str) -> pd.DataFrame:
    """The candidate's race runs that count, with their scores."""
    if RACE_COL not in trials:
        return trials.iloc[0:0]
    return trials[(trials[RACE_COL] == candidate) & trials[S.STATUS].isin(SCORED) & trials["best_metric"].notna()]


def representative(trials: pd.DataFrame, candidate: str, mode: str) -> tuple[str, str]:
    """The candidate's run to ship, decided without the test split: the one whose
    validation score is the median of its runs (a typical run, not the luckiest)."""
    runs = runs_of(trials, candidate).sort_values(["best_metric", S.TRIAL_ID], ascending=Mode(mode).ascending)
    if runs.empty:
        return candidate, "its only run"
    pick = runs.iloc[(len(runs) - 1) // 2]
    return str(pick[S.TRIAL_ID]), (f"the run with the median validation score of its {len(runs)} race runs "
                                   f"({pick['best_metric']:.4f}), chosen without the test split")


def tie_pick(trials: pd.DataFrame, survivors: tuple[str, ...], prefer: str,
             latency: dict[str, float] | None = None) -> tuple[str, str]:
    """A tie's pick by the stated preference: fewest parameters, or lowest latency (ms per
    image at batch 1, measured by the report; fewest parameters where none was measured)."""
    params = trials.set_index(S.TRIAL_ID)["params"]
    if prefer == "latency_ms" and latency and all(c in latency for c in survivors):
        best = min(survivors, key=lambda c: (latency[c], c))
        return best, f"the lowest latency of the tied ({latency[best]:.3g} ms per image at batch 1)"
    counted = {c: float(params.get(c)) for c in survivors if pd.notna(params.get(c))}
    if not counted:
        return survivors[0], "the best mean score of the tied (no parameter counts recorded)"
    best = min(counted, key=lambda c: (counted[c], c))
    note = "" if prefer == "params" else " (no latency measured for every one of them)"
    return best, f"the fewest parameters of the tied ({int(counted[best]):,d}){note}"


def finding(trials: pd.DataFrame, spec: SweepSpec, latency: dict[str, float] | None = None,
            location: str = "RUN") -> Finding | None:
    """The race's finding from the run's trials (None: no race ran)."""
    from orchestrator.ranking.race import SETTLED, TIE, describe

    v = verdict(trials, spec, out_of_budget=True)
    if v is None:
        return None
    if v.kind == SETTLED:
        chosen, why = v.survivors[0], "the race's winner"
    elif v.kind == TIE:
        chosen, why = tie_pick(trials, v.survivors, spec.decide.prefer, latency)
    else:
        chosen, why = v.survivors[0], "the race's leader, not settled"
    run, run_why = representative(trials, chosen, spec.mode)
    seconds, epochs, runs = cost(trials)
    table = pd.DataFrame({c: pd.Series(s) for c, s in scores(trials).items()}).sort_index()
    table.index.name = "round"
    return Finding(v, describe(v, spec.metric), seconds, epochs, runs, chosen, why, run, run_why, table,
                   next_round_cost(trials, v), location)
