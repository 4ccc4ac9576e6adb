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

from trainables.contract.errors import SweepFileError
from orchestrator.spec.tracking import MlflowSpec, TrackingSpec, tracking_spec
from trainables.contract.metrics import SELECTABLE
from orchestrator.spec.dataset import dataset_spec
from orchestrator.spec.names import segment_problem
from orchestrator.spec.reader import Node
from orchestrator.spec.yaml_loader import MAX_BYTES, BadNumber, DuplicateKey, TooLarge, load_yaml
from orchestrator.spec.spaces import (Choice, Constant, Grid, LogUniform, RandInt, Space, Uniform, parse_space,
                                 values_to_check)
from trainables.datasets.base import DataSpec

OBJECTIVE_PARAMS = "params"     # the model's parameter count (every epoch report carries it)

SEARCHERS = ("random", "grid", "tpe", "ablation")
TPE_EXTRA = "pip install 'tunefm[tpe]' (or: pip install optuna)"
SCHEDULERS = ("asha", "fifo")
MAX_TRIALS = 100_000   # a sweep file that expands to more is a grid typo (and would hang to expand)
MAX_EPOCHS = 10_000


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
    return _sweep(Node(source, "", data))


def _sweep(root: Node) -> SweepSpec:
    name = root.take_str("name")
    problem = segment_problem(name)
    if problem:
        raise root.error(f"{problem} (it names the results folder), got {name!r}", "name")
    seed = root.take_int("seed", 0, minimum=0, maximum=2**32 - 1)
    search = root.take_str("search", "random", choices=SEARCHERS)
    objectives = _objectives(root)
    metric = root.take_str("metric", objectives[0][0] if objectives else "val_accuracy", choices=tuple(SELECTABLE))
    if objectives and metric != objectives[0][0]:
        raise root.error(f"the first objective is the metric ASHA stops by and the leaderboard ranks by; "
                         f"it must be metric ({metric}), got {objectives[0][0]}", "objectives")
    mode = root.take_str("mode", SELECTABLE[metric], choices=("max", "min"))
    if objectives and mode != objectives[0][1]:
        objectives = ((metric, mode), *objectives[1:])
    if objectives and search != "tpe":
        raise root.error(f"a multi-objective search needs search: tpe (search: {search} draws the same "
                         "configurations whatever the objectives; every report shows the Pareto fronts anyway)",
                         "objectives")
    if search == "tpe":
        import importlib.util

        if importlib.util.find_spec("optuna") is None:
            raise root.error(f"tpe needs Optuna, which is not installed: {TPE_EXTRA}", "search")
    spec = SweepSpec(
        name=name,
        source=root.source,
        description=root.take_str("description", ""),
        dataset=dataset_spec(root.node("dataset"), seed),
        families=_families(root.node("families"), search),
        metric=metric,
        mode=mode,
        search=search,
        scheduler=_scheduler(root.node("scheduler", {})),
        resources=_resources(root.node("resources", {})),
        max_params=root.take_int("max_params", None, minimum=1),
        seed=seed,
        max_concurrent=root.take_int("max_concurrent", None, minimum=1),
        time_budget_s=root.take_float("time_budget_s", None, low=0, low_open=True),
        max_failures=root.take_int("max_failures", 0, minimum=0),
        objectives=objectives,
        tracking=tracking_spec(root, name),
    )
    counts = {f.label: f.trial_count(search) for f in spec.families}
    if sum(counts.values()) > MAX_TRIALS:
        each = ", ".join(f"{label} {n:,d}" for label, n in counts.items())
        raise root.error(f"expand to {sum(counts.values()):,d} trials ({each}), more than {MAX_TRIALS:,d}; "
                         "lower num_samples or the number of grid values", "families")
    if root.has("repeat"):
        node = root.node("repeat")
        spec = dataclasses.replace(spec, repeat_top_k=node.take_int("top_k", 3, minimum=1),
                                   repeat_seeds=node.take_int("seeds", 3, minimum=1))
        node.done()
    root.done()
    return spec


def _objectives(root: Node) -> tuple[tuple[str, str], ...]:
    """``objectives:``: two or more of the validation metrics and ``params``, the metric first."""
    raw = root.raw("objectives", None)
    if raw is None:
        return ()
    known = {**SELECTABLE, OBJECTIVE_PARAMS: "min"}
    if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(v, str) for v in raw):
        raise root.error(f"must be a list of two or more of {', '.join(known)}, e.g. [val_accuracy, params]",
                         "objectives")
    for name in raw:
        if name not in known:
            raise root.error(f"unknown objective {name!r} (known: {', '.join(known)})", "objectives")
    if len(set(raw)) != len(raw):
        raise root.error(f"names an objective twice: {raw}", "objectives")
    if raw[0] == OBJECTIVE_PARAMS:
        raise root.error("the first objective must be a validation metric (ASHA stops trials by it)", "objectives")
    return tuple((name, known[name]) for name in raw)


