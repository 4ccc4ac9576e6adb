"""The ``tunefm`` command line: thin click commands over the library.

``main`` is the click group (``from orchestrator.cli import main``); the program itself
starts in ``entry.main``, which puts the command's stop token in place before the
commands are imported.
"""


def __getattr__(name: str):
    if name == "main":
        from orchestrator.cli import drive, export, inspect, results  # noqa: F401  (each registers its commands)
        from orchestrator.cli.app import main

        return main
    raise AttributeError(name)


__all__ = ["main"]
