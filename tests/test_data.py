"""Tests of l2theory.data: file formats, search paths, subsets, preprocessing, augmentation.

Tests that need the full Fashion-MNIST files find them through $L2THEORY_DATA (CI sets it to
the shared data folder) and are skipped, with the reason, when it is unset or holds no copy.
Every other test writes small files in the real formats to tmp_path and isolates the search
paths (HOME, $L2THEORY_DATA, the system folder) so that files on the machine cannot interfere.
"""
from __future__ import annotations

import gzip
import importlib.resources
import io
import os
import pickle
import shutil
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import data
from l2theory._practice.datasets import formats, loading, locate, make_subset, preprocess

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# ----------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I",
                                                                        *array.shape)
    return header + array.tobytes()


def write_file(path, content: bytes, gz: bool = False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


def fake_mnist(n_train=12, n_test=7, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            (np.arange(n_train) % 10).astype(np.uint8),
            rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            (np.arange(n_test) % 10).astype(np.uint8))


def write_mnist_like(folder, n_train=12, n_test=7, gz=True, seed=0):
    """The four IDX files of a tiny MNIST-format dataset; returns {role: path}."""
    arrays = dict(zip(IDX_NAMES, fake_mnist(n_train, n_test, seed)))
    return {role: write_file(folder / IDX_NAMES[role], idx_bytes(arrays[role]), gz)
            for role in IDX_NAMES}


class Py2Pickler(pickle._Pickler):
    """Writes bytes as Python-2 str opcodes, as the original CIFAR-10 python batches have them."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2str


def py2_cifar_pickle(images: np.ndarray, labels) -> bytes:
    """A CIFAR-10 python batch as written by Python 2 + numpy 1.x (protocol 2)."""
    flat = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": [int(v) for v in labels],
             b"data": flat, b"filenames": [b"x_%d.png" % i for i in range(len(labels))]}
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(batch)
    blob = buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in blob
    return blob


def cifar_records(images: np.ndarray, labels) -> bytes:
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([np.asarray(labels, np.uint8)[:, None], planes], axis=1).tobytes()


def fake_cifar(seed, n):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def write_cifar(folder, fmt: str):
    """Five training batches of 3 images and a test batch of 4; returns the arrays written."""
    xs, ys = zip(*(fake_cifar(i, 3) for i in range(5)))
    x_test, y_test = fake_cifar(99, 4)
    suffix = ".bin" if fmt == "bin" else ""
    encode = cifar_records if fmt == "bin" else py2_cifar_pickle
    for i, (x, y) in enumerate(zip(xs, ys), start=1):
        write_file(folder / f"data_batch_{i}{suffix}", encode(x, y))
    write_file(folder / f"test_batch{suffix}", encode(x_test, y_test))
    return np.concatenate(xs), np.concatenate(ys), x_test, y_test


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Search paths that hold nothing but what the test writes: returns the folders by role."""
    dirs = {"home": tmp_path / "home", "env": tmp_path / "env", "system": tmp_path / "system",
            "root": tmp_path / "root"}
    monkeypatch.setenv("HOME", str(dirs["home"]))
    monkeypatch.delenv("L2THEORY_DATA", raising=False)
    monkeypatch.setattr(locate, "SYSTEM_DIRS", (str(dirs["system"]),))
    dirs["cache"] = dirs["home"] / ".cache" / "l2theory"
    dirs["keras"] = dirs["home"] / ".keras" / "datasets"
    return dirs


@pytest.fixture(scope="module")
def fmnist_found():
    env = os.environ.get("L2THEORY_DATA")
    if not env:
        pytest.skip("needs the full Fashion-MNIST IDX files: set L2THEORY_DATA to a folder "
                    "holding fashion-mnist/ (CI sets it to <repo>/../shared/data)")
    try:
        return locate.locate("fashion_mnist", root=env)
    except FileNotFoundError as e:
        pytest.skip(f"L2THEORY_DATA={env} holds no complete Fashion-MNIST copy: {e}")


@pytest.fixture(scope="module")
def fmnist_raw(fmnist_found):
    return loading.read_raw("fashion_mnist", root=fmnist_found.where)


# ----------------------------------------------------------------- real Fashion-MNIST files


def test_real_fashion_mnist_counts_labels_pixels(fmnist_raw):
    ds = fmnist_raw
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int32
    # Fashion-MNIST is exactly balanced: 6000 per class in train, 1000 per class in test.
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.x_train.min() == 0 and ds.x_train.max() == 255
    assert ds.num_classes == 10 and ds.class_names[0] == "T-shirt/top"
    # Not all black: the mean pixel of Fashion-MNIST is about 72.9 / 255.
    assert 0.27 < ds.x_train.mean() / 255 < 0.30


def test_real_load_float_subset(fmnist_found, fmnist_raw):
    ds = data.load("fashion_mnist", root=fmnist_found.where, n_train=500, n_test=200, seed=1)
    assert ds.x_train.shape == (500, 28, 28, 1) and ds.x_train.dtype == np.float32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert np.bincount(ds.y_train).tolist() == [50] * 10  # stratified
    idx_train, _ = preprocess.subset_indices(fmnist_raw, 500, 200, seed=1)
    np.testing.assert_array_equal(ds.x_train, fmnist_raw.x_train[idx_train] / np.float32(255))


def test_gz_and_plain_idx_read_the_same(fmnist_found, tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for role, name in IDX_NAMES.items():
        src = fmnist_found.files[role]
        if role.startswith("test"):  # uncompressed copies of the test files
            (folder / name).write_bytes(formats.read_bytes(src))
            np.testing.assert_array_equal(formats.read_idx(folder / name), formats.read_idx(src))
        else:
            os.symlink(src, folder / (name + ".gz"))
    mixed = loading.read_raw("fashion_mnist", root=tmp_path)
    assert mixed.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(mixed.y_test).tolist() == [1000] * 10


def test_real_truncated_gz_names_file(fmnist_found, tmp_path):
    src = fmnist_found.files["test_labels"]
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    blob = src.read_bytes()
    bad.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        formats.read_idx(bad)


def _shipped_subset_arrays() -> dict[str, np.ndarray]:
    resource = importlib.resources.files("l2theory") / "_data" / loading.SUBSET_FILE
    with resource.open("rb") as f, np.load(f) as npz:
        return {k: npz[k] for k in npz.files}


def test_shipped_subset_matches_full_files(fmnist_found, fmnist_raw):
    shipped = _shipped_subset_arrays()
    idx_train, idx_test = shipped["idx_train"], shipped["idx_test"]
    subset = loading.read_raw("fashion_mnist_subset")
    np.testing.assert_array_equal(subset.x_train, fmnist_raw.x_train[idx_train])
    np.testing.assert_array_equal(subset.y_test, fmnist_raw.y_test[idx_test])
    # ... and the script that made it reproduces every array of the file exactly.
    again = make_subset.make_subset(fmnist_found.where)
    assert set(again) == set(shipped)
    for name, array in shipped.items():
        assert again[name].dtype == array.dtype, name
        np.testing.assert_array_equal(again[name], array, err_msg=name)


# -------------------------------------------------------------- IDX format and corruption


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip_small(isolated, gz):
    write_mnist_like(isolated["root"], gz=gz)
    ds = data.load("mnist", root=isolated["root"])
    x_train, y_train, x_test, y_test = fake_mnist()
    np.testing.assert_array_equal(ds.x_train[..., 0], x_train / np.float32(255))
    np.testing.assert_array_equal(ds.y_test, y_test)
    assert ds.y_train.dtype == np.int32 and ds.input_shape == (28, 28, 1)


def corrupt_bad_magic(files):
    path = files["train_images"]
    blob = path.read_bytes()
    path.write_bytes(b"\x12\x34" + blob[2:])
    return path, "magic"


def corrupt_truncated(files):
    path = files["test_images"]
    path.write_bytes(path.read_bytes()[:-10])
    return path, "truncated"


def corrupt_trailing(files):
    path = files["test_labels"]
    path.write_bytes(path.read_bytes() + b"\x00")
    return path, "trailing"


def corrupt_count_mismatch(files):
    path = files["train_labels"]
    path.write_bytes(idx_bytes(np.zeros(11, np.uint8)))  # 12 images, 11 labels
    return path, "11 labels"


def corrupt_image_size(files):
    path = files["train_images"]
    path.write_bytes(idx_bytes(np.zeros((12, 27, 27), np.uint8)))
    return path, r"\[N, 28, 28\]"


def corrupt_label_range(files):
    path = files["test_labels"]
    path.write_bytes(idx_bytes(np.full(7, 12, np.uint8)))
    return path, r"\[0, 10\)"


def corrupt_dimensions(files):
    path = files["train_labels"]
    path.write_bytes(idx_bytes(np.zeros((12, 1), np.uint8)))
    return path, "dimensions"


@pytest.mark.parametrize("corrupt", [corrupt_bad_magic, corrupt_truncated, corrupt_trailing,
                                     corrupt_count_mismatch, corrupt_image_size,
                                     corrupt_label_range, corrupt_dimensions])
def test_corrupt_idx_raises_value_error_naming_file(isolated, corrupt):
    files = write_mnist_like(isolated["root"] / "fashion-mnist", gz=False)
    path, what = corrupt(files)
    with pytest.raises(ValueError, match=what) as info:
        data.load("fashion_mnist", root=isolated["root"])
    assert str(path) in str(info.value)


def test_truncated_gzip_names_file(isolated):
    files = write_mnist_like(isolated["root"], gz=True)
    path = files["train_images"]
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="gzip") as info:
        data.load("fashion_mnist", root=isolated["root"])
    assert str(path) in str(info.value)


def test_read_idx_public_and_empty_file(tmp_path):
    path = write_file(tmp_path / "x-idx1-ubyte", idx_bytes(np.arange(5, dtype=np.uint8)))
    np.testing.assert_array_equal(data.read_idx(path), np.arange(5))
    empty = write_file(tmp_path / "empty", b"")
    with pytest.raises(ValueError, match="empty"):
        data.read_idx(empty)


# ----------------------------------------------------------------------- search paths


def test_missing_data_lists_every_path_searched(isolated, monkeypatch):
    isolated["env"].mkdir()
    monkeypatch.setenv("L2THEORY_DATA", str(isolated["env"]))
    with pytest.raises(FileNotFoundError) as info:
        data.load("fashion_mnist", root=isolated["root"])
    message = str(info.value)
    for folder in (isolated["root"], isolated["root"] / "fashion-mnist",
                   isolated["env"] / "fashion-mnist", isolated["env"] / "FashionMNIST" / "raw",
                   isolated["cache"] / "fashion_mnist", isolated["system"] / "fashion-mnist",
                   isolated["keras"] / "fashion-mnist"):
        assert f"  {folder}  [" in message, folder
    assert "apt-get install dataset-fashion-mnist" in message
    assert "L2THEORY_DATA" in message and "fashion_mnist_subset" in message
    order = [message.index(f"  {isolated[k]}") for k in ("root", "env", "cache", "system", "keras")]
    assert order == sorted(order)


def test_missing_file_in_folder_is_reported(isolated, monkeypatch):
    files = write_mnist_like(isolated["env"] / "fashion-mnist")
    files["test_labels"].unlink()
    monkeypatch.setenv("L2THEORY_DATA", str(isolated["env"]))
    with pytest.raises(FileNotFoundError, match=r"incomplete: lacks t10k-labels-idx1-ubyte"):
        data.load("fashion_mnist")


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_missing_other_datasets(isolated, name):
    with pytest.raises(FileNotFoundError, match="L2THEORY_DATA") as info:
        data.load(name)
    assert str(isolated["keras"]) in str(info.value)
    if name == "mnist":
        assert str(isolated["keras"] / "mnist.npz") in str(info.value)


def test_search_order(isolated, monkeypatch):
    """root, then $L2THEORY_DATA, ~/.cache/l2theory, the system folder, ~/.keras/datasets."""
    places = {"root": isolated["root"] / "fashion_mnist",
              "env": isolated["env"] / "FashionMNIST" / "raw",
              "cache": isolated["cache"] / "fashion-mnist",
              "system": isolated["system"] / "fashion-mnist",
              "keras": isolated["keras"] / "fashion-mnist"}
    sizes = {"root": 11, "env": 12, "cache": 13, "system": 14, "keras": 15}
    for key, folder in places.items():
        write_mnist_like(folder, n_train=sizes[key])
    monkeypatch.setenv("L2THEORY_DATA", str(isolated["env"]))
    for key in places:
        ds = data.load("fashion_mnist", root=isolated["root"])
        assert ds.n_train == sizes[key], key
        shutil.rmtree(places[key])
    with pytest.raises(FileNotFoundError):
        data.load("fashion_mnist", root=isolated["root"])


def test_env_var_may_list_several_folders(isolated, monkeypatch):
    write_mnist_like(isolated["env"] / "b" / "fashion-mnist", n_train=13)
    monkeypatch.setenv("L2THEORY_DATA", os.pathsep.join([str(isolated["env"] / "a"),
                                                          str(isolated["env"] / "b")]))
    assert data.load("fashion_mnist").n_train == 13


def test_files_directly_in_root_but_not_elsewhere(isolated, monkeypatch):
    write_mnist_like(isolated["root"])
    assert data.load("fashion_mnist", root=isolated["root"]).n_train == 12
    # The same bare folder as $L2THEORY_DATA is not taken: MNIST and Fashion-MNIST share names.
    monkeypatch.setenv("L2THEORY_DATA", str(isolated["root"]))
    with pytest.raises(FileNotFoundError):
        data.load("fashion_mnist")


@pytest.mark.parametrize("name,layout", [
    ("fashion_mnist", "fashion-mnist"), ("fashion_mnist", "fashion_mnist"),
    ("fashion_mnist", "FashionMNIST/raw"), ("mnist", "mnist"), ("mnist", "MNIST/raw"),
])
def test_layouts(isolated, monkeypatch, name, layout):
    write_mnist_like(isolated["env"].joinpath(*layout.split("/")), n_train=13)
    monkeypatch.setenv("L2THEORY_DATA", str(isolated["env"]))
    assert data.load(name).n_train == 13


def test_keras_layouts(isolated):
    write_mnist_like(isolated["keras"] / "fashion-mnist", n_train=14)
    assert data.load("fashion_mnist").n_train == 14
    x_train, y_train, x_test, y_test = fake_mnist(16, 5)
    np.savez(isolated["keras"] / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test,
             y_test=y_test)
    ds = data.load("mnist")
    assert ds.n_train == 16 and ds.n_test == 5
    np.testing.assert_array_equal(ds.x_train[..., 0], x_train / np.float32(255))


def test_corrupt_mnist_npz_names_file(isolated):
    path = isolated["keras"] / "mnist.npz"
    path.parent.mkdir(parents=True)
    x_train, y_train, _, _ = fake_mnist()
    np.savez(path, x_train=x_train, y_train=y_train)  # no test arrays
    with pytest.raises(ValueError, match="mnist.npz"):
        data.load("mnist")
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="mnist.npz"):
        data.load("mnist")
    with open(path, "wb") as f:
        np.save(f, x_train)  # a bare .npy under the .npz name
    with pytest.raises(ValueError, match="not an .npz archive"):
        data.load("mnist")


