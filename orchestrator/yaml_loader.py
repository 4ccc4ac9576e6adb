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


class SweepLoader(yaml.SafeLoader):
    pass


SweepLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=SweepLoader)  # noqa: S506 - SweepLoader is a SafeLoader
