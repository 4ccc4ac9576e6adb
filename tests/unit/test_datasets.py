"""Data sets on files the tests write in the real formats: IDX, Keras' npz, image folders."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainables.contract.errors import DatasetError
from tests.conftest import make_images, write_idx_dataset
from trainables.datasets import DataSpec, load_test, load_trial_data
from trainables.datasets import mnist_like
from trainables.datasets.idx import read_idx, write_idx
from trainables.datasets.split import stratified_split, stratified_subset


@pytest.fixture(autouse=True)
def no_system_data(monkeypatch, tmp_path):
    """Keep the machine's own data (Debian package, Keras cache) out of these tests."""
    monkeypatch.delenv("TUNEFM_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(mnist_like, "keras_cache_dirs", lambda: [tmp_path / "keras_home" / "datasets"])
    for src in ("FASHION_MNIST", "MNIST"):
        old = getattr(mnist_like, src)
        monkeypatch.setattr(mnist_like, src, mnist_like.IdxSource(
            old.name, str(tmp_path / "debian" / old.name), old.keras_subdir, old.keras_module,
            old.class_names, old.hint))
    from trainables.datasets import registry
    monkeypatch.setitem(registry.DATASETS, "fashion_mnist", registry._idx(mnist_like.FASHION_MNIST, ""))
    monkeypatch.setitem(registry.DATASETS, "mnist", registry._idx(mnist_like.MNIST, ""))
    monkeypatch.setattr(mnist_like, "_download", _no_network)


def _no_network(source, part):
    raise ConnectionError("no network in tests")


def test_idx_round_trip(tmp_path):
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", x)
    write_idx(tmp_path / "b", x)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), x) and np.array_equal(read_idx(tmp_path / "b"), x)


