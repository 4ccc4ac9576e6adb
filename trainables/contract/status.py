"""A trial's status: one enum for the trial's own report, the ledger and the tables."""
from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """Stored as its value (``"early_stopped"``) and equal to it, so tables read back as
    plain strings compare with the members directly."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"          # trained max_epochs epochs
    EARLY_STOPPED = "early_stopped"  # the scheduler stopped it
    DIVERGED = "diverged"            # the trial said so: a runaway or non-finite loss
    OVER_BUDGET = "over_budget"      # the trial said so: more parameters than max_params
    FAILED = "failed"                # it raised (the reason is kept)
    STOPPED = "stopped"              # ended otherwise: time budget, Ctrl-C, SIGTERM

    __hash__ = str.__hash__          # hash like the string it equals

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """``early stopped``: for sentences."""
        return self.value.replace("_", " ")


FINAL = (Status.COMPLETED, Status.EARLY_STOPPED, Status.DIVERGED, Status.OVER_BUDGET,
         Status.FAILED, Status.STOPPED)
DONE = (Status.COMPLETED, Status.EARLY_STOPPED, Status.DIVERGED, Status.OVER_BUDGET,
        Status.FAILED)                                    # a resume never reruns these
ALL = tuple(Status)
