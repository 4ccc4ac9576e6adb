"""How a command that trains is run: the options every plan takes (the CLI's flags, the
notebook API's arguments)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class SweepOptions:
    cpus: float | None = None          # size of the embedded Ray (None: all cores)
    gpus: float | None = None
    address: str | None = None         # an existing Ray cluster
    results_dir: str = "results"
    run_name: str | None = None
    reuse_workers: bool = True
    progress: bool = True
    sweep_text: str | None = None      # the sweep file as written, frozen into the run
    command: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)   # CLI overrides, re-applied on resume
    extra_callbacks: tuple = ()        # more Ray Tune callbacks, e.g. your own logger
    # what each trial runs: f(config, data, settings) reporting like run_trial (default
    # run_trial). Not saved with the run: pass it again to resume_sweep. A trial that ends
    # before max_epochs without a final status of its own (as run_trial's diverged) is
    # recorded "stopped", which a finished run cannot hold (snapshot.finished_contradiction).
    trial_function: Callable | None = None
    repeat: bool = True                # run the sweep file's repeat: block when the sweep finishes
    allow_changed_data: bool = False   # resume / repeat although the data changed since the sweep

    def __post_init__(self) -> None:
        """The CLI's rules, for the notebook API's arguments too (``arguments``)."""
        from orchestrator.spec import arguments as A

        if self.cpus is not None:
            object.__setattr__(self, "cpus", A.amount(self.cpus, "cpus"))
        if self.gpus is not None:
            object.__setattr__(self, "gpus", A.amount(self.gpus, "gpus", low_open=False))
        object.__setattr__(self, "results_dir", A.folder(self.results_dir, "results"))
        if self.run_name is not None and not isinstance(self.run_name, str):
            from trainables.contract.errors import UserError

            raise UserError(f"name: must be a string (the run folder's name), got {self.run_name!r}")