"""Preview a sweep without training: a few sampled configs per family and their size."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.spec.sweep import SweepSpec


@dataclass(frozen=True)
class PreviewRow:
    family: str
    index: int
    params: int | None
    over_budget: bool
    searched: dict[str, Any]
    error: str | None = None


def preview(spec: SweepSpec, per_family: int = 3) -> tuple[list[PreviewRow], dict[str, int]]:
    """Sample ``per_family`` configs of each family and build each model to count its parameters
    (pretrained weights are not loaded: the count is the same, and previews work offline).

    Returns the rows and the number of trials each family will run.
    """
    from orchestrator.raytune.space import expand_family
    from trainables.contract.keys import BASELINE, FACTOR_KEY, FACTOR_VALUE_KEY
    from orchestrator.spec.spaces import Constant
    from trainables.datasets.registry import input_signature
    from trainables.families import get_family
    from trainables.training.quiet import native_stderr_silenced

    shape, classes = input_signature(spec.dataset)
    rows, totals = [], {}
    for fam in spec.families:
        totals[fam.label] = len(expand_family(fam, spec.search, spec.seed))
        searched = [k for k, v in fam.space.items() if not isinstance(v, Constant)]
        for i, config in enumerate(expand_family(fam, spec.search, spec.seed, limit=per_family)):
            values = {k: config[k] for k in searched}
            if FACTOR_KEY in config:   # search: ablation - show the one change
                values = {"change": "baseline" if config[FACTOR_KEY] == BASELINE
                          else f"{config[FACTOR_KEY]}={config[FACTOR_VALUE_KEY]}"}
            try:
                with native_stderr_silenced():
                    model = get_family(fam.family).build(config, shape, len(classes), load_weights=False)
            except Exception as e:  # the trial would fail the same way; show it, go on
                rows.append(PreviewRow(fam.label, i + 1, None, False, values, f"{type(e).__name__}: {e}"))
                continue
            n = int(model.count_params())
            rows.append(PreviewRow(fam.label, i + 1, n, spec.max_params is not None and n > spec.max_params, values))
    return rows, totals
