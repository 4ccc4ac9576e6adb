"""What ``model.fit`` trains on: the training arrays, shuffled and batched each epoch.

On the TensorFlow backend, Keras turns arrays into a ``tf.data`` pipeline with
autotuning on (``prefetch(AUTOTUNE)``, a parallel ``map``), and every epoch's iterator
gets a model thread that wakes up at growing intervals (up to a minute) to retune it.
Destroying the iterator waits for that thread: in a sweep on this project's 2-core
machine, epochs stalled 28-55 s with the worker's CPU idle, the training thread in
``IteratorResource::~IteratorResource`` -> ``UnboundedThreadPool::LogicalThreadWrapper``
(py-spy, native frames; two such stalls cost issue 31's measured runs about 100 s
each). ``batches`` builds a pipeline like it (a new random order each epoch, batches
gathered from the tensors) with autotuning off and one batch prefetched, so no
thread outlives an epoch. Other backends get the arrays, as before.
"""
from __future__ import annotations

from typing import Any


def batches(x: Any, y: Any, batch_size: int) -> tuple[Any, Any]:
    """``(x, y)`` to pass to ``model.fit`` (with ``shuffle=True`` and ``batch_size``
    there, for arrays): a ``tf.data.Dataset`` of shuffled batches on TensorFlow when both
    are arrays, else the arrays themselves (y None when x is the dataset)."""
    import keras
    import numpy as np

    if keras.backend.backend() != "tensorflow" or not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        return x, y
    import tensorflow as tf

    n = len(x)
    xs, ys = tf.constant(x), tf.constant(y)

    # a new order each epoch (each iteration of the dataset), seeded by Keras's seed
    data = (tf.data.Dataset.range(n).shuffle(n, reshuffle_each_iteration=True).batch(batch_size)
            .map(lambda i: (tf.gather(xs, i), tf.gather(ys, i)), num_parallel_calls=1, deterministic=True)
            .prefetch(1))
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
    return data.with_options(options), None
