"""Commands that read a sweep file or the registries and train nothing: validate, preview, families, weights."""
from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.app import SWEEP_FILE, _user_errors, main
from trainables.contract.errors import UserError


@main.command()
@click.argument("sweep_file", type=SWEEP_FILE)
@_user_errors
def validate(sweep_file: Path) -> None:
    """Check SWEEP_FILE and print what it would run; trains nothing."""
    from orchestrator.spec.sweep import load_sweep

    spec = load_sweep(sweep_file)
    per_family = {f.label: f.trial_count(spec.search) for f in spec.families}   # counted, never expanded
    click.echo(f"{sweep_file}: ok. sweep '{spec.name}' on {spec.dataset.name}: {sum(per_family.values())} trials "
               f"({', '.join(f'{k} {v}' for k, v in per_family.items())}), "
               f"{spec.scheduler.kind} up to {spec.scheduler.max_epochs} epochs, "
               f"{spec.mode} {spec.metric}")
    if spec.objectives:
        names = ", ".join(f"{name} ({mode})" for name, mode in spec.objectives)
        click.echo(f"objectives: {names}: TPE proposes from their Pareto front; ASHA stops trials by "
                   f"{spec.metric} alone and the leaderboard ranks by it")


@main.command()
@click.argument("sweep_file", type=SWEEP_FILE)
@click.option("-n", "--per-family", default=3, show_default=True, type=click.IntRange(min=1),
              help="Configs to sample per family.")
@_user_errors
def preview(sweep_file: Path, per_family: int) -> None:
    """Sample a few configs per family of SWEEP_FILE and count their parameters (builds, never trains)."""
    from orchestrator.search.preview import preview as run_preview
    from orchestrator.spec.sweep import load_sweep

    spec = load_sweep(sweep_file)
    rows, totals = run_preview(spec, per_family)
    for label, total in totals.items():
        click.echo(f"{label}: {total} trials")
        for row in (r for r in rows if r.family == label):
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in row.searched.items())
            if row.error:
                click.echo(f"  #{row.index}  does not build: {row.error.splitlines()[0]}  {values}")
                continue
            flag = "  OVER max_params" if row.over_budget else ""
            click.echo(f"  #{row.index}  {row.params:>10,d} params{flag}  {values}")


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@main.command()
@click.argument("name", required=False)
@_user_errors
def families(name: str | None) -> None:
    """List the model families and each one's parameters (or only NAME's)."""
    from trainables.families import family_names, get_family
    from trainables.families.params import TRAINING_PARAMS

    names = family_names()
    if name is not None:
        if name not in names:
            raise UserError(f"unknown model family '{name}' (known: {', '.join(names)})")
        names = [name]
    for fam_name in names:
        fam = get_family(fam_name)
        click.echo(f"{fam.name}: {fam.summary}")
        for p in fam.params:
            click.echo(f"  {p.describe()}")
    click.echo("every family also takes:")
    for p in TRAINING_PARAMS:
        click.echo(f"  {p.describe()}")


@main.command()
@click.argument("backbones", nargs=-1)
@_user_errors
def weights(backbones: tuple[str, ...]) -> None:
    """Download ImageNet weights of BACKBONES (default: all) into the Keras cache.

    Run it on a machine with internet; it prints where each file is, so you can copy
    the files into ~/.keras/models/ of an offline machine. Files already cached are
    only listed.
    """
    from trainables.families.backbones import BACKBONES, download

    for name in backbones or tuple(BACKBONES):
        if name not in BACKBONES:
            raise UserError(f"unknown backbone '{name}' (known: {', '.join(BACKBONES)})")
        click.echo(f"{name}: {download(name)}")
