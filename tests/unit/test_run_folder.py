"""A damaged, edited, locked or read-only run folder: one line on stderr, exit 2, no traceback."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.store import schema as S
from orchestrator.store.folder import RunFolder, sha256_text
from orchestrator.store.lock import held
from orchestrator.store.parquet import RunStore
from orchestrator.store.records import RunMeta, RunStatus
from orchestrator.store.snapshot import read_snapshot
from tests.conftest import run_meta, trial_row

SWEEP = "name: s\ndataset: {name: fashion_mnist}\nfamilies: {dense: {}}\n"
ROOT = Path(__file__).parents[2]


def make_run(folder: Path, status: str = "finished") -> Path:
    store = RunStore(folder, [])
    store.write_sweep_copy(SWEEP)
    store.write_meta(run_meta(status, sweep_sha256=sha256_text(SWEEP)))
    store.append_metrics([{S.RUN_ID: "r1", S.TRIAL_ID: t, S.FAMILY: "dense", S.MODEL: "dense", S.EPOCH: e,
                           "val_accuracy": 0.5 + 0.1 * e} for t in ("a", "b") for e in (1, 2)])
    store.flush_metrics()
    store.write_trials([trial_row({S.TRIAL_ID: t, S.FAMILY: "dense", S.STATUS: S.COMPLETED, "epochs": 2})
                        for t in ("a", "b")])
    return folder


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tunefm: error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_a_sound_folder_reads(tmp_path):
    result = invoke("leaderboard", str(make_run(tmp_path / "run")))
    assert result.exit_code == 0, result.output
    assert "overall board by val_accuracy" in result.output


def test_truncated_metric_part_is_named(tmp_path):
    run = make_run(tmp_path / "run")
    part = next((run / "metrics").glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:40])
    one_line_error(invoke("leaderboard", str(run)), str(part), "truncated or not Parquet", "move it out")


def test_truncated_trials_table_is_named(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "trials.parquet").write_bytes(b"PAR1 only a header")
    one_line_error(invoke("report", str(run)), "trials.parquet is truncated or not Parquet", "restore it")


@pytest.mark.parametrize("text, said", [("{not json", "is not valid JSON"),
                                        ('{"run_id": "r1"}', "required field 'sweep' is missing"),
                                        ('{"format": 99}', "newer than this tunefm reads"),
                                        ("[]", "expected a mapping")])
def test_malformed_run_json_is_named(tmp_path, text, said):
    run = make_run(tmp_path / "run")
    (run / "run.json").write_text(text)
    for command in ("leaderboard", "report", "resume", "repeat"):
        one_line_error(invoke(command, str(run)), "run.json", said)


def test_resume_refuses_an_edited_frozen_sweep_file(tmp_path):
    run = make_run(tmp_path / "run", status="interrupted")
    (run / "sweep.yaml").write_text(SWEEP.replace("dense: {}", "dense: {}\n  cnn: {}"))
    one_line_error(invoke("resume", str(run)), "sweep.yaml was changed after the run started", "put the original back")
    one_line_error(invoke("repeat", str(run)), "interrupted, not finished")


def test_the_leaderboard_of_a_run_whose_frozen_sweep_file_was_edited_says_so(tmp_path):
    """Resume, repeat and extend refuse such a run; a reader goes on, but not silently."""
    run = make_run(tmp_path / "run")
    assert "warning" not in invoke("leaderboard", str(run)).output
    (run / "sweep.yaml").write_text(SWEEP.replace("dense: {}", "dense: {num_samples: 3}"))
    shown = invoke("leaderboard", str(run))
    assert shown.exit_code == 0 and shown.output.splitlines()[1] == (
        "warning: the run's frozen sweep.yaml was edited after the run started, so it may not describe its trials")


def test_resume_of_a_finished_run_and_of_no_run(tmp_path):
    one_line_error(invoke("resume", str(make_run(tmp_path / "run"))), "this run finished")
    (tmp_path / "empty").mkdir()
    one_line_error(invoke("resume", str(tmp_path / "empty")), "not a tunefm run folder (no run.json)")
    one_line_error(invoke("report", str(tmp_path / "nowhere")), "no such run folder")
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    one_line_error(invoke("resume", str(tmp_path / "sweep.yaml")), "sweep.yaml: a file, not a run folder")


def test_a_second_driver_is_refused_with_the_holders_pid_and_host(tmp_path):
    run = make_run(tmp_path / "run", status="interrupted")
    with RunFolder(run).lock("tunefm resume run"):
        assert held(RunFolder(run).lock_path)["pid"] == os.getpid()
        line = one_line_error(invoke("resume", str(run)), "another tunefm is driving this run", f"pid {os.getpid()}")
        assert os.uname().nodename in line
        one_line_error(invoke("repeat", str(run)), "another tunefm is driving this run")
        assert invoke("leaderboard", str(run)).exit_code == 0        # readers never wait for the lock
    assert held(RunFolder(run).lock_path) is None                    # released with its holder


def test_the_lock_goes_when_its_process_dies(tmp_path):
    run = make_run(tmp_path / "run", status="running")
    code = f"from orchestrator.store.folder import RunFolder; RunFolder(__import__('pathlib').Path({str(run)!r})).lock(); " \
           "import os; os.kill(os.getpid(), 9)"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT)
    assert held(RunFolder(run).lock_path) is None
    status, note = RunFolder(run).status()
    assert status == RunStatus.INTERRUPTED and "driver stopped" in note


@pytest.fixture
def shared_tmp():
    """A folder every user can reach (pytest's tmp_path is private to its owner)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="tunefm-ro-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_report_on_a_read_only_folder_needs_out(shared_tmp):
    """As a user who may read the run but not write it (root ignores permissions)."""
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run a command as another user")
    tmp_path = shared_tmp
    run = make_run(tmp_path / "run")
    out = tmp_path / "elsewhere"
    out.mkdir()
    for path in (tmp_path, run, *run.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    out.chmod(0o777)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "orchestrator.cli"]
    env = {**os.environ, "HOME": str(out), "MPLCONFIGDIR": str(out)}
    refused = subprocess.run([*nobody, "report", str(run)], cwd=ROOT, capture_output=True, text=True, env=env)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"tunefm: error: {run / 'report'}: cannot write the report there (Permission denied); "
        "write the report elsewhere with --out DIR"]
    assert not (run / "report").exists()
    written = subprocess.run([*nobody, "report", str(run), "--out", str(out / "report")], cwd=ROOT,
                             capture_output=True, text=True, env=env)
    assert written.returncode == 0, written.stderr
    assert (out / "report" / "report.html").is_file() and not (run / "report").exists()


