"""The sweep file's population block (scheduler kind pbt / pb2): what it accepts, and the
one line it refuses each odd input with."""
from __future__ import annotations

import pytest

from orchestrator.spec.population import Mutation
from orchestrator.spec.spaces import Choice, LogUniform, Uniform
from orchestrator.spec.sweep import parse_sweep, with_overrides
from trainables.contract.errors import SweepFileError

TEXT = """
name: pop
dataset: {name: fashion_mnist, train_size: 600, val_size: 200}
families:
  cnn:
    num_samples: 4
    params:
      blocks: 1
      filters: {choice: [4, 8]}
scheduler:
  kind: pbt
  max_epochs: 6
  perturbation_interval: 2
  mutate:
    lr: {loguniform: [1.0e-4, 1.0e-2]}
    dropout: {uniform: [0.0, 0.5]}
"""


def test_a_population_sweep_is_read_with_its_mutations_and_their_ranges_as_the_start():
    spec = parse_sweep(TEXT, "pop.yaml")
    population = spec.scheduler.population
    assert population.kind == "pbt" and population.perturbation_interval == 2 and population.quantile == 0.25
    assert [m.name for m in population.mutations] == ["lr", "dropout"]
    space = spec.families[0].space
    assert space["lr"] == LogUniform(1e-4, 1e-2) and space["dropout"] == Uniform(0.0, 0.5)   # members start inside
    lines = population.describe(6, {"cnn": 4})
    assert "4 members" in lines[0] and "every 2 epoch(s) (2 steps)" in lines[0]
    assert "lr in [0.0001, 0.01]" in lines[1]


def test_population_sets_the_members_and_pb2_takes_continuous_ranges():
    spec = parse_sweep(TEXT.replace("    num_samples: 4\n", "").replace("  perturbation_interval: 2",
                                                                       "  perturbation_interval: 2\n  population: 6")
                       .replace("kind: pbt", "kind: pb2"), "pop.yaml")
    assert spec.families[0].num_samples == 6 and spec.scheduler.population.kind == "pb2"


def test_asha_and_fifo_sweeps_have_no_population():
    text = TEXT.replace("  perturbation_interval: 2\n", "").split("  mutate:")[0].replace("kind: pbt", "kind: asha")
    assert parse_sweep(text, "x.yaml").scheduler.population is None


@pytest.mark.parametrize("change, where, words", [
    (("dropout: {uniform", "filters: {uniform"), "scheduler.mutate.filters", "changes the model's weights"),
    (("dropout: {uniform: [0.0, 0.5]}", "dropout: {uniform: [0.0, 1.5]}"), "scheduler.mutate.dropout", "<= 0.95"),
    (("dropout: {uniform: [0.0, 0.5]}", "units: {uniform: [0.0, 0.5]}"), "scheduler.mutate.units",
     "not a parameter of family 'cnn'"),
    (("dropout: {uniform: [0.0, 0.5]}", "dropout: 0.3"), "scheduler.mutate.dropout", "a range to move in"),
    (("kind: pbt", "kind: asha"), "scheduler.mutate", "only population-based training"),
    (("kind: pbt", "kind: pb2\n  resample_probability: 0.5"), "scheduler.resample_probability", "never resamples"),
    (("perturbation_interval: 2", "perturbation_interval: 6"), "scheduler.perturbation_interval", "below max_epochs"),
    (("num_samples: 4", "num_samples: 1"), "families.cnn.num_samples", "at least 2 members"),
    (("name: pop", "name: pop\nsearch: tpe"), "search", "use random or grid"),
    (("  kind: pbt", "  kind: pbt\n  idle_cores: leave"), "scheduler.idle_cores", "pauses and restarts"),
    (("  perturbation_interval: 2", "  perturbation_interval: 2\n  population: 3"), "families.cnn.num_samples",
     "scheduler.population says 3"),
    (("      blocks: 1", "      blocks: 1\n      dropout: 0.7"), "families.cnn.params.dropout", "outside"),
    (("name: pop", "name: pop\nmax_concurrent: 2"), "max_concurrent", "must all exist to step together"),
    (("    dropout: {uniform: [0.0, 0.5]}", "    aug_zoom: {choice: [0.0, 0.1]}\nsearch: grid"),
     "families.cnn.params", "grid axis"),
])
def test_odd_population_blocks_are_refused_in_one_line_naming_the_key(change, where, words):
    with pytest.raises(SweepFileError) as e:
        parse_sweep(TEXT.replace(*change), "pop.yaml")
    message = str(e.value)
    assert message.startswith(f"pop.yaml: {where}: ") and words in message and "\n" not in message


def test_pb2_refuses_a_choice():
    text = TEXT.replace("kind: pbt", "kind: pb2").replace("lr: {loguniform: [1.0e-4, 1.0e-2]}",
                                                          "lr: {choice: [0.001, 0.01]}")
    with pytest.raises(SweepFileError, match="pb2 models continuous ranges"):
        parse_sweep(text, "pop.yaml")


def test_the_command_line_cannot_leave_no_room_for_a_step_or_a_population_of_one():
    spec = parse_sweep(TEXT, "pop.yaml")
    with pytest.raises(SweepFileError, match="no room for a perturbation"):
        with_overrides(spec, max_epochs=2)
    with pytest.raises(SweepFileError, match="population of one"):
        with_overrides(spec, num_samples=1)
    assert with_overrides(spec, max_epochs=3).scheduler.max_epochs == 3


def test_a_mutated_value_is_kept_inside_its_range():
    assert Mutation("dropout", Uniform(0.0, 0.5)).clip(0.6) == 0.5
    assert Mutation("lr", LogUniform(1e-4, 1e-2)).clip(2e-5) == 1e-4
    assert Mutation("lr", LogUniform(1e-4, 1e-2)).clip(3e-3) == 3e-3
    assert Mutation("aug_rotation", Choice((0.0, 0.1))).clip(0.1) == 0.1
