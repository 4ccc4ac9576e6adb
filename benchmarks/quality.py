"""Quality runs: the best model a documented sweep finds, scored on the held-out test set.

The numbers come from a finished, reported run folder: the winner is chosen by
validation accuracy (as the report does); its test accuracy is the report's.

    tunefm sweep sweeps/fashion_60min.yaml --report       # 60 minutes on 2 cores
    python -m benchmarks.run --quality-run results/fashion_60min/<run>
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import r


def summarize(run_dir: str | Path) -> dict[str, Any]:
    import pandas as pd

    from orchestrator.store.folder import RunFolder
    from orchestrator.store.parquet import read_trials

    run_dir = Path(run_dir)
    folder = RunFolder.open(run_dir)
    meta, spec = folder.meta(), folder.spec()
    evaluated = pd.read_parquet(run_dir / "report" / "test_eval.parquet")
    winner = evaluated.sort_values("rank_overall").iloc[0]
    trials = read_trials(run_dir)
    params = trials.set_index("trial_id").loc[winner["trial_id"], "params"]
    return {
        "sweep": meta.sweep, "run": run_dir.name, "command": meta.command,
        "dataset": spec.dataset.name, "train_images": meta.data.train,
        "val_images": meta.data.val, "sweep_wall_minutes": r((meta.wall_seconds or 0) / 60, 1),
        "time_budget_minutes": r((spec.time_budget_s or 0) / 60, 1) or None,
        "trials": len(trials), "status_counts": dict(meta.counts),
        "max_params": spec.max_params,
        "winner_trial": winner["trial_id"], "winner_params": int(params),
        "winner_epoch": int(winner["checkpoint_epoch"]),
        "winner_val_accuracy": r(winner["val_accuracy"], 4),
        "winner_test_accuracy": r(winner["test_accuracy"], 4),
        "winner_test_macro_f1": r(winner["test_f1_macro"], 4),
        "test_images": int(winner["test_images"]),
    }
