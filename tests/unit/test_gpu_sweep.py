"""The GPU sweep's preparation (benchmarks.gpu_sweep): the wheel it strips to fit one call,
the data it writes, the table it prints. The sweeps themselves need a GPU machine."""
from __future__ import annotations

import zipfile

from benchmarks.gpu_sweep import markdown, strip, sweep_text, synthetic_data


def test_a_stripped_wheel_keeps_everything_else_and_its_record(tmp_path):
    wheel = tmp_path / "ray-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("ray/__init__.py", "x = 1\n")
        z.writestr("ray/jars/ray_dist.jar", b"\0" * 1000)
        z.writestr("ray-1.dist-info/RECORD", "ray/__init__.py,sha256=a,6\nray/jars/ray_dist.jar,sha256=b,1000\n"
                                             "ray-1.dist-info/RECORD,,\n")
    strip(wheel, ("ray/jars/",))
    with zipfile.ZipFile(wheel) as z:
        assert sorted(z.namelist()) == ["ray-1.dist-info/RECORD", "ray/__init__.py"]
        assert z.read("ray/__init__.py") == b"x = 1\n"
        assert b"jars" not in z.read("ray-1.dist-info/RECORD")


def test_the_synthetic_data_reads_back_as_fashion_mnist(tmp_path):
    from trainables.datasets.idx import read_idx

    synthetic_data(tmp_path, train=50, test=20)
    images = read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    labels = read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (50, 28, 28) and labels.shape == (20,) and labels.max() <= 9


def test_the_sweep_files_parse_and_pack_four_trials_on_a_quarter_gpu_each():
    from orchestrator.spec.sweep import parse_sweep

    one = parse_sweep(sweep_text("one", 1, 1.0, 480, 120, 2, 4), "<one>")
    packed = parse_sweep(sweep_text("packed", 4, 0.25, 480, 120, 2, 4), "<packed>")
    assert one.resources.gpus == 1.0 and sum(f.trial_count(one.search) for f in one.families) == 1
    assert packed.resources.gpus == 0.25 and sum(f.trial_count(packed.search) for f in packed.families) == 4


def test_a_sweep_that_broke_shows_its_last_lines():
    res = {"date": "d", "nvml": "x", "environment": {"python": "3.12", "tensorflow_installed": False, "devices": ["gpu:H100"]},
           "sweeps": [{"sweep": "one", "trials": 1, "gpus_per_trial": 1.0, "exit": 1, "wall_seconds": 3.0,
                       "what_broke": "ImportError: tensorflow"}]}
    table = markdown(res)
    assert "| one | 1 x 1.0 | 1 | 3.0 | 0 |" in table and "ImportError: tensorflow" in table


def test_a_sweep_past_its_time_is_stopped_with_what_it_printed():
    import os
    import sys

    from benchmarks.gpu_sweep import _cli

    status, output = _cli([sys.executable, "-c", "import time; print('training', flush=True); time.sleep(60)"],
                          dict(os.environ), timeout=2)
    assert status == "timeout" and "training" in output
    assert _cli([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ), timeout=30)[0] == 3
