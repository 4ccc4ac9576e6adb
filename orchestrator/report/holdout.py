"""Evaluate chosen trials' best checkpoints on the held-out test split (report only).

Nothing in a sweep reaches this module: it is the one place the test split is loaded.
Prediction runs where the sweep ran: in this process for a local run, as a Ray task on
the cluster (with a GPU if the trials had one) for a run started with ``--address``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.store import schema as S
from trainables.contract.errors import UserError
from trainables.contract.keys import MODEL_FILE
from trainables.training import checkpoints as ckpts
from orchestrator.store.snapshot import Snapshot
from orchestrator.store.parquet import checkpoint_dir

EVAL_BATCH = 1024


@dataclass(frozen=True)
class Holdout:
    table: pd.DataFrame                 # one row per evaluated trial
    probs: dict[str, np.ndarray]        # trial id -> test probabilities
    y: np.ndarray
    class_names: tuple[str, ...]
    missing: dict[str, str] = field(default_factory=dict)   # trial id -> why it has no test score


def absent_checkpoint(snapshot: Snapshot, trial_id: str) -> str:
    """Why a trial has no checkpoint to read, in words for a report or an error."""
    trials = snapshot.trials.set_index(S.TRIAL_ID)
    recorded = trials.loc[trial_id, "checkpoint"] if trial_id in trials.index else None
    status = trials.loc[trial_id, S.STATUS] if trial_id in trials.index else None
    if isinstance(recorded, str):
        return (f"its checkpoint {recorded} is not in the run folder: removed, or left out when the folder "
                "was copied" if not snapshot.running else f"its checkpoint {recorded} is being replaced")
    if status == S.RUNNING:
        return "it is still in its first epoch"
    return f"it saved no checkpoint (status {status})"


def predict_checkpoints(checkpoints: list[str], x: np.ndarray, threads: int | None = None,
                        vanish_ok: bool = False) -> list[np.ndarray | None]:
    """Load each ``model.keras`` and predict ``x``; runs locally (all this process's CPUs)
    or inside a Ray task (``threads``: the task's). ``vanish_ok``: None for a checkpoint
    removed meanwhile by the running sweep (``checkpoints.load_model``)."""
    from trainables.training.checkpoints import load_model
    from trainables.training.quiet import native_stderr_silenced
    from trainables.training.runtime import available_cpus, configure_backend

    with native_stderr_silenced():
        configure_backend(cpus=threads or available_cpus())
        import keras

        out = []
        for ckpt in checkpoints:
            model = load_model(ckpt, vanish_ok)
            if model is None:
                out.append(None)
                continue
            out.append(np.asarray(model.predict(x, batch_size=EVAL_BATCH, verbose=0), dtype=np.float64))
            keras.backend.clear_session(free_memory=False)   # no full collection: Python's frees the model
    return out


def predict_where_the_sweep_ran(snapshot: Snapshot, checkpoints: list[str],
                                x: np.ndarray) -> list[np.ndarray | None]:
    """Each checkpoint's predictions of ``x``; None for one that a running sweep removed
    after it was listed (the report skips it like one not saved yet). A run started on a
    cluster (``--address``) is predicted there, as a Ray task with a GPU where its trials
    had one; a URI run's checkpoints were fetched to this machine."""
    address, vanish_ok = snapshot.meta.address, snapshot.running
    if not address or snapshot.meta.remote:
        return predict_checkpoints(checkpoints, x, vanish_ok=vanish_ok)
    from orchestrator.raytune.cluster import run_on_cluster

    gpus = 1 if snapshot.spec.resources.gpus > 0 else 0
    there = run_on_cluster(address, predict_checkpoints, (checkpoints, x, 1, vanish_ok), gpus=gpus)
    return there if there is not None else predict_checkpoints(checkpoints, x, vanish_ok=vanish_ok)


def present_checkpoints(snapshot: Snapshot, chosen: list[tuple[str, str]], remote=None,
                        strict: bool = True) -> list[tuple[str, str, str]]:
    """(trial id, why, checkpoint folder) of each chosen trial whose best checkpoint can be read.

    A trial without a recorded checkpoint is skipped; a recorded one that cannot be read
    is an error, except while the sweep runs (it may be writing it). ``remote``: the run
    folder's ``remote.Remote`` when reporting from a URI; each checkpoint is fetched."""
    trials = snapshot.trials.set_index(S.TRIAL_ID)
    keep = []
    for tid, why in chosen:
        recorded = trials.loc[tid, "checkpoint"] if tid in trials.index else None
        if isinstance(recorded, str):
            if remote is not None:
                try:
                    remote.fetch(snapshot.run_dir, recorded)
                except UserError:
                    continue   # replaced meanwhile by a running sweep: skipped like a missing one
            ckpt = str(checkpoint_dir(snapshot.run_dir, recorded))
            present = ckpts.readable(ckpt)
            if present is False and not snapshot.running and strict:   # a running sweep may be writing it
                raise UserError(f"{Path(ckpt) / MODEL_FILE}: cannot be read (missing or no permission); the "
                                "report needs the winners' checkpoints: restore them, or ask for read access")
            if present:
                keep.append((tid, why, ckpt))
    return keep


def evaluate(snapshot: Snapshot, chosen: list[tuple[str, str]], remote=None) -> Holdout:
    """``chosen``: (trial id, why chosen). Trials without a checkpoint are skipped.
    ``remote``: the run folder's ``remote.Remote`` when reporting from a URI; each chosen
    checkpoint is fetched from there."""
    from trainables.datasets import load_test
    from trainables.training.evaluation import held_out_scores

    trials = snapshot.trials.set_index(S.TRIAL_ID)
    rows = []
    keep = present_checkpoints(snapshot, chosen, remote)
    test, class_names = load_test(snapshot.spec.dataset)
    trained_on = snapshot.meta.data.input_shape
    if trained_on and tuple(test.x.shape[1:]) != tuple(trained_on):
        raise UserError(f"{snapshot.folder.location}: the test split's images are {tuple(test.x.shape[1:])}, the "
                        f"models were trained on {tuple(trained_on)}; the data set's test files do not belong "
                        "with its training files")
    if len(test) == 0:
        raise UserError(f"{snapshot.run_dir}: the test split of dataset '{snapshot.spec.dataset.name}' is empty")
    probs_list = predict_where_the_sweep_ran(snapshot, [c for _, _, c in keep], test.x) if keep else []
    probs: dict[str, np.ndarray] = {}
    metrics = snapshot.metrics.set_index([S.TRIAL_ID, S.EPOCH]) if not snapshot.metrics.empty else None
    for (tid, why, ckpt), p in zip(keep, probs_list):
        if p is None:       # removed by the running sweep since it was listed: like one not saved yet
            continue
        scores = held_out_scores(test.y, p)
        epoch = ckpts.epoch_of(ckpt)
        val_acc = (float(metrics.loc[(tid, epoch), "val_accuracy"])
                   if metrics is not None and epoch is not None and (tid, epoch) in metrics.index else np.nan)
        row = {S.TRIAL_ID: tid, S.FAMILY: trials.loc[tid, S.FAMILY], "selected_as": why,
               "checkpoint_epoch": epoch, "val_accuracy": val_acc, "test_images": len(test)}
        row.update({f"test_{k}": v for k, v in asdict(scores).items() if k != "confusion"})
        row["val_test_gap"] = val_acc - scores.accuracy
        row["class_names"] = list(class_names)
        row["confusion"] = [list(r) for r in scores.confusion]
        rows.append(row)
        probs[tid] = p
    missing = {tid: absent_checkpoint(snapshot, tid) for tid, _ in chosen if tid not in probs}
    return Holdout(pd.DataFrame(rows), probs, test.y, class_names, missing)