def test_truncated_idx_is_a_clear_error(tmp_path):
    x = np.zeros((10, 28, 28), np.uint8)
    write_idx(tmp_path / "x", x)
    data = (tmp_path / "x").read_bytes()
    (tmp_path / "short").write_bytes(data[:-100])
    with pytest.raises(DatasetError, match=r"short: truncated or corrupt: header says 7840 bytes of data, file has 7740"):
        read_idx(tmp_path / "short")
    gz = gzip.compress(data)
    (tmp_path / "short.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DatasetError, match=r"short.gz: cannot be read .*truncated or corrupt"):
        read_idx(tmp_path / "short.gz")


def test_idx_dataset_from_data_dir_loads_with_stratified_split(idx_dir):
    data = load_trial_data(DataSpec("fashion_mnist", data_dir=str(idx_dir), val_fraction=0.2, seed=3))
    assert data.train.x.shape == (480, 28, 28, 1) and data.val.x.shape == (120, 28, 28, 1)
    assert data.train.x.dtype == np.uint8 and data.input_shape == (28, 28, 1)
    assert data.class_names[0] == "T-shirt/top" and data.num_classes == 10
    assert np.all(np.bincount(data.val.y, minlength=10) == 12)       # stratified
    test, names = load_test(DataSpec("fashion_mnist", data_dir=str(idx_dir)))
    assert len(test) == 200 and names == data.class_names


def test_train_and_val_never_overlap_and_test_is_separate(idx_dir):
    data = load_trial_data(DataSpec("mnist", data_dir=str(idx_dir)))
    seen = {d.tobytes() for d in data.train.x}
    assert not any(v.tobytes() in seen for v in data.val.x)
    assert data.class_names == tuple("0123456789")


def test_subsets_are_stratified_and_seeded(idx_dir):
    spec = DataSpec("fashion_mnist", data_dir=str(idx_dir), train_size=100, val_size=50, seed=1)
    a, b = load_trial_data(spec), load_trial_data(spec)
    assert len(a.train) == 100 and len(a.val) == 50
    assert np.all(np.bincount(a.train.y) == 10) and np.array_equal(a.train.x, b.train.x)
    with pytest.raises(DatasetError, match="dataset.train_size asks for 5000 images but only 480"):
        load_trial_data(DataSpec("fashion_mnist", data_dir=str(idx_dir), train_size=5000))


def test_env_dir_is_used_and_data_dir_wins(tmp_path, monkeypatch, idx_dir):
    other = write_idx_dataset(tmp_path / "other", n_train=300)
    monkeypatch.setenv("TUNEFM_DATA_DIR", str(other))
    assert len(load_trial_data(DataSpec("fashion_mnist")).train) == 240
    assert len(load_trial_data(DataSpec("fashion_mnist", data_dir=str(idx_dir))).train) == 480


def test_debian_folder_then_keras_cache_npz(tmp_path):
    write_idx_dataset(tmp_path / "debian" / "fashion_mnist", n_train=300)
    assert len(load_trial_data(DataSpec("fashion_mnist")).train) == 240
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    x, y = make_images(100)
    xt, yt = make_images(40, seed=5)
    np.savez(cache / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    assert len(load_trial_data(DataSpec("mnist")).train) == 80
    test, _ = load_test(DataSpec("mnist"))
    assert np.array_equal(test.x[..., 0], xt)


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_trial_data(DataSpec("fashion_mnist"))
    msg = str(err.value)
    assert "dataset 'fashion_mnist' not found" in msg
    assert "debian" in msg and "keras_home" in msg and "no network in tests" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "\n" not in msg


def test_a_named_data_dir_is_the_only_place_looked_at(tmp_path, monkeypatch):
    write_idx_dataset(tmp_path / "debian" / "fashion_mnist", n_train=300)       # would be found otherwise
    with pytest.raises(DatasetError, match=rf"dataset.data_dir {tmp_path / 'mine'}: no such folder"):
        load_trial_data(DataSpec("fashion_mnist", data_dir=str(tmp_path / "mine")))
    monkeypatch.setenv("TUNEFM_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DatasetError, match=rf"TUNEFM_DATA_DIR {tmp_path / 'env'}: no such folder"):
        load_trial_data(DataSpec("fashion_mnist"))


def test_train_and_test_come_from_the_one_folder_named(tmp_path):
    """A data_dir with the training files only: no test split from anywhere else."""
    write_idx_dataset(tmp_path / "debian" / "fashion_mnist", n_train=300)
    mine = write_idx_dataset(tmp_path / "mine", n_train=300)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (mine / name).unlink()
    spec = DataSpec("fashion_mnist", data_dir=str(mine))
    with pytest.raises(DatasetError) as err:
        load_trial_data(spec)
    assert str(err.value) == (f"dataset.data_dir {mine}: fashion_mnist is incomplete there, missing "
                              "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (train and test are read "
                              "from the one folder named; nothing else is looked at)")
    with pytest.raises(DatasetError, match="incomplete there"):
        load_test(spec)


@pytest.mark.parametrize("kind", ["idx", "npz"])
def test_labels_outside_the_classes_are_refused_at_load(tmp_path, kind):
    x, y = make_images(50)
    y[7] = 200
    if kind == "idx":
        folder = write_idx_dataset(tmp_path / "d", n_train=50)
        write_idx(folder / "train-labels-idx1-ubyte.gz", y)
        spec, where = DataSpec("fashion_mnist", data_dir=str(folder)), "train-labels-idx1-ubyte.gz"
    else:
        (tmp_path / "d").mkdir()
        np.savez(tmp_path / "d" / "mnist.npz", x_train=x, y_train=y, x_test=x, y_test=y % 10)
        spec, where = DataSpec("mnist", data_dir=str(tmp_path / "d")), "mnist.npz"
    with pytest.raises(DatasetError, match=rf"{where}: label 200 is outside the 10 classes of \w+ \(0..9\)"):
        load_trial_data(spec)


def _write_pngs(root: Path, classes=("cat", "dog", "frog"), per_class=10, size=12, mode="RGB"):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = np.full((size, size, 3), (c * 80, i * 10, 50), np.uint8)
            Image.fromarray(arr).convert(mode).save(root / name / f"{i}.png")


def test_folder_with_split_fraction_rgb_resized(tmp_path):
    _write_pngs(tmp_path / "imgs")
    spec = DataSpec("folder", data_dir=str(tmp_path / "imgs"), image_size=(8, 6), color_mode="rgb",
                    test_fraction=0.2, val_fraction=0.25)
    data = load_trial_data(spec)
    test, names = load_test(spec)
    assert names == ("cat", "dog", "frog") and data.class_names == names
    assert data.input_shape == (8, 6, 3)
    assert len(test) == 6 and len(data.train) + len(data.val) == 24 and len(data.val) == 6
    assert np.all(np.bincount(test.y) == 2)
    red = data.train.x[data.train.y == 2][0, 0, 0, 0]
    assert red == 160                                         # pixel values survive


def test_folder_with_train_test_val_grayscale(tmp_path):
    for part, n in (("train", 8), ("val", 3), ("test", 4)):
        _write_pngs(tmp_path / "imgs" / part, classes=("a", "b"), per_class=n)
    spec = DataSpec("folder", data_dir=str(tmp_path / "imgs"))
    data = load_trial_data(spec)
    assert data.input_shape == (12, 12, 1)
    assert (len(data.train), len(data.val), len(load_test(spec)[0])) == (16, 6, 8)


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="none: no such folder"):
        load_trial_data(DataSpec("folder", data_dir=str(tmp_path / "none")))
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(DatasetError, match="needs at least two class subfolders, found 1"):
        load_trial_data(DataSpec("folder", data_dir=str(tmp_path / "one")))
    _write_pngs(tmp_path / "bad", classes=("a", "b"), per_class=2)
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="broken.png: not a readable image"):
        load_trial_data(DataSpec("folder", data_dir=str(tmp_path / "bad")))


def test_split_helpers():
    y = np.repeat(np.arange(4), 25)
    keep, held = stratified_split(y, 0.2, 0)
    assert len(held) == 20 and np.all(np.bincount(y[held]) == 5) and not set(keep) & set(held)
    assert np.array_equal(stratified_split(y, 0.2, 0)[1], held)
    assert not np.array_equal(stratified_split(y, 0.2, 1)[1], held)
    assert len(stratified_subset(y, 8, 0, "x")) == 8 and len(stratified_subset(y, None, 0, "x")) == 100


def _folder(tmp_path, **kw) -> DataSpec:
    return DataSpec("folder", data_dir=str(tmp_path / "imgs"), **kw)


def test_images_are_scaled_by_their_bit_depth_and_mode(tmp_path):
    """8- and 16-bit grayscale, palette and RGBA images, each read as the value it means."""
    root = tmp_path / "imgs"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
    wide = np.full((4, 4), 40000, np.uint16)
    Image.fromarray(wide).save(root / "a" / "sixteen.png")                    # 16-bit grayscale PNG
    Image.fromarray(np.full((4, 4), 156, np.uint8)).save(root / "a" / "eight.png")
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.save(root / "b" / "palette.png")
    Image.fromarray(np.dstack([np.full((4, 4, 3), (10, 20, 30), np.uint8), np.zeros((4, 4), np.uint8)]),
                    "RGBA").save(root / "b" / "rgba.png")
    Image.fromarray(np.full((4, 4), 7, np.uint8)).save(root / "b" / "third.png")
    Image.fromarray(np.full((4, 4), 9, np.uint8)).save(root / "a" / "third.png")
    from trainables.datasets.folder import read_images

    gray = read_images(root, ("a", "b"), _folder(tmp_path, color_mode="grayscale"))
    rgb = read_images(root, ("a", "b"), _folder(tmp_path, color_mode="rgb"))
    by_file = dict(zip(["a/eight", "a/sixteen", "a/third", "b/palette", "b/rgba", "b/third"], range(6)))
    assert gray.x[by_file["a/sixteen"]].max() == round(40000 * 255 / 65535) == 156    # not clipped to 255
    assert gray.x[by_file["a/eight"]].max() == 156
    assert tuple(rgb.x[by_file["b/palette"]][0, 0]) == (200, 100, 50)               # the palette's colour
    assert tuple(rgb.x[by_file["b/rgba"]][0, 0]) == (10, 20, 30)                    # alpha dropped, colour kept
    assert tuple(rgb.x[by_file["a/sixteen"]][0, 0]) == (156, 156, 156)


def test_a_decompression_bomb_and_a_corrupt_image_are_named_or_skipped(tmp_path, capsys):
    import struct
    import zlib

    _write_pngs(tmp_path / "imgs", per_class=4)
    # a PNG whose header claims 60000 x 60000 pixels
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    bomb = tmp_path / "imgs" / "cat" / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(DatasetError, match=rf"{bomb}: a decompression bomb \(Image size \(3600000000 pixels\)"):
        load_trial_data(_folder(tmp_path))
    bomb.unlink()
    broken = tmp_path / "imgs" / "dog" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DatasetError, match=rf"{broken}: not a readable image .*dataset.skip_corrupt: true"):
        load_trial_data(_folder(tmp_path))
    data = load_trial_data(_folder(tmp_path, skip_corrupt=True, val_fraction=0.25))
    assert len(data.train) + len(data.val) == 9                       # 12 images, 1 skipped, 2 held for test
    assert any("skipped 1 unreadable image(s)" in w for w in data.warnings)


