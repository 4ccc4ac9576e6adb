"""``tunefm compare``: runs side by side (pure tables; ``compare_runs`` reads and renders).

What differs in their settings, the best trial of each (overall and per family, with
95% intervals), each run's anytime curve (best validation score so far against wall
seconds since the run started, and against epochs trained), and each winner's test
scores from its own report. Every run is ranked by the first run's metric.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator.store import schema as S
from trainables.contract.errors import UserError
from trainables.contract.metrics import Mode


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"scheduler": {"kind": "asha"}}`` -> ``{"scheduler.kind": "asha"}``; a list of
    labelled mappings (the families) is keyed by label, other lists are kept whole."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) and "label" in v for v in value):
        value = {v["label"]: {k: x for k, x in v.items() if k != "label"} for v in value}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


IGNORED = ("source",)    # where the sweep file was read from: not a setting


def setting_differences(specs: dict[str, dict]) -> pd.DataFrame:
    """One row per setting whose value differs between the runs (a column per run)."""
    flat = {name: {k: v for k, v in flatten(spec).items() if k not in IGNORED} for name, spec in specs.items()}
    keys = sorted(set().union(*flat.values()))
    rows = []
    for key in keys:
        values = [flat[name].get(key, "(absent)") for name in flat]
        if len({repr(v) for v in values}) > 1:
            rows.append({"setting": key, **{name: _text(v) for name, v in zip(flat, values)}})
    return pd.DataFrame(rows, columns=["setting", *flat])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def anytime_curve(metrics: pd.DataFrame, metric: str, mode: str, started: pd.Timestamp) -> pd.DataFrame:
    """Best ``metric`` so far after each reported epoch, in report order: wall seconds since
    ``started``, epochs trained so far (over all trials), best so far."""
    rows = metrics.dropna(subset=[metric]).sort_values(S.WALL_TIME)
    if rows.empty:
        return pd.DataFrame(columns=["seconds", "epochs", "best"])
    values = rows[metric].astype(float)
    best = values.cummin() if Mode(mode).ascending else values.cummax()
    seconds = (pd.to_datetime(rows[S.WALL_TIME], utc=True) - started).dt.total_seconds()
    return pd.DataFrame({"seconds": seconds.to_numpy(), "epochs": range(1, len(rows) + 1),
                         "best": best.to_numpy()})


def time_to(curve: pd.DataFrame, target: float, mode: str) -> float | None:
    """Wall seconds until the curve first reaches ``target`` (None: never)."""
    hit = curve[curve["best"] <= target] if Mode(mode).ascending else curve[curve["best"] >= target]
    return None if hit.empty else float(hit["seconds"].iloc[0])


@dataclass(frozen=True)
class RunView:
    name: str                   # how the run is labelled: sweep / run id (made unique)
    location: str
    spec: dict
    board: pd.DataFrame         # the run's overall and per-family boards, annotated with intervals
    curve: pd.DataFrame
    winner_test: pd.Series | None   # the winner's row of its report's test_eval.parquet, when there is one
    verdict: str = "no race"        # the run's race: its verdict, cost, and the run it ships


def bests(views: list[RunView], metric: str) -> pd.DataFrame:
    """Per run: the best trial overall and of each family, with its interval and (overall) test score."""
    from orchestrator.ranking.intervals import ci_text

    rows = []
    for v in views:
        top = v.board[v.board["rank"] == 1].groupby("board", sort=False).head(1)
        for _, r in top.iterrows():
            test = v.winner_test["test_accuracy"] if (v.winner_test is not None and r["board"] == "overall"
                                                      and v.winner_test[S.TRIAL_ID] == r[S.TRIAL_ID]) else None
            rows.append({"run": v.name, "board": r["board"], S.TRIAL_ID: r[S.TRIAL_ID], S.FAMILY: r[S.FAMILY],
                         metric: r["score"], "95% interval": ci_text(r["ci_low"], r["ci_high"]),
                         "params": r["params"], "test_accuracy": test})
    return pd.DataFrame(rows)


def view(location: str | Path, metric: str | None, label: str) -> RunView:
    import dataclasses

    from orchestrator.report.build import REPORT_DIR
    from orchestrator.ranking.leaderboard import leaderboards
    from orchestrator.report.validation import annotate
    from orchestrator.store.snapshot import read_snapshot

    snap = read_snapshot(location)
    metric = metric or snap.spec.metric
    mode = snap.spec.mode if metric == snap.spec.metric else Mode.of(metric).name
    board = annotate(leaderboards(snap.trials, snap.metrics, metric, mode), metric, snap.meta.data.val)
    if board.empty or board["rank"].isna().all():
        raise UserError(f"{snap.folder.location}: no trial has a {metric} yet; nothing to compare")
    curve = anytime_curve(snap.metrics, metric, mode, pd.Timestamp(snap.meta.started_at))
    winner = board[(board["board"] == "overall") & (board["rank"] == 1)][S.TRIAL_ID].iloc[0]
    from orchestrator.search.race import finding

    race = finding(snap.trials, snap.spec, location=snap.folder.location) if snap.spec.decide is not None else None
    verdict = f"{race.line}; ships {race.run}" if race is not None else \
        ("no race: its sweep file has no decide: block" if snap.spec.decide is None else "no race ran")
    return RunView(label, str(snap.folder.location), dataclasses.asdict(snap.spec), board, curve,
                   _winner_test(snap.run_dir / REPORT_DIR, race.run if race is not None else winner), verdict)


def _winner_test(report_dir: Path, winner: str) -> pd.Series | None:
    import pyarrow as pa

    try:
        table = pd.read_parquet(report_dir / "test_eval.parquet")
        rows = table[table[S.TRIAL_ID] == winner]
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None
    return None if rows.empty else rows.iloc[0]


def curve_summary(views: list[RunView], mode: str) -> pd.DataFrame:
    """Per run: final best, epochs and seconds it took, and the seconds to reach the weakest
    run's final best (a target every run reached)."""
    finals = [v.curve["best"].iloc[-1] for v in views if len(v.curve)]
    target = (max(finals) if Mode(mode).ascending else min(finals)) if finals else None
    rows = []
    for v in views:
        c = v.curve
        rows.append({"run": v.name, "best": c["best"].iloc[-1] if len(c) else None,
                     "epochs_trained": int(c["epochs"].iloc[-1]) if len(c) else 0,
                     "seconds_to_last_epoch": float(c["seconds"].iloc[-1]) if len(c) else None,
                     "seconds_to_common_target": time_to(c, target, mode) if target is not None else None})
    return pd.DataFrame(rows).assign(common_target=target)