# --------------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("fmt,layout", [("bin", "cifar-10-batches-bin"),
                                        ("py", "cifar-10-batches-py"),
                                        ("bin", "cifar10/cifar-10-batches-bin")])
def test_cifar_formats(isolated, fmt, layout):
    written = write_cifar(isolated["root"].joinpath(*layout.split("/")), fmt)
    ds = data.load("cifar10", root=isolated["root"])
    assert ds.x_train.shape == (15, 32, 32, 3) and ds.x_test.shape == (4, 32, 32, 3)
    assert ds.x_train.dtype == np.float32 and ds.num_classes == 10
    np.testing.assert_array_equal(ds.x_train, written[0] / np.float32(255))  # pixel layout
    np.testing.assert_array_equal(ds.y_train, written[1])
    np.testing.assert_array_equal(ds.x_test, written[2] / np.float32(255))
    np.testing.assert_array_equal(ds.y_test, written[3])
    assert ds.class_names[0] == "airplane"


def test_cifar_python3_pickle_with_str_keys(tmp_path):
    images, labels = fake_cifar(0, 2)
    flat = images.transpose(0, 3, 1, 2).reshape(2, -1)
    blob = pickle.dumps({"data": flat, "labels": labels.tolist()}, protocol=4)
    x, y = formats.load_cifar_pickle(blob)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_cifar_truncated_binary_names_file(isolated):
    folder = isolated["root"] / "cifar-10-batches-bin"
    write_cifar(folder, "bin")
    bad = folder / "data_batch_3.bin"
    bad.write_bytes(bad.read_bytes()[:-1])
    with pytest.raises(ValueError, match="record size") as info:
        data.load("cifar10", root=isolated["root"])
    assert str(bad) in str(info.value)