def test_skipped_images_are_announced_before_training(tmp_path, capsys):
    from orchestrator.run.plans import load_data

    _write_pngs(tmp_path / "imgs", per_class=4)
    (tmp_path / "imgs" / "dog" / "broken.png").write_bytes(b"not an image")
    data = load_data(_folder(tmp_path, skip_corrupt=True, val_fraction=0.25)).result(timeout=120)
    err = capsys.readouterr().err
    assert err.startswith("tunefm: warning: ") and "skipped 1 unreadable image(s) (dataset.skip_corrupt)" in err
    assert "broken.png" in err and len(data.warnings) == 1 and data.warnings[0] in err


def test_empty_short_nested_and_looping_class_folders_are_named(tmp_path, capsys):
    _write_pngs(tmp_path / "imgs", per_class=4)
    (tmp_path / "imgs" / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"imgs/empty: class 'empty' has no images"):
        load_trial_data(_folder(tmp_path))
    (tmp_path / "imgs" / "empty").rmdir()
    for png in sorted((tmp_path / "imgs" / "frog").glob("*.png"))[2:]:
        png.unlink()
    with pytest.raises(DatasetError, match=r"imgs/frog: class 'frog' has 2 image\(s\); the training, validation "
                                           r"and test splits need at least 3 per class"):
        load_trial_data(_folder(tmp_path))
    _write_pngs(tmp_path / "imgs", per_class=4)
    (tmp_path / "imgs" / "dog" / "more").mkdir()
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / "imgs" / "dog" / "more" / "x.png")
    data = load_trial_data(_folder(tmp_path, val_fraction=0.25))
    assert any("imgs/dog: 1 nested folder(s) not read (more, ...)" in w for w in data.warnings)
    (tmp_path / "imgs" / "loop").symlink_to(tmp_path / "imgs" / "loop")
    with pytest.raises(DatasetError, match=r"imgs/loop: a symlink that loops or points nowhere"):
        load_trial_data(_folder(tmp_path))


