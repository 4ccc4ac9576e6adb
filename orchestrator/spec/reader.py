"""A small reader that walks parsed YAML and names the key path of every problem.

Every ``take_*`` consumes a key; ``done()`` rejects whatever is left, so a typo in a
sweep file is an error instead of a silently ignored setting.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainables.contract.errors import SweepFileError

_MISSING = object()


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


class Node:
    """A mapping in the sweep file, with its source file and key path."""

    def __init__(self, source: str, path: str, data: Any):
        self.source = source
        self.path = path
        if not isinstance(data, Mapping):
            raise self.error(f"must be a mapping, got {type_name(data)}")
        self._data = dict(data)
        self._seen: set[str] = set()

    def child_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, problem: str, key: str | None = None) -> SweepFileError:
        return SweepFileError(self.source, self.child_path(key) if key else self.path, problem)

    def keys(self) -> list[str]:
        return [str(k) for k in self._data]

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self._seen.add(key)
        if key not in self._data:
            if default is _MISSING:
                raise self.error("is required", key)
            return default
        return self._data[key]

    def node(self, key: str, default: Any = _MISSING) -> Node:
        return Node(self.source, self.child_path(key), self.raw(key, default))

    def take_str(self, key: str, default: Any = _MISSING, choices: tuple[str, ...] | None = None) -> Any:
        value = self.raw(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str):
            raise self.error(f"must be a string, got {type_name(value)}", key)
        if choices is not None and value not in choices:
            raise self.error(f"must be one of {', '.join(choices)}; got '{value}'", key)
        return value

    def take_int(self, key: str, default: Any = _MISSING, minimum: int | None = None,
                 maximum: int | None = None) -> Any:
        value = self.raw(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"must be an integer, got {type_name(value)}", key)
        if minimum is not None and value < minimum:
            raise self.error(f"must be >= {minimum}, got {value}", key)
        if maximum is not None and value > maximum:
            raise self.error(f"must be <= {maximum}, got {value}", key)
        return value

    def take_float(self, key: str, default: Any = _MISSING, low: float | None = None,
                   high: float | None = None, low_open: bool = False) -> Any:
        value = self.raw(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"must be a number, got {type_name(value)}", key)
        if low is not None and (value <= low if low_open else value < low):
            raise self.error(f"must be {'>' if low_open else '>='} {low}, got {value}", key)
        if high is not None and value > high:
            raise self.error(f"must be <= {high}, got {value}", key)
        return float(value)

    def take_bool(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(f"must be true or false, got {type_name(value)}", key)
        return value

    def done(self) -> None:
        """Reject keys nobody asked for."""
        unknown = [k for k in self.keys() if k not in self._seen]
        if unknown:
            allowed = ", ".join(sorted(self._seen))
            raise self.error(f"unknown key (allowed here: {allowed})", unknown[0])
