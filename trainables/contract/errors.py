"""The two kinds of failure a user can meet before any work starts.

A ``UserError`` stops a command with one line on stderr and exit code 2 (the CLI
turns it into that); failures of a single trial are recorded, never raised here.
"""
from __future__ import annotations


class UserError(Exception):
    """Bad input the user can fix: the message is the whole story, no traceback."""


class SweepFileError(UserError):
    """A sweep file that does not parse or breaks a rule.

    >>> str(SweepFileError("sweeps/cnn.yaml", "families.cnn.params.lr", "must be > 0, got 0"))
    'sweeps/cnn.yaml: families.cnn.params.lr: must be > 0, got 0'
    """

    def __init__(self, source: str, key_path: str, problem: str):
        self.source = source
        self.key_path = key_path
        self.problem = problem
        where = f"{source}: {key_path}: " if key_path else f"{source}: "
        super().__init__(where + problem)


class DatasetError(UserError):
    """A data set that is missing, truncated or malformed."""


class NoResultYet(UserError):
    """A run has nothing to rank or report yet; ``running`` says whether waiting could help."""

    def __init__(self, message: str, running: bool = False):
        super().__init__(message)
        self.running = running
