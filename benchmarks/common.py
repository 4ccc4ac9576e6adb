"""What every benchmark shares: the machine description, the fixed task, small helpers."""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOCS_START, DOCS_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
DOCS = REPO / "docs" / "benchmarks.md"   # the page whose marked blocks --docs replaces
TUNEFM_RAY_SETTINGS = ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "RAY_AIR_NEW_OUTPUT", "TUNE_GLOBAL_CHECKPOINT_S",
                       "TUNE_DISABLE_SIGINT_HANDLER")


def machine() -> dict[str, Any]:
    """Where the numbers were taken: CPU, cores, memory, versions, commit."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    from orchestrator.store.records import versions as _versions

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_gib, "gpu": _gpu_name(),
            "os": platform.platform(), "versions": _versions(), "commit": git_commit()}


def git_commit() -> str:
    """The short commit of this checkout; "+changes" when tracked files other than the
    benchmarks' own results and Markdown differ from it."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        # what the benchmarks write themselves (results, the docs' tables) is not a change to the code measured
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)benchmarks/results", ":(exclude)*.md"],
                               capture_output=True, text=True).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _gpu_name() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


@dataclass(frozen=True)
class Task:
    """One fixed image-classification task every tool in a comparison gets."""

    train_size: int
    val_size: int
    seed: int = 0

    def data_spec(self):
        from trainables.datasets.base import DataSpec

        return DataSpec(name="fashion_mnist", train_size=self.train_size, val_size=self.val_size, seed=self.seed)

    def load(self):
        """(TrialData, test Labeled): tunefm's own stratified split, so every tool sees the same arrays."""
        from trainables.datasets import load_test, load_trial_data

        spec = self.data_spec()
        return load_trial_data(spec), load_test(spec)[0]


def run_child(module: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``python -m module`` with ``args`` as JSON on stdin; return its JSON answer and
    the wall time the parent saw (process start included). Each tool gets a fresh process:
    nobody inherits another's imported TensorFlow, threads or caches."""
    # tunefm's own Ray Tune settings (set in this process by any sweep it ran) are not
    # inherited: a peer gets Ray Tune's defaults, e.g. its result loggers
    env = {k: v for k, v in os.environ.items() if k not in TUNEFM_RAY_SETTINGS}
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", module], input=json.dumps({**args, "t0": started}),
                          capture_output=True, text=True, timeout=timeout, cwd=str(REPO),
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"})
    wall = time.time() - started
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{module} {args.get('tool', '')} failed (exit {proc.returncode}):\n{tail}")
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    answer["process_wall_seconds"] = wall
    return answer


def publish(res: dict[str, Any], name: str, table: str, docs_block: tuple[str, str] | None) -> None:
    """Write ``res`` to benchmarks/results/<name>.json, print ``table``, and with
    ``docs_block`` (its start and end markers) put the table in docs/benchmarks.md."""
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(res, indent=1))
    print(table)
    if docs_block:
        update_docs(table, DOCS, *docs_block)


def update_docs(table: str, page: Path = DOCS, start: str = DOCS_START, end: str = DOCS_END) -> None:
    """Replace the block between ``start`` and ``end`` in ``page`` with ``table``."""
    text = page.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{page}: no {start} ... {end} section to replace")
    page.write_text(pattern.sub(lambda _: f"{start}\n{table}{end}", text))


def child_main(handler) -> None:
    """The child side of ``run_child``: JSON in on stdin, one JSON line out on stdout."""
    args = json.loads(sys.stdin.read())
    result = handler(args)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


def set_threads(threads: int) -> None:
    """The same TensorFlow threading a tunefm trial with ``threads`` CPUs gets."""
    from trainables.training import runtime

    runtime.configure_backend(threads)


def r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)
