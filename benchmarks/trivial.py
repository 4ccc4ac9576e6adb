"""A trial that does a fixed amount of pure-Python work per epoch and no TensorFlow.

It speaks tunefm's trial protocol (the same metrics, a checkpoint every epoch) so that a
sweep of them measures the orchestration alone: Ray Tune, the scheduler, the searcher,
tunefm's recorder and its Parquet writes.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from typing import Any, Callable


def make_trivial_trial(work_seconds: float, noise: float = 0.0) -> Callable[..., None]:
    """``noise``: the score's seed-to-seed spread (a normal draw per epoch, from the
    config's seed), so that runs of one configuration differ as real ones do."""

    def trivial_trial(config: dict[str, Any], data, settings) -> None:
        import random

        from ray import tune

        entered = time.perf_counter()
        start = 0
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as folder, open(os.path.join(folder, "state.json")) as f:
                start = json.load(f)["epoch"]
        # a smooth made-up score, best near lr = 1e-3, so ASHA has something to rank
        quality = 0.9 - 0.1 * abs(math.log10(float(config["lr"])) + 3.0)
        luck = random.Random(int(config.get("seed", 0)))
        best = None
        for epoch in range(start + 1, settings.max_epochs + 1):
            if epoch == start + 1:
                first = {"setup_seconds": time.perf_counter() - entered, "first_epoch_at": time.time()}
            began = time.perf_counter()
            while time.perf_counter() - began < work_seconds:   # the trial's own work: busy CPU
                pass
            seconds = time.perf_counter() - began
            value = quality * (1 - 0.5 ** epoch) + luck.gauss(0.0, noise)
            improved = best is None or value > best
            best = value if improved else best
            folder = tempfile.mkdtemp(prefix="tunefm-bench-")
            try:
                with open(os.path.join(folder, "state.json"), "w") as f:
                    json.dump({"epoch": epoch}, f)
                tune.report({**first, "reported_at": time.time(), "epoch": epoch, settings.metric: value,
                             "val_loss": 1 - value,
                             "epoch_seconds": seconds, "train_seconds": seconds, "params": 0,
                             "worker_pid": os.getpid(), "trial_status": "running", "is_best": improved,
                             "best_epoch": epoch, "best_metric": best, "checkpoint_rank": float(epoch)},
                            checkpoint=tune.Checkpoint.from_directory(folder))
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    return trivial_trial