def test_run_meta_round_trips_through_json():
    meta = RunMeta(run_id="r", sweep="s", metric="val_loss", mode="min", max_epochs=3, trials=2,
                   status=RunStatus.INTERRUPTED, resumed=("t1",), counts={"completed": 2}, note="stopped by SIGTERM")
    back = RunMeta.from_dict(json.loads(json.dumps(meta.to_dict())))
    assert back == meta and back.status is RunStatus.INTERRUPTED


def test_checkpoints_a_killed_driver_never_recorded_are_found_in_the_folder(tmp_path):
    from orchestrator.store.ledger import from_tables
    from orchestrator.store.checkpoints import fill_checkpoints
    from orchestrator.store.parquet import read_metrics
    from trainables.contract.records import CheckpointMeta

    run = make_run(tmp_path / "run", status="running")
    (run / "trials.parquet").unlink()                      # the driver died before writing it
    for epoch, best in ((1, False), (2, True)):            # "a": epoch 2 is its best (0.7 > 0.6)
        ckpt = run / "ray" / "a" / f"checkpoint_00000{epoch - 1}"
        ckpt.mkdir(parents=True)
        (ckpt / "model.keras").write_bytes(b"weights")
        meta = CheckpointMeta(epoch=epoch, metric="val_accuracy", value=0.5 + 0.1 * epoch, is_best=best,
                              best_epoch=2 if best else 1, improvements=epoch)
        (ckpt / "checkpoint.json").write_text(json.dumps(meta.to_dict()))
    ledger = from_tables("r1", "val_accuracy", "max", 2, pd.DataFrame(), read_metrics(run))
    fill_checkpoints(ledger, RunFolder(run))
    assert ledger.trials["a"].checkpoint == "ray/a/checkpoint_000001"
    assert ledger.trials["a"].last_checkpoint == "ray/a/checkpoint_000001"
    assert ledger.trials["b"].checkpoint is None                 # none on disk: none claimed
    trials = read_snapshot(run).trials.set_index(S.TRIAL_ID)     # the report of the killed run finds it too
    assert trials.loc["a", "checkpoint"] == "ray/a/checkpoint_000001"


