"""A report beside a running sweep: Ray removes a trial's superseded best checkpoint as
soon as a better one is saved, which can fall between the report listing the winners'
checkpoints and loading them. Such a checkpoint is skipped while the sweep runs (the
next refresh evaluates the new one); a damaged one, or any missing one once the sweep
has ended, is still a one-line error."""
from __future__ import annotations

import numpy as np
import pytest

from orchestrator.report.holdout import predict_checkpoints
from trainables.contract.errors import UserError
from trainables.contract.keys import MODEL_FILE


def _saved(folder):
    import keras

    folder.mkdir()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.save(folder / MODEL_FILE)
    return str(folder)


def test_a_checkpoint_removed_after_listing_is_skipped_only_while_the_sweep_runs(tmp_path):
    kept, removed = _saved(tmp_path / "kept"), _saved(tmp_path / "removed")
    (tmp_path / "removed" / MODEL_FILE).unlink()             # Ray's clean-up, after the listing
    x = np.zeros((5, 4), dtype=np.float32)
    probs = predict_checkpoints([removed, kept], x, threads=1, vanish_ok=True)
    assert probs[0] is None and probs[1].shape == (5, 3)
    with pytest.raises(UserError, match="removed/model.keras: removed while being read"):
        predict_checkpoints([removed, kept], x, threads=1)


def test_a_damaged_checkpoint_is_an_error_even_while_the_sweep_runs(tmp_path):
    damaged = _saved(tmp_path / "damaged")
    (tmp_path / "damaged" / MODEL_FILE).write_bytes(b"not a zip")
    with pytest.raises(UserError, match="damaged or unreadable"):
        predict_checkpoints([damaged], np.zeros((2, 4), dtype=np.float32), threads=1, vanish_ok=True)
