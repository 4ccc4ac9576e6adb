"""Population-based training in the sweep file: ``scheduler: {kind: pbt | pb2, ...}``.

    scheduler:
      kind: pbt                  # or pb2 (a bandit picks the new values: continuous ranges only)
      max_epochs: 12
      perturbation_interval: 2   # epochs between two exploit/explore steps
      quantile: 0.25             # the bottom quarter copies the top quarter
      resample_probability: 0.25 # pbt: a mutated value is drawn afresh, else x0.8 or x1.2
      population: 8              # members per family (default: the family's num_samples)
      mutate:                    # which parameters may change during training, and where
        lr: {loguniform: [1.0e-4, 1.0e-2]}
        dropout: {uniform: [0.0, 0.5]}

Only parameters a family declares ``mutable`` may be mutated: the model is rebuilt with
the new value and keeps its weights, so a parameter that adds or removes weights
(filters, blocks, units) is refused. A mutated parameter a family's ``params`` leaves
out starts from the mutation's own range. Pure: no Ray here (``raytune.population``
builds Ray's schedulers from this).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.spec.spaces import Choice, Constant, LogUniform, Space, Uniform, parse_space
from trainables.contract.errors import SweepFileError

POPULATION_KINDS = ("pbt", "pb2")
POPULATION_KEYS = ("perturbation_interval", "quantile", "resample_probability", "mutate", "population")
PB2_ONLY_NOT = ("resample_probability",)          # PB2 picks values by its bandit, never resamples


@dataclass(frozen=True)
class Mutation:
    """One parameter the population may change during training, and its range."""

    name: str
    space: Space          # Uniform, LogUniform or Choice

    @property
    def bounds(self) -> tuple[float, float] | None:
        """(low, high) of a continuous range; None for a choice."""
        return (self.space.low, self.space.high) if isinstance(self.space, (Uniform, LogUniform)) else None

    def clip(self, value: Any) -> Any:
        """``value`` kept inside the range (Ray's PBT multiplies by 0.8 or 1.2 and would
        leave it: a dropout of 0.9 becomes 1.08).

        >>> Mutation("dropout", Uniform(0.0, 0.5)).clip(0.6), Mutation("lr", LogUniform(1e-4, 1e-2)).clip(5e-5)
        (0.5, 0.0001)
        """
        bounds = self.bounds
        if bounds is None or not isinstance(value, (int, float)):
            return value
        return min(max(float(value), bounds[0]), bounds[1])

    def describe(self) -> str:
        s = self.space
        if isinstance(s, Choice):
            return f"{self.name} among {list(s.values)}"
        kind = "log-uniform" if isinstance(s, LogUniform) else "uniform"
        return f"{self.name} in [{s.low:g}, {s.high:g}] ({kind})"


@dataclass(frozen=True)
class PopulationSpec:
    """The exploit/explore step of a PBT or PB2 sweep (``SchedulerSpec.population``)."""

    kind: str                              # pbt | pb2
    perturbation_interval: int = 2         # epochs
    quantile: float = 0.25
    resample_probability: float = 0.25
    mutations: tuple[Mutation, ...] = ()

    def describe(self, max_epochs: int, members: dict[str, int]) -> list[str]:
        """What the population will do, in words (``tunefm validate``)."""
        steps = max(0, (max_epochs - 1) // self.perturbation_interval)
        explore = ("a bandit (GP-UCB) over the ranges picks each copy's new values" if self.kind == "pb2" else
                   f"each copied value is multiplied by 0.8 or 1.2, or drawn afresh with probability "
                   f"{self.resample_probability:g}")
        per_family = ", ".join(f"{label} {n}" for label, n in members.items())
        return [f"{self.kind}: a population per family ({per_family} members), all trained to {max_epochs} "
                f"epochs side by side; every {self.perturbation_interval} epoch(s) ({steps} steps) the bottom "
                f"{self.quantile:.0%} copy the weights, optimizer state and parameters of a random member of "
                f"the top {self.quantile:.0%}, then change them: {explore}",
                "mutated during training: " + "; ".join(m.describe() for m in self.mutations)]


def population_spec(block, source: str, families, search: str) -> PopulationSpec | None:
    """The ``scheduler`` block's population keys, checked; None for ASHA and FIFO, which
    refuse them. ``families``: the parsed ``FamilySweep``s (their params are checked)."""
    given = sorted(k for k in block.model_fields_set if k in POPULATION_KEYS)
    if block.kind not in POPULATION_KINDS:
        if given:
            raise SweepFileError(source, f"scheduler.{given[0]}", f"only population-based training (kind: pbt or "
                                 f"pb2) has it; kind {block.kind} would ignore it")
        return None
    where = "scheduler"
    if search not in ("random", "grid"):
        raise SweepFileError(source, "search", f"{block.kind} draws its population up front and changes it by "
                             f"copying members; search: {search} learns from results the copies would confuse: "
                             "use random or grid")
    if "idle_cores" in block.model_fields_set:
        raise SweepFileError(source, f"{where}.idle_cores", f"{block.kind} pauses and restarts its members "
                             "itself; idle_cores is for asha and fifo (remove it)")
    if not block.mutate:
        raise SweepFileError(source, f"{where}.mutate", f"{block.kind} needs the parameters it may change during "
                             "training, e.g. mutate: {lr: {loguniform: [1.0e-4, 1.0e-2]}}")
    if block.kind == "pb2" and "resample_probability" in block.model_fields_set:
        raise SweepFileError(source, f"{where}.resample_probability", "pb2 picks new values with its bandit and "
                             "never resamples; remove it (or use kind: pbt)")
    interval = block.perturbation_interval or 2
    if interval >= block.max_epochs:
        raise SweepFileError(source, f"{where}.perturbation_interval", f"must be below max_epochs "
                             f"({block.max_epochs}) for the population to change even once, got {interval}")
    mutations = tuple(_mutation(source, f"{where}.mutate.{name}", name, raw, families, block.kind, search)
                      for name, raw in block.mutate.items())
    return PopulationSpec(block.kind, interval, block.quantile if block.quantile is not None else 0.25,
                          block.resample_probability if block.resample_probability is not None else 0.25, mutations)


def _mutation(source: str, at: str, name: str, raw, families, kind: str, search: str) -> Mutation:
    from trainables.families import get_family

    try:
        space = parse_space(raw)
    except ValueError as e:
        raise SweepFileError(source, at, str(e)) from None
    if isinstance(space, Constant) or not isinstance(space, (Uniform, LogUniform, Choice)):
        raise SweepFileError(source, at, "a mutation is a range to move in: uniform, loguniform or choice")
    if kind == "pb2" and isinstance(space, Choice):
        raise SweepFileError(source, at, "pb2 models continuous ranges; give uniform or loguniform (or kind: pbt)")
    for fam in families:
        family = get_family(fam.family)
        spec = family.param(name)
        if spec is None:
            known = ", ".join(p.name for p in family.all_params if p.mutable)
            raise SweepFileError(source, at, f"not a parameter of family '{family.name}' (its mutable ones: {known})")
        if not spec.mutable:
            known = ", ".join(p.name for p in family.all_params if p.mutable)
            raise SweepFileError(source, at, f"{name} changes the model's weights (family '{family.name}'): it can be "
                                 f"searched, not mutated during training; mutable: {known}")
        values = list(space.values) if isinstance(space, Choice) else [space.low, space.high]
        for value in values:
            problem = spec.check(value)
            if problem:
                raise SweepFileError(source, at, problem)
        fixed = fam.space.get(name)
        if fixed is None and search == "grid" and isinstance(space, Choice):
            raise SweepFileError(source, f"families.{fam.label}.params", f"with search: grid, {name}'s choice would "
                                 f"start the members on a grid axis ({len(space.values)} times as many); give "
                                 f"{name} its starting value(s) in params")
        if isinstance(fixed, Constant) and not _inside(space, fixed.value):
            raise SweepFileError(source, f"families.{fam.label}.params.{name}", f"{fixed.value!r} is outside "
                                 f"scheduler.mutate.{name}'s range; members start inside it")
    return Mutation(name, space)


def _inside(space: Space, value: Any) -> bool:
    if isinstance(space, Choice):
        return value in space.values
    return isinstance(value, (int, float)) and space.low <= value <= space.high


def seeded_spaces(families, population: PopulationSpec | None, members: int | None):
    """Each family with its population size (``members``, if the sweep file sets one) and
    each mutated parameter its ``params`` leave out drawn from the mutation's range."""
    import dataclasses

    if population is None:
        return families
    out = []
    for fam in families:
        space = dict(fam.space)
        for m in population.mutations:
            space.setdefault(m.name, m.space)
        out.append(dataclasses.replace(fam, space=space, num_samples=members or fam.num_samples))
    return tuple(out)
