"""The one Ray Tune callback tunefm gives a fit: it forwards Tune's events to the run's
recorder (``fit.FitListener``) and ends the fit when the command was asked to stop: at
the first event about a trial, or step with trials, after the request (a failed write
stops the fit at the very event that found it).

Ray pickles callbacks into the experiment state and gives them back on
``Tuner.restore``. This one pickles nothing but the scheduler (whose stop decisions it
reads) and finds the recorder of the session that runs it now (``fit.current``).
"""
from __future__ import annotations

from pathlib import Path

from ray.tune import Callback

from orchestrator.raytune import fit as fits
from trainables.contract.errors import TrialFailure
from trainables.training.checkpoints import read_meta


def error_reason(trial) -> str:
    """The reason of the trial's latest error, e.g. ``ValueError: bad shape``: from
    ``Trial.error_file`` (the driver's copy, written before this callback runs), else
    ``Trial.get_error()`` (the copy in the run folder, which may not be synced yet)."""
    text = ""
    try:
        if trial.error_file and Path(trial.error_file).exists():
            text = Path(trial.error_file).read_text(errors="replace")
        else:
            text = str(trial.get_error() or "")
    except OSError:
        pass
    latest = text.split("Failure # ")[-1]   # the file keeps every failure of a retried trial
    told = TrialFailure.reason_in(latest)    # what the trial said failed (trainables.training.trial)
    if told:
        return told[:2000]
    lines = [ln.strip() for ln in latest.splitlines()[1 if "Failure # " in text else 0:] if ln.strip()]
    for line in reversed(lines):
        if ("Error" in line or "Exception" in line) and not line.startswith(("File ", "^")):
            return line[:2000]
    return lines[-1][:2000] if lines else "the trial failed without an error message"


def traceback_at(trial) -> str:
    """Where, on the run's storage, Ray keeps the trial's tracebacks (every failure of it)."""
    return f"{trial.path}/error.txt"


class FitCallback(Callback):
    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.listener: fits.FitListener | None = None

    def __getstate__(self) -> dict:
        return {"scheduler": self.scheduler}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.listener = None

    def setup(self, **info) -> None:
        fit = fits.current()
        if fit is None:
            raise RuntimeError("tunefm's callback runs only inside a tunefm fit (orchestrator.raytune.fit.run_fit)")
        self.listener = fit.listener
        self.listener.setup()

    def on_step_begin(self, iteration, trials, **info) -> None:
        if trials:      # Ray cannot restore a saved state that holds no trial: end the fit once it has some
            fits.end_fit_if_asked()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.listener.trial_started(trial.trial_id, trial.config)
        fits.end_fit_if_asked()

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self.listener.trial_result(trial.trial_id, trial.config, result)
        fits.end_fit_if_asked()

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        # Ray's next experiment snapshot may reference this checkpoint, and a resume continues
        # after it: the recorder writes the epochs it covers first, or refuses it
        try:
            self.listener.checkpoint(trial.trial_id, checkpoint.path, read_meta(checkpoint.filesystem, checkpoint.path))
        finally:
            fits.end_fit_if_asked()

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self.listener.trial_recovered(trial.trial_id, trial.config, error_reason(trial), traceback_at(trial))
        fits.end_fit_if_asked()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.listener.trial_completed(trial.trial_id, trial.trial_id in self.scheduler.stopped_trials)
        fits.end_fit_if_asked()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.listener.trial_failed(trial.trial_id, trial.config, error_reason(trial), traceback_at(trial))
        fits.end_fit_if_asked()

    def on_step_end(self, iteration, trials, **info) -> None:
        self.listener.step()

    def on_experiment_end(self, trials, **info) -> None:
        self.listener.flush()
