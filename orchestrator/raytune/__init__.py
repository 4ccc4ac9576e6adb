"""tunefm's one adapter to Ray and Ray Tune.

Everything that names Ray lives here, and nothing else in tunefm imports Ray (a contract
in pyproject.toml, checked by tests/unit/test_layers.py):

- ``session``: starting or joining Ray for a command, the workers' environment;
- ``worker``: the hook Ray runs in each worker (the warm Keras import);
- ``tuner``: building and restoring a Tuner for one phase of a run;
- ``fit``: one fit, and how the command's stop reaches it; ``callback``: Tune's events to
  the run's recorder;
- ``reconcile``: Ray's saved state held against the run folder as it is now;
- ``scheduler``, ``searcher``, ``tpe``, ``space``: the scheduler and searcher wrappers and
  the sweep file's spaces as Ray's;
- ``trial``: the trial's side (its ``TrialContext``); ``features``: backbone features
  shared by a sweep's trials;
- ``tracking``: TensorBoard and MLflow through Ray's logger callbacks;
- ``cluster``: what a machine or cluster has, and running a function where a sweep ran;
- ``private``: every private Ray name, each behind one function.
"""
import os as _os

from orchestrator.raytune.private import NO_FAILURE_SIGNAL_HANDLER_ENV as _NO_HANDLERS

# Read once, when Ray is imported: before any module of this package imports it
# (``private.NO_FAILURE_SIGNAL_HANDLER_ENV`` says why). The user's own value wins.
_os.environ.setdefault(_NO_HANDLERS, "1")
