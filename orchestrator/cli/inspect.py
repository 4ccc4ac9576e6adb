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
    from orchestrator.search.race import check_rounds

    check_rounds(spec)
    per_family = {f.label: f.trial_count(spec.search) for f in spec.families}   # counted, never expanded
    click.echo(f"{sweep_file}: ok. sweep '{spec.name}' on {spec.dataset.name}: {sum(per_family.values())} trials "
               f"({', '.join(f'{k} {v}' for k, v in per_family.items())}), "
               f"{spec.scheduler.kind} up to {spec.scheduler.max_epochs} epochs, "
               f"{spec.mode} {spec.metric}")
    for line in _population_lines(spec):
        click.echo(line)
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
    for line in _population_lines(spec):
        click.echo(line)
    for label, total in totals.items():
        click.echo(f"{label}: {total} trials")
        for row in (r for r in rows if r.family == label):
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in row.searched.items())
            if row.error:
                click.echo(f"  #{row.index}  does not build: {row.error.splitlines()[0]}  {values}")
                continue
            flag = "  OVER max_params" if row.over_budget else ""
            click.echo(f"  #{row.index}  {row.params:>10,d} params{flag}  {values}")


def _population_lines(spec) -> list[str]:
    """What a PBT or PB2 sweep's population will do (nothing for ASHA and FIFO)."""
    population = spec.scheduler.population
    if population is None:
        return []
    members = {f.label: f.trial_count(spec.search) for f in spec.families}
    return population.describe(spec.scheduler.max_epochs, members)


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


@main.command()
@click.argument("data")
@click.option("--minutes", default=10.0, show_default=True, type=click.FloatRange(min=0.5),
              help="The sweep's time budget: the space and the epochs are sized to fit it.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the sweep file (default: NAME.yaml here).")
@click.option("--name", default=None, help="The sweep's name (default: from the folder's name).")
@click.option("--cpus", default=None, type=click.IntRange(min=1),
              help="Cores the sweep will use (default: this machine's).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@_user_errors
def init(data: str, minutes: float, out: Path | None, name: str | None, cpus: int | None, force: bool) -> None:
    """Write a sweep file for DATA: a folder of images (one subfolder per class, or train/ and
    test/ with them) or a data set's name (fashion_mnist, mnist).

    Reads every image as the loader would (classes, counts, sizes, colour, unreadable files),
    times the chosen families' training on this machine, and sizes the space and the epochs
    to --minutes; the file says in comments why each value was chosen. Trains nothing.
    """
    import shlex
    import sys

    from orchestrator.search.starter_file import starter_sweep
    from orchestrator.spec.names import segment_problem
    from trainables.training.runtime import available_cpus

    if name is not None and segment_problem(name):
        raise UserError(f"--name {name!r}: {segment_problem(name)}")
    cores = cpus or max(1, int(available_cpus()))
    command = "tunefm init " + shlex.join(sys.argv[2:] if len(sys.argv) > 2 else [data])
    text, starter, spec = starter_sweep(data, minutes, cores, command, name)
    target = out if out is not None else Path(f"{spec.name}.yaml")
    if target.exists() and not force:
        raise UserError(f"{target}: exists; choose another --out, or --force to overwrite it")
    try:
        target.write_text(text)
    except OSError as e:
        raise UserError(f"{target}: cannot write ({e.strerror or e})") from None
    for line in starter.header:
        click.echo(line)
    per_family = ", ".join(f"{label} {samples}" for label, _, samples, _, _ in starter.families)
    click.echo(f"wrote {target}: {sum(s for _, _, s, _, _ in starter.families)} trials ({per_family}), up to "
               f"{spec.scheduler.max_epochs} epochs, {minutes:g} min")
    click.echo(f"run it:    tunefm sweep {target} --report")
