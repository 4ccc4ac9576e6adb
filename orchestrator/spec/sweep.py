"""The sweep file, parsed into frozen dataclasses and validated on the way in.

``load_sweep(path)`` either returns a ``SweepSpec`` or raises ``SweepFileError`` naming
the file, the key path and the rule broken, e.g.::

    sweeps/cnn.yaml: families.cnn.params.lr: loguniform needs 0 < low < high, got low=0, high=0.1
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.spec.dataset import dataset_spec
from orchestrator.spec.names import segment_problem
from orchestrator.spec.population import PopulationSpec, population_spec, seeded_spaces
from orchestrator.spec.schema import MAX_EPOCHS, SCHEDULERS, SEARCHERS, validate
from orchestrator.spec.spaces import (Choice, Constant, Grid, LogUniform, RandInt, Space, Uniform, parse_space,
                                      values_to_check)
from orchestrator.spec.tracking import MlflowSpec, TrackingSpec, tracking_spec
from orchestrator.spec.yaml_loader import MAX_BYTES, BadNumber, DuplicateKey, TooLarge, load_yaml
from trainables.contract.errors import SweepFileError
from trainables.contract.metrics import SELECTABLE
from trainables.datasets.base import DataSpec

OBJECTIVE_PARAMS = "params"     # the model's parameter count (every epoch report carries it)

TPE_EXTRA = "pip install 'tunefm[tpe]' (or: pip install optuna)"
MAX_TRIALS = 100_000   # a sweep file that expands to more is a grid typo (and would hang to expand)
__all__ = ["SweepSpec", "DecideSpec", "FamilySweep", "SchedulerSpec", "Resources", "load_sweep", "parse_sweep", "with_overrides",
           "dump_spec", "MAX_EPOCHS", "MAX_TRIALS", "SCHEDULERS", "SEARCHERS", "TPE_EXTRA"]


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0


@dataclass(frozen=True)
class FamilySweep:
    """One entry of ``families:``: a label, the registered model family, its space."""

    label: str
    family: str
    num_samples: int
    space: dict[str, Space] = field(default_factory=dict)
    resources: Resources | None = None   # overrides the sweep's per-trial resources
    # search: ablation - every run changes one factor of the baseline
    baseline: dict[str, Any] = field(default_factory=dict)
    factors: dict[str, tuple] = field(default_factory=dict)
    baseline_repeats: int = 3

    def trial_count(self, search: str) -> int:
        """How many trials this family expands to, computed without expanding it."""
        if search == "ablation":
            return self.baseline_repeats + self.num_samples * sum(len(v) for v in self.factors.values())
        count = self.num_samples
        for space in self.space.values():
            if isinstance(space, Grid) or (isinstance(space, Choice) and search == "grid"):
                count *= len(space.values)
        return count


@dataclass(frozen=True)
class SchedulerSpec:
    kind: str = "asha"
    max_epochs: int = 10
    grace_period: int = 1
    reduction_factor: float = 3.0
    brackets: int = 1
    idle_cores: str = "give"     # at the tail, a running trial starts again with the cores that fell idle
    population: PopulationSpec | None = None   # pbt and pb2: the exploit/explore step


@dataclass(frozen=True)
class DecideSpec:
    """``decide:`` (or ``--decide``): the race among the leaders after the search
    (``ranking/race.py`` says when it is decided)."""

    candidates: int = 4
    alpha: float = 0.05
    equivalence: float = 0.005
    rounds: int = 12
    seconds: float | None = None
    trials: int | None = None
    resplit: int | None = None
    prefer: str = "params"


@dataclass(frozen=True)
class SweepSpec:
    name: str
    source: str
    dataset: DataSpec
    families: tuple[FamilySweep, ...]
    metric: str = "val_accuracy"
    mode: str = "max"
    search: str = "random"
    scheduler: SchedulerSpec = SchedulerSpec()
    resources: Resources = Resources()
    max_params: int | None = None
    seed: int = 0
    max_concurrent: int | None = None
    time_budget_s: float | None = None
    max_failures: int = 0
    description: str = ""
    repeat_top_k: int = 0       # repeat: re-run the best configurations over new seeds at the end
    repeat_seeds: int = 0
    # objectives: [val_accuracy, params]: (name, mode) pairs, the first is ``metric``; TPE
    # searches their Pareto front, ASHA still stops by ``metric`` alone
    objectives: tuple[tuple[str, str], ...] = ()
    tracking: TrackingSpec = TrackingSpec()      # TensorBoard and MLflow (spec/tracking.py)
    decide: DecideSpec | None = None             # race the leaders after the search (and repeat) phases

    def family(self, label: str) -> FamilySweep:
        return next(f for f in self.families if f.label == label)

    def resources_of(self, label: str) -> Resources:
        return self.family(label).resources or self.resources

    def max_resources(self) -> Resources:
        every = [self.resources_of(f.label) for f in self.families]
        return Resources(cpus=max(r.cpus for r in every), gpus=max(r.gpus for r in every))


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file."""
    import stat

    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):   # /dev/zero, a FIFO: never read without end
            raise SweepFileError(str(path), "", "is not a regular file")
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise SweepFileError(str(path), "", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SweepFileError(str(path), "", f"cannot be read ({e})") from None
    return parse_sweep(text, str(path))


def parse_sweep(text: str, source: str) -> SweepSpec:
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise SweepFileError(source, "", f"is larger than {MAX_BYTES} bytes; a sweep file is a page of settings")
    try:
        data = load_yaml(text)
    except (TooLarge, DuplicateKey) as e:
        raise SweepFileError(source, "", str(e)) from None
    except BadNumber as e:
        raise SweepFileError(source, e.path, f"{e}; give a finite number in range") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SweepFileError(source, "", f"not valid YAML{where}: {problem}") from None
    if data is None:
        raise SweepFileError(source, "", "is empty")
    return _sweep(data, source)


def _sweep(data, source: str) -> SweepSpec:
    f = validate(data, source)
    problem = segment_problem(f.name)
    if problem:
        raise SweepFileError(source, "name", f"{problem} (it names the results folder), got {f.name!r}")
    search = f.search
    objectives = _objectives(f.objectives, source)
    metric = f.metric or (objectives[0][0] if objectives else "val_accuracy")
    if objectives and metric != objectives[0][0]:
        raise SweepFileError(source, "objectives", f"the first objective is the metric ASHA stops by and the "
                             f"leaderboard ranks by; it must be metric ({metric}), got {objectives[0][0]}")
    mode = f.mode or SELECTABLE[metric]
    if mode != SELECTABLE[metric]:
        raise SweepFileError(source, "mode", f"{metric} is better {'higher' if SELECTABLE[metric] == 'max' else 'lower'}"
                             f": mode {mode} would rank its worst trials first; leave mode out (it follows the metric)")
    if objectives and mode != objectives[0][1]:
        objectives = ((metric, mode), *objectives[1:])
    if objectives and search != "tpe":
        raise SweepFileError(source, "objectives", f"a multi-objective search needs search: tpe (search: {search} "
                             "draws the same configurations whatever the objectives; every report shows the "
                             "Pareto fronts anyway)")
    if search == "tpe":
        import importlib.util

        if importlib.util.find_spec("optuna") is None:
            raise SweepFileError(source, "search", f"tpe needs Optuna, which is not installed: {TPE_EXTRA}")
    families = _families(f.families, search, source)
    population = population_spec(f.scheduler, source, families, search)
    if population is not None:
        families = _population_members(f, families, source, search)
        families = seeded_spaces(families, population, f.scheduler.population)
    scheduler = SchedulerSpec(**{k: v for k, v in f.scheduler.model_dump().items() if k in _SCHEDULER_FIELDS},
                              population=population)
    asha_only = sorted(set(f.scheduler.model_fields_set) & {"grace_period", "reduction_factor", "brackets"})
    if scheduler.kind != "asha" and asha_only:
        raise SweepFileError(source, f"scheduler.{asha_only[0]}", f"only ASHA stops trials early; kind "
                             f"{scheduler.kind} trains every trial to max_epochs and would ignore it (remove it, "
                             "or say kind: asha)")
    if scheduler.grace_period > scheduler.max_epochs:
        raise SweepFileError(source, "scheduler.grace_period",
                             f"must be <= max_epochs ({scheduler.max_epochs}), got {scheduler.grace_period}")
    spec = SweepSpec(
        name=f.name,
        source=source,
        description=f.description,
        dataset=dataset_spec(f.dataset, f.seed, source),
        families=families,
        metric=metric,
        mode=mode,
        search=search,
        scheduler=scheduler,
        resources=_resources(f.resources, source, "resources"),
        max_params=f.max_params,
        seed=f.seed,
        max_concurrent=f.max_concurrent,
        time_budget_s=f.time_budget_s,
        max_failures=f.max_failures,
        objectives=objectives,
        tracking=tracking_spec(f.tracking, f.name, source),
        repeat_top_k=f.repeat.top_k if f.repeat else 0,
        repeat_seeds=f.repeat.seeds if f.repeat else 0,
        decide=DecideSpec(**f.decide.model_dump()) if f.decide is not None else None,
    )
    counts = {fam.label: fam.trial_count(search) for fam in spec.families}
    if sum(counts.values()) > MAX_TRIALS:
        each = ", ".join(f"{label} {n:,d}" for label, n in counts.items())
        raise SweepFileError(source, "families", f"expand to {sum(counts.values()):,d} trials ({each}), more than "
                             f"{MAX_TRIALS:,d}; lower num_samples or the number of grid values")
    return spec


_SCHEDULER_FIELDS = ("kind", "max_epochs", "grace_period", "reduction_factor", "brackets", "idle_cores")


def _population_members(f, families, source: str, search: str):
    """``scheduler.population`` sets every family's members; a family's own num_samples
    that says otherwise is refused, as is a population of one."""
    members = f.scheduler.population
    for fam, (label, entry) in zip(families, f.families.items()):
        if members is not None and "num_samples" in entry.model_fields_set and entry.num_samples != members:
            raise SweepFileError(source, f"families.{label}.num_samples", f"{entry.num_samples} members, but "
                                 f"scheduler.population says {members}; give one of them")
        count = members if members is not None else fam.trial_count(search)
        if f.max_concurrent is not None and f.max_concurrent < count:
            raise SweepFileError(source, "max_concurrent", f"{f.max_concurrent} trials at a time, but the population "
                                 f"of {label} has {count} members, which must all exist to step together; "
                                 "remove max_concurrent (the cores decide how many train at once)")
        if count < 2:
            raise SweepFileError(source, f"families.{label}.num_samples", f"a population needs at least 2 "
                                 f"members to copy from, got {count} (set scheduler.population)")
    return families


def _objectives(raw, source: str) -> tuple[tuple[str, str], ...]:
    """``objectives:``: two or more of the validation metrics and ``params``, the metric first."""
    if raw is None:
        return ()
    known = {**SELECTABLE, OBJECTIVE_PARAMS: "min"}
    if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(v, str) for v in raw):
        raise SweepFileError(source, "objectives", f"must be a list of two or more of {', '.join(known)}, "
                             "e.g. [val_accuracy, params]")
    for name in raw:
        if name not in known:
            raise SweepFileError(source, "objectives", f"unknown objective {name!r} (known: {', '.join(known)})")
    if len(set(raw)) != len(raw):
        raise SweepFileError(source, "objectives", f"names an objective twice: {raw}")
    if raw[0] == OBJECTIVE_PARAMS:
        raise SweepFileError(source, "objectives",
                             "the first objective must be a validation metric (ASHA stops trials by it)")
    return tuple((name, known[name]) for name in raw)


