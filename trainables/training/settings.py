"""What a trial needs to know about its sweep besides its own config."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from trainables.contract.metrics import Mode

DIVERGENCE_FACTOR = 100.0


@dataclass(frozen=True)
class TrialSettings:
    max_epochs: int
    metric: str
    mode: str
    max_params: int | None = None
    cpus: float = 1.0
    eval_batch_size: int = 256       # validation images per predict_on_batch call (measured fastest on CPU)
    jit_compile: bool = False
    feature_cache: str | None = None   # name of the sweep's feature-cache actor, if any
    done_trials: frozenset[str] = frozenset()   # on resume: trials already done, not to run again
    # tunefm extend --max-epochs: earlier trial id -> its latest checkpoint folder, to train on from
    continue_from: dict = field(default_factory=dict)

    def diverged(self, loss: float, num_classes: int) -> bool:
        """A non-finite training loss, or one above 100x the loss of a uniform guess.

        Large learning rates often blow the loss up to 1e17 without ever producing NaN,
        so NaN alone misses most divergence.
        """
        return not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * math.log(max(2, num_classes))

    def better(self, value: float, best: float | None) -> bool:
        return Mode(self.mode).better(value, best)
