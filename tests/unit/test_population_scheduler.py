"""tunefm's side of Ray's PBT and PB2: values clipped into range, one family's view of
the trials, and a resumed population seeded from what the run recorded."""
from __future__ import annotations

from ray.tune.experiment import Trial

from orchestrator.raytune import population, private
from orchestrator.spec.population import Mutation, PopulationSpec
from orchestrator.spec.spaces import Choice, LogUniform, Uniform

SPEC = PopulationSpec("pbt", perturbation_interval=3, mutations=(
    Mutation("lr", LogUniform(1e-4, 1e-2)), Mutation("dropout", Uniform(0.0, 0.5)),
    Mutation("aug_rotation", Choice((0.0, 0.05, 0.1)))))


def trial(tid: str, family: str = "cnn") -> Trial:
    return Trial("run_trial", config={"family": family, "lr": 1e-3, "dropout": 0.2, "aug_rotation": 0.05},
                 trial_id=tid, stub=True)


def test_ray_gets_a_synchronous_population_by_epoch_whose_values_stay_in_range():
    pbt = population.build(SPEC, "val_accuracy", "max")
    assert isinstance(pbt, population.TunefmPBT) and population.is_population(pbt)
    assert private.pbt_interval(pbt) == 3 and getattr(pbt, private.PBT_NEXT_SYNC) == 3
    clip = population.Clip(SPEC.mutations)
    assert clip({"lr": 0.02, "dropout": 0.6, "aug_rotation": 0.1, "filters": 8}) == \
        {"lr": 1e-2, "dropout": 0.5, "aug_rotation": 0.1, "filters": 8}
    pb2 = population.build(PopulationSpec("pb2", 2, mutations=SPEC.mutations[:2]), "val_loss", "min")
    assert isinstance(pb2, population.TunefmPB2) and private.pbt_interval(pb2) == 2


def test_a_family_sees_its_own_trials_and_no_search_algorithm():
    class Controller:
        search_alg = object()

        def __init__(self, trials):
            self.trials = trials

        def get_trials(self):
            return self.trials

        def get_live_trials(self):
            return self.trials[:2]

        def pause_trial(self, t):
            return f"paused {t.trial_id}"

    trials = [trial("a"), trial("b", "dense"), trial("c")]
    view = population.FamilyView(Controller(trials), "cnn")
    assert [t.trial_id for t in view.get_trials()] == ["a", "c"]
    assert [t.trial_id for t in view.get_live_trials()] == ["a"]
    assert view.search_alg is None and view.pause_trial(trials[0]) == "paused a"


def test_a_resumed_population_takes_its_next_step_after_its_earliest_member():
    pbt = population.build(SPEC, "val_accuracy", "max")
    history = {"a": {1: 0.3, 2: 0.4, 3: 0.5, 4: 0.55}, "b": {1: 0.2, 2: 0.3, 3: 0.45}, "c": {}}
    population.warm_start(pbt, history)
    assert getattr(pbt, private.PBT_NEXT_SYNC) == 6       # the earliest is at 3 (a step done): next at 6
    a, b, fresh = trial("a"), trial("b"), trial("f")

    class NoSearch:
        search_alg = None

    for t in (a, b, fresh):
        pbt.on_trial_add(NoSearch(), t)               # as Tune adds each trial
    population.seed_trial(pbt, a, history["a"])
    population.seed_trial(pbt, b, history["b"])
    population.seed_trial(pbt, fresh, None)
    state = private.pbt_states(pbt)
    assert (state[a].last_train_time, state[a].last_perturbation_time, state[a].last_score) == (4, 3, 0.55)
    assert (state[b].last_train_time, state[b].last_perturbation_time) == (3, 3)
    assert (state[fresh].last_train_time, state[fresh].last_score) == (0, None)


def test_a_member_that_is_done_never_reaches_the_population():
    assert population.ends_here({"epoch": 6, "max_epochs": 6, "trial_status": "running"})
    assert population.ends_here({"epoch": 2, "max_epochs": 6, "trial_status": "diverged"})
    assert population.ends_here({"epoch": 0, "trial_status": "over_budget"})
    assert not population.ends_here({"epoch": 2, "max_epochs": 6, "trial_status": "running"})


def test_a_replayed_schedules_rows_carry_the_values_in_force():
    from orchestrator.store.ledger import in_force

    config = {"lr": 0.01, "dropout": 0.1, "schedule": '{"lr": [[1, 0.1], [3, 0.01]]}'}
    assert [in_force(config, e)["lr"] for e in (1, 2, 3, 4)] == [0.1, 0.1, 0.01, 0.01]
    assert in_force({"lr": 0.5}, 3) == {"lr": 0.5}


def test_a_copy_keeps_the_copiers_own_best_so_its_checkpoints_rank_by_its_own_history(tmp_path):
    import json

    import pyarrow.fs as pafs

    from trainables.contract.keys import CHECKPOINT_META_FILE
    from trainables.contract.records import CheckpointMeta
    from trainables.training.checkpoints import read_meta

    def meta(folder, **kw):
        folder.mkdir(parents=True)
        (folder / CHECKPOINT_META_FILE).write_text(json.dumps(CheckpointMeta(**kw).to_dict()))
        return str(folder)

    fs = pafs.LocalFileSystem()
    own = meta(tmp_path / "own", epoch=4, metric="val_accuracy", value=0.6, best=0.7, best_epoch=3, improvements=3,
               trial_id="copier")
    copy = meta(tmp_path / "copy", epoch=4, metric="val_accuracy", value=0.8, best=0.8, best_epoch=4, improvements=1,
                is_best=True, schedule={"scale": 0.5}, trial_id="donor")
    population.keep_own_best(fs, copy, fs, own)
    merged = read_meta(fs, copy)
    assert (merged.epoch, merged.value, merged.trial_id, merged.schedule) == (4, 0.8, "donor", {"scale": 0.5})
    assert (merged.best, merged.best_epoch, merged.improvements, merged.is_best) == (0.7, 3, 3, False)
