"""The ``tunefm`` command line: thin click commands over the library."""
from orchestrator.cli import drive, export, inspect, results  # noqa: F401  (each registers its commands)
from orchestrator.cli.app import main

__all__ = ["main"]
