"""The metrics every trial reports each epoch, and which way is better.

The sweep's ``metric`` must be one of the validation metrics: selection and early
stopping never look at the test split.
"""
from __future__ import annotations

# name -> mode used when a sweep names the metric without a mode
SELECTABLE: dict[str, str] = {
    "val_accuracy": "max",
    "val_loss": "min",
    "val_macro_f1": "max",
    "val_auc": "max",
}
