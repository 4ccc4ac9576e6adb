"""Names that become folder names: the sweep's ``name:`` and a run's ``--name``."""
from __future__ import annotations

MAX_LENGTH = 100


def segment_problem(name: str) -> str | None:
    """Why ``name`` is not one path segment of printable characters (None if it is).

    >>> segment_problem("fashion_cnn"), segment_problem("../x")
    (None, "must be one folder name: no '/' or '\\\\', not '.' or '..', not starting with '.'")
    """
    if not name:
        return "must not be empty"
    if not name.isprintable() or any(c in name for c in "\t\n\r\x00"):
        return "must be printable characters only (no control or NUL characters)"
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        return "must be one folder name: no '/' or '\\', not '.' or '..', not starting with '.'"
    if len(name) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters, got {len(name)}"
    return None
