"""Hostile input: each case is one line on stderr, exit code 2, and no run folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.store.records import RunMeta
from trainables.contract.errors import UserError

GOOD = "name: h\ndataset: {name: folder, data_dir: %s}\nfamilies: {dense: {}}\n"


@pytest.fixture
def images(tmp_path):
    import numpy as np
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    return tmp_path / "imgs"


def sweep(tmp_path, args, text):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return CliRunner().invoke(main, ["sweep", str(path), *args])


def assert_refused(result, fragment, results_dir):
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert fragment in result.stderr, result.stderr
    runs = [p for p in results_dir.glob("*/*") if (p / "run.json").exists()] if results_dir.exists() else []
    assert len(runs) == 0 or all(p.name == "other" for p in runs)


@pytest.mark.parametrize("text, fragment", [
    ("name: !!python/object/apply:os.system ['touch /tmp/pwned']\n", "not valid YAML"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n", "expands to more than 100000 values"),
    ("name: h\n" + "# pad\n" * 300_000, "is larger than"),
    ("name: h\ndataset: {name: fashion_mnist}\nfamilies: {dense: {params: {units: many}}}\n",
     "families.dense.params.units: must be int, got 'many'"),
    ("name: h\ndataset: {name: fashion_mnist}\nfamilies: {dense: {params: {dropout: -1}}}\n",
     "families.dense.params.dropout: must be >= 0.0, got -1"),
    ("name: h\ndataset: {name: fashion_mnist}\nfamilies: {dense: {num_samples: 1e9}}\n",
     "families.dense.num_samples: must be an integer, got a number"),
])
def test_hostile_sweep_files(tmp_path, text, fragment):
    result = sweep(tmp_path, ["--results", str(tmp_path / "res")], text)
    assert_refused(result, fragment, tmp_path / "res")
    assert not (tmp_path / "res").exists()


def test_unwritable_results_folder(tmp_path, images):
    result = sweep(tmp_path, ["--results", "/proc/tunefm-results"], GOOD % images)
    assert_refused(result, "results folder /proc/tunefm-results is not writable", tmp_path / "res")


def test_results_folder_below_a_file(tmp_path, images):
    (tmp_path / "afile").write_text("x")
    result = sweep(tmp_path, ["--results", str(tmp_path / "afile" / "res")], GOOD % images)
    assert_refused(result, f"cannot be created: {tmp_path / 'afile'} is a file", tmp_path / "afile")


def test_results_folder_inside_a_run_folder(tmp_path, images):
    run = tmp_path / "res" / "h" / "run1"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    result = sweep(tmp_path, ["--results", str(run)], GOOD % images)
    assert_refused(result, f"is inside the run folder {run}", run)
    assert sorted(p.name for p in run.iterdir()) == ["run.json"]


def test_results_folder_of_another_sweep(tmp_path, images):
    other_file = tmp_path / "other.yaml"
    other_file.write_text(GOOD % images)
    run = tmp_path / "res" / "h" / "other"
    run.mkdir(parents=True)
    meta = RunMeta(run_id="other", sweep="h", metric="val_accuracy", mode="max", max_epochs=1, trials=1,
                   source=str(other_file))
    (run / "run.json").write_text(json.dumps(meta.to_dict()))
    result = sweep(tmp_path, ["--results", str(tmp_path / "res")], GOOD % images)
    assert_refused(result, f"holds runs of another sweep file ({other_file})", tmp_path / "res")
    assert [p.name for p in (tmp_path / "res" / "h").iterdir()] == ["other"]


def test_gpus_that_are_not_there(tmp_path, images):
    result = sweep(tmp_path, ["--results", str(tmp_path / "res"), "--gpus", "2"], GOOD % images)
    assert_refused(result, "--gpus 2: this machine has 0 GPUs", tmp_path / "res")
    assert not (tmp_path / "res" / "h").exists()


def test_trials_asking_for_gpus_the_cluster_lacks(tmp_path, images):
    text = GOOD % images + "resources: {gpus: 1}\n"
    result = sweep(tmp_path, ["--results", str(tmp_path / "res"), "--cpus", "1"], text)
    assert_refused(result, "resources.gpus: a trial asks for 1 GPUs but the Ray cluster has 0", tmp_path / "res")
    assert not (tmp_path / "res" / "h").exists()


def test_cannot_reach_a_cluster(tmp_path, images):
    result = sweep(tmp_path, ["--results", str(tmp_path / "res"), "--address", "127.0.0.1:1"], GOOD % images)
    assert_refused(result, "--address 127.0.0.1:1: cannot connect to a Ray cluster", tmp_path / "res")


def test_ray_client_addresses_are_refused(tmp_path, images):
    result = sweep(tmp_path, ["--results", str(tmp_path / "res"), "--address", "ray://head:10001"], GOOD % images)
    assert_refused(result, "--address ray://head:10001: Ray Client addresses are not supported", tmp_path / "res")


def test_results_uri_that_cannot_be_opened_is_refused(tmp_path, images):
    result = sweep(tmp_path, ["--results", "nosuch://bucket/results"], GOOD % images)
    assert_refused(result, "nosuch://bucket/results: cannot open this location (Unrecognized filesystem type",
                   tmp_path / "res")
    assert not Path("nosuch:").exists()


@pytest.mark.parametrize("name, said", [("../../x", "must be one folder name"), ("a/b", "must be one folder name"),
                                        ("..", "must be one folder name"), ("tab\there", "must be printable characters")])
def test_run_names_are_one_folder_name(tmp_path, images, name, said):
    result = sweep(tmp_path, ["--results", str(tmp_path / "res"), "--name", name], GOOD % images)
    assert_refused(result, f"--name {name!r}: {said}", tmp_path / "res")
    assert not (tmp_path / "x").exists() and not (tmp_path / "res").exists()


def test_results_as_a_file_uri_is_that_local_folder(tmp_path, images):
    from orchestrator.store.remote import local_location

    assert local_location(f"file://{tmp_path}/res%20dir") == tmp_path / "res dir"
    result = sweep(tmp_path, ["--results", "file://elsewhere/res"], GOOD % images)
    assert_refused(result, "a file:// URI names a path on this machine (file:///path), not on 'elsewhere'",
                   tmp_path / "res")
    assert not Path("file:").exists()


def test_validate_counts_a_huge_grid_instead_of_expanding_it(tmp_path):
    import time

    def grid(scale: float) -> str:
        return ", ".join(f"{i * scale:.8f}" for i in range(1, 601))

    path = tmp_path / "g.yaml"
    path.write_text("name: g\ndataset: {name: fashion_mnist}\nsearch: grid\nfamilies:\n  dense:\n"
                    f"    params: {{lr: {{grid: [{grid(1e-5)}]}}, dropout: {{grid: [{grid(5e-4)}]}}, "
                    f"l2: {{grid: [{grid(1e-6)}]}}, layers: {{choice: [1, 2]}}}}\n")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert time.monotonic() - started < 10                  # it hung for minutes when it expanded the grid
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "families: expand to 432,000,000 trials (dense 432,000,000), more than 100,000" in result.stderr


@pytest.mark.parametrize("args, said", [
    (["sweep", "--cpus", "0.5", "x.yaml"], "Invalid value for '--cpus': '0.5' is not a valid integer range; "
                                           "see 'tunefm sweep --help'"),
    (["sweep", "--num-samples", "200000", "x.yaml"], "Invalid value for '--num-samples': 200000 is not in the range"),
    (["leaderboard", "--top", "0", "x"], "Invalid value for '--top': 0 is not in the range x>=1"),
    (["bogus"], "No such command 'bogus'; see 'tunefm --help'"),
    (["sweep", "--bogus"], "No such option '--bogus'"),
])
def test_usage_errors_are_one_line_too(args, said):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("tunefm: error: ") and said in result.stderr, result.stderr


def test_a_sweep_file_that_never_ends_is_not_read(tmp_path):
    result = CliRunner().invoke(main, ["validate", "/dev/zero"])
    assert result.exit_code == 2 and result.stderr == "tunefm: error: /dev/zero: is not a regular file\n"


def test_an_unreachable_results_uri_is_refused_in_bounded_time():
    import time

    from orchestrator.store.remote import check_writable

    started = time.monotonic()
    with pytest.raises(UserError, match=r"--results gs://tunefm-no-such-bucket/x: "):
        check_writable("gs://tunefm-no-such-bucket/x", timeout=3)
    assert time.monotonic() - started < 20
