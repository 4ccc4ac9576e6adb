"""A tunefm sweep on a real GPU (issue 31, item 5): one trial on the whole GPU, then four
trials packed at a quarter of it each, under ``KERAS_BACKEND=jax`` on a machine with JAX
and no TensorFlow.

Here, once (it needs pip and the internet; nothing of it is committed):

    python -m benchmarks.gpu_sweep wheels       # .whl/: what the device machine lacks, for its Python 3.12

``wheels`` fetches Ray (its Java jar, 31 MB that a Python sweep never loads, taken out so
that everything travels in one call under the 64 MiB limit), Keras and the small packages
the machine does not have (``MISSING``). Then, on the device machine, one call that carries
``.whl``:

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD && \
        KERAS_BACKEND=jax PYTHONUNBUFFERED=1 python3 -m benchmarks.gpu_sweep run --out $OUT

``run`` writes synthetic Fashion-MNIST-shaped IDX files (60,000 + 10,000 uint8 images whose
classes are learnable: a template per class plus noise; the device machine has no data
set, and an epoch's cost depends on shapes only), then runs two sweeps with tunefm's own
CLI, each in its own process and Ray: ``one`` (one trial, ``gpus: 1``) and ``packed``
(four trials side by side, ``gpus: 0.25`` each). Meanwhile a thread samples the GPU's
utilisation and memory through NVML every 0.2 s. It gives, per sweep: the exit status and,
when it failed, the last lines of its output (what broke); the epochs trained; the first
epoch's seconds (compilation) and the median of the others; the GPU's busy share (the mean
of NVML's utilisation) while epochs trained; its peak memory. JSON and a table go to
``--out``; never a timed assertion. ``--gpus 0 --train 2000 --val 500 --epochs 1`` rehearses
it on a CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WHEELS = REPO / ".whl"
# On the device image (KINDS.md, 2026-11): pandas, pyarrow, click, PyYAML, scikit-learn,
# matplotlib, pillow, numpy, msgpack, protobuf, requests, filelock, fsspec are there.
# Pinned, so that pip on the device finds one version of each (pydantic 2.14.4 needs its
# core 2.50.5 exactly, and typing-extensions >= 4.16, newer than the image may hold).
MISSING = ("ray==2.60.0", "keras==3.15.1", "pydantic==2.14.4", "pydantic-core==2.50.5", "annotated-types==0.8.0",
           "typing-inspection==0.4.5", "typing-extensions==4.16.0", "optree==0.20.0", "namex==0.1.0",
           "jsonschema==4.26.0", "jsonschema-specifications==2025.9.1", "referencing==0.37.0",
           "rpds-py==2026.9.1", "tensorboardX==2.6.5")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
LEFT_OUT_OF_RAY = ("ray/jars/",)
SWEEPS = {"one": {"samples": 1, "gpus": 1.0}, "packed": {"samples": 4, "gpus": 0.25}}


# ---- here: the wheels ----------------------------------------------------------------

def wheels(python: str = "3.12") -> None:
    """``.whl/`` afresh (two versions of one package stop the install there)."""
    import shutil

    shutil.rmtree(WHEELS, ignore_errors=True)
    WHEELS.mkdir()
    for package in MISSING:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", python, "--implementation", "cp",
                        *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(WHEELS), package], check=True)
    for ray_wheel in WHEELS.glob("ray-*.whl"):
        strip(ray_wheel, LEFT_OUT_OF_RAY)
    total = sum(p.stat().st_size for p in WHEELS.glob("*.whl"))
    print(f"{WHEELS}: {len(list(WHEELS.glob('*.whl')))} wheels, {total / 2**20:.1f} MiB (the limit a call carries: 64 MiB)")


def strip(wheel: Path, prefixes: tuple[str, ...]) -> None:
    """Rewrite ``wheel`` without the files under ``prefixes`` (and their RECORD lines)."""
    out = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename.startswith(prefixes):
                continue
            data = src.read(item)
            if item.filename.endswith(".dist-info/RECORD"):
                data = b"\n".join(line for line in data.split(b"\n")
                                  if not line.decode().startswith(prefixes))
            dst.writestr(item, data)
    out.replace(wheel)


# ---- there: the sweeps -----------------------------------------------------------------

def synthetic_data(folder: Path, train: int = 60000, test: int = 10000, seed: int = 0) -> None:
    """Fashion-MNIST-shaped IDX files: a fixed random template per class plus noise."""
    import numpy as np

    from trainables.datasets.idx import write_idx

    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(10, 28, 28))
    for stem, n in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        noise = rng.integers(-60, 61, size=(n, 28, 28))
        images = np.clip(templates[labels] // 2 + 64 + noise, 0, 255).astype(np.uint8)
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels)


def sweep_text(name: str, samples: int, gpus: float, train: int, val: int, epochs: int, cpus: float) -> str:
    """fashion_60min's network (two blocks of two 32/64-filter convolutions, batch norm,
    flips), every trial to ``epochs`` (FIFO), ``gpus`` of a GPU each."""
    lr = "2.5e-3" if samples == 1 else "{choice: [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3]}"
    return f"""name: gpu_{name}