def verdicts(views: list[RunView]) -> pd.DataFrame:
    """Per run: its race's verdict side by side."""
    return pd.DataFrame({"run": [v.name for v in views], "race": [v.verdict for v in views]})


def data_warning(differences: pd.DataFrame) -> str | None:
    """Runs on different data are not ranked on the same validation images: say so."""
    rows = differences[differences["setting"].str.startswith("dataset.")] if len(differences) else differences
    if rows.empty:
        return None
    keys = ", ".join(rows["setting"])
    return (f"the runs are on different data ({keys}): their scores are on different validation images, and "
            "their winners' test scores on different test sets when the test split differs")


@dataclass(frozen=True)
class Comparison:
    metric: str
    mode: str
    views: list[RunView]
    differences: pd.DataFrame
    bests: pd.DataFrame
    curves: pd.DataFrame

    @property
    def warning(self) -> str | None:
        return data_warning(self.differences)


def compare(locations: list[str | Path], metric: str | None = None) -> Comparison:
    import dataclasses

    from trainables.contract.metrics import SELECTABLE

    if len(locations) < 2:
        raise UserError("compare needs two or more run folders")
    seen = [Path(str(p)).expanduser().resolve() if "://" not in str(p) else str(p) for p in locations]
    if len(set(map(str, seen))) < len(seen):
        raise UserError("compare: a run folder is named twice; give each run once")
    if metric is not None and metric not in SELECTABLE:
        raise UserError(f"--metric {metric}: must be one of {', '.join(SELECTABLE)}")
    views: list[RunView] = []
    for i, location in enumerate(locations):
        v = view(location, metric, "")
        metric = metric or v.spec["metric"]      # every run is ranked by the first run's metric
        name = f"{v.spec['name']}/{Path(v.location.rstrip('/')).name}"
        if name in {w.name for w in views}:
            name = f"{name} ({i + 1})"
        views.append(dataclasses.replace(v, name=name))
    mode = Mode.of(metric).name if metric != views[0].spec["metric"] else views[0].spec["mode"]
    return Comparison(metric, mode, views, setting_differences({v.name: v.spec for v in views}),
                      bests(views, metric), curve_summary(views, mode))


def write_comparison(c: Comparison, out: Path) -> tuple[Path, Path]:
    """compare.md and a self-contained compare.html (with the anytime curves) in ``out``."""
    from orchestrator.report import figures as F
    from orchestrator.report.document import ReportContent, write_html, write_markdown
    from orchestrator.store.parquet import writable_dir

    writable_dir(out / "figures", "the comparison", "choose another --out DIR")
    figure = F.anytime_curves({v.name: v.curve for v in c.views}, c.metric, out / "figures" / "anytime.png")
    summary = [(v.name, v.location) for v in c.views]
    summary.append(("ranked by", f"{c.metric} ({c.mode}) on each run's validation split"))
    tables = [("Each run's race: which model to ship, and how sure", verdicts(c.views)),
              ("Settings that differ", c.differences if len(c.differences) else
               pd.DataFrame({"setting": ["(none: the runs' settings are identical)"]})),
              ("Best trial of each run, overall and per family (95% interval; test accuracy of each winner)",
               c.bests),
              ("Anytime: how soon each run got there", c.curves)]
    content = ReportContent(f"tunefm compare: {len(c.views)} runs", summary, {}, {}, tables,
                            [(f"Best {c.metric} so far against wall time and against epochs trained", figure)],
                            alarms=[c.warning] if c.warning else [])
    return write_markdown(content, out / "compare.md"), write_html(content, out / "compare.html")
