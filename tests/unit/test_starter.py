"""tunefm init's choices (spec.starter, pure) and its survey of a folder (datasets.survey)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestrator.spec.starter import Facts, asha_epochs, plan, render, trials_that_fit
from orchestrator.spec.sweep import parse_sweep
from trainables.datasets.survey import POOL, Survey, survey_folder


def survey(sizes=None, colour=0, gray=100, per_class=50, classes=("a", "b"), unreadable=(), splits=(POOL,),
           gray_in_colour=0) -> Survey:
    counts = {s: {c: per_class for c in classes} for s in splits}
    total = sum(sum(v.values()) for v in counts.values())
    return Survey("folder", "/data/imgs", tuple(classes), counts, sizes or {(28, 28): total}, colour, gray,
                  gray_in_colour, tuple(unreadable))


def costs(s: Survey, per_image: float = 1e-4) -> dict[str, float]:
    return {label: per_image for label, *_ in plan(Facts(s, 2, 5, "x"), draft=True).families}


def choices(starter) -> dict:
    return {c.key: c.value for c in (*starter.dataset, *starter.scheduler, *starter.top)}


def test_the_image_size_is_the_most_common_scaled_to_64_a_side_and_the_reason_says_so():
    s = survey(sizes={(300, 200): 90, (28, 28): 10})
    got = plan(Facts(s, 2, 5, "x", seconds_per_image=costs(s)))
    size = next(c for c in got.dataset if c.key == "image_size")
    assert size.value == [64, 43] and "90 of 100 images are 300x200" in size.why and "64 pixels" in size.why
    small = plan(Facts(survey(sizes={(24, 24): 100}), 2, 5, "x"), draft=True)
    assert next(c for c in small.dataset if c.key == "image_size").value == [24, 24]


def test_colour_is_judged_by_pixels_and_unreadable_files_are_skipped_with_a_reason():
    gray = plan(Facts(survey(gray=100, gray_in_colour=40), 2, 5, "x"), draft=True)
    mode = next(c for c in gray.dataset if c.key == "color_mode")
    assert mode.value == "grayscale" and "40 colour files hold gray pixels only" in mode.why
    rgb = plan(Facts(survey(colour=3, gray=97, unreadable=("/d/a/x.png: not a readable image",)), 2, 5, "x"),
               draft=True)
    assert choices(rgb)["color_mode"] == "rgb" and choices(rgb)["skip_corrupt"] is True


@pytest.mark.parametrize("side, most_blocks", [(8, 1), (16, 2), (28, 2), (32, 3), (64, 3)])
def test_the_cnn_has_no_more_pooling_blocks_than_the_image_can_halve(side, most_blocks):
    got = plan(Facts(survey(sizes={(side, side): 100}), 2, 5, "x"), draft=True)
    cnn = next(params for label, _, _, params, _ in got.families if label == "cnn")
    assert max(cnn["blocks"]["choice"]) == most_blocks


def test_more_minutes_or_cores_never_mean_fewer_trials_or_epochs():
    s = survey(per_class=2000, classes=tuple("abcdefghij"))
    rates = costs(s, 3e-4)
    seen = []
    for minutes, cores in ((1, 1), (2, 1), (5, 2), (10, 2), (30, 4), (120, 8)):
        got = plan(Facts(s, cores, minutes, "x", seconds_per_image=rates))
        c = choices(got)
        trials = sum(n for _, _, n, _, _ in got.families)
        seen.append((c.get("train_size", 10 ** 9), c["max_epochs"], trials))
    for (size0, e0, t0), (size1, e1, t1) in zip(seen, seen[1:]):
        assert size1 >= size0 and (e1, t1) >= (e0, 0) and (e1 > e0 or t1 >= t0), seen


def test_a_tight_budget_trains_on_a_stratified_subset_and_the_plan_fits_it():
    s = survey(per_class=6000, classes=tuple("abcdefghij"))         # 60k images
    got = plan(Facts(s, 2, 2, "x", seconds_per_image=costs(s, 4e-4)))
    c = choices(got)
    assert c["train_size"] < 38400 and "stratified subset" in next(x.why for x in got.dataset if x.key == "train_size")
    assert c["max_epochs"] == 5 and all(n >= 1 for _, _, n, _, _ in got.families)


def test_asha_epochs_and_trials_that_fit():
    assert asha_epochs(1) == 1 and asha_epochs(3) == pytest.approx(5 / 3) and asha_epochs(9) == pytest.approx(7 / 3)
    assert trials_that_fit(200.0, 1.0, 3) == pytest.approx(2 * trials_that_fit(100.0, 1.0, 3))


def test_what_is_rendered_is_a_sweep_file_tunefm_accepts_with_a_reason_for_each_choice():
    s = survey(sizes={(32, 32): 80, (40, 40): 20}, colour=100, gray=0, unreadable=("/d/b/y.png: bad",))
    got = plan(Facts(s, 2, 5, "my_set", seconds_per_image=costs(s)))
    text = render(got, "tunefm init /data/imgs --minutes 5", "transfer left out: a reason")
    spec = parse_sweep(text, "init.yaml")
    assert spec.name == "my_set" and spec.dataset.color_mode == "rgb" and spec.dataset.skip_corrupt
    assert tuple(spec.dataset.image_size) == (32, 32) and spec.time_budget_s == 300
    assert {f.label for f in spec.families} == {"dense", "cnn", "cnn_regularized"}
    lines = text.splitlines()
    for key in ("image_size", "color_mode", "skip_corrupt", "max_epochs", "time_budget_s", "resources"):
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(key + ":"))
        assert lines[at - 1].strip().startswith("# "), key          # the reason, right above the value


def _png(path: Path, size, colour=(10, 200, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), colour, np.uint8)).convert(mode).save(path)


def test_the_survey_reads_the_folder_as_the_loader_does(tmp_path):
    root = tmp_path / "imgs"
    for i in range(4):
        _png(root / "cat" / f"{i}.png", (16, 16))                         # colour
        _png(root / "dog" / f"{i}.png", (16, 16), (90, 90, 90))           # an RGB file of gray pixels
    _png(root / "dog" / "big.png", (24, 20), mode="L")
    (root / "cat" / "broken.png").write_bytes(b"not a png")
    (root / "cat" / "notes.txt").write_text("not an image: not counted")
    got = survey_folder(root)
    assert got.classes == ("cat", "dog") and got.counts == {POOL: {"cat": 4, "dog": 5}}
    assert got.sizes == {(16, 16): 8, (24, 20): 1} and got.colour == 4 and got.gray == 5
    assert got.gray_files_in_colour == 4
    assert len(got.unreadable) == 1 and "broken.png: not a readable image" in got.unreadable[0]
