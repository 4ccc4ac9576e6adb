"""A checkpoint carries the optimizer's state (moments, step count), so a trial that
starts again from it (a retry, a resume, a PBT member copying a donor) goes on as if it
never stopped; a state that does not fit the model is refused, not half applied."""
from __future__ import annotations

import numpy as np


def _model(dropout: float = 0.0, lr: float = 1e-3):
    import keras

    from trainables.families import get_family
    from trainables.training.optim import compile_model

    keras.backend.clear_session(free_memory=False)
    family = get_family("cnn")
    config = {**family.defaults(), "blocks": 1, "filters": 4, "dense_units": 8, "dropout": dropout, "lr": lr}
    model = family.build(config, (8, 8, 1), 3)
    compile_model(model, config)
    return model


def test_the_optimizer_state_saved_comes_back_into_a_rebuilt_model(tmp_path):
    import keras

    from trainables.contract.keys import MODEL_FILE, OPTIMIZER_FILE
    from trainables.training.checkpoint_writer import optimizer_state
    from trainables.training.checkpoints import read_optimizer
    from trainables.training.optim import restore_optimizer

    keras.utils.set_random_seed(0)
    x, y = np.random.rand(32, 8, 8, 1).astype("float32"), np.random.randint(0, 3, 32)
    trained = _model()
    assert optimizer_state(trained) is None                  # not built before it trains
    trained.fit(x, y, epochs=2, batch_size=8, verbose=0)
    state = optimizer_state(trained)
    np.savez(tmp_path / OPTIMIZER_FILE, **state)
    trained.save(tmp_path / MODEL_FILE)

    again = _model(dropout=0.3, lr=5e-3)                      # a PBT copy: new values, the same weights
    again.load_weights(tmp_path / MODEL_FILE)
    saved = read_optimizer(str(tmp_path))
    assert restore_optimizer(again, saved)
    for v in again.optimizer.variables:
        assert np.allclose(keras.ops.convert_to_numpy(v), state[v.path]), v.path
    assert int(keras.ops.convert_to_numpy(again.optimizer.iterations)) == 8    # 2 epochs of 4 steps

    other = _model()
    assert not restore_optimizer(other, {"adam/iteration": np.array(3)})   # another optimizer's: nothing applied
    assert int(keras.ops.convert_to_numpy(other.optimizer.iterations)) == 0
    assert read_optimizer(str(tmp_path / "nowhere")) is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / OPTIMIZER_FILE).write_bytes(b"not a zip")
    assert read_optimizer(str(tmp_path / "bad")) is None