def _families(blocks: dict, search: str, source: str) -> tuple[FamilySweep, ...]:
    from trainables.families import family_names, get_family

    if not blocks:
        raise SweepFileError(source, "families", "needs at least one model family")
    out = []
    for label, entry in blocks.items():
        where = f"families.{label}"
        family_name = entry.family or label
        if family_name not in family_names():
            raise SweepFileError(source, f"{where}.family" if entry.family else where,
                                 f"unknown model family '{family_name}' (known: {', '.join(family_names())})")
        family = get_family(family_name)
        resources = _resources(entry.resources, source, f"{where}.resources") if entry.resources else None
        if search == "ablation":
            out.append(_ablation_family(entry, label, family, resources, source))
            continue
        for key in ABLATION_KEYS:
            if getattr(entry, key) is not None:
                raise SweepFileError(source, f"{where}.{key}", _unknown(ABLATION_KEYS))
        space = {key: _param(source, f"{where}.params", key, raw, family, search) for key, raw in entry.params.items()}
        out.append(FamilySweep(label, family_name, entry.num_samples, space, resources))
    return tuple(out)


ABLATION_KEYS = ("baseline", "factors", "baseline_repeats")   # a family's keys under search: ablation only


def _unknown(left_out: tuple[str, ...]) -> str:
    """The schema's unknown-key message for a family entry, without the keys of the other search."""
    from orchestrator.spec.schema import FamilyBlock

    allowed = sorted(k for k in FamilyBlock.model_fields if k not in left_out)
    return f"unknown key (allowed here: {', '.join(allowed)})"


