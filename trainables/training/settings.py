"""What a trial needs to know about its sweep besides its own config."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from trainables.contract.metrics import Mode
from trainables.training.context import LocalContext, TrialContext

DIVERGENCE_FACTOR = 100.0
# Validation images per predict_on_batch call. 256 measured fastest on 2 CPU threads
# (0.42 s for 2,000 images against 0.49 s at 1,024). On an H100 (JAX) 12,000 images took
# 0.046-0.065 s at 256, 0.014-0.020 s at 1,024 and 0.006-0.007 s at 4,096: the calls, not
# the maths, cost there. 1,024 takes most of that gain; a model with large layer outputs
# gets less, never under 256 (``TrialSettings.eval_batch``; benchmarks/gpu_epoch.py,
# benchmarks/results/gpu_epoch_h100.md).
CPU_EVAL_BATCH = 256
ACCELERATOR_EVAL_BATCH = 1024
ACCELERATOR_EVAL_ELEMENTS = 2**25   # largest layer output x batch: 128 MB of float32 at a time


@dataclass(frozen=True)
class TrialSettings:
    max_epochs: int
    metric: str
    mode: str
    max_params: int | None = None
    cpus: float = 1.0
    eval_batch_size: int | None = None   # None: by device and model (``eval_batch``)
    jit_compile: bool | str | None = None   # None: by backend (``optim.default_jit``)
    done_trials: frozenset[str] = frozenset()   # on resume: trials already done, not to run again
    # tunefm extend --max-epochs: earlier trial id -> its latest checkpoint folder, to train on from
    continue_from: dict = field(default_factory=dict)
    # the tuner's side of the trial: reports, restores, its stop flag, shared features
    context: TrialContext = field(default_factory=LocalContext)

    def eval_batch(self, on_accelerator: bool, largest_activation: int | None = None) -> int:
        """Validation images per predict call for a trial with (or without) a GPU. On a GPU
        the batch shrinks with the model's largest layer output (elements per image), so
        a large input (a backbone resizing to 512 px) never gets more than 256, the
        batch every trial used before: unknown sizes get 256 too."""
        if self.eval_batch_size is not None:
            return self.eval_batch_size
        if not on_accelerator or not largest_activation:
            return CPU_EVAL_BATCH
        return max(CPU_EVAL_BATCH, min(ACCELERATOR_EVAL_BATCH, ACCELERATOR_EVAL_ELEMENTS // largest_activation))

    def diverged(self, loss: float, num_classes: int) -> bool:
        """A non-finite training loss, or one above 100x the loss of a uniform guess.

        Large learning rates often blow the loss up to 1e17 without ever producing NaN,
        so NaN alone misses most divergence.
        """
        return not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * math.log(max(2, num_classes))

    def better(self, value: float, best: float | None) -> bool:
        return Mode(self.mode).better(value, best)