def _families(node: Node, search: str) -> tuple[FamilySweep, ...]:
    from trainables.families import family_names, get_family

    labels = node.keys()
    if not labels:
        raise node.error("needs at least one model family")
    out = []
    for label in labels:
        entry = node.node(label)
        family_name = entry.take_str("family", label)
        if family_name not in family_names():
            raise entry.error(f"unknown model family '{family_name}' (known: {', '.join(family_names())})",
                              "family" if entry.has("family") else None)
        family = get_family(family_name)
        num_samples = entry.take_int("num_samples", 1, minimum=1)
        resources = _resources(entry.node("resources")) if entry.has("resources") else None
        if search == "ablation":
            out.append(_ablation_family(entry, label, family, num_samples, resources))
            entry.done()
            continue
        params = entry.node("params", {})
        space: dict[str, Space] = {}
        for key in params.keys():
            space[key] = _param(params, key, family, search)
        params.done()
        entry.done()
        out.append(FamilySweep(label, family_name, num_samples, space, resources))
    return tuple(out)


def _ablation_family(entry: Node, label: str, family, num_samples: int, resources) -> FamilySweep:
    """``baseline:`` constants, ``factors:`` the values to try, one factor at a time."""
    baseline_node, factors_node = entry.node("baseline"), entry.node("factors")
    baseline = {}
    for key in baseline_node.keys():
        space = _param(baseline_node, key, family, "grid")
        if not isinstance(space, Constant):
            raise baseline_node.error("a baseline value is a constant, not a search space", key)
        baseline[key] = space.value
    baseline_node.done()
    defaults = family.defaults()
    factors: dict[str, tuple] = {}
    for key in factors_node.keys():
        values = factors_node.raw(key)
        if not isinstance(values, list) or not values:
            raise factors_node.error("must be a non-empty list of values to try instead of the baseline's", key)
        spec = family.param(key)
        if spec is None:
            known = ", ".join(p.name for p in family.all_params)
            raise factors_node.error(f"not a parameter of family '{family.name}' (known: {known})", key)
        base = baseline.get(key, defaults[key])
        for value in values:
            problem = spec.check(value)
            if problem:
                raise factors_node.error(problem, key)
            if value == base:
                raise factors_node.error(f"{value!r} is the baseline's value; list only the alternatives", key)
        factors[key] = tuple(values)
    factors_node.done()
    if not factors:
        raise factors_node.error("needs at least one factor")
    repeats = entry.take_int("baseline_repeats", max(3, num_samples), minimum=1)
    return FamilySweep(label, family.name, num_samples, {k: Constant(v) for k, v in baseline.items()}, resources,
                       baseline=baseline, factors=factors, baseline_repeats=repeats)


def _param(params: Node, key: str, family, search: str) -> Space:
    spec = family.param(key)
    if spec is None:
        known = ", ".join(p.name for p in family.all_params)
        raise params.error(f"not a parameter of family '{family.name}' (known: {known})", key)
    try:
        space = parse_space(params.raw(key))
    except ValueError as e:
        raise params.error(str(e), key) from None
    if search == "grid" and not isinstance(space, (Constant, Choice, Grid)):
        raise params.error("search: grid needs constants, choice or grid values", key)
    if search == "tpe" and isinstance(space, Grid):
        raise params.error("search: tpe samples every value; use choice instead of grid", key)
    if isinstance(space, RandInt) and spec.kind != "int":
        raise params.error(f"randint is for integer parameters; '{key}' is {spec.kind}", key)
    if isinstance(space, (Uniform, LogUniform)) and spec.kind != "float":
        raise params.error(f"{type(space).__name__.lower()} is for float parameters; '{key}' is {spec.kind}", key)
    for value in values_to_check(space):
        problem = spec.check(value)
        if problem:
            raise params.error(problem, key)
    return space


def _scheduler(node: Node) -> SchedulerSpec:
    spec = SchedulerSpec(
        kind=node.take_str("kind", "asha", choices=SCHEDULERS),
        max_epochs=node.take_int("max_epochs", 10, minimum=1, maximum=MAX_EPOCHS),
        grace_period=node.take_int("grace_period", 1, minimum=1),
        reduction_factor=node.take_float("reduction_factor", 3.0, low=1, low_open=True),
        brackets=node.take_int("brackets", 1, minimum=1),
    )
    if spec.grace_period > spec.max_epochs:
        raise node.error(f"must be <= max_epochs ({spec.max_epochs}), got {spec.grace_period}", "grace_period")
    node.done()
    return spec


def _resources(node: Node) -> Resources:
    spec = Resources(cpus=node.take_float("cpus", 1.0, low=0, low_open=True),
                     gpus=node.take_float("gpus", 0.0, low=0))
    if spec.gpus > 1 and spec.gpus != int(spec.gpus):
        raise node.error(f"fractional GPUs must be <= 1, got {spec.gpus}", "gpus")
    node.done()
    return spec


def with_overrides(spec: SweepSpec, num_samples: int | None = None, max_epochs: int | None = None,
                   tensorboard: bool | None = None, mlflow_uri: str | None = None,
                   mlflow_experiment: str | None = None) -> SweepSpec:
    """Apply the CLI's ``--num-samples`` / ``--max-epochs`` / tracking flags and re-check
    the rules they touch."""
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
