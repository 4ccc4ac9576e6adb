"""Sweep file parsing: the good path, and one asserted message per rule."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from trainables.contract.errors import SweepFileError
from orchestrator.spec.spaces import Choice, Constant, Grid, LogUniform, RandInt, Uniform
from orchestrator.spec.sweep import load_sweep, parse_sweep, with_overrides

GOOD = """
name: demo
dataset: {name: fashion_mnist, train_size: 1000, val_size: 200}
metric: val_loss
families:
  dense:
    num_samples: 3
    params:
      lr: {loguniform: [1e-4, 1e-2]}
      layers: {randint: [1, 3]}
      dropout: {uniform: [0.0, 0.5]}
      activation: {choice: [relu, tanh]}
      batch_size: {grid: [64, 128]}
      units: 64
  small_cnn:
    family: cnn
    params: {filters: 8}
scheduler: {kind: asha, max_epochs: 4, grace_period: 2, reduction_factor: 2, brackets: 1}
resources: {cpus: 1, gpus: 0.25}
max_params: 100000
max_concurrent: 2
time_budget_s: 60
max_failures: 1
"""


def parse(text: str):
    return parse_sweep(textwrap.dedent(text), "s.yaml")


def test_good_file_becomes_typed_data():
    spec = parse(GOOD)
    assert spec.name == "demo" and spec.metric == "val_loss" and spec.mode == "min"
    dense = spec.family("dense")
    assert dense.num_samples == 3
    assert dense.space == {
        "lr": LogUniform(1e-4, 1e-2), "layers": RandInt(1, 3), "dropout": Uniform(0.0, 0.5),
        "activation": Choice(("relu", "tanh")), "batch_size": Grid((64, 128)), "units": Constant(64)}
    cnn = spec.family("small_cnn")
    assert cnn.family == "cnn" and cnn.num_samples == 1
    assert spec.scheduler.grace_period == 2 and spec.resources.gpus == 0.25
    assert spec.dataset.train_size == 1000 and spec.max_params == 100000


def test_exponent_floats_are_numbers():
    spec = parse(GOOD)
    assert isinstance(spec.family("dense").space["lr"].low, float)


def test_overrides_apply_and_keep_grace_valid():
    spec = with_overrides(parse(GOOD), num_samples=5, max_epochs=1)
    assert all(f.num_samples == 5 for f in spec.families)
    assert spec.scheduler.max_epochs == 1 and spec.scheduler.grace_period == 1


BASE = "name: x\ndataset: {name: fashion_mnist}\nfamilies:\n  dense: {params: {PARAM}}\n"


@pytest.mark.parametrize("params, message", [
    ("{lr: {loguniform: [0, 0.1]}}",
     "s.yaml: families.dense.params.lr: loguniform needs 0 < low < high, got low=0, high=0.1"),
    ("{dropout: {uniform: [0.5, 0.1]}}",
     "s.yaml: families.dense.params.dropout: uniform needs low <= high, got low=0.5, high=0.1"),
    ("{layers: {randint: [1.5, 3]}}",
     "s.yaml: families.dense.params.layers: randint needs integers low <= high, got low=1.5, high=3"),
    ("{lr: {logunifrom: [1, 2]}}",
     "s.yaml: families.dense.params.lr: unknown search-space type 'logunifrom' (known: choice, grid, uniform, "
     "loguniform, randint)"),
    ("{lr: {choice: []}}", "s.yaml: families.dense.params.lr: choice needs a non-empty list, got a list"),
    ("{lr: fast}", "s.yaml: families.dense.params.lr: must be float, got 'fast'"),
    ("{dropout: 1.5}", "s.yaml: families.dense.params.dropout: must be <= 0.95, got 1.5"),
    ("{activation: {choice: [relu, swishy]}}", "s.yaml: families.dense.params.activation: must be one of"),
    ("{blocks: 2}", "s.yaml: families.dense.params.blocks: not a parameter of family 'dense' (known: layers,"),
    ("{dropout: {randint: [0, 1]}}",
     "s.yaml: families.dense.params.dropout: randint is for integer parameters; 'dropout' is float"),
    ("{layers: {uniform: [1, 3]}}",
     "s.yaml: families.dense.params.layers: uniform is for float parameters; 'layers' is int"),
    ("{batch_norm: 1}", "s.yaml: families.dense.params.batch_norm: must be bool, got 1"),
])
def test_parameter_errors_name_file_key_and_rule(params, message):
    with pytest.raises(SweepFileError) as err:
        parse(BASE.replace("{PARAM}", params))
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("text, message", [
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nshedule: {}\n",
     "s.yaml: shedule: unknown key (allowed here:"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {resnet9: {}}\n",
     "s.yaml: families.resnet9: unknown model family 'resnet9' (known: cnn, dense, transfer)"),
    ("name: x\ndataset: {name: cifar100}\nfamilies: {dense: {}}\n",
     "s.yaml: dataset.name: must be one of fashion_mnist, folder, mnist; got 'cifar100'"),
    ("name: x\ndataset: {name: folder}\nfamilies: {dense: {}}\n",
     "s.yaml: dataset.data_dir: is required for dataset 'folder'"),
    ("name: x\ndataset: {name: fashion_mnist, val_fraction: 0}\nfamilies: {dense: {}}\n",
     "s.yaml: dataset.val_fraction: must be > 0, got 0"),
    ("dataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n", "s.yaml: name: is required"),
    ("name: a/b\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n", "s.yaml: name: must be one folder name: no '/'"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {}\n", "s.yaml: families: needs at least one model family"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {num_samples: 0}}\n",
     "s.yaml: families.dense.num_samples: must be >= 1, got 0"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nmetric: test_accuracy\n",
     "s.yaml: metric: must be one of val_accuracy, val_loss, val_macro_f1, val_auc; got 'test_accuracy'"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nscheduler: {max_epochs: 3, grace_period: 5}\n",
     "s.yaml: scheduler.grace_period: must be <= max_epochs (3), got 5"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nscheduler: {kind: hyperband}\n",
     "s.yaml: scheduler.kind: must be one of asha, fifo, pbt, pb2; got 'hyperband'"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nscheduler: {reduction_factor: 1}\n",
     "s.yaml: scheduler.reduction_factor: must be > 1, got 1"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nresources: {gpus: 1.5}\n",
     "s.yaml: resources.gpus: fractional GPUs must be <= 1, got 1.5"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nmax_params: many\n",
     "s.yaml: max_params: must be an integer, got a string"),
    ("name: x\ndataset: {name: fashion_mnist}\nsearch: grid\nfamilies: {dense: {params: {lr: {uniform: [0.1, 0.2]}}}}\n",
     "s.yaml: families.dense.params.lr: search: grid needs constants, choice or grid values"),
    ("name: x\ndataset: [fashion_mnist]\nfamilies: {dense: {}}\n", "s.yaml: dataset: must be a mapping, got a list"),
    ("- just\n- a list\n", "s.yaml: must be a mapping, got a list"),
    ("", "s.yaml: is empty"),
    ("name: [unclosed\n", "s.yaml: not valid YAML at line"),
    # duplicate keys at every level, named with both lines
    ("name: x\nmetric: val_loss\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nmetric: val_accuracy\n",
     "s.yaml: line 5: key 'metric' appears twice in one mapping (first on line 2); keep one"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies:\n  dense: {num_samples: 2}\n  dense: {num_samples: 3}\n",
     "s.yaml: line 5: key 'dense' appears twice in one mapping (first on line 4)"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies:\n  dense:\n    params:\n      lr: 0.1\n      lr: 0.2\n",
     "s.yaml: line 7: key 'lr' appears twice in one mapping (first on line 6)"),
    # numbers no setting can mean
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {params: {lr: .nan}}}\n",
     "s.yaml: families.dense.params.lr: nan is not a finite number"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {params: {lr: 1e400}}}\n",
     "s.yaml: families.dense.params.lr: inf is not a finite number"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {params: {dropout: -.inf}}}\n",
     "s.yaml: families.dense.params.dropout: -inf is not a finite number"),
    ("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {params: {lr: {choice: [.nan, 0.001]}}}}\n",
     "s.yaml: families.dense.params.lr.choice[0]: nan is not a finite number"),
    ("name: x\nseed: 1180591620717411303424\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n",
     "s.yaml: seed: 1180591620717411303424 is an integer beyond 2**53"),
    ("name: x\nseed: 4294967296\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n",
     "s.yaml: seed: must be <= 4294967295, got 4294967296"),
    ("name: x\ndataset: {name: folder, data_dir: d, image_size: [100000, 100000]}\nfamilies: {dense: {}}\n",
     "s.yaml: dataset.image_size: must be a positive integer or [height, width], each at most 1024"),
    ("name: \"a\\x00b\"\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n",
     "s.yaml: name: must be printable characters only"),
    ("name: ..\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n", "s.yaml: name: must be one folder name"),
    # a grid is counted, not expanded
    ("name: x\ndataset: {name: fashion_mnist}\nsearch: grid\nfamilies:\n  dense:\n    num_samples: 3\n"
     "    params: {units: {grid: [%s]}, lr: {grid: [%s]}, layers: {choice: [1, 2, 3]}}\n"
     % (", ".join(str(i) for i in range(1, 1001)), ", ".join(f"0.{i:04d}" for i in range(1, 1001))),
     "s.yaml: families: expand to 9,000,000 trials (dense 9,000,000), more than 100,000"),
])
def test_file_errors_name_file_key_and_rule(text, message):
    """Each error names the file, the key path and the rule, in one line."""
    with pytest.raises(SweepFileError) as err:
        parse(text)
    assert str(err.value).startswith(message), str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SweepFileError, match=r"nope.yaml: no such file"):
        load_sweep(tmp_path / "nope.yaml")


def test_python_object_tags_are_refused():
    with pytest.raises(SweepFileError, match="not valid YAML"):
        parse("name: !!python/object/apply:os.system ['echo hi']\n")


def test_oversized_file_is_refused():
    with pytest.raises(SweepFileError, match="is larger than"):
        parse("name: x\n" + "# padding\n" * 200_000)


def test_shipped_sweeps_are_valid():
    from pathlib import Path

    files = sorted(Path(__file__).parents[2].joinpath("sweeps").glob("*.yaml"))
    assert {f.name for f in files} >= {"quick.yaml", "fashion_baseline.yaml", "fashion_cnn.yaml",
                                        "mnist_budget.yaml"}
    for f in files:
        assert load_sweep(f).name == f.stem


def test_alias_bomb_is_refused_without_expanding_it():
    import time

    bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        bomb.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = "\n".join(bomb) + "\nname: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n"
    started = time.monotonic()
    with pytest.raises(SweepFileError, match=r"s.yaml: expands to more than 100000 values \(nested YAML aliases\?\)"):
        parse(text)
    assert time.monotonic() - started < 2


def test_small_aliases_are_fine():
    text = ("name: x\ndataset: {name: fashion_mnist}\nfamilies:\n"
            "  dense: {params: &p {lr: {loguniform: [1e-4, 1e-2]}}}\n  cnn: {params: *p}\n")
    spec = parse(text)
    assert spec.family("cnn").space == spec.family("dense").space


def test_a_large_sweep_under_the_bound_is_fine_and_counted_without_expanding():
    import time

    text = ("name: x\ndataset: {name: fashion_mnist}\nfamilies:\n  dense:\n    num_samples: 90000\n"
            "    params: {lr: {loguniform: [1e-4, 1e-1]}, layers: {grid: [1, 2]}}\n")
    with pytest.raises(SweepFileError, match="expand to 180,000 trials"):
        parse(text)
    started = time.monotonic()
    spec = parse(text.replace("90000", "40000"))
    assert spec.families[0].trial_count(spec.search) == 80_000
    assert time.monotonic() - started < 5       # counted, never expanded (expanding takes minutes)


def test_yaml_merge_keys_may_still_override():
    spec = parse("name: x\ndataset: {name: fashion_mnist}\n"
                 "families:\n  dense: &B {num_samples: 2}\n  wide: {<<: *B, family: dense, num_samples: 3}\n")
    assert [f.num_samples for f in spec.families] == [2, 3]


@pytest.mark.parametrize("path", sorted(str(p) for p in (Path(__file__).parents[2] / "sweeps").glob("*.yaml")))
def test_the_count_of_every_shipped_sweep_is_what_expansion_gives(path):
    from orchestrator.raytune.space import trial_configs
    from orchestrator.spec.sweep import load_sweep

    spec = load_sweep(path)
    assert sum(f.trial_count(spec.search) for f in spec.families) == len(trial_configs(spec))


OBJ = """
name: mo
dataset: {{name: fashion_mnist}}
search: tpe
{extra}
families:
  cnn: {{num_samples: 2, params: {{filters: {{choice: [8, 16]}}}}}}
