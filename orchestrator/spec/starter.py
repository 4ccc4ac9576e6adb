"""A first sweep file for a data set, and why each value is what it is (``tunefm init``).

Pure: ``Facts`` (what ``trainables.datasets.survey`` read, the machine's cores, the minutes
the user gives, and, for the budget, each family's measured training cost) in, a ``Starter``
(the values, each with its reason) out, rendered as YAML with the reasons as comments.
``draft`` is the file before the costs are known (the costs are measured on its families).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from trainables.datasets.survey import POOL, Survey

LARGEST_SIDE = 64          # larger images are scaled down: on CPUs a 64x64 CNN epoch is ~5x a 28x28 one
MIN_SIDE_TRANSFER = 32
MIN_PER_CLASS = 20         # a training subset keeps at least this many images per class
# What a trial and an epoch cost beyond training, and how many epochs an average trial trains
# beside the synchronous count (``asha_epochs``: Ray's ASHA is asynchronous, and promotes trials
# while the rungs fill), from a sweep this module wrote (60 images of 16x16 and 24x24, 2 minutes,
# 2 cores, 80 trials): trial set-up 0.45 s mean, epochs 0.28 s mean and 0.09 s between them for
# ~5 ms of training each, 5.45 epochs per trial where ``asha_epochs(30)`` is 3.0. Rounded up.
# START_S: Ray's start and the workers' TensorFlow import, before the first trial trains.
TRIAL_S, EPOCH_S, ASYNC_FACTOR, START_S = 1.0, 0.4, 1.8, 10.0
FORWARD_SHARE = 1 / 3      # a validation image costs about a third of a training one (forward pass only)
VAL_SHARE = 0.25           # validation images per training image with val_fraction 0.2 (0.2 / 0.8)
MAX_EPOCH_CHOICES = (30, 20, 15, 10, 7, 5)   # the most epochs such that ...
MIN_TRIALS_PER_FAMILY = 6                    # ... this many trials per family fit; else a training subset
FEWEST_EPOCHS = MAX_EPOCH_CHOICES[-1]
MAX_TRIALS_PER_FAMILY = 40
GRACE, REDUCTION = 1, 3
DRAFT_SAMPLES = 3          # configurations of each family the draft holds, to be timed


@dataclass(frozen=True)
class Facts:
    survey: Survey
    cores: int
    minutes: float
    name: str
    weights_cached: bool = False                       # the transfer backbone's ImageNet weights are here
    seconds_per_image: dict[str, float] = field(default_factory=dict)   # family label -> training cost (1 thread)


@dataclass(frozen=True)
class Choice:
    key: str
    value: object
    why: str


@dataclass(frozen=True)
class Starter:
    name: str
    dataset: tuple[Choice, ...]
    families: tuple[tuple[str, str, int, dict, str], ...]   # (label, family, num_samples, params, why)
    scheduler: tuple[Choice, ...]
    top: tuple[Choice, ...]                                # time_budget_s, resources ...
    header: tuple[str, ...]                                # what was found, as comment lines


def run_name(text: str) -> str:
    """A sweep name from a folder's name.

    >>> run_name("My Photos (2024)")
    'my_photos_2024'
    """
    name = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")
    return name or "sweep"


def image_size(survey: Survey) -> Choice:
    h, w = survey.common_size()
    n, total = survey.sizes[(h, w)], survey.images
    found = (f"all {total} images are {h}x{w}" if len(survey.sizes) == 1 else
             f"{n} of {total} images are {h}x{w}, the most common of {len(survey.sizes)} sizes")
    if max(h, w) <= LARGEST_SIDE:
        return Choice("image_size", [h, w], found)
    scale = LARGEST_SIDE / max(h, w)
    small = [max(1, round(h * scale)), max(1, round(w * scale))]
    return Choice("image_size", small, f"{found}; scaled to at most {LARGEST_SIDE} pixels a side, as an epoch "
                                       "on CPUs grows with the pixels (raise it if a GPU trains)")


def colour(survey: Survey) -> Choice:
    if survey.colour:
        return Choice("color_mode", "rgb", f"{survey.colour} of {survey.images} images have colour")
    extra = (f" ({survey.gray_files_in_colour} colour files hold gray pixels only)"
             if survey.gray_files_in_colour else "")
    return Choice("color_mode", "grayscale", f"no image has colour{extra}: one channel, a third of the work")


def draft(facts: Facts) -> Starter:
    """The file with a placeholder budget: its families are what ``training_costs`` times."""
    return plan(facts, draft=True)


def plan(facts: Facts, draft: bool = False) -> Starter:
    s = facts.survey
    header = _found(s)
    dataset: list[Choice] = [Choice("name", s.name, "")]
    if s.name == "folder":
        dataset.append(Choice("data_dir", s.location, ""))
        size = image_size(s)
        dataset += [size, colour(s)]
        if s.unreadable:
            dataset.append(Choice("skip_corrupt", True, f"{len(s.unreadable)} file(s) could not be read (first: "
                                  f"{s.unreadable[0]}); they are skipped, with a warning at each sweep"))
        side = min(size.value)
    else:
        side = min(s.fixed_shape[:2])
    if POOL in s.counts:
        dataset.append(Choice("test_fraction", 0.2, "no train/ and test/ folders: a fifth of each class is held "
                              "out as the test split, which only the report uses"))
    elif s.name == "folder":
        header.append("the test/ folder is the held-out test split: only the report reads it")
    dataset.append(Choice("val_fraction", 0.2, "a fifth of the training images (per class) score every epoch"
                          if "val" not in s.counts else "unused: the val/ folder is the validation split"))
    families = _families(side, s)
    budget_s = facts.minutes * 60
    slots = max(1, facts.cores)
    scheduler, top = [], [Choice("time_budget_s", round(budget_s),
                                 f"--minutes {facts.minutes:g}: the sweep stops there, whatever is left"),
                          Choice("resources", {"cpus": 1}, f"one core per trial: {slots} trial(s) side by side "
                                                           f"on this machine's {facts.cores} core(s)")]
    if draft or not facts.seconds_per_image:
        return Starter(facts.name, tuple(dataset), tuple(families), (Choice("max_epochs", 3, "draft"),),
                       tuple(top), tuple(header))

    train_images = training_split(s)
    rates = [facts.seconds_per_image[label] for label, *_ in families]
    per_image = sum(rates) / len(rates)
    usable = max(0.0, budget_s - START_S) * slots
    wanted = MIN_TRIALS_PER_FAMILY * len(families)
    epoch_all = epoch_cost(per_image, train_images)
    chosen = next((e for e in MAX_EPOCH_CHOICES if trials_that_fit(usable, epoch_all, e) >= wanted), None)
    if chosen is None:         # even FEWEST_EPOCHS leave too few trials: train on fewer images
        epoch_fit = (usable / wanted - TRIAL_S) / (ASYNC_FACTOR * asha_epochs(FEWEST_EPOCHS))
        keep = max(int((epoch_fit - EPOCH_S) / (per_image * (1 + VAL_SHARE * FORWARD_SHARE))),
                   MIN_PER_CLASS * len(s.classes))
        if keep < train_images:
            dataset.append(Choice("train_size", keep, f"an epoch on all {train_images} training images would take "
                                  f"~{epoch_all:.0f} s, too long for {MIN_TRIALS_PER_FAMILY} trials per family of "
                                  f"{FEWEST_EPOCHS}+ epochs in the budget: a stratified subset (~"
                                  f"{epoch_cost(per_image, keep):.1f} s an epoch)"))
            train_images, epoch_all = keep, epoch_cost(per_image, keep)
        chosen = next((e for e in MAX_EPOCH_CHOICES if trials_that_fit(usable, epoch_all, e) >= wanted), None)
    epochs = chosen or FEWEST_EPOCHS
    fit = trials_that_fit(usable, epoch_all, epochs)
    per_family = max(1, min(MAX_TRIALS_PER_FAMILY, int(fit / len(families))))
    measured = ", ".join(f"{label} {facts.seconds_per_image[label] * 1000:.2f} ms" for label, *_ in families)
    header.append(f"measured here, one core: training takes {measured} per image; an epoch of {train_images} "
                  f"images, validation and bookkeeping included, ~{epoch_all:.1f} s")
    why_epochs = (f"ASHA stops the weaker trials at epochs {', '.join(map(str, _rungs(epochs)))}, so a trial "
                  f"trains ~{ASYNC_FACTOR * asha_epochs(epochs):.1f} epochs on average and ~{fit:.0f} trials fit {slots} core(s) x "
                  f"{facts.minutes:g} min")
    if chosen is None:
        why_epochs += (f"; a tight budget: fewer than {MIN_TRIALS_PER_FAMILY} trials per family even on "
                       f"{train_images} images")
    elif per_family == MAX_TRIALS_PER_FAMILY:
        why_epochs += f"; at most {MAX_TRIALS_PER_FAMILY} trials per family: the sweep may end before the budget"
    scheduler = [Choice("kind", "asha", "early stopping per family, as the ranking compares within it"),
                 Choice("max_epochs", epochs, why_epochs),
                 Choice("grace_period", GRACE, ""), Choice("reduction_factor", REDUCTION, "")]
    families = [(label, fam, per_family, params, why + f"; {per_family} trials fit the budget")
                for label, fam, _, params, why in families]
    return Starter(facts.name, tuple(dataset), tuple(families), tuple(scheduler), tuple(top), tuple(header))


def training_split(s: Survey) -> int:
    """Images a trial trains on with the fractions written (0.2 test from a pool, 0.2 validation)."""
    if POOL in s.counts:
        return round(s.training_images() * 0.8 * 0.8)
    if "val" in s.counts:
        return sum(s.counts["train"].values())
    return round(sum(s.counts["train"].values()) * 0.8)


def _found(s: Survey) -> list[str]:
    per_split = "; ".join(f"{split if split != POOL else 'one pool'}: {sum(per.values())}"
                          for split, per in s.counts.items())
    split, cls, n = s.smallest_class()
    lines = [f"found: {len(s.classes)} classes ({', '.join(s.classes[:6])}{', ...' if len(s.classes) > 6 else ''}), "
             f"{s.images} readable images ({per_split})",
             f"smallest class: {cls} with {n} image(s){'' if split == POOL else ' in ' + split + '/'}"]
    if len(s.sizes) > 1:
        top = sorted(s.sizes.items(), key=lambda kv: -kv[1])[:4]
        lines.append("image sizes: " + ", ".join(f"{h}x{w} ({n})" for (h, w), n in top)
                     + (", ..." if len(s.sizes) > 4 else ""))
    if s.unreadable:
        lines.append(f"unreadable: {len(s.unreadable)} file(s), first: {s.unreadable[0]}")
    return lines


def _families(side: int, s: Survey) -> list[tuple[str, str, int, dict, str]]:
    """A dense baseline, a CNN sized to the image, and (with enough images) a regularized CNN."""
    blocks = max(1, min(3, int(math.log2(max(side, 4) / 4))))    # each block halves the image; stop near 4x4
    out = [("dense", "dense", DRAFT_SAMPLES, {"layers": {"choice": [1, 2]}, "units": {"choice": [64, 128, 256]},
                                  "dropout": {"uniform": [0.0, 0.3]}, "lr": {"loguniform": [3.0e-4, 3.0e-3]}},
            "a fully connected baseline: what the convolutions must beat"),
           ("cnn", "cnn", DRAFT_SAMPLES, {"blocks": {"choice": sorted({max(1, blocks - 1), blocks})}, "filters": {"choice": [16, 32]},
                              "batch_norm": True, "dense_units": {"choice": [64, 128]},
                              "dropout": {"uniform": [0.1, 0.3]}, "lr": {"loguniform": [5.0e-4, 3.0e-3]},
                              "batch_size": 64},
            f"{blocks} pooling block(s) at most: a {side}-pixel side halves down to ~{max(1, side >> blocks)}")]
    if s.training_images() >= 50 * len(s.classes):
        out.append(("cnn_regularized", "cnn", DRAFT_SAMPLES,
                    {"blocks": blocks, "filters": 32, "batch_norm": True, "dense_units": 128,
                     "dropout": {"uniform": [0.2, 0.4]}, "l2": {"loguniform": [1.0e-6, 1.0e-3]},
                     "aug_translation": {"choice": [0.0, 0.1]},
                     "aug_flip": {"choice": ["none", "horizontal"]} if s.colour else "none",
                     "lr": {"loguniform": [5.0e-4, 3.0e-3]}, "batch_size": 64},
                    "a CNN with dropout, L2 and shifted images: 50+ images per class leave room to regularize"))
    return out


def _rungs(max_epochs: int) -> list[int]:
    rungs, r = [], GRACE
    while r < max_epochs:
        rungs.append(r)
        r *= REDUCTION
    return rungs + [max_epochs]


def epoch_cost(per_image: float, train_images: int) -> float:
    """Seconds of one epoch: training, validation (forward only) and what surrounds it."""
    return per_image * train_images * (1 + VAL_SHARE * FORWARD_SHARE) + EPOCH_S


def trials_that_fit(slot_seconds: float, epoch_seconds: float, max_epochs: int) -> float:
    """Trials whose average cost under ASHA fits ``slot_seconds`` (summed over trial slots).

    >>> round(trials_that_fit(100.0, 1.0, 3), 2)     # a trial: 1 s + 1.8 x 1.67 epochs of 1 s
    25.0
    """
    return slot_seconds / (TRIAL_S + ASYNC_FACTOR * asha_epochs(max_epochs) * epoch_seconds)


def asha_epochs(max_epochs: int) -> float:
    """Epochs an average trial trains under ASHA (grace 1, reduction 3): a third of the
    trials at each rung go on to the next.

    >>> [round(asha_epochs(e), 3) for e in (1, 3, 9)]
    [1.0, 1.667, 2.333]
    """
    rungs = _rungs(max_epochs)
    total, reach, start = 0.0, 1.0, 0
    for rung in rungs:
        total += reach * (rung - start)
        start, reach = rung, reach / REDUCTION
    return total


# --- rendering --------------------------------------------------------------------------------

def render(starter: Starter, command: str, transfer_note: str) -> str:
    """The sweep file: values in YAML, each reason as a comment above it."""
    import yaml

    def value(v) -> str:
        return yaml.safe_dump(v, default_flow_style=True, width=1000).strip().removesuffix("...").strip()

    def block(choices, indent: str) -> list[str]:
        out = []
        for c in choices:
            if c.why:
                out.append(f"{indent}# {c.why}")
            out.append(f"{indent}{c.key}: {value(c.value)}")
        return out

    lines = [f"# Written by `{command}`. Every value below can be changed; the comments say why it", "# was chosen.",
             *(f"# {line}" for line in starter.header),
             f"name: {starter.name}", "dataset:", *block(starter.dataset, "  "),
             "metric: val_accuracy", "seed: 0", "families:"]
    for label, family, samples, params, why in starter.families:
        lines += [f"  # {why}", f"  {label}:"]
        if label != family:
            lines.append(f"    family: {family}")
        lines += [f"    num_samples: {samples}", "    params:"]
        lines += [f"      {k}: {value(v)}" for k, v in params.items()]
    if transfer_note:
        lines += [f"  # {line}" for line in transfer_note.splitlines()]
    lines += ["scheduler:", *block(starter.scheduler, "  "), *block(starter.top, "")]
    return "\n".join(lines) + "\n"