def test_cifar_incomplete_folder_is_reported(isolated):
    folder = isolated["root"] / "cifar-10-batches-py"
    write_cifar(folder, "py")
    (folder / "data_batch_5").unlink()
    with pytest.raises(FileNotFoundError, match="lacks data_batch_5"):
        data.load("cifar10", root=isolated["root"])


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_unpickler_refuses_code_execution(isolated, tmp_path):
    marker = tmp_path / "pwned"
    folder = isolated["root"] / "cifar-10-batches-py"
    write_cifar(folder, "py")
    evil = folder / "data_batch_2"
    buf = io.BytesIO()  # a tampered Python-2 style batch
    Py2Pickler(buf, protocol=2).dump({b"data": _Evil(marker), b"labels": [0]})
    evil.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="refused to load global .*system") as info:
        data.load("cifar10", root=isolated["root"])
    assert str(evil) in str(info.value)
    assert not marker.exists()  # nothing ran


@pytest.mark.parametrize("payload", [
    (eval, ("__import__('os').getcwd()",)),
    (shutil.rmtree, ("/nonexistent",)),
    (np.load, ("/nonexistent.npy",)),  # numpy is not allowed wholesale
])
def test_unpickler_refuses_other_globals(payload):
    class Reduce:
        def __reduce__(self):
            return payload

    blob = pickle.dumps(Reduce(), protocol=4)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        formats.CifarUnpickler(io.BytesIO(blob)).load()