def _ablation_family(entry, label: str, family, resources, source: str) -> FamilySweep:
    """``baseline:`` constants, ``factors:`` the values to try, one factor at a time."""
    where = f"families.{label}"
    if entry.baseline is None:
        raise SweepFileError(source, f"{where}.baseline", "is required")
    if entry.factors is None:
        raise SweepFileError(source, f"{where}.factors", "is required")
    if entry.params:
        raise SweepFileError(source, f"{where}.params", _unknown(("params",)))
    baseline = {}
    for key, raw in entry.baseline.items():
        space = _param(source, f"{where}.baseline", key, raw, family, "grid")
        if not isinstance(space, Constant):
            raise SweepFileError(source, f"{where}.baseline.{key}", "a baseline value is a constant, not a search space")
        baseline[key] = space.value
    defaults = family.defaults()
    factors: dict[str, tuple] = {}
    for key, values in entry.factors.items():
        at = f"{where}.factors.{key}"
        if not isinstance(values, list) or not values:
            raise SweepFileError(source, at, "must be a non-empty list of values to try instead of the baseline's")
        spec = family.param(key)
        if spec is None:
            known = ", ".join(p.name for p in family.all_params)
            raise SweepFileError(source, at, f"not a parameter of family '{family.name}' (known: {known})")
        base = baseline.get(key, defaults[key])
        for value in values:
            problem = spec.check(value)
            if problem:
                raise SweepFileError(source, at, problem)
            if value == base:
                raise SweepFileError(source, at, f"{value!r} is the baseline's value; list only the alternatives")
        factors[key] = tuple(values)
    if not factors:
        raise SweepFileError(source, f"{where}.factors", "needs at least one factor")
    repeats = entry.baseline_repeats or max(3, entry.num_samples)
    return FamilySweep(label, family.name, entry.num_samples, {k: Constant(v) for k, v in baseline.items()},
                       resources, baseline=baseline, factors=factors, baseline_repeats=repeats)


