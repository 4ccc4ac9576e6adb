"""``tunefm export``: ship a trial's model with its card (a reader: never locks the run)."""
from __future__ import annotations

import shlex
from pathlib import Path

import click

from orchestrator.cli.app import OUT_DIR, RUN_DIR, _user_errors, main
from orchestrator.export.artifact import FORMATS


@main.command()
@click.argument("run_dir", type=RUN_DIR)
@click.option("--out", required=True, type=OUT_DIR,
              help="Folder for the artefacts and model_card.md/.json.")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), default=("keras",),
              show_default=True, help="Artefact format; repeat for several (onnx needs tunefm[export]).")
@click.option("--trial", "trial_id", help="Export this trial instead of the run's #1.")
@click.option("--allow-changed-data", is_flag=True,
              help="Export although the data set changed since the sweep (the card says so).")
@_user_errors
def export(run_dir: Path, out: Path, formats: tuple[str, ...], trial_id: str | None,
           allow_changed_data: bool) -> None:
    """Export RUN_DIR's best trial (or --trial) as a model that takes uint8 images and
    returns class probabilities, with a model card.

    Each artefact is loaded back in its own runtime (Keras, TensorFlow, onnxruntime,
    LiteRT) and must agree with the checkpoint on the test split.
    """
    from orchestrator.export.trial import export_trial

    command = shlex.join(["tunefm", "export", str(run_dir), "--out", str(out),
                          *[a for f in formats for a in ("--format", f)],
                          *(["--trial", trial_id] if trial_id else []),
                          *(["--allow-changed-data"] if allow_changed_data else [])])
    result = export_trial(run_dir, formats, out, trial_id, allow_changed_data, command)
    click.echo(f"exported {result.trial_id} ({result.family}): test accuracy {result.test_accuracy:.4f}")
    if result.race:
        click.echo(f"race: {result.race}")
    click.echo(f"ranking: {result.ranking}")
    for fmt, path, agreement in result.artifacts:
        click.echo(f"{fmt}: {path} (agrees with the checkpoint on {agreement.images - agreement.top1_disagreements}"
                   f"/{agreement.images} test images, max probability difference {agreement.max_abs_prob_diff:.1e})")
    click.echo(f"card: {result.card_md} ({result.seconds:.1f} s)")