def test_unpickler_allows_only_numpy_arrays():
    assert set(formats.CifarUnpickler.ALLOWED) == {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype")}


# ------------------------------------------------------------------ shipped subset, names


def test_subset_loads_without_any_files(isolated):
    assert "L2THEORY_DATA" not in os.environ
    ds = data.load("fashion_mnist_subset")
    assert ds.x_train.shape == (2000, 28, 28, 1) and ds.x_test.shape == (1000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.x_train.max() == 1.0
    assert np.bincount(ds.y_train).tolist() == [200] * 10
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    small = data.load("fashion-mnist-subset", n_train=100, n_test=30, seed=4)
    assert np.bincount(small.y_train).tolist() == [10] * 10
    assert np.bincount(small.y_test).tolist() == [3] * 10


def test_subset_file_is_small():
    resource = importlib.resources.files("l2theory") / "_data" / loading.SUBSET_FILE
    assert resource.is_file()
    with resource.open("rb") as f:
        assert len(f.read()) < 2_000_000


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="^name='imagenet': unknown dataset") as info:
        data.load("imagenet")
    for name in data.DATASETS:
        assert name in str(info.value)


# --------------------------------------------------------------- Dataset and subsampling


def tiny_dataset(**kw):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.random((6, 4, 4, 2), dtype=np.float32),
                  y_train=np.array([0, 1, 2, 0, 1, 2]),
                  x_test=rng.random((3, 4, 4, 2), dtype=np.float32), y_test=np.array([0, 1, 1]))
    arrays.update(kw)
    return data.Dataset(**arrays)