def _param(source: str, where: str, key: str, raw, family, search: str) -> Space:
    at = f"{where}.{key}"
    spec = family.param(key)
    if spec is None:
        known = ", ".join(p.name for p in family.all_params)
        raise SweepFileError(source, at, f"not a parameter of family '{family.name}' (known: {known})")
    try:
        space = parse_space(raw)
    except ValueError as e:
        raise SweepFileError(source, at, str(e)) from None
    if search == "grid" and not isinstance(space, (Constant, Choice, Grid)):
        raise SweepFileError(source, at, "search: grid needs constants, choice or grid values")
    if search == "tpe" and isinstance(space, Grid):
        raise SweepFileError(source, at, "search: tpe samples every value; use choice instead of grid")
    if isinstance(space, RandInt) and spec.kind != "int":
        raise SweepFileError(source, at, f"randint is for integer parameters; '{key}' is {spec.kind}")
    if isinstance(space, (Uniform, LogUniform)) and spec.kind != "float":
        raise SweepFileError(source, at, f"{type(space).__name__.lower()} is for float parameters; '{key}' is "
                             f"{spec.kind}")
    for value in values_to_check(space):
        problem = spec.check(value)
        if problem:
            raise SweepFileError(source, at, problem)
    return space


def _resources(block, source: str, where: str) -> Resources:
    spec = Resources(cpus=block.cpus, gpus=block.gpus)
    if spec.gpus > 1 and spec.gpus != int(spec.gpus):
        raise SweepFileError(source, f"{where}.gpus", f"fractional GPUs must be <= 1, got {spec.gpus}")
    return spec


