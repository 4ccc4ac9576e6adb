"""``tunefm export``: a trial's best checkpoint as deployable artefacts, checked, with a card.

The trial (the run's #1 by the sweep's metric unless named) is scored on the validation
split (interval, paired test against #1 or #2) and on the held-out test split; each
requested format is written, loaded back in its own runtime and must agree with the
checkpoint on the test images (more than 0.1% top-1 disagreement is an error and the
artefact is removed). The card records all of it.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from orchestrator.export import artifact
from orchestrator.export.card import CARD_JSON, CARD_MD, ModelCard, write_card
from trainables.contract.errors import UserError


@dataclass(frozen=True)
class ExportResult:
    trial_id: str
    family: str
    out: Path
    artifacts: tuple[tuple[str, Path, artifact.Agreement], ...]    # (format, path, agreement)
    card_json: Path
    card_md: Path
    test_accuracy: float
    ranking: str
    seconds: float
    race: str | None = None            # the race's verdict and why this run is the one shipped


def _ranked(snap):
    from orchestrator.ranking.leaderboard import board, leaderboards

    overall = board(leaderboards(snap.trials, snap.metrics, snap.spec.metric, snap.spec.mode))
    ranked = overall[overall["rank"].notna()]
    if ranked.empty:
        raise UserError(f"{snap.folder.location}: no trial has a validation result yet; nothing to export")
    return ranked


def _choose(snap, ranked, trial_id: str | None, race) -> str:
    from orchestrator.store import schema as S

    if trial_id is None:
        return race.run if race is not None else str(ranked[S.TRIAL_ID].iloc[0])
    if trial_id not in set(snap.trials[S.TRIAL_ID]):
        raise UserError(f"--trial {trial_id}: no such trial in {snap.folder.location} "
                        f"(tunefm leaderboard {snap.folder.location} lists them)")
    if trial_id not in set(ranked[S.TRIAL_ID]):
        status = snap.trials.set_index(S.TRIAL_ID).loc[trial_id, S.STATUS]
        raise UserError(f"--trial {trial_id}: it has no validation result ({status}); nothing to export")
    return trial_id


def export_trial(run_dir: str | Path, formats: tuple[str, ...], out: str | Path, trial_id: str | None = None,
                 allow_changed_data: bool = False, command: str = "") -> ExportResult:
    from orchestrator.report.holdout import absent_checkpoint, evaluate, present_checkpoints
    from trainables.training.checkpoints import load_model
    from orchestrator.store.data_check import data_changes
    from orchestrator.store import schema as S
    from orchestrator.store.folder import RunFolder
    from orchestrator.store.snapshot import read_snapshot

    started = time.monotonic()
    formats = tuple(dict.fromkeys(formats)) or ("keras",)
    for fmt in formats:
        artifact.check_available(fmt)            # before anything slow
    folder = RunFolder.open(run_dir)
    snap = read_snapshot(folder)
    changed = data_changes(snap.meta, snap.spec, folder.location, allow_changed_data)
    ranked = _ranked(snap)
    from orchestrator.search.race import finding

    race = finding(snap.trials, snap.spec, location=folder.location) if snap.spec.decide is not None else None
    tid = _choose(snap, ranked, trial_id, race)
    found = present_checkpoints(snap, [(tid, "export")], folder.remote)
    if not found:
        raise UserError(f"{folder.location}: trial {tid} has no checkpoint to export ({absent_checkpoint(snap, tid)}); "
                        "tunefm leaderboard lists the others, --trial ID picks one")
    ckpt = found[0][2]
    from orchestrator.store.parquet import writable_dir

    out = writable_dir(Path(out).expanduser(), "the export", "choose another --out DIR")
    earlier = earlier_export(out)

    validation, rank = _validation(snap, ranked, tid, folder.remote)
    seeds = _seed_runs(snap, race, tid)
    holdout = evaluate(snap, [(tid, "export"), *[(t, "race seed") for t in seeds if t != tid]], folder.remote)
    test_row = holdout.table.set_index(S.TRIAL_ID).loc[tid].rename(None)
    test_row[S.TRIAL_ID] = tid
    over_seeds = holdout.table[holdout.table[S.TRIAL_ID].isin(seeds)]["test_accuracy"].tolist()
    from orchestrator.report.costs import inference_costs
    from trainables.contract.keys import REPORT_DIR

    model = artifact.deployable(load_model(ckpt))     # a damaged checkpoint stops here
    costs = inference_costs(snap.trials, {tid: ckpt}, tuple(snap.meta.data.input_shape),
                            snap.run_dir / REPORT_DIR, cache=not snap.running).iloc[0]

    from trainables.datasets import load_test

    test, _ = load_test(snap.spec.dataset)
    staging = out / f".tunefm-export-{uuid.uuid4().hex[:8]}"   # the whole export appears at once, or not at all
    try:
        written = []
        for fmt in formats:
            path = artifact.write(model, fmt, staging)
            agreement = artifact.compare(holdout.probs[tid], artifact.predict(path, fmt, test.x))
            if agreement.disagreement_fraction > artifact.MAX_DISAGREEMENT:
                raise UserError(f"{out}: the {fmt} export disagrees with the checkpoint on "
                                f"{agreement.top1_disagreements} of {agreement.images} test images "
                                f"({100 * agreement.disagreement_fraction:.2f}%, more than "
                                f"{100 * artifact.MAX_DISAGREEMENT:.1f}%); nothing was shipped")
            written.append((fmt, out / path.name, agreement))
        trials = snap.trials.set_index(S.TRIAL_ID)
        card = _card(snap, tid, trials.loc[tid], validation, rank, test_row,
                     (float(costs["ms_per_image_batch1"]), float(costs["ms_per_image_batch256"])), written, out,
                     command, changed, _race_record(race, tid, over_seeds))
        write_card(card, staging)
        publish(staging, out, earlier)
    finally:
        artifact.remove(staging)
    return ExportResult(tid, str(trials.loc[tid, S.FAMILY]), out, tuple(written), out / CARD_JSON, out / CARD_MD,
                        float(test_row["test_accuracy"]), card.ranking, time.monotonic() - started,
                        f"{race.line}; shipped {tid}: {card.race['run_why']}" if race is not None else None)


def earlier_export(out: Path) -> list[str]:
    """The artefact and card names an earlier tunefm export left in ``out`` (its card lists
    them). Model files in ``out`` that no card accounts for are someone else's: refused."""
    import json

    names = [*artifact.ARTIFACT_NAMES.values(), CARD_JSON, CARD_MD]
    present = [n for n in names if (out / n).exists() or (out / n).is_symlink()]
    listed: list[str] = []
    try:
        card = json.loads((out / CARD_JSON).read_text())
        listed = [str(a["path"]) for a in card.get("artifacts", [])] + [CARD_JSON, CARD_MD]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    foreign = [n for n in present if n not in listed]
    if foreign:
        raise UserError(f"{out}: holds {', '.join(foreign)}, which no tunefm export in this folder wrote (no "
                        f"{CARD_JSON} lists them); export into an empty folder, or move them away")
    return present


