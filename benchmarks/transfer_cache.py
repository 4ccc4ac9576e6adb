"""Frozen transfer trials with and without the backbone-feature cache.

    python -m benchmarks.transfer_cache [--train-size 6000] [--image-size 32] [--epochs 3]

No ImageNet weights can be downloaded here, so the benchmark saves a MobileNetV2 of
the same architecture with its initial weights to a temporary file and uses it as
``weights: <path>``: timing depends on the architecture, not on the weight values.
Trials run one at a time with 2 CPUs so their epochs do not compete.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from orchestrator.store import schema as S
from orchestrator.run.plans import SweepOptions, run_sweep
from orchestrator.store.parquet import read_metrics
from orchestrator.spec.sweep import parse_sweep

SWEEP = """
name: transfer_cache_bench
dataset: {{name: fashion_mnist, train_size: {train}, val_size: {val}}}
max_concurrent: 1
resources: {{cpus: 2}}
families:
  cached:
    family: transfer
    num_samples: 3
    params: {{weights: {weights}, image_size: {size}, lr: {{loguniform: [1e-3, 3e-3]}}}}
  uncached:
    family: transfer
    params: {{weights: {weights}, image_size: {size}, lr: 2e-3, cache_features: false}}
scheduler: {{kind: fifo, max_epochs: {epochs}}}
"""


def make_weights(folder: Path, size: int) -> Path:
    import keras

    path = folder / "mobilenetv2_init.weights.h5"
    keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(size, size, 3)).save_weights(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tunefm-bench-"))
    text = SWEEP.format(train=args.train_size, val=args.val_size, size=args.image_size, epochs=args.epochs,
                        weights=make_weights(tmp, args.image_size))
    summary = run_sweep(parse_sweep(text, "transfer_cache_bench"),
                        SweepOptions(cpus=2, results_dir=str(tmp / "results"), progress=False, sweep_text=text))
    m = read_metrics(summary.run_dir)
    m["kind"] = m.apply(lambda r: "no cache" if r[S.FAMILY] == "uncached" else
                        ("cache hit" if r["feature_cache_hit"] else "cache miss (computes features)"), axis=1)
    rows = []
    for kind, g in m.groupby("kind"):
        rows.append({"trial kind": kind, "trials": int(g[S.TRIAL_ID].nunique()),
                     "feature seconds (once per trial)": round(float(g["feature_seconds"].median()), 2)
                     if g["feature_seconds"].notna().any() else None,
                     "epoch seconds, median": round(float(g["epoch_seconds"].median()), 2),
                     "trial seconds, median": round(float(g.groupby(S.TRIAL_ID)["elapsed_seconds"].max().median()), 1)})
    print(json.dumps({"args": vars(args), "sweep_wall_seconds": round(summary.wall_seconds, 1), "rows": rows},
                     indent=2))
    print("\n| trial kind | trials | features s | epoch s (median) | trial s (median) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['trial kind']} | {r['trials']} | {r['feature seconds (once per trial)']} | "
              f"{r['epoch seconds, median']} | {r['trial seconds, median']} |")


if __name__ == "__main__":
    main()
