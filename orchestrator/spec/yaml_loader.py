"""Safe YAML loading for sweep files.

PyYAML follows YAML 1.1, where ``1e-4`` is a string; sweep authors mean a number,
so the loader also resolves exponent floats without a dot (YAML 1.2 behaviour).
Only plain data is built: no Python object tags. PyYAML keeps the last of two equal
keys in a mapping; a sweep file with two ``dense:`` blocks or two ``metric:`` lines is
refused instead (``DuplicateKey``), as are numbers no setting can mean (``BadNumber``:
NaN, infinities, integers beyond 2**53).
"""
from __future__ import annotations

import math
import re
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # a sweep file is a page of text, not a data set
MAX_VALUES = 100_000  # values after aliases are expanded: a page of settings has hundreds


MAX_INT = 2**53   # beyond it a float64 cannot hold every integer; no setting is that large


class DuplicateKey(ValueError):
    def __init__(self, key: Any, first_line: int, second_line: int):
        self.key, self.first_line, self.second_line = key, first_line, second_line
        super().__init__(f"line {second_line}: key '{key}' appears twice in one mapping "
                         f"(first on line {first_line}); keep one")


class BadNumber(ValueError):
    def __init__(self, path: str, value: Any):
        self.path, self.value = path, value
        what = "an integer beyond 2**53" if isinstance(value, int) else "not a finite number"
        super().__init__(f"{value!r} is {what}")


class SweepLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue    # '<<' merges may be overridden: that is what they are for
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line)
                except TypeError:
                    continue    # an unhashable key: PyYAML itself refuses it next
                if first != key_node.start_mark.line:
                    raise DuplicateKey(key, first + 1, key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep)


SweepLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class TooLarge(ValueError):
    pass


def count_values(data: Any, budget: int = MAX_VALUES) -> int:
    """Count values as a reader would see them, aliases expanded; stop past ``budget``.

    YAML aliases share objects, so a "billion laughs" file loads in kilobytes but
    expands to billions of values for anything that walks or copies it.
    """
    seen, stack = 0, [data]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > budget:
            raise TooLarge(f"expands to more than {budget} values (nested YAML aliases?)")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return seen


def check_numbers(data: Any, path: str = "") -> None:
    """``BadNumber`` at the first NaN, infinity (``.inf``, ``1e400``) or huge integer."""
    stack = [(path, data)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise BadNumber(where, item)
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INT:
            raise BadNumber(where, item)
        if isinstance(item, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))


def load_yaml(text: str) -> Any:
    data = yaml.load(text, Loader=SweepLoader)  # noqa: S506 - SweepLoader is a SafeLoader
    count_values(data)
    check_numbers(data)
    return data
