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


class TrialFailure(RuntimeError):
    """A trial's training error, carried to the driver as plain text.

    Ray hands the driver the worker's exception object; a TensorFlow error class makes the
    driver import TensorFlow to unpickle it (a dozen lines of its start-up chatter on the
    user's terminal, and seconds of import). The message keeps the whole story: the original
    traceback, then one line ``REASON`` + ``Type: first line of the message``, the reason the
    run records (``reason_in`` finds it again in the text Ray stores).

    >>> str(TrialFailure.wrapping(ValueError("bad shape\\nmore"))).splitlines()[-1]
    'trial failed with ValueError: bad shape'
    >>> TrialFailure.reason_in(str(TrialFailure.wrapping(ValueError("bad shape"))))
    'ValueError: bad shape'
    """

    REASON = "trial failed with "

    @classmethod
    def wrapping(cls, error: BaseException) -> "TrialFailure":
        import traceback

        told = str(error).strip().splitlines()
        reason = type(error).__name__ + (f": {told[0]}" if told else "")
        return cls("".join(traceback.format_exception(error)).rstrip() + "\n" + cls.REASON + reason)

    @classmethod
    def reason_in(cls, text: str) -> str | None:
        """The reason of the last ``TrialFailure`` in ``text``; None when it holds none."""
        found = [line.strip() for line in text.splitlines() if line.strip().startswith(cls.REASON)]
        return found[-1][len(cls.REASON):] if found else None