def test_leaderboard_of_a_run_with_no_scored_trial_mentions_no_option(tmp_path):
    store = RunStore(tmp_path / "run", [])
    store.write_sweep_copy(SWEEP)
    store.write_meta(run_meta("finished", sweep_sha256=sha256_text(SWEEP)))
    store.write_trials([trial_row({S.TRIAL_ID: "a", S.FAMILY: "dense", S.STATUS: S.FAILED, "error": "boom"})])
    line = one_line_error(invoke("leaderboard", str(tmp_path / "run")), "no trial has a val_accuracy yet")
    assert "--family" not in line


def test_repeat_of_a_run_without_its_trials_table_is_refused_not_rewritten(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "trials.parquet").unlink()
    one_line_error(invoke("repeat", str(run)), "trials.parquet is missing", "restore it from a copy")
    one_line_error(invoke("extend", str(run), "--num-samples", "1"), "trials.parquet is missing")
    assert not (run / "trials.parquet").exists() and RunFolder(run).meta().status == RunStatus.FINISHED


def _statuses(run: Path, *statuses: str) -> None:
    RunStore(run, []).write_trials([trial_row({S.TRIAL_ID: t, S.FAMILY: "dense", S.STATUS: s, "epochs": 2})
                                    for t, s in zip("ab", statuses)])   # make_run's metrics: trials a, b


def test_a_run_json_edited_to_say_finished_is_not_built_on_and_not_reported_as_finished(tmp_path):
    """An interrupted run's run.json edited to "finished": repeat and extend would build on
    half-trained trials, resume would say there is nothing to do, and the report would
    call it finished. Each names run.json instead; the report says what the tables say."""
    run = make_run(tmp_path / "run")
    _statuses(run, S.COMPLETED, S.STOPPED)
    RunStore(run, []).write_meta(run_meta("finished", trials=3, sweep_sha256=sha256_text(SWEEP)))
    why = "says the run finished, but 1 trial(s) were stopped before their end; 1 of its 3 trials never started"
    for command in (["repeat", str(run)], ["extend", str(run), "--num-samples", "1"], ["resume", str(run)]):
        one_line_error(invoke(*command), "run.json " + why, 'set its status to "interrupted" to resume')
    snap = read_snapshot(run)
    assert snap.status == RunStatus.INTERRUPTED and snap.status_note.startswith("its run.json says finished, but")


def test_what_a_finished_run_may_hold():
    from orchestrator.spec.sweep import parse_sweep
    from orchestrator.store.snapshot import finished_contradiction

    plain, budgeted = parse_sweep(SWEEP, "s.yaml"), parse_sweep(SWEEP + "time_budget_s: 60\n", "s.yaml")

    def table(*statuses):
        return pd.DataFrame({S.TRIAL_ID: [f"t{i}" for i in range(len(statuses))], S.STATUS: list(statuses)})

    done = table(S.COMPLETED, S.EARLY_STOPPED, S.FAILED)
    assert finished_contradiction(run_meta("finished", trials=3), plain, done) is None
    assert finished_contradiction(run_meta("interrupted", trials=5), plain, table(S.RUNNING)) is None
    # a time budget stops trials and leaves some never started; none is left running
    assert finished_contradiction(run_meta("finished", trials=5), budgeted, table(S.COMPLETED, S.STOPPED)) is None
    assert finished_contradiction(run_meta("finished", trials=2), budgeted, table(S.COMPLETED, S.RUNNING)) == \
        "1 trial(s) are still running or pending"
    # repeat and extend phases count: 3 drawn in the sweep and 2 in a repeat, 4 recorded
    from orchestrator.store.records import RepeatPhase

    meta = run_meta("finished", trials=3, repeats=(RepeatPhase(top_k=1, seeds=2, trials=2),))
    assert finished_contradiction(meta, plain, table(*[S.COMPLETED] * 4)) == "1 of its 5 trials never started"
