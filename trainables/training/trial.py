"""The one function trainable every family runs.

It builds the family's model, asks the family for its training plan (by default: train
that model in one phase), trains epoch by epoch, scores the validation split, reports
each epoch to Ray Tune, and checkpoints the best epoch (by the sweep metric) for the
report. A runaway loss (``TrialSettings.diverged``) ends the trial as ``diverged`` at the
end of the epoch where it happened (no Python runs per batch: Keras keeps its batch loop
asynchronous, and Tune's stop flag is watched from a thread); a model over the sweep's
``max_params`` ends it as ``over_budget`` before any training.

Every epoch is checkpointed (Ray keeps the best by the metric and the latest), so a
trial that is retried, or resumed after the driver died, continues from its last
epoch: weights, optimizer state (moments and step count, for one model trained in one
phase), epoch count, best so far and the learning-rate schedule's state. A member of a
PBT population that copied another starts from the donor's checkpoint the same way,
with its own new parameters (the model is rebuilt from them), and its first epoch
names the donor. The checkpoints are written and reported from a background thread
while the next epoch trains (``checkpoints.Checkpoints``).
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from typing import Any

from trainables.datasets.base import TrialData
from trainables.training import feed, replay, runtime
from trainables.training.checkpoint_writer import Checkpoints
from trainables.training.evaluation import score
from trainables.training.plan import TrainingPlan, default_plan, trainable_params
from trainables.training.schedule import LearningRate
from trainables.contract.records import CheckpointMeta, EpochReport, finite_or_none
from trainables.contract.errors import TrialFailure
from trainables.contract.status import Status
from trainables.training.settings import TrialSettings

from trainables.contract.keys import CONTINUES_KEY, FOLD_KEY, FOLDS_KEY, MODEL_KEY, SEED_KEY
_trials_in_process = 0


def run_trial(config: dict[str, Any], data: TrialData, settings: TrialSettings) -> None:
    """Train ``config`` epoch by epoch, reporting each epoch (and its checkpoint) to the
    tuner through ``settings.context`` (``trainables.training.context``).

    A training error leaves as a ``TrialFailure`` holding its traceback as text, so the
    driver never needs the error's own class (``contract.errors.TrialFailure``); a stop
    (``SystemExit``, ``KeyboardInterrupt``) leaves as itself."""
    try:
        _train(config, data, settings)
    except TrialFailure:
        raise
    except Exception as error:
        raise TrialFailure.wrapping(error) from None


def _train(config: dict[str, Any], data: TrialData, settings: TrialSettings) -> None:
    global _trials_in_process
    entered = time.perf_counter()
    context = settings.context
    if settings.done_trials and context.trial_id() in settings.done_trials:
        return  # resumed run: this trial finished after Ray's last saved state; do not train it again
    _trials_in_process += 1
    if config.get(FOLD_KEY) is not None:      # a race run on re-split data: the round's fold, as every candidate's
        from trainables.datasets.split import refold

        data = refold(data, int(config[FOLDS_KEY]), int(config[FOLD_KEY]))
    parts = replay.spans(config, settings.max_epochs)
    if len(parts) > 1:                       # a replayed schedule: skip the spans a restored checkpoint covers
        done = _restored_epoch(context)
        parts = [part for part in parts if part[1] > done] or parts[-1:]
    carry: str | None = None
    try:
        for span_config, last in parts:
            carry = _train_span(span_config, data, settings, entered, until=last, carry=carry,
                                final=last >= settings.max_epochs)
            if carry is None:
                return
            entered = time.perf_counter()
    finally:
        if carry is not None:
            shutil.rmtree(carry, ignore_errors=True)


def _train_span(config: dict[str, Any], data: TrialData, settings: TrialSettings, entered: float, until: int,
                carry: str | None, final: bool) -> str | None:
    """Train ``config`` up to epoch ``until``, from ``carry`` (the span before's weights and
    optimizer state) or what the tuner hands the trial. Returns the folder this span's last
    epoch was kept in for the next span (None for the last span, or a trial that ended)."""
    context = settings.context
    imported_before = runtime._configured
    cpus = context.cpus() or settings.cpus
    runtime.configure_backend(cpus)
    import keras

    from trainables.families import get_family
    from trainables.training.optim import build_training_state, compile_model, restore_optimizer, training_labels

    # A reused worker drops the previous trial's state. The full garbage collection that
    # clear_session does by default costs ~0.3 s per trial with TensorFlow loaded (measured
    # by benchmarks.run's overhead floor); on CPU Python's own collector frees the old
    # model soon enough, on a GPU its memory is freed at once.
    gpu_ids = context.gpu_ids()
    keras.backend.clear_session(free_memory=bool(gpu_ids))
    keras.utils.set_random_seed(int(config[SEED_KEY]))
    family = get_family(config[MODEL_KEY])
    model = family.build(config, data.input_shape, data.num_classes)
    params = int(model.count_params())
    base = {"params": params, "worker_pid": os.getpid(), "trials_in_worker": _trials_in_process,
            "node_id": context.node_id(), "gpu_ids": gpu_ids, "cpus": float(cpus), "threads": runtime.THREADS,
            "max_epochs": settings.max_epochs,
            "import_seconds": 0.0 if imported_before else float(runtime.IMPORT_SECONDS or 0.0)}
    report = functools.partial(_report, context)
    if settings.max_params is not None and params > settings.max_params:
        report(EpochReport(**base, epoch=0, trial_status=Status.OVER_BUDGET.value,
                           setup_seconds=time.perf_counter() - entered))
        return None
    if carry is not None:
        from trainables.training.checkpoints import load_weights, read_optimizer

        restored: Restored | None = Restored(load_weights(model, carry), read_optimizer(carry))
    else:
        restored = _restore(model, context)
    resumed = restored.meta if restored else _continue(model, config, settings)
    planner = family.planner_function() or (lambda m, c, d, s: default_plan(m, c, d, s.max_epochs))
    plan: TrainingPlan = planner(model, config, data, settings)
    base.update(plan.info)
    # one model, trained in one phase: its checkpoints are written beside the next epoch
    # (built before compile: a clone of a compiled model would get its own optimizer)
    checkpoints = Checkpoints(plan.save_model, report, background=plan.save_model is plan.fit_model
                              and len(plan.phases) == 1 and plan.phases[0].prepare is None,
                              on_stop=lambda: setattr(plan.fit_model, "stop_training", True))
    compile_model(plan.fit_model, config, settings.jit_compile)   # None: optim.default_jit
    y_train = training_labels(config, data.train.y, data.num_classes)
    batch_size = int(config["batch_size"])
    train_x, train_y = feed.batches(plan.train_x, y_train, batch_size)
    reporter = _reporter_class()(data, settings, config, base, entered, plan, checkpoints)
    start = 0
    if resumed is not None:
        start = resumed.epoch
        reporter.resume_from(resumed, carried=carry is not None)
    if carry is None and restored is not None and restored.meta.trial_id not in (None, context.trial_id()):
        reporter.copied = (restored.meta.trial_id, restored.meta.epoch)   # a PBT member's copy of a donor
    # the optimizer's state comes back for one model trained in one phase (whose checkpoints hold it)
    optimizer_state = restored.optimizer if restored is not None and checkpoints.background else None
    try:
        for phase in plan.phases:
            if phase.end_epoch <= start:
                continue
            if start >= until:
                break
            if phase.prepare is not None:
                phase.prepare()
            if phase.recompile:
                compile_model(plan.fit_model, config, settings.jit_compile)   # None: optim.default_jit
            reporter.lr_factor = phase.lr_factor
            build_training_state(plan.fit_model, plan.train_x, y_train)   # one trace of the first step
            if restored is not None and "optimizer_restored" not in base:
                restored_now = restore_optimizer(plan.fit_model, optimizer_state)
                if carry is None:
                    base["optimizer_restored"] = restored_now
            with runtime.stop_training_on_request(plan.fit_model, context.stop_event()):
                arrays = train_y is not None   # else a dataset that shuffles and batches (feed.batches)
                plan.fit_model.fit(train_x, train_y, batch_size=batch_size if arrays else None,
                                   initial_epoch=start, epochs=min(phase.end_epoch, until), shuffle=arrays,
                                   verbose=0, callbacks=[reporter])
            if reporter.halted:
                break
            start = min(phase.end_epoch, until)
    except BaseException:
        with contextlib.suppress(Exception):   # the training error is the one to raise
            checkpoints.close()
        raise
    checkpoints.close()                  # the last epoch is reported before the trial returns
    if checkpoints.stopped:
        # Ray ends a trial stopped at a report with SystemExit in the reporting thread;
        # it happened in the checkpoint thread, so end this one likewise. Returning would
        # make Ray report the trial's end and wait for Tune to read it, which it never
        # does once it stopped the trial (a reused worker then waits out
        # TUNE_FUNCTION_THREAD_TIMEOUT_S and fails the next trial).
        raise SystemExit(0)
    if final or reporter.halted or reporter.last_meta is None:
        return None
    return _keep_for_next_span(plan.save_model, reporter.last_meta, carry)


def _keep_for_next_span(model, meta: CheckpointMeta, old: str | None) -> str:
    """The span's last epoch (weights, optimizer state, meta) in a local folder the next
    span of a replayed schedule starts from."""
    from trainables.training.checkpoint_writer import optimizer_state, write_checkpoint

    folder = tempfile.mkdtemp(prefix="tunefm-replay-")
    write_checkpoint(folder, model, meta, optimizer_state(model))
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def _restored_epoch(context) -> int:
    """The epoch of the checkpoint the tuner hands this trial (0: none)."""
    from trainables.training.checkpoints import epoch_of

    with context.restored() as folder:
        return 0 if folder is None else (epoch_of(folder) or 0)


def _report(context, report: EpochReport, checkpoint_dir: str | None = None) -> None:
    """Report an epoch, stamped with its own time (Ray's "timestamp" is whole seconds)."""
    context.report(replace(report, reported_at=time.time()).to_dict(), checkpoint_dir)


@dataclass(frozen=True)
class Restored:
    meta: CheckpointMeta
    optimizer: dict | None       # the optimizer's variables by path (None: none saved)


def _restore(model, context) -> Restored | None:
    """Load the latest checkpoint the tuner hands this trial (a retry, a resume, or a PBT
    donor's), if any; its optimizer state is read for after the model is compiled."""
    from trainables.training.checkpoints import load_weights, read_optimizer

    with context.restored() as folder:
        return None if folder is None else Restored(load_weights(model, folder), read_optimizer(folder))


def _continue(model, config: dict[str, Any], settings: TrialSettings) -> CheckpointMeta | None:
    """``tunefm extend --max-epochs``: start from the latest checkpoint of the earlier trial
    this one continues (weights, epoch, best so far, the learning-rate schedule)."""
    from trainables.training.checkpoints import load_weights

    earlier = config.get(CONTINUES_KEY)
    if not earlier:
        return None
    folder = settings.continue_from.get(earlier)
    if folder is None:
        raise RuntimeError(f"trial {earlier}'s latest checkpoint was not handed to this trial; it cannot continue")
    return load_weights(model, folder)


def probabilities(model, x, batch: int):
    """The model's outputs on ``x``, ``batch`` images per call of ``predict_on_batch``.

    ``model.predict`` builds a data adapter, an iterator and a callback list on every call:
    on 2,000 validation images of a small CNN it took 0.69 s where this takes 0.42 s
    (2 CPU threads, batch 256; batch 1024 took 0.49 s)."""
    import keras
    import numpy as np

    chunks = [keras.ops.convert_to_numpy(model.predict_on_batch(x[i:i + batch])) for i in range(0, len(x), batch)]
    return np.concatenate(chunks) if chunks else np.zeros((0,) + tuple(model.output_shape[1:]), dtype="float32")


def largest_activation(model) -> int | None:
    """Elements per image of the model's largest layer output, nested models included;
    None when no layer has a fixed output shape."""
    sizes = []

    def visit(m) -> None:
        for layer in getattr(m, "layers", ()):
            try:
                sizes.append(math.prod(int(d) for d in layer.output.shape[1:]))
            except Exception:   # no single output, or a dimension only known at run time
                pass
            visit(layer)

    visit(model)
    return max(sizes) if sizes else None


@functools.cache
def _reporter_class():
    """The Keras callback class, defined on first use so importing this module is light."""
    import keras

    class EpochReporter(keras.callbacks.Callback):
        def __init__(self, data: TrialData, settings: TrialSettings, config: dict[str, Any],
                     base: dict[str, Any], entered: float, plan: TrainingPlan, checkpoints: Checkpoints):
            super().__init__()
            self.data, self.settings, self.base, self.entered, self.plan = data, settings, base, entered, plan
            self.checkpoints = checkpoints
            self.stop_flag = settings.context.stop_event()
            self.schedule = LearningRate(config, settings.max_epochs)
            self.lr_factor = 1.0
            self.best: float | None = None
            self.best_epoch = 0
            self.improvements = 0
            self.epoch_start = 0.0
            self.clocks: tuple[float, float | None] = (0.0, None)
            self.setup_seconds: float | None = None
            self.halted = False
            self.copied: tuple[str, int] | None = None     # (donor, its epoch): named by the next epoch's row
            self.last_meta: CheckpointMeta | None = None   # the last epoch's, for a replay's next span
            gpu = bool(base.get("gpu_ids"))
            self.eval_batch = settings.eval_batch(gpu, largest_activation(plan.fit_model) if gpu else None)

        def resume_from(self, state: CheckpointMeta, carried: bool = False) -> None:
            """Continue after ``state``'s epoch; ``carried``: the trial's own span before (a
            replayed schedule), not a restart, so its rows say nothing of a resume."""
            self.best, self.best_epoch = state.best, state.best_epoch
            self.improvements = state.improvements
            self.schedule.restore(state.schedule or {})
            if not carried:
                self.base["resumed_from_epoch"] = state.epoch

        def stopped(self) -> bool:
            """The tuner asked this trial to stop: seen by its flag, or at a report made off
            this thread (``Checkpoints.stopped``)."""
            return runtime.is_set(self.stop_flag) or self.checkpoints.stopped

        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            if self.stopped():
                self.model.stop_training = True   # asked before this epoch began
            if self.setup_seconds is None:
                self.setup_seconds = time.perf_counter() - self.entered
                self.base["first_epoch_at"] = time.time()  # the driver measures start-up from it
            self.lr = self.schedule.rate(epoch) * self.lr_factor
            self.model.optimizer.learning_rate.assign(self.lr)
            self.clocks = runtime.clocks()
            self.epoch_start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            logs = logs or {}
            train_seconds = time.perf_counter() - self.epoch_start
            train_loss = float(logs.get("loss", float("nan")))
            if self.stopped():
                self.halted = True
                self.model.stop_training = True
                return  # stopped mid-epoch by Tune: this epoch is incomplete, do not report it
            probs = probabilities(self.model, self.plan.val_x, self.eval_batch)
            val = score(self.data.val.y, probs)
            cpu, steal = runtime.clocks()
            diverged = (self.settings.diverged(train_loss, self.data.num_classes)
                        or not math.isfinite(val.loss))
            report = EpochReport(
                **self.base, epoch=epoch + 1, train_loss=train_loss,
                train_accuracy=float(logs.get("accuracy", float("nan"))),
                val_loss=val.loss, val_accuracy=val.accuracy, val_macro_f1=val.macro_f1, val_auc=val.auc,
                lr=float(self.lr), trainable_params=trainable_params(self.plan.save_model),
                epoch_seconds=time.perf_counter() - self.epoch_start, train_seconds=train_seconds,
                setup_seconds=float(self.setup_seconds or 0.0), trial_status=Status.RUNNING.value,
                cpu_seconds=cpu - self.clocks[0],
                steal_seconds=None if steal is None or self.clocks[1] is None else steal - self.clocks[1],
                copied_from=self.copied[0] if self.copied else None,
                copied_epoch=self.copied[1] if self.copied else None)
            self.copied = None
            if diverged:
                nan = float("nan")   # a diverged epoch has no meaningful validation score
                self.model.stop_training = True
                self.halted = True
                self.checkpoints.report(replace(report, trial_status=Status.DIVERGED.value, val_loss=nan,
                                                val_accuracy=nan, val_macro_f1=nan, val_auc=nan))
                return
            self.schedule.observe(val.loss)
            value = report.metric(self.settings.metric)
            improved = self.settings.better(value, self.best)
            if improved:
                self.best, self.best_epoch = value, epoch + 1
                self.improvements += 1
            # Ray keeps the checkpoint with the highest rank (plus the latest): exactly the
            # first epoch that reached the best value, whatever ties follow it.
            rank = self.improvements if improved else self.improvements - 0.5
            report = replace(report, is_best=improved, best_epoch=self.best_epoch, best_metric=self.best,
                             checkpoint_rank=rank)
            meta = CheckpointMeta(epoch=epoch + 1, metric=self.settings.metric, value=finite_or_none(value),
                                  is_best=improved, best=finite_or_none(self.best), best_epoch=self.best_epoch,
                                  improvements=self.improvements, schedule=self.schedule.state(),
                                  trial_id=self.settings.context.trial_id())
            self.last_meta = meta
            self.checkpoints.save(report, meta)

    return EpochReporter
