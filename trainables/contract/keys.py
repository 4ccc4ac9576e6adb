"""Every name that crosses a process or file boundary: config keys, columns, files.

The trial (a Ray worker), the driver's recorder, the Parquet store, the report and
resume all import these; none of them spells a key as a literal.
"""
from __future__ import annotations

# --- keys of a trial's config (the dict Ray Tune hands the trainable) ---------------
FAMILY_KEY = "family"            # the sweep file's label (its own leaderboard and ASHA)
MODEL_KEY = "model"              # the registered model family that builds it
SEED_KEY = "seed"
REPEAT_KEY = "repeat_of"         # a seed re-run: the trial whose configuration it repeats
CONTINUES_KEY = "continues"      # tunefm extend --max-epochs: the earlier trial this one trains on from
RACE_KEY = "race_of"             # a race run: the candidate configuration it runs again (that trial's id)
ROUND_KEY = "race_round"         # ... in this round (every candidate of a round: the same seed, the same fold)
FOLD_KEY = "fold"                # a race run on re-split data: its training/validation fold ...
FOLDS_KEY = "folds"              # ... of this many stratified folds of the training and validation images
SCHEDULE_KEY = "schedule"        # a replayed PBT schedule: JSON {param: [[first epoch, value], ...]}
FACTOR_KEY = "ablation_factor"   # ablation: the factor this run changes ("baseline" for none)
FACTOR_VALUE_KEY = "ablation_value"
BASELINE = "baseline"

# --- columns of the Parquet tables ---------------------------------------------------
CONFIG_PREFIX = "config_"        # config values are namespaced config_<param>
RUN_ID, TRIAL_ID, FAMILY, MODEL = "run_id", "trial_id", "family", "model"
EPOCH, STATUS = "epoch", "status"


def config_column(param: str) -> str:
    """``lr`` -> ``config_lr``."""
    return CONFIG_PREFIX + param


REPEAT_COL = config_column(REPEAT_KEY)
RACE_COL = config_column(RACE_KEY)
FACTOR_COL = config_column(FACTOR_KEY)

# --- the files of a run folder ------------------------------------------------------
SWEEP_FILE = "sweep.yaml"        # the frozen sweep file
RUN_FILE = "run.json"            # RunMeta
LOCK_FILE = ".lock"              # held by the one driver (sweep, resume, repeat) of the run
METRICS_DIR = "metrics"          # part-*.parquet, one row per trial and epoch
TRIALS_FILE = "trials.parquet"   # one row per trial
RAY_DIR = "ray"                  # Ray Tune's experiment state and the checkpoints
REPEAT_RAY_PREFIX = "ray-repeat-"
REPORT_DIR = "report"

# --- the files of one checkpoint ----------------------------------------------------
MODEL_FILE = "model.keras"
CHECKPOINT_META_FILE = "checkpoint.json"   # CheckpointMeta
OPTIMIZER_FILE = "optimizer.npz"           # the optimizer's variables by path (moments, step count)