def test_idx_headers_that_lie_and_empty_sets_are_named(tmp_path):
    folder = write_idx_dataset(tmp_path / "d", n_train=50)
    lying = bytes([0, 0, 8, 3]) + (2**31).to_bytes(4, "big") * 2 + (4).to_bytes(4, "big")
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(lying))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz: truncated or corrupt: header says "
                                           r"18446744073709551616 bytes"):
        load_trial_data(DataSpec("fashion_mnist", data_dir=str(folder)))
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 0])))
    with pytest.raises(DatasetError, match="an IDX header with 0 dimensions"):
        load_trial_data(DataSpec("fashion_mnist", data_dir=str(folder)))
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((0, 28, 28), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros((0,), np.uint8))
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz: holds no images"):
        load_trial_data(DataSpec("fashion_mnist", data_dir=str(folder)))


def test_npz_images_that_are_not_uint8_are_refused_not_cast(tmp_path):
    x, y = make_images(50)
    (tmp_path / "d").mkdir()
    np.savez(tmp_path / "d" / "mnist.npz", x_train=x.astype(np.float32) / 255, y_train=y, x_test=x, y_test=y)
    with pytest.raises(DatasetError, match=r"mnist.npz: x_train is float32; tunefm reads images as uint8"):
        load_trial_data(DataSpec("mnist", data_dir=str(tmp_path / "d")))
    np.savez(tmp_path / "d" / "mnist.npz", x_train=x, y_train=y.astype(np.int64) - 1, x_test=x, y_test=y)
    with pytest.raises(DatasetError, match=r"mnist.npz: label -1 is negative"):
        load_trial_data(DataSpec("mnist", data_dir=str(tmp_path / "d")))


def test_a_splits_arrays_hash_changes_with_any_image_or_label_and_nothing_else():
    from trainables.datasets.base import Labeled
    from trainables.datasets.provenance import arrays_sha256

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (20, 4, 4, 1), dtype=np.uint8), rng.integers(0, 3, 20)
    base = arrays_sha256(Labeled(x, y))
    assert arrays_sha256(Labeled(x.copy(), y.copy())) == base
    x2 = x.copy(); x2[3, 1, 2, 0] ^= 1
    y2 = y.copy(); y2[5] = (y2[5] + 1) % 3
    assert len({base, arrays_sha256(Labeled(x2, y)), arrays_sha256(Labeled(x, y2)),
                arrays_sha256(Labeled(x[:19], y[:19])), arrays_sha256(Labeled(x[::-1], y[::-1]))}) == 5


def test_a_damaged_test_split_is_found_before_a_sweep_trains(tmp_path):
    """The sweep never uses the test split, but its report does: a truncated test .gz
    used to surface only there, after the whole sweep had trained."""
    from trainables.datasets.registry import check_test_split

    folder = write_idx_dataset(tmp_path / "d", n_train=50, n_test=20)
    spec = DataSpec("fashion_mnist", data_dir=str(folder))
    check_test_split(spec)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-8])
    load_trial_data(spec)                                   # the sweep's own splits are fine
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.gz: cannot be read"):
        check_test_split(spec)


