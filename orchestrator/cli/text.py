"""What the CLI prints about a finished (or stopped) plan."""
from __future__ import annotations

from orchestrator.store.records import RunStatus
from trainables.contract.status import FINAL


def summary_lines(summary) -> list[str]:
    c = summary.counts
    finished = ", ".join(f"{c[s]} {s.label}" for s in FINAL if c.get(s))
    status = summary.status.value + (f" ({summary.note})" if summary.note else "")
    lines = [f"{summary.phase} {status} in {summary.wall_seconds:.0f} s: {finished or 'no trial finished'}"]
    if summary.best:
        b = summary.best
        lines.append(f"best {b.metric} {b.value:.4f}: trial {b.trial_id} ({b.family}, epoch {b.epoch})")
    if summary.uri is None and not summary.run_dir.is_dir():     # moved or deleted while it ran
        lines.append(f"the run folder is no longer at {summary.location}: resume it where it is now "
                     "(tunefm resume RUN_DIR)")
        return lines
    lines.append(f"run folder: {summary.location}")
    if summary.uri:
        lines.append(f"local copy: {summary.run_dir}")
    if summary.unsynced:
        lines.append(f"warning: {summary.unsynced} file(s) did not reach {summary.uri}; the local copy "
                     "has everything: copy it there before resuming or reporting from the URI")
    if summary.unsaved:
        lines.append(f"warning: the last state could not be written ({summary.unsaved}); "
                     "what the folder holds is what resume continues from")
    if summary.status == RunStatus.INTERRUPTED:
        lines.append(f"resume it:  tunefm resume {summary.location}")
    if summary.skipped:
        lines.append(f"run it:     {summary.skipped}")
    lines.append(f"report it:  tunefm report {summary.location}")
    return lines
