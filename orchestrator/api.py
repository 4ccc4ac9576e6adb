"""tunefm from Python (a notebook, a script): everything the CLI does, without the CLI.

    from orchestrator import api as tunefm

    run = tunefm.sweep("sweeps/quick.yaml", results="results")    # or a dict, or YAML text
    run.leaderboard()                 # the overall board as a DataFrame
    run.trials, run.metrics           # the run's Parquet as DataFrames
    report = run.report()             # writes RUN/report/, returns what it found
    run.export("shipped", formats=("keras", "onnx"))
    tunefm.open_run("results/quick/20261122-165340")   # any run folder (or URI) later

Nothing here prints: no progress line (that is the CLI's), and TensorFlow's and Ray's
start-up chatter is kept off the notebook's output. Errors are ``UserError`` with the
same one-line message the CLI prints.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd


@dataclass(frozen=True)
class Run:
    """A run folder: read what it holds, report it, export from it."""

    location: str

    @property
    def path(self) -> Path:
        from orchestrator.store.folder import RunFolder

        return RunFolder.open(self.location).path

    def snapshot(self):
        """A consistent read of the run (also while its sweep runs): spec, meta, trials, metrics."""
        from orchestrator.store.snapshot import read_snapshot

        return read_snapshot(self.location)

    @property
    def trials(self) -> pd.DataFrame:
        return self.snapshot().trials

    @property
    def metrics(self) -> pd.DataFrame:
        return self.snapshot().metrics

    @property
    def status(self) -> str:
        return self.snapshot().status.value

    def leaderboard(self, family: str | None = None, metric: str | None = None) -> pd.DataFrame:
        """The overall board (or ``family``'s), ranked by the sweep's metric or ``metric``,
        with each score's 95% interval."""
        from orchestrator.ranking.leaderboard import OVERALL, board, leaderboards, searched_columns
        from orchestrator.report.validation import annotate
        from orchestrator.spec.arguments import choices
        from trainables.contract.errors import UserError
        from trainables.contract.metrics import SELECTABLE, Mode

        snap = self.snapshot()
        metric = choices(metric, "metric", SELECTABLE)[0] if metric is not None else snap.spec.metric
        mode = snap.spec.mode if metric == snap.spec.metric else Mode.of(metric).name
        cols = [c for c in searched_columns(snap.spec) if c in snap.trials]
        boards = annotate(leaderboards(snap.trials, snap.metrics, metric, mode, cols), metric, snap.meta.data.val)
        name = family or OVERALL
        if name not in set(boards["board"]):
            known = ", ".join(sorted(b for b in set(boards["board"]) if b != OVERALL)) or "none yet"
            raise UserError(f"family {name!r}: no such family in this run (families: {known})")
        return board(boards, name).drop(columns=["board", "vs_1"])

    def race(self):
        """The race's finding (``search.race.Finding``: its verdict, what it cost, the run it
        ships and why), or None when no race ran."""
        from orchestrator.search.race import finding

        snap = self.snapshot()
        return finding(snap.trials, snap.spec, location=self.location) if snap.spec.decide is not None else None

    def report(self, top_k: int = 3, metric: str | None = None, out: str | Path | None = None,
               budgets: tuple[str, ...] = (), allow_changed_data: bool = False):
        """``tunefm report``: returns a ``ReportResult`` (winner, ranking verdict, budgets, files)."""
        from orchestrator.report.build import build_report
        from orchestrator.report.pareto import parse_budget

        parsed = tuple(parse_budget(b) for b in budgets)
        with quiet():
            return build_report(self.location, top_k=top_k, metric=metric, out=out,
                                allow_changed_data=allow_changed_data, budgets=parsed)

    def export(self, out: str | Path, formats: tuple[str, ...] = ("keras",), trial: str | None = None,
               allow_changed_data: bool = False):
        """``tunefm export``: returns an ``ExportResult`` (artefacts, agreement, card)."""
        from orchestrator.export.artifact import ARTIFACT_NAMES
        from orchestrator.export.trial import export_trial
        from orchestrator.spec.arguments import choices, folder

        out, formats = folder(out, "out"), choices(formats, "formats", ARTIFACT_NAMES)
        with quiet():
            return export_trial(self.location, tuple(formats), out, trial, allow_changed_data,
                                command=f"orchestrator.api: Run({self.location!r}).export({str(out)!r}, "
                                        f"formats={tuple(formats)!r}, trial={trial!r})")


def open_run(location: str | Path) -> Run:
    """A run folder (a path, or a URI such as s3://bucket/runs/quick/<id>)."""
    from orchestrator.store.folder import RunFolder
    from trainables.contract.errors import UserError

    if not isinstance(location, (str, Path)):
        raise UserError(f"open_run needs a run folder's path or URI, got {type(location).__name__}")
    return Run(RunFolder.open(location).location)


def load_spec(sweep: str | Path | Mapping[str, Any]):
    """A ``SweepSpec`` from a sweep file's path, its YAML text, or the same as a dict;
    validated exactly as ``tunefm validate`` validates a file."""
    import yaml

    from orchestrator.spec.sweep import load_sweep, parse_sweep

    from trainables.contract.errors import UserError

    if not isinstance(sweep, (str, Path, Mapping)):
        raise UserError(f"a sweep is a file's path, its YAML text or a dict, got {type(sweep).__name__}")
    if isinstance(sweep, Mapping):
        from orchestrator.spec.arguments import plain

        return parse_sweep(yaml.safe_dump(plain(dict(sweep)), sort_keys=False), "<notebook>"), None
    if isinstance(sweep, str) and "\n" in sweep:
        return parse_sweep(sweep, "<notebook>"), sweep
    path = Path(sweep)
    return load_sweep(path), path.read_text()


def sweep(sweep: str | Path | Mapping[str, Any], results: str | Path = "results", name: str | None = None,
          cpus: int | None = None, gpus: int | None = None, address: str | None = None,
          num_samples: int | None = None, max_epochs: int | None = None, progress: bool = False,
          decide: bool = False) -> Run:
    """Run a sweep (a file's path, YAML text, or a dict) to its end and return its ``Run``.
    ``decide``: race the leaders after the search, as ``--decide`` does (``Run.race()``).
    The notebook's stop button (a SIGINT) stops it as Ctrl-C does: resumable; once every
    trial of a phase ended, the phases after it are skipped instead
    (``run.snapshot().meta.note``). Before the run folder exists, it raises
    ``orchestrator.lifecycle.stop.Stopped`` and nothing is written."""
    import yaml

    from orchestrator.run.plans import SweepOptions, run_sweep
    from orchestrator.spec.sweep import with_overrides

    from orchestrator.spec.arguments import plain

    spec, text = load_spec(sweep)
    overrides = {k: plain(v) for k, v in (("num_samples", num_samples), ("max_epochs", max_epochs),
                                          ("decide", decide or None)) if v is not None}
    spec = with_overrides(spec, **overrides)
    if text is None:
        text = yaml.safe_dump(plain(dict(sweep)), sort_keys=False)
    from orchestrator.spec.arguments import folder

    options = SweepOptions(cpus=cpus, gpus=gpus, address=address, results_dir=folder(results, "results"), run_name=name,
                           progress=progress, sweep_text=text, overrides=overrides,
                           command="orchestrator.api.sweep(...)")
    with quiet():
        summary = run_sweep(spec, options)
    return Run(summary.location)


def resume(location: str | Path, progress: bool = False) -> Run:
    from orchestrator.run.plans import SweepOptions, resume_sweep

    with quiet():
        summary = resume_sweep(location, SweepOptions(progress=progress, command="orchestrator.api.resume(...)"))
    return Run(summary.location)


def quiet():
    """Native stderr (TensorFlow's C++ start-up lines) off while tunefm works; Python's
    own exceptions and warnings still reach the notebook."""
    from trainables.training.quiet import native_stderr_silenced

    return native_stderr_silenced()