"""


def test_objectives_make_a_multi_objective_tpe_search():
    spec = parse(OBJ.format(extra="objectives: [val_accuracy, params]"))
    assert spec.objectives == (("val_accuracy", "max"), ("params", "min"))
    assert spec.metric == "val_accuracy" and spec.mode == "max"
    spec = parse(OBJ.format(extra="objectives: [val_loss, params]"))
    assert spec.metric == "val_loss" and spec.objectives[0] == ("val_loss", "min")
    assert parse(OBJ.format(extra="")).objectives == ()


@pytest.mark.parametrize("extra, message", [
    ("objectives: [val_accuracy]", "objectives: must be a list of two or more"),
    ("objectives: val_accuracy", "objectives: must be a list of two or more"),
    ("objectives: [val_accuracy, latency]", "unknown objective 'latency'"),
    ("objectives: [params, val_accuracy]", "the first objective must be a validation metric"),
    ("objectives: [val_accuracy, val_accuracy]", "names an objective twice"),
    ("metric: val_loss\nobjectives: [val_accuracy, params]", "it must be metric (val_loss)"),
])
def test_objective_errors_name_the_key(extra, message):
    with pytest.raises(SweepFileError, match=re.escape(message)) as e:
        parse(OBJ.format(extra=extra))
    assert "s.yaml" in str(e.value)


def test_objectives_need_tpe():
    text = OBJ.format(extra="objectives: [val_accuracy, params]").replace("search: tpe", "search: random")
    with pytest.raises(SweepFileError, match="objectives: a multi-objective search needs search: tpe"):
        parse(text)


def test_multi_objective_tpe_hands_optuna_both_objectives():
    from orchestrator.raytune.tpe import build_tpe_searcher

    spec = parse(OBJ.format(extra="objectives: [val_accuracy, params]"))
    child = build_tpe_searcher(spec)._children["cnn"]
    assert child.metric == ["val_accuracy", "params"] and child.mode == ["max", "min"]
    config = build_tpe_searcher(spec).suggest("t1")
    assert config["filters"] in (8, 16)


def test_multi_objective_tpe_learns_both_values_from_trial_results():
    """Real Optuna: each finished trial reaches the study with its accuracy and its size."""
    from orchestrator.raytune.tpe import build_tpe_searcher

    spec = parse(OBJ.format(extra="objectives: [val_accuracy, params]"))
    searcher = build_tpe_searcher(spec)
    for i in range(2):                                   # the family's budget
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"val_accuracy": 0.8 + i / 100, "params": 1000 * config["filters"]})
    study = searcher._children["cnn"]._ot_study
    values = [t.values for t in study.trials]
    assert len(values) == 2 and all(len(v) == 2 for v in values)
    assert searcher.suggest("t2") == "FINISHED"
    assert study.directions[0].name == "MAXIMIZE" and study.directions[1].name == "MINIMIZE"


def test_tracking_section_and_its_cli_overrides():
    from orchestrator.spec.tracking import MlflowSpec, TrackingSpec

    base = OBJ.format(extra="").replace("search: tpe", "")
    assert parse(base).tracking == TrackingSpec()
    spec = parse(base + "tracking: {tensorboard: true, mlflow: {tracking_uri: 'file:///tmp/m'}}\n")
    assert spec.tracking == TrackingSpec(True, MlflowSpec("file:///tmp/m", "mo", False))
    over = with_overrides(parse(base), tensorboard=True, mlflow_uri="http://h:5000", mlflow_experiment="e")
    assert over.tracking == TrackingSpec(True, MlflowSpec("http://h:5000", "e", False))
    with pytest.raises(SweepFileError, match="--mlflow-experiment needs --mlflow-uri"):
        with_overrides(parse(base), mlflow_experiment="e")
    for bad, message in (("tracking: {tensorbord: true}", "tracking.tensorbord: unknown key (allowed here: mlflow, tensorboard)"),
                         ("tracking: {mlflow: {experiment: x}}", "tracking.mlflow.tracking_uri: is required"),
                         ("tracking: {mlflow: {tracking_uri: ' '}}", "tracking_uri: must not be empty"),
                         ("tracking: {tensorboard: yes please}", "tracking.tensorboard")):
        with pytest.raises(SweepFileError, match=re.escape(message)):
            parse(base + bad + "\n")


def test_a_run_asking_for_a_tracker_that_is_not_installed_is_refused_in_one_line(monkeypatch):
    from orchestrator.raytune import tracking
    from trainables.contract.errors import UserError

    spec = parse(OBJ.format(extra="").replace("search: tpe", "") + "tracking: {mlflow: {tracking_uri: 'sqlite:///x.db'}}\n")
    monkeypatch.setattr(tracking, "missing_tracker", lambda tb, ml: "mlflow")
    with pytest.raises(UserError, match=r"s.yaml: tracking.mlflow needs mlflow, which is not installed: "
                                        r"pip install 'tunefm\[tracking\]'"):
        tracking.check_trackers(spec)


def test_tracking_refuses_an_empty_experiment_and_an_mlflow_server_that_does_not_answer():
    from orchestrator.raytune import tracking
    from trainables.contract.errors import UserError

    base = OBJ.format(extra="").replace("search: tpe", "")
    with pytest.raises(SweepFileError, match="tracking.mlflow.experiment: must not be empty"):
        parse(base + "tracking: {mlflow: {tracking_uri: 'file:///tmp/m', experiment: ''}}\n")
    spec = parse(base + "tracking: {mlflow: {tracking_uri: 'http://127.0.0.1:9/'}}\n")
    with pytest.raises(UserError, match=r"tracking_uri: http://127.0.0.1:9/ does not answer"):
        tracking.check_trackers(spec)


def test_an_unknown_key_names_every_key_allowed_there():
    """The list comes from the schema: it used to leave out the keys the reader had not
    asked for yet (repeat, tracking)."""
    with pytest.raises(SweepFileError) as err:
        parse("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nshedule: {}\n")
    allowed = str(err.value).split("allowed here: ")[1].rstrip(")").split(", ")
    assert {"repeat", "tracking", "scheduler", "time_budget_s", "objectives"} <= set(allowed)
    with pytest.raises(SweepFileError, match=re.escape("scheduler.kindd: unknown key (allowed here: brackets, "
                                                       "grace_period, idle_cores, kind, max_epochs, mutate, "
                                                       "perturbation_interval, population, quantile, "
                                                       "reduction_factor, resample_probability)")):
        parse("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\nscheduler: {kindd: fifo}\n")
    with pytest.raises(SweepFileError, match=re.escape("families.dense.resources.cpu: unknown key (allowed here: "
                                                       "cpus, gpus)")):
        parse("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {resources: {cpu: 1}}}\n")


def test_the_schema_lists_every_key_path():
    from orchestrator.spec.schema import keys

    every = keys()
    assert {"scheduler.max_epochs", "dataset.image_size", "families.<name>.params", "tracking.mlflow.experiment",
            "repeat.top_k"} <= set(every)


@pytest.mark.parametrize("extra, message", [
    ("metric: val_loss\nmode: max\n",
     "s.yaml: mode: val_loss is better lower: mode max would rank its worst trials first; leave mode out"),
    ("metric: val_accuracy\nmode: min\n", "s.yaml: mode: val_accuracy is better higher: mode min"),
    ("scheduler: {kind: fifo, grace_period: 2}\n", "s.yaml: scheduler.grace_period: only ASHA stops trials early; "
                                                   "kind fifo trains every trial to max_epochs and would ignore it"),
    ("scheduler: {kind: fifo, reduction_factor: 2, brackets: 2}\n", "s.yaml: scheduler.brackets: only ASHA"),
])
def test_settings_that_would_be_ignored_or_rank_backwards_are_refused(extra, message):
    with pytest.raises(SweepFileError) as err:
        parse("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n" + extra)
    assert str(err.value).startswith(message), str(err.value)
    assert parse("name: x\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n"
                 "scheduler: {kind: fifo, max_epochs: 3}\nmetric: val_loss\nmode: min\n").mode == "min"
