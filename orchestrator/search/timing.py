"""How long a family's training takes on this machine, measured, for ``tunefm init``.

A few of the family's sampled configurations are built and trained for a few batches of
random images of the data set's shape, on the threads one trial gets; the seconds per
training image, times the training split, estimate an epoch. Validation, start-up and
checkpoints are not in it: ``spec.starter`` leaves room for them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from orchestrator.spec.sweep import SweepSpec

STEPS = 3          # timed steps per configuration, after one untimed (tracing, first allocation)
CONFIGS = 3        # sampled configurations timed per family


@dataclass(frozen=True)
class FamilyCost:
    family: str                    # the sweep file's label
    seconds_per_image: float       # training, on ``threads`` threads (mean over the timed configurations)
    params: int                    # parameters of the largest configuration timed
    configs: int


def training_costs(spec: SweepSpec, threads: int = 1) -> list[FamilyCost]:
    """Each family of ``spec``, timed on up to ``CONFIGS`` of its sampled configurations."""
    from orchestrator.raytune.space import expand_family
    from trainables.datasets.registry import input_signature
    from trainables.families import get_family
    from trainables.training.optim import compile_model, training_labels
    from trainables.training.quiet import native_stderr_silenced
    from trainables.training.runtime import configure_backend

    shape, classes = input_signature(spec.dataset)
    configure_backend(cpus=threads)
    rng = np.random.default_rng(0)
    out = []
    for fam in spec.families:
        rates, largest = [], 0
        for config in expand_family(fam, spec.search, spec.seed, limit=CONFIGS):
            batch = int(config.get("batch_size", 128))
            x = rng.integers(0, 256, (batch, *shape), dtype=np.uint8)
            y = training_labels(config, rng.integers(0, len(classes), batch), len(classes))
            with native_stderr_silenced():
                model = get_family(fam.family).build(config, shape, len(classes), load_weights=False)
                compile_model(model, config)
                model.train_on_batch(x, y)
                started = time.perf_counter()
                for _ in range(STEPS):
                    model.train_on_batch(x, y)
            rates.append((time.perf_counter() - started) / (STEPS * batch))
            largest = max(largest, int(model.count_params()))
        out.append(FamilyCost(fam.label, float(np.mean(rates)), largest, len(rates)))
    return out
