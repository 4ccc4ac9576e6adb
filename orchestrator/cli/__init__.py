"""The ``tunefm`` command line: thin click commands over the library."""
from orchestrator.cli.main import main

__all__ = ["main"]