dataset: {{name: fashion_mnist, train_size: {train}, val_size: {val}}}
metric: val_accuracy
seed: 0
search: {'random' if samples == 1 else 'grid'}
families:
  cnn:
    num_samples: 1
    params:
      blocks: 2
      filters: 32
      convs_per_block: 2
      batch_norm: true
      dropout: 0.3
      dense_units: 256
      head_dropout: 0.45
      aug_flip: horizontal
      lr: {lr}
      lr_schedule: cosine
      batch_size: 128
scheduler: {{kind: fifo, max_epochs: {epochs}, idle_cores: leave}}
resources: {{cpus: {cpus}, gpus: {gpus}}}
"""


class GpuSampler:
    """NVML's utilisation (%) and memory used (MiB) of GPU 0 every ``period`` seconds, in a
    thread: (time, util, MiB) rows. Without NVML (or a GPU) it records nothing and says why."""

    def __init__(self, period: float = 0.2):
        self.period, self.rows, self.error = period, [], None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            while not self._stop.is_set():
                util = pynvml.nvmlDeviceGetUtilizationRates(handle)
                memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
                self.rows.append((time.time(), float(util.gpu), memory.used / 2**20))
                self._stop.wait(self.period)
        except Exception as e:   # noqa: BLE001 (no NVML here: the table says so instead of failing the run)
            self.error = f"{type(e).__name__}: {e}"

    def between(self, start: float, end: float) -> dict[str, float | None]:
        rows = [r for r in self.rows if start <= r[0] <= end]
        if not rows:
            return {"gpu_busy_share": None, "gpu_peak_mib": None, "samples": 0}
        return {"gpu_busy_share": round(statistics.mean(r[1] for r in rows) / 100, 3),
                "gpu_peak_mib": round(max(r[2] for r in rows)), "samples": len(rows)}


def environment() -> dict[str, Any]:
    import importlib.util

    info: dict[str, Any] = {"python": platform.python_version(), "keras_backend": os.environ.get("KERAS_BACKEND"),
                            "tensorflow_installed": importlib.util.find_spec("tensorflow") is not None}
    try:
        import jax

        info["jax"] = jax.__version__
        info["devices"] = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
    except Exception as e:   # noqa: BLE001 (recorded: what the machine lacks)
        info["jax"] = f"unusable: {type(e).__name__}: {e}"
    for module in ("keras", "ray"):
        try:
            info[module] = __import__(module).__version__
        except ImportError as e:
            info[module] = f"missing: {e}"
    return info


def one_sweep(name: str, args: argparse.Namespace, data: Path, results: Path, sampler: GpuSampler) -> dict[str, Any]:
    s = SWEEPS[name]
    gpus = s["gpus"] if args.gpus else 0
    cpus = max(1, args.cpus // s["samples"]) if args.gpus else max(0.5, round(args.cpus / s["samples"], 2))
    file = results / f"{name}.yaml"
    file.write_text(sweep_text(name, s["samples"], gpus, args.train, args.val, args.epochs, cpus))
    env = {**os.environ, "TUNEFM_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    began = time.time()
    exit_status, output = _cli([sys.executable, "-m", "orchestrator.cli", "sweep", str(file), "--results",
                                str(results), "--name", name, "--cpus", str(args.cpus), "--gpus", str(args.gpus),
                                "--no-progress"], env, args.timeout)
    out: dict[str, Any] = {"sweep": name, "trials": s["samples"], "gpus_per_trial": gpus, "cpus_per_trial": cpus,
                           "exit": exit_status, "wall_seconds": round(time.time() - began, 1)}
    if exit_status != 0:
        out["what_broke"] = "\n".join(output.strip().splitlines()[-25:])
    run_dir = results / f"gpu_{name}" / name
    if (run_dir / "metrics").is_dir():
        from orchestrator.store.parquet import read_metrics

        m = read_metrics(run_dir)       # empty when the sweep broke before its first epoch
        m = m[m["epoch"] > 0].sort_values(["trial_id", "epoch"]) if len(m) else m
        if len(m):
            first = m[m["epoch"] == 1]["epoch_seconds"]
            later = m[m["epoch"] > 1]["epoch_seconds"]
            ends = [t.timestamp() for t in m["wall_time"]]
            starts = [e - float(s) for e, s in zip(ends, m["epoch_seconds"])]
            out.update(epochs=len(m), statuses=sorted(set(map(str, m["trial_status"]))),
                       gpu_ids=sorted(set(map(str, m["gpu_ids"].fillna("")))),
                       first_epoch_s=round(float(first.median()), 2),
                       later_epoch_s=round(float(later.median()), 2) if len(later) else None,
                       best_val=round(float(m["val_accuracy"].max()), 4),
                       **sampler.between(min(starts), max(ends)))
    return out


def _cli(command: list[str], env: dict[str, str], timeout: float) -> tuple[int | str, str]:
    """(exit status, or "timeout"; stdout and stderr). Past ``timeout`` the command's whole
    process group (its Ray too) gets SIGTERM, as a user's Ctrl-C would, then SIGKILL."""
    import signal

    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        return "timeout", output


