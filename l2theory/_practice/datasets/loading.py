"""The named datasets and ``load``: which names exist, how each is read (files found by
``locate``, parsed by ``formats``; the shipped subset from the package; ``"synthetic"``
generated), and the conversion to float32 images in [0, 1]."""
from __future__ import annotations

import dataclasses
import importlib.resources
import os

import numpy as np

from l2theory._checks import bad, integer
from l2theory._practice.datasets import formats, locate
from l2theory._practice.datasets.dataset import Dataset
from l2theory._practice.datasets.preprocess import subsample
from l2theory._practice.datasets.synthetic import make_synthetic

DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist", "fashion_mnist_subset", "cifar10",
                             "synthetic")
"""The names :func:`load` accepts (``-`` and ``_`` are interchangeable, case is ignored)."""

_ALIASES = {"fashionmnist": "fashion_mnist", "cifar_10": "cifar10", "fmnist": "fashion_mnist"}

CLASS_NAMES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
}
CLASS_NAMES["fashion_mnist_subset"] = CLASS_NAMES["fashion_mnist"]

SUBSET_FILE = "fashion_mnist_subset.npz"


def _canonical(name: str) -> str:
    if not isinstance(name, str):
        raise bad("name", name, f"must be a dataset name or a Dataset, not {type(name).__name__}",
                  f"e.g. 'fashion_mnist_subset'; valid names: {', '.join(DATASETS)}",
                  kind=TypeError)
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise bad("name", name, "unknown dataset",
                  f"valid names: {', '.join(DATASETS)} (or pass a Dataset built from arrays)")
    return key


def _read_subset() -> Dataset:
    resource = importlib.resources.files("l2theory").joinpath("_data").joinpath(SUBSET_FILE)
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    for split in ("train", "test"):
        arrays[f"x_{split}"] = arrays[f"x_{split}"][..., None]
        arrays[f"y_{split}"] = arrays[f"y_{split}"].astype(np.int32)
    return Dataset(**arrays, name="fashion_mnist_subset",
                   class_names=CLASS_NAMES["fashion_mnist"])


def read_raw(name: str, root: str | os.PathLike[str] | None = None) -> Dataset:
    """A named on-disk dataset as stored: uint8 NHWC images, int32 labels, no subsampling."""
    key = _canonical(name)
    if key == "fashion_mnist_subset":
        return _read_subset()
    if key == "synthetic":
        raise bad("name", name, "'synthetic' is generated, not read",
                  "use load('synthetic') or make_synthetic()")
    found = locate.locate(key, root)
    if found.format == "idx":
        arrays = formats.read_mnist_idx(found.files)
    elif found.format == "mnist_npz":
        arrays = formats.read_mnist_npz(found.files["npz"])
    else:
        reader = formats.read_cifar_bin if found.format == "cifar_bin" else formats.read_cifar_pickle
        arrays = formats.read_cifar_batches(found.files["train"], found.files["test"], reader)
    return Dataset(*arrays, name=key, class_names=CLASS_NAMES[key])


def _to_unit_float(dataset: Dataset) -> Dataset:
    return dataclasses.replace(
        dataset,
        x_train=dataset.x_train.astype(np.float32) / np.float32(255),
        x_test=dataset.x_test.astype(np.float32) / np.float32(255))


def load(name: str | Dataset, root: str | os.PathLike[str] | None = None,
         n_train: int | None = None, n_test: int | None = None, seed: int = 0, *,
         stratify: bool = True) -> Dataset:
    """Loads a named dataset (or passes a :class:`Dataset` through), optionally subsampled.

    Args:
      name: one of :data:`DATASETS` (``"mnist"``, ``"fashion_mnist"``,
        ``"fashion_mnist_subset"``, ``"cifar10"``, ``"synthetic"``), or a :class:`Dataset` built
        from arrays, which is returned subsampled and otherwise unchanged.
      root: a folder searched first: a dataset folder itself or one holding dataset folders
        (then ``$L2THEORY_DATA``, ``~/.cache/l2theory``, ``/usr/share/datasets``,
        ``~/.keras/datasets``).
      n_train, n_test: sizes of seeded random subsets (class-stratified, see :func:`subsample`;
        below the number of classes it holds one example each of as many classes, with a
        ``FewerThanClasses`` warning); ``None`` keeps the whole split. For ``"synthetic"`` they are the numbers of examples
        generated (default 2000 and 1000).
      seed: seeds the subsets (for ``"synthetic"``: the draw of the examples).
      stratify: keep the class proportions in the subsets.

    Returns:
      A :class:`Dataset` with float32 NHWC images in [0, 1] and int32 labels.

    Raises:
      ValueError: unknown name (the message lists the valid names), corrupt files (the message
        names the file), or a subset larger than the split or empty (the latter checked before
        any file is read).
      FileNotFoundError: no copy of the files found; the message lists every path searched and
        how to get the files.

    Example:
      >>> ds = load("fashion_mnist_subset", n_train=100, n_test=50)
      >>> ds.x_train.shape, ds.num_classes, int(ds.x_train.max()) <= 1
      ((100, 28, 28, 1), 10, True)
    """
    for split, n in (("n_train", n_train), ("n_test", n_test)):
        if n is not None:  # an empty subset: an error before any file is read
            integer(split, n, low=1, what="a subset size",
                    fix=f"e.g. {split}=1000, or None for the whole split")
    if isinstance(name, Dataset):
        return subsample(name, n_train, n_test, seed=seed, stratify=stratify)
    key = _canonical(name)
    if key == "synthetic":
        return make_synthetic(2000 if n_train is None else n_train,
                              1000 if n_test is None else n_test, seed=seed)
    raw = read_raw(key, root)
    return _to_unit_float(subsample(raw, n_train, n_test, seed=seed, stratify=stratify))

