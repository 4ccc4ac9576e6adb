"""``tunefm init``: survey the data, draft a sweep, time its families here, write the file.

The data is read as its loader reads it (``trainables.datasets.survey``); the values and
their reasons come from ``spec.starter`` (pure); the costs it sizes the budget with are
measured on this machine (``search.timing``). The file is parsed before it is returned,
so what is written is a sweep file tunefm accepts.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from orchestrator.spec.starter import Facts, Starter, draft, plan, render, run_name
from orchestrator.spec.sweep import SweepSpec, parse_sweep
from trainables.contract.errors import UserError

NAMED = ("fashion_mnist", "mnist")


def starter_sweep(data: str, minutes: float, cores: int, command: str,
                  name: str | None = None) -> tuple[str, Starter, SweepSpec]:
    """(the sweep file's text, the choices with their reasons, the parsed sweep)."""
    from trainables.datasets.survey import survey_folder, survey_named

    if data in NAMED:
        survey = survey_named(data)
    elif Path(data).expanduser().is_dir():
        survey = survey_folder(Path(data).expanduser().resolve())
    else:
        raise UserError(f"{data}: neither a folder nor a data set's name ({', '.join(NAMED)})")
    split, cls, n = survey.smallest_class()
    needed = 3 if split == "all" else 2
    if n < needed:
        raise UserError(f"{survey.location}: class '{cls}' has {n} readable image(s){'' if split == 'all' else ' in ' + split + '/'};"
                        f" a sweep needs at least {needed} per class: add images or remove the class folder")
    facts = Facts(survey, cores, minutes, name or run_name(Path(survey.location).name if survey.name == "folder"
                                                            else survey.name), weights_cached=_weights_cached())
    sketch = _parsed(render(draft(facts), command, ""), "the draft")
    from orchestrator.search.timing import training_costs

    costs = {c.family: c.seconds_per_image for c in training_costs(sketch)}
    final = plan(replace(facts, seconds_per_image=costs))
    text = render(final, command, _transfer_note(facts))
    return text, final, _parsed(text, "the sweep file written")


def _parsed(text: str, what: str) -> SweepSpec:
    try:
        return parse_sweep(text, "tunefm init")
    except UserError as e:      # a bug in the starter, not the user's input: loud, with the text
        raise RuntimeError(f"{what} does not validate ({e}):\n{text}") from None


def _weights_cached() -> bool:
    from trainables.families.backbones import cached_weights, get_backbone

    return cached_weights(get_backbone("mobilenetv2")) is not None


def _transfer_note(facts: Facts) -> str:
    s = facts.survey
    if not s.colour:
        return "transfer (ImageNet backbones) left out: they are trained on colour photos, these are gray"
    if not facts.weights_cached:
        return ("transfer (ImageNet backbones) left out: no mobilenetv2 weights in the Keras cache; `tunefm weights "
                "mobilenetv2`\nfetches them, then copy a transfer family from sweeps/transfer.yaml")
    return ("transfer (ImageNet backbones): the mobilenetv2 weights are here; on CPUs its epochs cost far more than "
            "these,\nso it is not in the budget: copy a transfer family from sweeps/transfer.yaml to try it")
