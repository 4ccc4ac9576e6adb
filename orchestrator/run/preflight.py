"""Checks that refuse a sweep up front, before any folder is created or Ray started."""
from __future__ import annotations

import tempfile
from pathlib import Path

from trainables.contract.errors import UserError
from trainables.contract.keys import RUN_FILE
from orchestrator.spec.sweep import SweepSpec


def check_results_dir(results_dir: str, spec: SweepSpec) -> Path | str:
    """The results folder must be writable, not inside a run, and not another sweep's.
    A URI (s3://, gs://...) must accept a write; it is returned as given."""
    from orchestrator.store.remote import check_writable, is_uri, local_location

    results_dir = local_location(results_dir)
    if is_uri(results_dir):
        check_writable(results_dir)
        return results_dir
    root = Path(results_dir).expanduser().resolve()
    for folder in (root, *root.parents):
        if (folder / RUN_FILE).is_file():
            raise UserError(f"results folder {root} is inside the run folder {folder}; "
                            "give --results the folder that holds sweeps (default: results)")
    existing = next(p for p in (root, *root.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"results folder {root} cannot be created: {existing} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise UserError(f"results folder {root} is not writable ({e.strerror or e}: {existing})") from None
    sweep_dir = root / spec.name
    if sweep_dir.is_dir():
        mine = Path(spec.source).resolve()
        for run in sorted(sweep_dir.iterdir()):
            if not (run / RUN_FILE).is_file():
                continue
            from orchestrator.store.folder import RunFolder

            try:
                source = RunFolder(run).meta().source
            except UserError:
                continue   # a damaged run of its own: not this check's business
            if source and Path(source).is_file() and Path(source).resolve() != mine:
                raise UserError(f"{sweep_dir} holds runs of another sweep file ({source}); give this sweep "
                                f"another name or use another --results")
    return root
