"""The CLI: one-line errors with exit code 2, every option documented (click's CliRunner)."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from trainables.families import family_names, get_family

GOOD = "name: t\ndataset: {name: fashion_mnist}\nfamilies:\n  dense: {num_samples: 2, params: {lr: {grid: [0.1, 0.01]}}}\n"


@pytest.fixture
def runner():
    return CliRunner()


def write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_validate_ok(runner, tmp_path):
    result = runner.invoke(main, ["validate", write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    assert "ok. sweep 't' on fashion_mnist: 4 trials (dense 4)" in result.stdout


def test_validate_says_what_asha_does_with_objectives(runner, tmp_path):
    text = GOOD.replace("lr: {grid: [0.1, 0.01]}", "lr: {choice: [0.1, 0.01]}")
    result = runner.invoke(main, ["validate", write(tmp_path, text + "search: tpe\nobjectives: [val_accuracy, params]\n")])
    assert result.exit_code == 0, result.output
    assert "objectives: val_accuracy (max), params (min)" in result.stdout
    assert "ASHA stops trials by val_accuracy alone" in result.stdout


def test_report_budget_is_checked_before_any_work(runner, tmp_path):
    result = runner.invoke(main, ["report", str(tmp_path), "--budget", "params=0"])
    assert result.exit_code == 2 and "--budget params=0: params needs a positive number" in result.output


@pytest.mark.parametrize("command", ["validate", "preview", "sweep"])
def test_bad_sweep_file_is_one_line_on_stderr_and_exit_2(runner, tmp_path, command):
    path = write(tmp_path, GOOD.replace("lr:", "lrr:"))
    result = runner.invoke(main, [command, path, "--results", str(tmp_path / "res")] if command == "sweep"
                           else [command, path])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"tunefm: error: {path}: families.dense.params.lrr: not a parameter")
    assert not (tmp_path / "res").exists()


def test_missing_dataset_stops_before_any_run_folder(runner, tmp_path):
    text = "name: t\ndataset: {name: folder, data_dir: %s}\nfamilies: {dense: {}}\n" % (tmp_path / "nope")
    result = runner.invoke(main, ["sweep", write(tmp_path, text), "--results", str(tmp_path / "res")])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().endswith("nope: no such folder") and result.stderr.count("\n") == 1
    assert not (tmp_path / "res").exists()


def test_families_lists_every_parameter(runner):
    result = runner.invoke(main, ["families"])
    assert result.exit_code == 0
    for name in family_names():
        assert f"{name}: " in result.stdout
        for p in get_family(name).all_params:
            assert f"  {p.name} (" in result.stdout
    one = runner.invoke(main, ["families", "cnn"])
    assert "blocks (" in one.stdout and "dense:" not in one.stdout
    bad = runner.invoke(main, ["families", "resnet"])
    assert bad.exit_code == 2 and "unknown model family 'resnet' (known: cnn, dense, transfer)" in bad.stderr


def test_every_command_and_option_is_documented():
    for name, command in main.commands.items():
        assert command.help and len(command.help) > 20, name
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"tunefm {name} {param.opts[0]} has no help"


def test_help_works_for_every_command(runner):
    for name in [None, *main.commands]:
        result = runner.invoke(main, ([name] if name else []) + ["--help"])
        assert result.exit_code == 0 and "Usage:" in result.stdout


def test_report_and_leaderboard_of_a_non_run_are_one_line(runner, tmp_path):
    for command in ("report", "leaderboard"):
        result = runner.invoke(main, [command, str(tmp_path)])
        assert result.exit_code == 2
        assert result.stderr == f"tunefm: error: {tmp_path}: not a tunefm run folder (no run.json)\n"


@pytest.mark.parametrize("command", ["report", "leaderboard"])
def test_watch_before_the_run_says_how_to_write_it(runner, tmp_path, command):
    result = runner.invoke(main, [command, "--watch", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and f"'{tmp_path}' is not a number of seconds" in result.stderr
    assert f"'tunefm {command} RUN --watch'" in result.stderr
    # the run first, with or without seconds, gets as far as reading the folder
    for args in ([str(tmp_path), "--watch"], ["--watch", "5", str(tmp_path)]):
        assert "not a tunefm run folder" in runner.invoke(main, [command, *args]).stderr


def test_watch_with_a_fraction_of_a_second_is_the_range_error(runner, tmp_path):
    result = runner.invoke(main, ["leaderboard", "--watch", "1.5", str(tmp_path)])
    assert result.exit_code == 2 and "put the run first" not in result.stderr and "'1.5'" in result.stderr