def publish(staging: Path, out: Path, earlier: list[str]) -> None:
    """Move a finished export from ``staging`` into ``out``, replacing the earlier export's
    files (``earlier``). The old files are first renamed aside, then the new ones renamed
    in, then the old ones deleted, with the command's stop held for those few renames (a
    Ctrl-C or SIGTERM is acted on after them): a folder never holds half of an artefact
    under its real name."""
    from orchestrator.lifecycle.stop import command_stop

    names = [n for n in [*artifact.ARTIFACT_NAMES.values(), CARD_JSON, CARD_MD] if (staging / n).exists()]
    aside = staging / ".old"
    with command_stop(interrupt=False) as stop:
        mark = stop.mark()
        aside.mkdir()
        for name in earlier:
            if (out / name).exists() or (out / name).is_symlink():
                (out / name).rename(aside / name)
        for name in names:
            (staging / name).rename(out / name)
    artifact.remove(aside)
    stop.check(since=mark)


def _seed_runs(snap, race, tid: str) -> list[str]:
    """The race runs of the shipped trial's configuration (none when no race ran, or the
    trial is not of a configuration that raced)."""
    from orchestrator.search.race import configuration, runs_of
    from orchestrator.store import schema as S

    if race is None:
        return []
    config = configuration(snap.trials.set_index(S.TRIAL_ID).loc[[tid]].reset_index()).iloc[0]
    return runs_of(snap.trials, str(config))[S.TRIAL_ID].tolist()


def _race_record(race, tid: str, over_seeds: list[float]) -> dict:
    import statistics

    if race is None:
        return {}
    chosen = tid == race.run
    return {"verdict": race.line, "configuration": race.chosen, "why": race.why,
            "shipped_run": tid, "run_why": race.run_why if chosen else "named with --trial",
            "test_over_seeds": {"seeds": len(over_seeds), "values": over_seeds,
                                "mean": statistics.mean(over_seeds) if over_seeds else None,
                                "sd": statistics.stdev(over_seeds) if len(over_seeds) > 1 else None}}


