"""Data sets: ``load_trial_data`` for sweeps, ``load_test`` for the report."""
from trainables.datasets.base import DataSpec, Labeled, TrialData
from trainables.datasets.registry import DATASETS, get_dataset, load_test, load_trial_data

__all__ = ["DATASETS", "DataSpec", "Labeled", "TrialData", "get_dataset", "load_test", "load_trial_data"]
