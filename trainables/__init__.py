"""tunefm trainables: data sets, model families and the loop a trial runs.

Importing this package (or its registries) never imports TensorFlow; only building a
model or running a trial does.

It sets one default for the process: under JAX a process takes 75% of a GPU's memory at
its first operation, so a second trial packed on the same GPU (``gpus: 0.25``), or any
trial after a driver that had built a model, could not start. Allocating as needed is
JAX's documented remedy for several processes on one GPU, and what TensorFlow's memory
growth does for trials (``training.runtime``). Every tunefm process imports this package
before its first Keras operation; a value the user set wins.
"""
import os as _os

_os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