def _validation(snap, ranked, tid: str, remote):
    """The trial's validation interval and its paired test: against #2 when it is #1,
    against #1 otherwise."""
    from orchestrator.report.validation import evaluate_validation
    from orchestrator.store import schema as S

    ids = list(ranked[S.TRIAL_ID])
    ranks = dict(zip(ranked[S.TRIAL_ID], ranked["rank"]))
    pair = ids[:2] if ids[0] == tid else [ids[0], tid]
    scores = dict(zip(ranked[S.TRIAL_ID], ranked["score"]))
    result = evaluate_validation(snap, [(t, int(ranks[t])) for t in pair], snap.spec.metric, snap.spec.mode,
                                 scores, remote, top_k=2)
    return result, int(ranks[tid])


def _card(snap, tid, trow, validation, rank, test_row, latency, written, out: Path, command: str,
          changed, race: dict) -> ModelCard:
    import pandas as pd

    from orchestrator.report.costs import machine, threads
    from orchestrator.ranking.ties import headline
    from orchestrator.store.records import versions
    from orchestrator.search.row_config import row_config
    from orchestrator.store import schema as S
    from orchestrator.store.records import now_iso

    from orchestrator.search.row_config import what_was_chosen

    meta = snap.meta
    chosen, off_defaults = what_was_chosen(row_config(trow, with_keys=False), snap.spec, str(trow[S.FAMILY]))
    vrow = validation.table.set_index(S.TRIAL_ID).loc[tid]
    names = list(test_row["class_names"])
    digests = {part: {"files": s.digest, "arrays": s.arrays_sha256, "file_count": s.file_count}
               for part, s in meta.provenance.splits.items()} if meta.provenance else {}
    ranking = headline(validation.tests, validation.why_none)
    if snap.running or snap.status_note or snap.status.value != "finished":
        ranking += (f"; NOTE: the run was {snap.status.value}" + (f" ({snap.status_note})" if snap.status_note else "")
                    + " when this was exported: its ranking may change")
    if changed:
        ranking += "; NOTE: the data set changed since the sweep (" + "; ".join(changed) + ")"
    return ModelCard(
        name=f"{snap.spec.name} / {snap.run_dir.name} / {tid}", trial_id=tid, family=str(trow[S.FAMILY]),
        model=str(trow[S.MODEL]), run=str(snap.folder.location), created_at=now_iso(), command=command,
        input={"name": artifact.INPUT_NAME, "dtype": "uint8", "shape": [None, *meta.data.input_shape],
               "value_range": [0, 255]},
        classes=tuple(names),
        data={"dataset": snap.spec.dataset.name, "source": meta.provenance.source if meta.provenance else "unrecorded",
              "train": meta.data.train, "val": meta.data.val, "test": int(test_row["test_images"]), "sha256": digests},
        config=row_config(trow, with_keys=False), params=int(trow["params"]),
        latency={"ms_per_image_batch1": latency[0], "ms_per_image_batch256": latency[1], "threads": threads(),
                 "machine": machine()},
        validation={"metric": snap.spec.metric, "score": float(vrow["recorded"]),
                    "recomputed": float(vrow["recomputed"]), "ci_low": float(vrow["ci_low"]),
                    "ci_high": float(vrow["ci_high"]), "ci_method": str(vrow["ci_method"]),
                    "images": validation.images, "rank": rank,
                    "epoch": None if pd.isna(test_row["checkpoint_epoch"]) else int(test_row["checkpoint_epoch"])},
        ranking=ranking,
        test={"images": int(test_row["test_images"]), "accuracy": float(test_row["test_accuracy"]),
              "loss": float(test_row["test_loss"]), "f1_macro": float(test_row["test_f1_macro"]),
              "auc_macro": float(test_row["test_auc_macro"]),
              "per_class_accuracy": dict(zip(names, map(float, test_row["test_per_class_accuracy"])))},
        artifacts=tuple({"format": fmt, "path": str(path.relative_to(out)), "agreement": a.to_dict()}
                        for fmt, path, a in written),
        versions={**versions(), **_export_versions()},
        race=race,
        searched=chosen,
        changed=off_defaults,
        schedule=_schedule(snap, tid, test_row["checkpoint_epoch"]),
    )


def _schedule(snap, tid: str, epoch) -> dict:
    """The card's schedule of a PBT member (empty for other sweeps)."""
    import pandas as pd

    from orchestrator.ranking import lineage
    from orchestrator.search.replay import mutated

    params = mutated(snap.spec)
    if not params or epoch is None or pd.isna(epoch):
        return {}
    sched = lineage.schedule(snap.metrics, tid, int(epoch), params)
    steps = lineage.changes(sched, params)
    return {"kind": snap.spec.scheduler.kind, "epoch": int(epoch),
            "trained_by": list(dict.fromkeys(sched[lineage.TRAINED_BY])), "steps": steps,
            "lines": lineage.describe(steps)}


def _export_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out
