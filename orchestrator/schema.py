"""Every Parquet column tunefm writes, in one place; writers and readers import these.

Config columns are namespaced ``config_<param>``; per-epoch metric columns keep the
names trials report (``val_accuracy`` ...). The column set of a run is fixed when the
run starts, from the parameters of every family in the sweep, so every part file of
the metrics dataset has the same schema.
"""
from __future__ import annotations

import pyarrow as pa

CONFIG_PREFIX = "config_"

# trials table statuses
PENDING, RUNNING = "pending", "running"
COMPLETED, EARLY_STOPPED, DIVERGED, OVER_BUDGET, FAILED, STOPPED = (
    "completed", "early_stopped", "diverged", "over_budget", "failed", "stopped")
FINAL_STATUSES = (COMPLETED, EARLY_STOPPED, DIVERGED, OVER_BUDGET, FAILED, STOPPED)
DONE_STATUSES = (COMPLETED, EARLY_STOPPED, DIVERGED, OVER_BUDGET, FAILED)   # a resume never reruns these
STATUSES = (PENDING, RUNNING) + FINAL_STATUSES

RUN_ID, TRIAL_ID, FAMILY, MODEL = "run_id", "trial_id", "family", "model"
EPOCH, STATUS = "epoch", "status"

_KEYS = [
    pa.field(RUN_ID, pa.string()),
    pa.field(TRIAL_ID, pa.string()),
    pa.field(FAMILY, pa.string()),
    pa.field(MODEL, pa.string()),
]

METRIC_FIELDS = [
    pa.field(EPOCH, pa.int32()),
    pa.field("train_loss", pa.float64()),
    pa.field("train_accuracy", pa.float64()),
    pa.field("val_loss", pa.float64()),
    pa.field("val_accuracy", pa.float64()),
    pa.field("val_macro_f1", pa.float64()),
    pa.field("val_auc", pa.float64()),
    pa.field("lr", pa.float64()),
    pa.field("epoch_seconds", pa.float64()),
    pa.field("train_seconds", pa.float64()),
    pa.field("setup_seconds", pa.float64()),
    pa.field("import_seconds", pa.float64()),
    pa.field("params", pa.int64()),
    pa.field("trainable_params", pa.int64()),
    pa.field("feature_cache_hit", pa.bool_()),      # transfer, frozen: backbone features from the cache
    pa.field("feature_seconds", pa.float64()),      # time to get (or compute) those features
    pa.field("is_best", pa.bool_()),
    pa.field("trial_status", pa.string()),
    pa.field("elapsed_seconds", pa.float64()),   # since the trial started (Ray's time_total_s)
    pa.field("wall_time", pa.timestamp("ms", tz="UTC")),
    pa.field("worker_pid", pa.int64()),
    pa.field("trials_in_worker", pa.int64()),
    pa.field("resumed_from_epoch", pa.int32()),    # set on epochs of a retried or resumed trial
    pa.field("node_ip", pa.string()),
    pa.field("node_id", pa.string()),
    pa.field("gpu_ids", pa.string()),              # GPUs Ray assigned the trial ("0", "0,1", "")
]

TRIAL_FIELDS = [
    pa.field(STATUS, pa.string()),
    pa.field("epochs", pa.int32()),
    pa.field("best_epoch", pa.int32()),
    pa.field("metric", pa.string()),
    pa.field("best_metric", pa.float64()),
    pa.field("params", pa.int64()),
    pa.field("train_seconds", pa.float64()),
    pa.field("setup_seconds", pa.float64()),      # trial entry to first epoch, inside the worker
    pa.field("startup_seconds", pa.float64()),    # driver's trial start to first epoch (spawn included)
    pa.field("started_at", pa.timestamp("ms", tz="UTC")),
    pa.field("ended_at", pa.timestamp("ms", tz="UTC")),
    pa.field("checkpoint", pa.string()),          # the best epoch's checkpoint folder
    pa.field("last_checkpoint", pa.string()),     # the latest epoch's (what a retry resumes from)
    pa.field("error", pa.string()),
    pa.field("failures", pa.int32()),              # failed attempts (retried or final)
    pa.field("node_ip", pa.string()),
    pa.field("node_id", pa.string()),
    pa.field("worker_pid", pa.int64()),
]

_KIND_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}


def config_fields(params: list[tuple[str, str]]) -> list[pa.Field]:
    """``(name, kind)`` pairs to ``config_<name>`` fields; ``seed`` is always there."""
    fields = [pa.field(CONFIG_PREFIX + "seed", pa.int64())]
    fields += [pa.field(CONFIG_PREFIX + name, _KIND_TYPES[kind]) for name, kind in params]
    return fields


def metrics_schema(params: list[tuple[str, str]]) -> pa.Schema:
    return pa.schema(_KEYS + config_fields(params) + METRIC_FIELDS)


def trials_schema(params: list[tuple[str, str]]) -> pa.Schema:
    return pa.schema(_KEYS + config_fields(params) + TRIAL_FIELDS)
