"""Every Parquet column tunefm writes, derived from the records; writers and readers import these.

Config columns are namespaced ``config_<param>``; per-epoch metric columns are the
stored fields of the trial's ``EpochReport`` plus what the driver adds (Ray's elapsed
time, the report's wall time, the node's address). The column set of a run is fixed
when the run starts, from the parameters of every family in the sweep, so every part
file of the metrics dataset has the same schema.
"""
from __future__ import annotations

import pyarrow as pa

from orchestrator.store.records import TrialRow
from trainables.contract.keys import (CONFIG_PREFIX, EPOCH, FAMILY, MODEL, RUN_ID, SEED_KEY, STATUS, TRIAL_ID,
                                      config_column)
from trainables.contract.records import EpochReport
from trainables.contract.status import ALL as STATUSES
from trainables.contract.status import DONE as DONE_STATUSES
from trainables.contract.status import FINAL as FINAL_STATUSES
from trainables.contract.status import Status

__all__ = ["CONFIG_PREFIX", "EPOCH", "FAMILY", "MODEL", "RUN_ID", "STATUS", "TRIAL_ID", "STATUSES", "DONE_STATUSES",
           "FINAL_STATUSES", "Status", "PENDING", "RUNNING", "COMPLETED", "EARLY_STOPPED", "DIVERGED", "OVER_BUDGET",
           "FAILED", "STOPPED", "METRIC_FIELDS", "TRIAL_FIELDS", "config_fields", "metrics_schema", "trials_schema"]

PENDING, RUNNING, COMPLETED, EARLY_STOPPED, DIVERGED, OVER_BUDGET, FAILED, STOPPED = (
    Status.PENDING, Status.RUNNING, Status.COMPLETED, Status.EARLY_STOPPED, Status.DIVERGED, Status.OVER_BUDGET,
    Status.FAILED, Status.STOPPED)

_TYPES = {"int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
          "str": pa.string(), "timestamp": pa.timestamp("ms", tz="UTC")}
_KIND_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}

# the driver's additions to each epoch row
ELAPSED, WALL_TIME, NODE_IP = "elapsed_seconds", "wall_time", "node_ip"

_KEYS = [pa.field(RUN_ID, pa.string()), pa.field(TRIAL_ID, pa.string()), pa.field(FAMILY, pa.string()),
         pa.field(MODEL, pa.string())]

METRIC_FIELDS = [pa.field(name, _TYPES[kind]) for name, kind in EpochReport.columns()] + [
    pa.field(ELAPSED, pa.float64()),            # since the trial started (Ray's time_total_s)
    pa.field(WALL_TIME, _TYPES["timestamp"]),
    pa.field(NODE_IP, pa.string()),
]

TRIAL_FIELDS = [pa.field(name, _TYPES[kind]) for name, kind in TrialRow.columns()]


def config_fields(params: list[tuple[str, str]]) -> list[pa.Field]:
    """``(name, kind)`` pairs to ``config_<name>`` fields; ``seed`` is always there."""
    fields = [pa.field(config_column(SEED_KEY), pa.int64())]
    fields += [pa.field(config_column(name), _KIND_TYPES[kind]) for name, kind in params]
    return fields


def metrics_schema(params: list[tuple[str, str]]) -> pa.Schema:
    return pa.schema(_KEYS + config_fields(params) + METRIC_FIELDS)


def trials_schema(params: list[tuple[str, str]]) -> pa.Schema:
    return pa.schema(_KEYS + config_fields(params) + TRIAL_FIELDS)
