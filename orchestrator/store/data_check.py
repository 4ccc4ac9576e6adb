"""Is the data on disk still the data a run recorded? Checked by report, resume and repeat."""
from __future__ import annotations

from orchestrator.store.records import RunMeta
from trainables.contract.errors import DatasetError, UserError


def data_changes(meta: RunMeta, spec, location: str, allow: bool) -> tuple[str, ...]:
    """What changed since the sweep recorded its data (nothing for runs recorded before
    provenance). A change is refused in one line unless ``allow``; then it is returned,
    for the caller to record and the report to show."""
    from trainables.datasets.provenance import changes, resolve

    if meta.provenance is None:
        return ()
    try:
        found = changes(meta.provenance, resolve(spec.dataset))
    except DatasetError as e:
        found = [f"it cannot be read as it was ({e})"]
    if found and not allow:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UserError(f"{location}: the data set changed since the sweep: {found[0]}{more}; put it back, or "
                        "pass --allow-changed-data to go on (the report then says so)")
    return tuple(found)