def run(args: argparse.Namespace, save) -> dict[str, Any]:
    # this process asks JAX for its devices: it must not take 75% of the GPU the trials share
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "step"}
    res: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "environment": environment(),
                           "settings": settings, "sweeps": []}
    print(json.dumps(res["environment"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="tunefm-gpu-") as tmp, GpuSampler() as sampler:
        data = Path(tmp) / "data"
        data.mkdir()
        synthetic_data(data)
        for name in SWEEPS:
            res["sweeps"].append(one_sweep(name, args, data, Path(tmp), sampler))
            res["nvml"] = sampler.error or f"{len(sampler.rows)} samples"
            print(json.dumps(res["sweeps"][-1]), flush=True)
            save(res)      # each sweep's row as it ends: a later one that hangs loses nothing
    return res


def markdown(res: dict[str, Any]) -> str:
    e = res["environment"]
    lines = [(f"Measured {res['date']} on {', '.join(e.get('devices') or ['?'])}; Python {e['python']}, "
              f"JAX {e.get('jax')}, Keras {e.get('keras')}, Ray {e.get('ray')}, TensorFlow installed: "
              f"{e['tensorflow_installed']}; NVML: {res.get('nvml')}."), "",
             ("| sweep | trials x GPU | exit | wall s | epochs | first epoch s | later epochs s (median) | "
              "GPU busy while training | GPU peak MiB |"), "|---|---|---|---|---|---|---|---|---|"]
    for s in res["sweeps"]:
        busy = s.get("gpu_busy_share")
        lines.append(f"| {s['sweep']} | {s['trials']} x {s['gpus_per_trial']} | {s['exit']} | {s['wall_seconds']} | "
                     f"{s.get('epochs', 0)} | {s.get('first_epoch_s')} | {s.get('later_epoch_s')} | "
                     f"{'n/a' if busy is None else f'{busy:.0%}'} | {s.get('gpu_peak_mib')} |")
    for s in res["sweeps"]:
        if s.get("what_broke"):
            lines += ["", f"`{s['sweep']}` broke:", "", "```", s["what_broke"], "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("wheels", "run"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--train", type=int, default=48000)
    parser.add_argument("--val", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=240, help="seconds per sweep")
    args = parser.parse_args()
    if args.step == "wheels":
        wheels()
        return
    def save(res: dict[str, Any]) -> None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_sweep.json").write_text(json.dumps(res, indent=1))
        (args.out / "gpu_sweep.md").write_text(markdown(res))

    print(markdown(run(args, save)))


if __name__ == "__main__":
    main()