def with_overrides(spec: SweepSpec, num_samples: int | None = None, max_epochs: int | None = None,
                   tensorboard: bool | None = None, mlflow_uri: str | None = None,
                   mlflow_experiment: str | None = None, decide: bool | None = None) -> SweepSpec:
    """Apply the CLI's ``--num-samples`` / ``--max-epochs`` / tracking / ``--decide`` flags
    and re-check the rules they touch (``--decide`` keeps a sweep file's own ``decide:``)."""
    from orchestrator.spec.arguments import whole

    if num_samples is not None:
        num_samples = whole(num_samples, "num_samples", 1, MAX_TRIALS)
    if max_epochs is not None:
        max_epochs = whole(max_epochs, "max_epochs", 1, MAX_EPOCHS)
    if decide and spec.decide is None:
        spec = dataclasses.replace(spec, decide=DecideSpec())
    if tensorboard or mlflow_uri or mlflow_experiment:
        old = spec.tracking.mlflow
        uri = mlflow_uri or (old.tracking_uri if old else None)
        if mlflow_experiment and not uri:
            raise SweepFileError(spec.source, "tracking.mlflow", "--mlflow-experiment needs --mlflow-uri "
                                 "(or tracking.mlflow.tracking_uri in the sweep file)")
        mlflow = MlflowSpec(uri, mlflow_experiment or (old.experiment if old else spec.name),
                            old.log_checkpoint if old else False) if uri else None
        spec = dataclasses.replace(spec, tracking=TrackingSpec(bool(tensorboard) or spec.tracking.tensorboard, mlflow))
    if num_samples is not None:
        spec = dataclasses.replace(spec, families=tuple(
            dataclasses.replace(f, num_samples=num_samples) for f in spec.families))
    population = spec.scheduler.population
    if population is not None and max_epochs is not None and max_epochs <= population.perturbation_interval:
        raise SweepFileError(spec.source, "scheduler.perturbation_interval", f"--max-epochs {max_epochs} leaves "
                             f"no room for a perturbation every {population.perturbation_interval} epochs")
    if population is not None and num_samples is not None and num_samples < 2:
        raise SweepFileError(spec.source, "scheduler.population", "--num-samples 1 is a population of one, "
                             "with nobody to copy from")
    if max_epochs is not None:
        sched = dataclasses.replace(spec.scheduler, max_epochs=max_epochs,
                                    grace_period=min(spec.scheduler.grace_period, max_epochs))
        spec = dataclasses.replace(spec, scheduler=sched)
    total = sum(f.trial_count(spec.search) for f in spec.families)
    if total > MAX_TRIALS:
        raise SweepFileError(spec.source, "families", f"with --num-samples {num_samples} the sweep expands to "
                             f"{total:,d} trials, more than {MAX_TRIALS:,d}")
    return spec


def dump_spec(spec: SweepSpec) -> dict[str, Any]:
    """A plain-data view of the spec (for run metadata)."""
    return dataclasses.asdict(spec)
