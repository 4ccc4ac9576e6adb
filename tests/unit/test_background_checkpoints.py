"""Checkpoints written off the training thread: what is saved is the epoch it was asked
for (not what the model became while the file was written), in the order asked, and a
failure reaches the trial."""
from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np
import pytest

from trainables.contract.keys import CHECKPOINT_META_FILE, MODEL_FILE
from trainables.contract.records import CheckpointMeta


def _trained_cnn():
    import keras

    from trainables.families import get_family
    from trainables.training.optim import compile_model

    config = {**get_family("cnn").defaults(), "blocks": 1, "filters": 4, "dense_units": 8, "seed": 0}
    keras.utils.set_random_seed(0)
    model = get_family("cnn").build(config, (28, 28, 1), 10)
    compile_model(model, config)
    x = np.random.default_rng(0).integers(0, 255, (64, 28, 28, 1), dtype=np.uint8)
    y = np.arange(64) % 10
    model.fit(x, y, epochs=1, verbose=0)
    return model, x, y


class _Kept:
    """The trial's report function: keeps each report, a copy of its checkpoint folder,
    and which thread reported it."""

    def __init__(self, root, fail: BaseException | None = None):
        self.root, self.fail, self.seen = root, fail, []

    def __call__(self, report, checkpoint) -> None:
        if self.fail is not None:
            raise self.fail
        copy = None
        if checkpoint is not None:
            copy = str(self.root / f"ckpt{len(self.seen)}")
            shutil.copytree(checkpoint, copy)
        self.seen.append((report, copy, threading.current_thread().name))


def _meta(epoch: int) -> CheckpointMeta:
    return CheckpointMeta(epoch=epoch, metric="val_accuracy", value=0.5, is_best=True, best=0.5, best_epoch=epoch)


def test_the_checkpoint_holds_the_epoch_it_was_asked_for_while_the_model_trains_on(tmp_path):
    import keras

    from trainables.training.checkpoint_writer import Checkpoints

    model, x, y = _trained_cnn()
    kept = _Kept(tmp_path)
    checkpoints = Checkpoints(model, kept, background=True)
    assert checkpoints.background
    expected = model.predict(x, verbose=0)
    checkpoints.save("epoch 1", _meta(1))
    model.fit(x, y, epochs=2, verbose=0)                      # the next epochs train meanwhile
    assert not np.allclose(model.predict(x, verbose=0), expected)
    checkpoints.report("epoch 3 diverged")                    # no checkpoint: after the one before it
    checkpoints.save("epoch 4", _meta(4))
    checkpoints.close()

    assert [r for r, _, _ in kept.seen] == ["epoch 1", "epoch 3 diverged", "epoch 4"]
    assert kept.seen[0][2].startswith("tunefm-checkpoint")   # written off the training thread
    restored = keras.models.load_model(os.path.join(kept.seen[0][1], MODEL_FILE), compile=False)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    with open(os.path.join(kept.seen[2][1], CHECKPOINT_META_FILE)) as f:
        assert json.load(f)["epoch"] == 4
    reloaded = keras.models.load_model(os.path.join(kept.seen[2][1], MODEL_FILE), compile=False)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_failed_write_fails_the_trial_when_it_waits(tmp_path):
    from trainables.training.checkpoint_writer import Checkpoints

    model, _, _ = _trained_cnn()
    checkpoints = Checkpoints(model, _Kept(tmp_path, fail=OSError("disk full")), background=True)
    checkpoints.save("epoch 1", _meta(1))
    with pytest.raises(OSError, match="disk full"):
        checkpoints.close()


def test_on_the_training_thread_the_report_is_done_when_save_returns(tmp_path):
    from trainables.training.checkpoint_writer import Checkpoints

    model, _, _ = _trained_cnn()
    kept = _Kept(tmp_path)
    checkpoints = Checkpoints(model, kept, background=False)
    assert not checkpoints.background and checkpoints.twin is None
    checkpoints.save("epoch 1", _meta(1))
    assert [(r, t) for r, _, t in kept.seen] == [("epoch 1", threading.current_thread().name)]
    checkpoints.close()


def test_a_stop_at_a_background_report_reaches_the_training_thread(tmp_path):
    """Ray ends the reporting thread with SystemExit when Tune stops the trial at that
    report, after clearing its stop flag: the stop is kept and handed on, not lost."""
    from trainables.training.checkpoint_writer import Checkpoints

    model, _, _ = _trained_cnn()
    asked = []
    checkpoints = Checkpoints(model, _Kept(tmp_path, fail=SystemExit(0)), background=True,
                              on_stop=lambda: asked.append(True))
    checkpoints.save("epoch 1", _meta(1))
    checkpoints.wait()
    assert checkpoints.stopped and asked == [True]
    # an epoch that ended meanwhile is not reported: Tune would never read it, and the
    # report would block the trial's end until Ray gives up on the worker
    kept = checkpoints._report
    kept.fail = None
    checkpoints.save("epoch 2", _meta(2))
    checkpoints.report("epoch 2 diverged")
    checkpoints.close()                                       # the trial ends normally
    assert kept.seen == []