def test_dataset_properties_and_repr():
    ds = tiny_dataset()
    assert ds.num_classes == 3 and ds.input_shape == (4, 4, 2)
    assert (ds.n_train, ds.n_test) == (6, 3) and ds.name == "arrays"
    assert "float32[6, 4, 4, 2]" in repr(ds) and "0." not in repr(ds)
    named = data.Dataset(ds.x_train, ds.y_train, ds.x_test, ds.y_test, class_names=list("abcde"))
    assert named.num_classes == 5 and named.class_names == tuple("abcde")
    with pytest.raises(dataclasses_frozen_error()):
        ds.x_train = None


def dataclasses_frozen_error():
    import dataclasses
    return dataclasses.FrozenInstanceError


@pytest.mark.parametrize("kw,error,message", [
    (dict(y_train=np.array([0, 1, 2, 0, 1])), ValueError, "6 examples but y_train has 5"),
    (dict(y_train=np.zeros(6, np.float32)), TypeError, "integer class labels"),
    (dict(y_test=np.zeros((3, 2), np.int64)), ValueError, "1-D"),
    (dict(x_test=np.zeros((3, 4, 4, 3), np.float32)), ValueError, "x_test examples have shape"),
    (dict(y_test=np.array([0, -1, 1])), ValueError, "negative"),
    (dict(x_train=np.zeros(6)), ValueError, "at least 2 axes"),
    (dict(x_train=np.array([["a"]] * 6)), TypeError, "numeric"),
])
def test_dataset_validation(kw, error, message):
    with pytest.raises(error, match=f"^{next(iter(kw))}=<array of shape .*{message}"):
        tiny_dataset(**kw)


