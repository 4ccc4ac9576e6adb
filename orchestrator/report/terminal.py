"""``tunefm leaderboard``'s text: a run's board as aligned lines (computed, never written)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainables.contract.errors import NoResultYet, UserError


@dataclass(frozen=True)
class BoardText:
    lines: list[str]
    running: bool           # the sweep is still running (a --watch goes on)


def leaderboard_text(run_dir: str | Path, family: str | None = None, top: int = 20,
                     metric: str | None = None) -> BoardText:
    from orchestrator.ranking.intervals import ci_text
    from orchestrator.ranking.leaderboard import OVERALL, board, leaderboards, searched_columns
    from orchestrator.report.validation import annotate, saved_verdicts
    from orchestrator.store import schema as S
    from orchestrator.store.records import RunStatus
    from orchestrator.store.snapshot import read_snapshot
    from trainables.contract.keys import CONFIG_PREFIX, REPORT_DIR
    from trainables.contract.metrics import SELECTABLE, Mode

    snap = read_snapshot(run_dir)
    if metric is not None and metric not in SELECTABLE:
        raise UserError(f"--metric {metric}: must be one of {', '.join(SELECTABLE)}")
    metric = metric or snap.spec.metric
    mode = snap.spec.mode if metric == snap.spec.metric else Mode.of(metric).name
    cols = [c for c in searched_columns(snap.spec) if c in snap.trials]
    boards = leaderboards(snap.trials, snap.metrics, metric, mode, cols)
    if boards.empty or board(boards)["rank"].isna().all():
        raise NoResultYet(f"{snap.folder.location}: no trial has a {metric} yet ({len(snap.trials)} trials "
                          f"recorded); nothing to rank", snap.running)
    name = family or OVERALL
    if name not in set(boards["board"]):
        known = ", ".join(sorted(b for b in set(boards["board"]) if b != OVERALL)) or "none yet"
        raise UserError(f"--family {name}: no such family in this run (families: {known})")
    leader = board(boards)[S.TRIAL_ID].iloc[0]
    said = saved_verdicts(snap.run_dir / REPORT_DIR, leader, metric)
    boards = annotate(boards, metric, snap.meta.data.val, verdict_of=said)
    boards["ci_95"] = [ci_text(a, b) for a, b in zip(boards["ci_low"], boards["ci_high"])]
    order = [c for c in boards.columns if c not in ("ci_low", "ci_high", "ci_95", "vs_1")]
    at = order.index("score") + 1
    shown = order[:at] + ["ci_95"] + (["vs_1"] if said and not family else []) + order[at:]
    table = board(boards, name)[shown].head(top).drop(columns="board")
    if family:
        table = table.dropna(axis=1, how="all")
    table = table.rename(columns={"score": metric, "score_epoch": "epoch",
                                  **{c: c.removeprefix(CONFIG_PREFIX) for c in cols}})
    state = "; sweep still running" + (f" ({snap.status_note})" if snap.status_note else "") if snap.running else \
        (f"; interrupted ({snap.status_note or snap.meta.note or 'not all trials ended'})"
         if snap.status == RunStatus.INTERRUPTED else "")
    lines = [f"{snap.spec.name} / {snap.run_dir.name}: {name} board by {metric} ({mode}){state}",
             table.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")]
    if not family:
        lines.append("vs_1: paired tests of #1 on the validation split, from the last report" if said else
                     f"ties: not tested for today's #1 by {metric}; tunefm report {snap.folder.location} tests them")
    from orchestrator.search.race import finding

    race = finding(snap.trials, snap.spec, location=snap.folder.location) if snap.spec.decide is not None and metric == snap.spec.metric else None
    if race is not None:
        lines.insert(1, f"race: {race.line}; ships {race.run} ({race.chosen}: {race.why})")
    if snap.folder.sweep_edited():
        from orchestrator.report.build import SWEEP_EDITED

        lines.insert(1, f"warning: {SWEEP_EDITED}")
    return BoardText(lines, snap.running)
