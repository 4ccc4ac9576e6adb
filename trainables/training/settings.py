"""What a trial needs to know about its sweep besides its own config."""
from __future__ import annotations

from dataclasses import dataclass

# Values of the ``trial_status`` a trial reports.
RUNNING, DIVERGED, OVER_BUDGET = "running", "diverged", "over_budget"


@dataclass(frozen=True)
class TrialSettings:
    max_epochs: int
    metric: str
    mode: str
    max_params: int | None = None
    cpus: float = 1.0
    eval_batch_size: int = 1024
    jit_compile: bool = False

    def better(self, value: float, best: float | None) -> bool:
        if value != value:  # NaN never wins
            return False
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best
