"""The model card that travels beside an exported model: what it is, how good, how sure.

``model_card.json`` (a versioned ``ModelCard`` record, for machines) and
``model_card.md`` (the same facts for people), written side by side.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainables.contract.records import Record

CARD_JSON, CARD_MD = "model_card.json", "model_card.md"


@dataclass(frozen=True)
class ModelCard(Record):
    name: str                          # sweep / run / trial
    trial_id: str
    family: str
    model: str
    run: str                           # the run folder it came from
    created_at: str
    command: str                       # what made it
    input: dict                        # name, dtype, shape, value range
    classes: tuple[str, ...]
    data: dict                         # data set, source, split sizes, sha256 per split (files, arrays)
    config: dict                       # the trial's hyperparameters
    params: int
    latency: dict                      # ms per image at batch 1 and 256, threads, machine
    validation: dict                   # metric, score, 95% interval, images, epoch, rank
    ranking: str                       # the paired-test verdict against #1 (or #2)
    test: dict                         # held-out test metrics, per-class accuracy
    artifacts: tuple[dict, ...] = ()   # format, path, agreement with the checkpoint
    versions: dict = field(default_factory=dict)
    race: dict = field(default_factory=dict)   # the race's verdict, the shipped run and why, test over its seeds
    searched: dict = field(default_factory=dict)   # the hyperparameters the sweep searched, as this model has them
    changed: dict = field(default_factory=dict)    # the other settings off the family's defaults
    schedule: dict = field(default_factory=dict)   # a PBT member: its parameters' changes, who trained its epochs

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        object.__setattr__(self, "artifacts", tuple(dict(a) for a in self.artifacts))


def _pct(value: Any) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "n/a"


def markdown(card: ModelCard) -> str:
    v, t, lat = card.validation, card.test, card.latency
    shape = "x".join("N" if d is None else str(d) for d in card.input["shape"])
    lines = [
        f"# Model card: {card.name}",
        "",
        f"A `{card.family}` image classifier ({card.params:,d} parameters) found by a tunefm sweep.",
        "",
        "## Use",
        f"- input `{card.input['name']}`: {card.input['dtype']} images {shape} (pixel values 0..255, as the "
        "data set stores them); rescaling and resizing are inside the model",
        f"- output: probabilities over {len(card.classes)} classes: {', '.join(card.classes)}",
        "",
        "## Files",
        "| format | path | test images | top-1 disagreements with the checkpoint | max probability difference |",
        "|---|---|---|---|---|",
        *[f"| {a['format']} | `{a['path']}` | {a['agreement']['images']:,d} | "
          f"{a['agreement']['top1_disagreements']} ({_pct(a['agreement']['disagreement_fraction'])}) | "
          f"{a['agreement']['max_abs_prob_diff']:.2e} |" for a in card.artifacts],
        "",
        "## How good, and how sure",
        *_race_lines(card.race),
        *([f"- NOTE: on today's validation files this checkpoint scores {v['recomputed']:.4f}, not the "
           f"{v['score']:.4f} the sweep recorded; the interval below is around today's score"]
          if abs(v["recomputed"] - v["score"]) > 1e-6 else []),
        f"- validation {v['metric']}: **{v['score']:.4f}**, 95% interval [{v['ci_low']:.4f}, {v['ci_high']:.4f}] "
        f"({'Wilson' if v['ci_method'] == 'wilson' else v['ci_method']}, {v['images']:,d} images), rank {v['rank']} of the sweep, checkpoint of epoch "
        f"{v['epoch']}",
        f"- ranking: {card.ranking}",
        f"- held-out test ({t['images']:,d} images, used only for this card and the report): accuracy "
        f"**{t['accuracy']:.4f}**, macro-F1 {t['f1_macro']:.4f}, macro AUC {t['auc_macro']:.4f}, "
        f"loss {t['loss']:.4f}",
        "",
        "| class | test accuracy |",
        "|---|---|",
        *[f"| {name} | {acc:.4f} |" for name, acc in t["per_class_accuracy"].items()],
        "",
        "## Cost",
        f"- {card.params:,d} parameters",
        f"- {lat['ms_per_image_batch1']:.3g} ms per image at batch 1, {lat['ms_per_image_batch256']:.3g} ms at "
        f"batch 256 ({lat['threads']} thread(s), Keras predict_on_batch, on {lat['machine']})",
        "",
        "## Data",
        f"- {card.data['dataset']} from {card.data['source']}",
        f"- {card.data['train']:,d} train, {card.data['val']:,d} validation, {card.data['test']:,d} test images",
        *[split_line(part, digest) for part, digest in card.data.get("sha256", {}).items()],
        "",
        *_schedule_lines(card.schedule),
        "## Configuration",
        *(["Searched by the sweep:", "", "| hyperparameter | value |", "|---|---|",
           *[f"| {k} | {v_} |" for k, v_ in card.searched.items()], ""] if card.searched else []),
        *(["Set off the family's defaults:", "", "| setting | value |", "|---|---|",
           *[f"| {k} | {v_} |" for k, v_ in card.changed.items()], ""] if card.changed else
          ["Every other setting is the family's default.", ""]),
        "<details><summary>Every setting</summary>",
        "",
        "| hyperparameter | value |",
        "|---|---|",
        *[f"| {k} | {v_} |" for k, v_ in card.config.items()],
        "",
        "</details>",
        "",
        "## Provenance",
        f"- run: `{card.run}`, trial `{card.trial_id}`",
        f"- made by: `{card.command}` at {card.created_at}",
        f"- versions: {', '.join(f'{k} {v_}' for k, v_ in card.versions.items())}",
        "",
    ]
    return "\n".join(lines)


def _schedule_lines(schedule: dict) -> list[str]:
    """A population member is a schedule, not one configuration: its parameters' changes."""
    if not schedule:
        return []
    return ["## Schedule",
            f"Trained by {schedule['kind']}: these parameters changed during training, and its weights up to "
            f"epoch {schedule['epoch']} were trained by {' then '.join(schedule['trained_by'])} (each copied the "
            "one before at the epoch it took over). `tunefm repeat` replays this schedule with new seeds.",
            "",
            *[f"- {line}" for line in schedule["lines"]],
            ""]


