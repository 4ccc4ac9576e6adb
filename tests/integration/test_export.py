"""tunefm export on a real tiny sweep: every format loaded back in its own runtime.

The artefacts are read here with the runtimes' own APIs (Keras, TensorFlow's SavedModel
loader, onnxruntime, the LiteRT interpreter), not through tunefm's, and compared with the
checkpoint's predictions on the test split.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator.store import schema as S
from orchestrator.store.parquet import read_metrics, read_trials
from tests.conftest import run_text, write_idx_dataset

pytestmark = pytest.mark.integration

SWEEP = """
name: exp
dataset: {{name: fashion_mnist, data_dir: {data}, train_size: 500, val_size: 200}}
seed: 3
families:
  dense: {{num_samples: 2, params: {{units: {{choice: [16, 32]}}, lr: 0.003}}}}
  cnn: {{num_samples: 1, params: {{filters: 4, dense_units: 8, lr: 0.003, aug_flip: horizontal,
                                  batch_norm: true}}}}
scheduler: {{kind: fifo, max_epochs: 2}}
resources: {{cpus: 1}}
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory, local_ray):
    from orchestrator.cli import main

    root = tmp_path_factory.mktemp("export")
    data = write_idx_dataset(root / "data", n_train=1000, n_test=150)
    text = SWEEP.format(data=data)
    summary = run_text(text, root / "res")
    out = root / "shipped"
    result = CliRunner().invoke(main, ["export", str(summary.run_dir), "--out", str(out), "--format", "keras",
                                       "--format", "savedmodel", "--format", "onnx", "--format", "tflite"])
    assert result.exit_code == 0, result.output
    return summary, text, out, result.output


def _checkpoint_probs(summary, text, trial_id):
    import keras

    from orchestrator.spec.sweep import parse_sweep
    from trainables.datasets import load_test

    test, _ = load_test(parse_sweep(text, "e.yaml").dataset)
    ckpt = read_trials(summary.run_dir).set_index(S.TRIAL_ID).loc[trial_id, "checkpoint"]
    model = keras.models.load_model(summary.run_dir / ckpt / "model.keras")
    return test, model.predict(test.x.astype("float32"), verbose=0)


def test_every_format_predicts_what_the_checkpoint_predicts(exported):
    import keras
    import onnxruntime
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    summary, text, out, output = exported
    card = json.loads((out / "model_card.json").read_text())
    test, reference = _checkpoint_probs(summary, text, card["trial_id"])
    x = test.x                                              # uint8, as the data set stores it
    assert x.dtype == np.uint8

    k = keras.models.load_model(out / "model.keras")
    assert k.inputs[0].dtype == "uint8"
    got = {"keras": k.predict(x, verbose=0)}
    saved = tf.saved_model.load(str(out / "saved_model"))     # kept: serve() needs its variables alive
    got["savedmodel"] = saved.serve(tf.constant(x)).numpy()
    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    got["onnx"] = session.run(None, {session.get_inputs()[0].name: x})[0]
    lite = Interpreter(model_path=str(out / "model.tflite"))
    inp = lite.get_input_details()[0]
    assert inp["dtype"] == np.uint8
    lite.resize_tensor_input(inp["index"], x.shape)
    lite.allocate_tensors()
    lite.set_tensor(inp["index"], x)
    lite.invoke()
    got["tflite"] = lite.get_tensor(lite.get_output_details()[0]["index"])
    for fmt, probs in got.items():
        assert probs.shape == reference.shape, fmt
        assert np.abs(probs - reference).max() < 1e-4, fmt
        assert (probs.argmax(1) == reference.argmax(1)).all(), fmt
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4), fmt   # probabilities, not logits


def test_the_card_states_what_was_measured(exported):
    from scipy.stats import binomtest

    from orchestrator.export.card import ModelCard
    from orchestrator.ranking.leaderboard import board, leaderboards


    summary, text, out, output = exported
    card = ModelCard.from_dict(json.loads((out / "model_card.json").read_text()), "card")
    overall = board(leaderboards(read_trials(summary.run_dir), read_metrics(summary.run_dir), "val_accuracy", "max"))
    assert card.trial_id == overall[S.TRIAL_ID].iloc[0]                  # the run's #1 by validation
    test, reference = _checkpoint_probs(summary, text, card.trial_id)
    assert card.test["accuracy"] == pytest.approx(np.mean(reference.argmax(1) == test.y))
    assert card.test["images"] == len(test) == 150
    per_class = [np.mean(reference.argmax(1)[test.y == c] == c) for c in range(10)]
    assert list(card.test["per_class_accuracy"].values()) == pytest.approx(per_class)
    v = card.validation
    ci = binomtest(round(v["score"] * 200), 200).proportion_ci(method="wilson")
    assert (v["ci_low"], v["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high)) and v["images"] == 200
    assert v["recomputed"] == pytest.approx(v["score"])
    assert card.ranking.startswith(f"#1 ({card.trial_id}) ") and "McNemar exact" in card.ranking
    assert {a["format"] for a in card.artifacts} == {"keras", "savedmodel", "onnx", "tflite"}
    assert all(a["agreement"]["images"] == 150 and a["agreement"]["top1_disagreements"] == 0 for a in card.artifacts)
    assert card.input == {"name": "images", "dtype": "uint8", "shape": [None, 28, 28, 1], "value_range": [0, 255]}
    assert card.params == overall.set_index(S.TRIAL_ID).loc[card.trial_id, "params"]
    assert card.latency["ms_per_image_batch1"] > 0 and card.latency["ms_per_image_batch256"] > 0
    assert isinstance(card.config["units"], int) or card.family == "cnn"
    assert card.command.startswith("tunefm export ") and "onnxruntime" in card.versions
    md = (out / "model_card.md").read_text()
    assert card.ranking in md and "uint8" in md and "| Pullover |" in md
    # each split's own sha256 (train and val are cut from the same files), recomputed here
    from orchestrator.spec.sweep import parse_sweep
    from trainables.datasets import load_trial_data
    from trainables.datasets.provenance import arrays_sha256

    data = load_trial_data(parse_sweep(text, "e.yaml").dataset)
    digests = card.data["sha256"]
    assert digests["train"]["arrays"] == arrays_sha256(data.train) != digests["val"]["arrays"]
    assert digests["val"]["arrays"] == arrays_sha256(data.val) and digests["train"]["files"] == digests["val"]["files"]
    assert f"- val split: images and labels sha256 {arrays_sha256(data.val)}; read from files" in md


def test_export_of_another_trial_and_its_errors(exported, tmp_path):
    from orchestrator.cli import main

    summary, _, _, _ = exported
    trials = read_trials(summary.run_dir)
    card = json.loads((exported[2] / "model_card.json").read_text())
    other = next(t for t in trials[S.TRIAL_ID] if t != card["trial_id"])
    result = CliRunner().invoke(main, ["export", str(summary.run_dir), "--trial", other, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    second = json.loads((tmp_path / "o" / "model_card.json").read_text())
    assert second["trial_id"] == other and f"#1 ({card['trial_id']})" in second["ranking"]
    assert [a["format"] for a in second["artifacts"]] == ["keras"]

    bad = CliRunner().invoke(main, ["export", str(summary.run_dir), "--trial", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--trial nope: no such trial" in bad.output and len(bad.output.splitlines()) == 1
    fmt = CliRunner().invoke(main, ["export", str(summary.run_dir), "--format", "pt", "--out", str(tmp_path / "x")])
    assert fmt.exit_code == 2 and "pt" in fmt.output and len(fmt.output.strip().splitlines()) == 1