def test_dataset_class_names_bound_labels():
    with pytest.raises(ValueError, match="class_names has only 2"):
        tiny_dataset(class_names=("a", "b"))


def test_in_memory_dataset_goes_through_load():
    ds = tiny_dataset()
    assert data.load(ds) is not None and data.load(ds).x_train is ds.x_train
    sub = data.load(ds, n_train=3, n_test=2, seed=1)
    assert sub.n_train == 3 and sub.n_test == 2 and sorted(sub.y_train.tolist()) == [0, 1, 2]


def test_subsample_seeded_stratified_and_checked():
    labels = np.repeat(np.arange(3), [60, 30, 10])  # 60% / 30% / 10%
    x = np.arange(100, dtype=np.float32)[:, None]
    ds = data.Dataset(x, labels, x[:10], labels[::10])
    a = data.subsample(ds, 10, seed=0)
    b = data.subsample(ds, 10, seed=0)
    c = data.subsample(ds, 10, seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert np.bincount(a.y_train).tolist() == [6, 3, 1]
    assert len(np.unique(a.x_train)) == 10 and np.all(np.diff(a.x_train[:, 0]) > 0)  # sorted
    np.testing.assert_array_equal(a.x_train[:, 0].astype(int), x[a.x_train[:, 0].astype(int), 0])
    assert a.n_test == 10  # None keeps the split
    # Remainders: 7 of (60, 30, 10) -> quotas 4.2, 2.1, 0.7 -> 4, 2, 1.
    assert np.bincount(data.subsample(ds, 7).y_train).tolist() == [4, 2, 1]
    unstratified = [np.bincount(data.subsample(ds, 10, seed=s, stratify=False).y_train,
                                minlength=3).tolist() for s in range(20)]
    assert any(counts != [6, 3, 1] for counts in unstratified)
    for bad, error in ((101, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=f"^n_train={bad!r}: .* must be an int"):
            data.subsample(ds, bad)
    assert data.subsample(ds, 100).n_train == 100 and data.subsample(ds, 0).n_train == 0


def test_synthetic_dataset_seeded():
    a = data.load("synthetic", n_train=50, n_test=20, seed=0)
    b = data.load("synthetic", n_train=50, n_test=20, seed=0)
    c = data.load("synthetic", n_train=50, n_test=20, seed=1)
    assert a.x_train.shape == (50, 28, 28, 1) and a.x_train.dtype == np.float32
    assert a.y_train.dtype == np.int32 and a.num_classes == 10
    assert 0 <= a.x_train.min() and a.x_train.max() <= 1
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert np.bincount(a.y_train).tolist() == [5] * 10
    assert data.load("synthetic").n_train == 2000
    rgb = data.make_synthetic(30, 10, image_shape=(32, 32, 3), num_classes=3, seed=2)
    assert rgb.x_train.shape == (30, 32, 32, 3) and rgb.num_classes == 3


def test_synthetic_classes_are_learnable_clusters():
    """Nearest class mean (means from train) beats chance by far; seed changes samples only."""
    a = data.make_synthetic(1000, 500, seed=0)
    b = data.make_synthetic(1000, 500, seed=5)
    means_a = np.stack([a.x_train[a.y_train == k].mean(0).ravel() for k in range(10)])
    means_b = np.stack([b.x_train[b.y_train == k].mean(0).ravel() for k in range(10)])
    dist = ((a.x_test.reshape(500, 1, -1) - means_b[None]) ** 2).sum(-1)
    assert (dist.argmin(1) == a.y_test).mean() > 0.7
    assert np.abs(means_a - means_b).mean() < 0.25 * np.abs(means_a[0] - means_a[1]).mean() + 0.02


# -------------------------------------------------------------------------- preprocessing


def test_standardize_uses_training_statistics():
    rng = np.random.default_rng(0)
    x_train = (rng.normal(size=(200, 5, 5, 3)) * [1.0, 2.0, 0.5] + [0.1, 0.5, 0.9])
    x_test = rng.normal(size=(50, 5, 5, 3)) + 3.0
    ds = data.Dataset(x_train.astype(np.float32), np.zeros(200, np.int32),
                      x_test.astype(np.float32), np.zeros(50, np.int32))
    mean, std = data.channel_stats(ds.x_train)
    assert mean.shape == (3,) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, x_train.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(std, x_train.std(axis=(0, 1, 2)), rtol=1e-5)
    out = data.standardize(ds)
    assert out.x_train.dtype == np.float32 and out.y_train is ds.y_train
    np.testing.assert_allclose(out.x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.x_train.std(axis=(0, 1, 2)), 1.0, rtol=1e-4)
    np.testing.assert_allclose(out.x_test, (x_test - mean) / std, rtol=1e-4, atol=1e-5)
    given = data.standardize(ds, mean=[0, 0, 0], std=[2, 2, 2])
    np.testing.assert_allclose(given.x_test, x_test / 2, rtol=1e-6)


def test_standardize_constant_feature_stays_finite():
    x = np.zeros((10, 4), np.float32)
    x[:, 1] = np.arange(10)
    ds = data.Dataset(x, np.zeros(10, np.int32), x[:3], np.zeros(3, np.int32))
    out = data.standardize(ds)
    assert np.all(np.isfinite(out.x_train)) and np.all(out.x_train[:, 0] == 0)


def test_standardize_real_subset():
    ds = data.standardize(data.load("fashion_mnist_subset"))
    assert abs(ds.x_train.mean()) < 1e-4 and abs(ds.x_train.std() - 1) < 1e-3
    assert abs(ds.x_test.mean()) < 0.1  # same distribution, training statistics


def test_one_hot_plain_and_centered():
    labels = np.array([2, 0, 1, 2])
    y = data.one_hot(labels, 3)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    np.testing.assert_array_equal(y, np.eye(3)[labels])
    yc = data.one_hot(labels, 3, centered=True)
    np.testing.assert_allclose(yc, np.eye(3)[labels] - 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(yc.sum(-1), 0.0, atol=1e-6)
    assert data.one_hot([1], 4, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        data.one_hot(np.array([3]), 3)
    with pytest.raises(TypeError, match="integers"):
        data.one_hot(np.array([1.0]), 3)


def test_one_hot_jax_and_jit():
    labels = jnp.array([2, 0, 1])
    out = jax.jit(lambda l: data.one_hot(l, 3, centered=True))(labels)
    assert isinstance(out, jax.Array) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, np.eye(3)[[2, 0, 1]] - 1 / 3, rtol=1e-6)


# --------------------------------------------------------------------------- augmentation


def crops_of(image, pad):
    """Every crop (and its mirror) of a zero-padded image: [(2p+1)^2 * 2, H, W, C]."""
    h, w, _ = image.shape
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    crops = [padded[dy:dy + h, dx:dx + w] for dy in range(2 * pad + 1)
             for dx in range(2 * pad + 1)]
    return np.stack(crops + [c[:, ::-1] for c in crops])


crop_flip = jax.jit(data.random_crop_flip, static_argnames=("pad", "flip"))


def test_random_crop_flip_outputs_are_crops_or_mirrors():
    x = np.random.default_rng(0).random((16, 6, 5, 2)).astype(np.float32) + 1  # no zeros
    out = np.asarray(crop_flip(jax.random.PRNGKey(0), x, pad=2))
    assert out.shape == x.shape and out.dtype == np.float32
    seen = set()
    for image, result in zip(x, out):
        matches = np.flatnonzero(np.all(crops_of(image, 2) == result, axis=(1, 2, 3)))
        assert len(matches) >= 1
        seen.add(int(matches[0]))
    assert len(seen) > 4  # per-example offsets and flips differ


def test_flip_only_and_identity():
    x = np.arange(40 * 3 * 4 * 1.0, dtype=np.float32).reshape(40, 3, 4, 1)
    out = np.asarray(crop_flip(jax.random.PRNGKey(1), x, pad=0))
    mirrored = np.all(out == x[:, :, ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(mirrored | kept) and 5 < mirrored.sum() < 35
    np.testing.assert_array_equal(crop_flip(jax.random.PRNGKey(1), x, pad=0, flip=False), x)


def test_random_crop_flip_determinism_vmap_and_single_image():
    x = np.ones((8, 8, 8, 3), np.float32)
    x[:4] = np.random.default_rng(1).random((4, 8, 8, 3))
    keys = jax.random.split(jax.random.PRNGKey(3), 3)

    @jax.jit
    def run(keys):
        per_key = jax.vmap(lambda k: data.random_crop_flip(k, x))(keys)
        per_image = jax.vmap(data.random_crop_flip)(jax.random.split(keys[0], 8), x)
        return per_key, per_image, data.random_crop_flip(keys[0], x[5])

    per_key, per_image, single = run(keys)
    assert per_key.shape == (3, 8, 8, 8, 3) and per_image.shape == x.shape
    np.testing.assert_array_equal(per_key[0], crop_flip(keys[0], x))  # vmap == one call
    np.testing.assert_array_equal(per_key[1], crop_flip(keys[1], x))
    np.testing.assert_array_equal(per_key[0], run(keys)[0][0])  # same key, same batch
    assert not np.array_equal(per_key[0], per_key[1])  # another key, another batch
    np.testing.assert_array_equal(single, crop_flip(keys[0], x[5]))  # one image [H, W, C]
    np.testing.assert_array_equal(per_image[5], crop_flip(jax.random.split(keys[0], 8)[5], x[5]))
    # Identical images get different crops: the randomness is per example ...
    assert len({np.asarray(img).tobytes() for img in per_key[0, 4:]}) > 1
    # ... and the padding is zeros.
    assert float(per_key[:, 4:].min()) == 0.0 and float(per_key[:, 4:].max()) == 1.0
    for bad, error in ((-1, ValueError), (2.0, TypeError), (True, TypeError)):
        with pytest.raises(error, match=f"^pad={bad!r}: the padding .*must be an int"):
            data.random_crop_flip(keys[0], x, pad=bad)
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
        data.random_crop_flip(keys[0], x[0, :, :, 0])


def test_mixup_mixes_pairs_with_one_beta_weight():
    """With x[i] = i and 32 distinct classes, each output row reveals lam and its partner."""
    n = 32
    x = jnp.broadcast_to(jnp.arange(n, dtype=jnp.float32)[:, None, None, None], (n, 2, 2, 1))
    y = data.one_hot(jnp.arange(n), n)
    keys = jax.random.split(jax.random.PRNGKey(2), 48)
    xm, ym = jax.jit(jax.vmap(lambda k: data.mixup(k, x, y, 0.4)))(keys)
    xm, ym = np.asarray(xm, np.float64), np.asarray(ym, np.float64)
    assert xm.shape == (48, *x.shape) and ym.shape == (48, n, n)
    np.testing.assert_allclose(ym.sum(-1), 1.0, rtol=1e-6)
    lams = []
    for xs, ys in zip(xm, ym):
        lam = ys[np.arange(n), np.arange(n)]  # weight of each row's own example
        moved = lam < 1 - 1e-6  # rows mixed with another example (perm(i) != i)
        others = ys.copy()
        others[np.arange(n), np.arange(n)] = -1.0
        partner = np.where(moved, others.argmax(1), np.arange(n))
        assert sorted(partner.tolist()) == list(range(n))  # a permutation
        if moved.any():
            assert np.ptp(lam[moved]) < 1e-5  # one lam per batch
            lams.append(lam[moved][0])
        np.testing.assert_allclose(xs[:, 0, 0, 0], lam * np.arange(n) + (1 - lam) * partner,
                                   rtol=1e-5, atol=1e-4)
    lams = np.asarray(lams)
    assert 0.3 < lams.mean() < 0.7  # Beta(0.4, 0.4) is symmetric about 1/2 ...
    assert np.mean((lams < 0.15) | (lams > 0.85)) > 0.25  # ... and U-shaped
    assert not np.allclose(xm[0], xm[1])  # keys differ


def test_mixup_checks():
    key = jax.random.PRNGKey(0)
    x = jnp.ones((4, 3))
    with pytest.raises(ValueError, match="alpha"):
        data.mixup(key, x, jnp.ones((4, 2)), 0.0)
    with pytest.raises(TypeError, match="floating"):
        data.mixup(key, jnp.ones((4, 3), jnp.int32), jnp.ones((4, 2)), 0.5)
    with pytest.raises(ValueError, match="4 examples"):
        data.mixup(key, x, jnp.ones((5, 2)), 0.5)