def _race_lines(race: dict) -> list[str]:
    if not race:
        return []
    seeds = race["test_over_seeds"]
    over = (f"- held-out test accuracy over the configuration's {seeds['seeds']} race seeds: **{seeds['mean']:.4f}**"
            + (f" ± {seeds['sd']:.4f} (sd)" if seeds.get("sd") is not None else "")
            + " (the test split reports; it decided nothing)" if seeds.get("mean") is not None else None)
    return [f"- the race: {race['verdict']}",
            f"- shipped: run `{race['shipped_run']}` of configuration `{race['configuration']}` ({race['why']}): "
            f"{race['run_why']}", *([over] if over else [])]


def write_card(card: ModelCard, out: Path) -> tuple[Path, Path]:
    from orchestrator.store.parquet import atomic_write_bytes

    json_path, md_path = out / CARD_JSON, out / CARD_MD
    atomic_write_bytes(json_path, (json.dumps(card.to_dict(), indent=2, default=str) + "\n").encode())
    atomic_write_bytes(md_path, markdown(card).encode())
    return json_path, md_path


def split_line(part: str, digest) -> str:
    """A split's sha256: of the arrays the trials got, and of the files they were read from
    (train and val are cut from the same files). A card written before the arrays were
    hashed has one string per split: the files'."""
    if isinstance(digest, str):
        return f"- {part} split: files sha256 {digest}"
    arrays = f"images and labels sha256 {digest['arrays']}; " if digest.get("arrays") else ""
    source = "read from files" if digest.get("file_count", 1) else "from a download"
    return f"- {part} split: {arrays}{source} with sha256 {digest['files']}"
