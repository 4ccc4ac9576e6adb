"""Safe YAML loading for sweep files.

PyYAML follows YAML 1.1, where ``1e-4`` is a string; sweep authors mean a number,
so the loader also resolves exponent floats without a dot (YAML 1.2 behaviour).
Only plain data is built: no Python object tags.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # a sweep file is a page of text, not a data set
MAX_VALUES = 100_000  # values after aliases are expanded: a page of settings has hundreds


class SweepLoader(yaml.SafeLoader):
    pass


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


def load_yaml(text: str) -> Any:
    data = yaml.load(text, Loader=SweepLoader)  # noqa: S506 - SweepLoader is a SafeLoader
    count_values(data)
    return data
