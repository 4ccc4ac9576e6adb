"""A run folder's files: the Parquet schema, the writer and readers, snapshots, URIs."""
from orchestrator.store.parquet import read_metrics, read_trials

__all__ = ["read_metrics", "read_trials"]
