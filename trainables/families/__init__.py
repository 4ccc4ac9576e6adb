"""Model families: ``get_family(name)`` and ``family_names()``."""
from trainables.families.registry import Family, family_names, get_family, register

__all__ = ["Family", "family_names", "get_family", "register"]