def test_subsets_smaller_than_the_classes_and_one_class_labels_are_refused(idx_dir, tmp_path):
    """A subset that cannot hold one image of each class used to train (unstratified), and
    labels of one class only used to score 1.0 without a word."""
    from trainables.contract.errors import DatasetError

    with pytest.raises(DatasetError, match="dataset.train_size: 5 images cannot hold one of each of the 10 "
                                           "classes; give at least 10"):
        load_trial_data(DataSpec("fashion_mnist", data_dir=str(idx_dir), train_size=5))
    with pytest.raises(DatasetError, match="dataset.val_size: 3 images"):
        load_trial_data(DataSpec("fashion_mnist", data_dir=str(idx_dir), val_size=3))
    one = tmp_path / "one"
    one.mkdir()
    for part, n in (("train", 200), ("t10k", 50)):
        x, _ = make_images(n)
        write_idx(one / f"{part}-images-idx3-ubyte.gz", x)
        write_idx(one / f"{part}-labels-idx1-ubyte.gz", np.full(n, 3, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"the training split holds one class only \(Dress\) of 10"):
        load_trial_data(DataSpec("fashion_mnist", data_dir=str(one)))


def test_a_test_or_validation_split_whose_classes_differ_from_trainings_is_refused(tmp_path):
    """A test class the training split lacks was dropped from the test scores without a word."""
    for part in ("train", "test"):
        _write_pngs(tmp_path / "imgs" / part, classes=("a", "b"), per_class=3)
    _write_pngs(tmp_path / "imgs" / "test", classes=("c",), per_class=3)
    spec = DataSpec("folder", data_dir=str(tmp_path / "imgs"))
    with pytest.raises(DatasetError, match=r"imgs/test/c: class 'c' is not in .*imgs/train \(1 such\); a model "
                                           r"cannot learn a class it never sees"):
        load_trial_data(spec)
    import shutil

    shutil.rmtree(tmp_path / "imgs" / "test" / "c")
    shutil.rmtree(tmp_path / "imgs" / "test" / "b")
    with pytest.raises(DatasetError, match=r"imgs/test: no folder for class 'b' of .*imgs/train"):
        load_test(spec)
    _write_pngs(tmp_path / "imgs" / "test", classes=("b",), per_class=3)
    _write_pngs(tmp_path / "imgs" / "val", classes=("a",), per_class=3)
    with pytest.raises(DatasetError, match=r"imgs/val: no folder for class 'b'"):
        load_trial_data(spec)


def test_images_of_mixed_sizes_are_one_size_in_every_split_and_said(tmp_path):
    """Without dataset.image_size each split used to take its own first file's size."""
    for part, size in (("train", 12), ("test", 20)):
        _write_pngs(tmp_path / "imgs" / part, classes=("a", "b"), per_class=4, size=size)
    Image.fromarray(np.zeros((16, 10, 3), np.uint8)).save(tmp_path / "imgs" / "train" / "b" / "z.png")
    spec = DataSpec("folder", data_dir=str(tmp_path / "imgs"), color_mode="rgb")
    data = load_trial_data(spec)
    test, _ = load_test(spec)
    assert data.input_shape == test.x.shape[1:] == (20, 20, 3)        # the first image's (imgs/test/a/0.png)
    said = [w for w in data.warnings if "sizes" in w]
    assert len(said) == 1 and "images of 2 sizes (12x12, 16x10): 9 of 9 resized to 20x20" in said[0], data.warnings
    assert "dataset.image_size" in said[0]
    assert not load_trial_data(DataSpec("folder", data_dir=str(tmp_path / "imgs"), image_size=(8, 8))).warnings


def test_a_training_split_without_some_classes_is_said(idx_dir):
    import numpy as np

    from trainables.datasets.idx import write_idx

    labels = idx_dir / "train-labels-idx1-ubyte.gz"
    from trainables.datasets.idx import read_idx

    y = read_idx(labels)
    write_idx(labels, np.where(y >= 7, 0, y).astype(np.uint8))       # classes 7, 8 and 9 have no images
    data = load_trial_data(DataSpec("fashion_mnist", data_dir=str(idx_dir)))
    said = [w for w in data.warnings if "training split" in w]
    assert len(said) == 1 and "no image of 3 of the 10 classes (Sneaker, Bag, Ankle boot)" in said[0], data.warnings
