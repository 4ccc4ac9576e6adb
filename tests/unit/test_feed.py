"""What model.fit trains on (trainables.training.feed): every image once per epoch, in a
new order each epoch, in batches of the trial's size; the same training as from arrays."""
from __future__ import annotations

import numpy as np


def _epoch(data) -> list[np.ndarray]:
    return [np.asarray(y) for _, y in data]


def test_each_epoch_holds_every_example_once_in_a_new_order():
    import keras

    from trainables.training.feed import batches

    keras.utils.set_random_seed(0)
    x = np.arange(10 * 4, dtype="float32").reshape(10, 2, 2, 1)
    y = np.arange(10)
    data, labels = batches(x, y, batch_size=4)
    assert labels is None                                    # a dataset, which carries the labels
    first, second = _epoch(data), _epoch(data)
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(np.concatenate(first)) == list(range(10))
    assert sorted(np.concatenate(second)) == list(range(10))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))   # reshuffled
    for xb, yb in data:                                     # images stay with their labels
        assert np.array_equal(np.asarray(xb)[:, 0, 0, 0], np.asarray(yb) * 4.0)


def test_a_model_trains_from_it_as_from_the_arrays():
    import keras

    from trainables.training.feed import batches

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 256)
    x = (y[:, None] + rng.normal(0, 0.3, (256, 4))).astype("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    data, _ = batches(x, y, batch_size=32)
    history = model.fit(data, epochs=10, shuffle=False, verbose=0).history   # the dataset shuffles
    assert len(history["loss"]) == 10 and history["loss"][-1] < history["loss"][0]
    assert history["accuracy"][-1] > 0.9


def test_anything_but_two_arrays_is_passed_on_as_it_is():
    from trainables.training.feed import batches

    x, y = {"image": np.zeros((4, 2))}, np.zeros(4)
    got_x, got_y = batches(x, y, 2)
    assert got_x is x and got_y is y
