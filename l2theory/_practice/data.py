"""Datasets for the finite-width experiments: loading, subsets, preprocessing, augmentation.

A :class:`Dataset` holds four numpy arrays: images ``x`` (float32, NHWC, values in [0, 1] as
loaded: ``[N, 28, 28, 1]`` for MNIST-like sets, ``[N, 32, 32, 3]`` for CIFAR-10) and integer class
labels ``y``. Arrays built in memory work everywhere a named dataset does: wrap them in
``Dataset(x_train, y_train, x_test, y_test)`` and pass that wherever a name is accepted
(``load(dataset, n_train=...)`` subsamples it the same way).

Named datasets (:data:`DATASETS`):

- ``"mnist"``, ``"fashion_mnist"``: the IDX files (gzipped or not) or keras' ``mnist.npz``;
- ``"cifar10"``: the binary version (``cifar-10-batches-bin``) or the python version
  (``cifar-10-batches-py``, read by an unpickler that cannot execute code);
- ``"fashion_mnist_subset"``: 2,000 train / 1,000 test Fashion-MNIST images, class-balanced,
  shipped inside the package (no files needed; see ``l2theory/_data/README.md``);
- ``"synthetic"``: seeded Gaussian clusters shaped like 28x28x1 images (no files; see
  :func:`make_synthetic`).

Files are searched for in ``root``, ``$L2THEORY_DATA``, ``~/.cache/l2theory``,
``/usr/share/datasets`` and ``~/.keras/datasets`` (in this order; torchvision and keras layouts
are recognized in each). Nothing is ever downloaded.

Preprocessing is separate and explicit: :func:`standardize` (per-channel statistics of the
training set, applied to both splits), :func:`downsample` (block averages), :func:`one_hot` (with the centered variant for MSE) and the
on-device augmentations :func:`random_crop_flip` and :func:`mixup` (pure JAX, jittable).
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import os

import numpy as np

from l2theory import _checks
from l2theory._checks import bad, integer
from l2theory._practice.datasets import formats, locate, synthetic
from l2theory._practice.datasets.augment import mixup, random_crop_flip

__all__ = [
    "DATASETS", "Dataset", "channel_stats", "downsample", "load", "make_synthetic", "mixup",
    "one_hot", "random_crop_flip", "read_idx", "standardize", "subsample",
]

read_idx = formats.read_idx

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


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split held as numpy arrays.

    Attributes:
      x_train: inputs ``[n_train, *input_shape]``; images are float32 NHWC in [0, 1] as loaded.
      y_train: integer class labels ``[n_train]`` in ``[0, num_classes)``.
      x_test: inputs ``[n_test, *input_shape]``.
      y_test: integer class labels ``[n_test]``.
      name: where the data came from (``"arrays"`` for user arrays), keyword-only.
      class_names: optional names of the classes; when given they fix ``num_classes``.

    The constructor converts the arrays with ``np.asarray`` and raises ``ValueError`` when the
    counts of inputs and labels differ, the train and test inputs have different shapes, or the
    labels are not a 1-D integer array of non-negative class indices.

    Example:
      >>> import numpy as np
      >>> ds = Dataset(np.zeros((4, 2, 2, 1), np.float32), np.array([0, 1, 2, 1]),
      ...              np.zeros((2, 2, 2, 1), np.float32), np.array([0, 2]))
      >>> ds.num_classes, ds.input_shape, ds.n_train, ds.n_test
      (3, (2, 2, 1), 4, 2)
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    _: dataclasses.KW_ONLY
    name: str = "arrays"
    class_names: tuple[str, ...] | None = None

    def __post_init__(self):
        for field in ("x_train", "y_train", "x_test", "y_test"):
            object.__setattr__(self, field, np.asarray(getattr(self, field)))
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(self.class_names))
        for split in ("train", "test"):
            xn, yn = f"x_{split}", f"y_{split}"
            x, y = getattr(self, xn), getattr(self, yn)
            if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
                raise bad(xn, x, f"must be numeric, got dtype {x.dtype}",
                          "pass images as a float or uint8 array", kind=TypeError)
            if x.ndim < 2:
                raise bad(xn, x, "must have shape [n, *input_shape] with at least 2 axes",
                          "add a feature axis, e.g. x[:, None]")
            if not np.issubdtype(y.dtype, np.integer):
                raise bad(yn, y, f"must be a 1-D array of integer class labels, got dtype "
                          f"{y.dtype}", "for one-hot targets pass y.argmax(-1), for float labels "
                          "y.astype(np.int32)", kind=TypeError)
            if y.ndim != 1:
                raise bad(yn, y, "must be a 1-D array of integer class labels",
                          "for one-hot targets pass y.argmax(-1)")
            if len(x) != len(y):
                raise bad(yn, y, f"{xn} has {len(x)} examples but {yn} has {len(y)} labels",
                          "pass one label per example")
            if y.size and y.min() < 0:
                raise bad(yn, y, f"holds a negative label ({y.min()})",
                          "labels are class indices 0 .. k-1")
            if self.class_names is not None and y.size and y.max() >= len(self.class_names):
                raise bad(yn, y, f"holds label {y.max()} but class_names has only "
                          f"{len(self.class_names)} classes", "pass one name per class")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise bad("x_test", self.x_test, f"x_train examples have shape "
                      f"{self.x_train.shape[1:]} but x_test examples have shape "
                      f"{self.x_test.shape[1:]}", "pass train and test images of one shape")

    @property
    def num_classes(self) -> int:
        """``len(class_names)`` if given, else the largest label (train or test) plus one."""
        if self.class_names is not None:
            return len(self.class_names)
        top = [int(y.max()) for y in (self.y_train, self.y_test) if y.size]
        return max(top) + 1 if top else 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input, e.g. ``(28, 28, 1)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, x_train={self.x_train.dtype}{list(self.x_train.shape)}"
                f", x_test={self.x_test.dtype}{list(self.x_test.shape)}, "
                f"num_classes={self.num_classes})")


def _subset_indices(labels: np.ndarray, n: int, rng: np.random.Generator,
                    stratify: bool) -> np.ndarray:
    """Sorted indices of ``n`` distinct examples; class proportions kept if ``stratify``."""
    total = len(labels)
    if not stratify:
        return np.sort(rng.choice(total, size=n, replace=False))
    classes, counts = np.unique(labels, return_counts=True)
    quota = n * counts / total
    take = np.floor(quota).astype(np.int64)
    # Largest remainders get the leftover examples; ties broken at random (seeded).
    order = rng.permutation(len(classes))
    order = order[np.argsort(-(quota - take)[order], kind="stable")]
    take[order[: n - take.sum()]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
              for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def subset_indices(dataset: Dataset, n_train: int | None = None, n_test: int | None = None, *,
                   seed: int = 0, stratify: bool = True):
    """The sorted indices :func:`subsample` keeps: ``(idx_train, idx_test)``, ``None`` for a whole
    split."""
    seed = _checks.seed("seed", seed)
    out = []
    for index, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        y = getattr(dataset, f"y_{split}")
        if n is None:
            out.append(None)
            continue
        n = integer(f"n_{split}", n, low=0, high=len(y),
                    what=f"the size of a subset of the {split} split of {dataset.name!r}",
                    fix="or None for the whole split")
        out.append(_subset_indices(y, n, np.random.default_rng([seed, index]), stratify))
    return tuple(out)


def subsample(dataset: Dataset, n_train: int | None = None, n_test: int | None = None, *,
              seed: int = 0, stratify: bool = True) -> Dataset:
    """A seeded random subset of each split (``None`` keeps a split whole).

    With ``stratify=True`` each class keeps its share: class ``c`` gets ``floor(n * N_c / N)``
    examples and the leftover ones go to the largest remainders (ties broken by the seed), so a
    balanced set stays balanced to within one example per class. Within a class the examples are
    drawn without replacement; the result keeps the original order. The train and test draws use
    independent streams, ``numpy.random.default_rng([seed, 0])`` and ``[seed, 1]``.

    Raises:
      ValueError: if ``n_train`` or ``n_test`` is negative or exceeds the split's size.

    Example:
      >>> ds = subsample(make_synthetic(100, 50), 20, 10, seed=3)
      >>> np.bincount(ds.y_train).tolist()
      [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    idx_train, idx_test = subset_indices(dataset, n_train, n_test, seed=seed, stratify=stratify)
    arrays = {}
    for split, idx in (("train", idx_train), ("test", idx_test)):
        if idx is not None:
            arrays[f"x_{split}"] = getattr(dataset, f"x_{split}")[idx]
            arrays[f"y_{split}"] = getattr(dataset, f"y_{split}")[idx]
    return dataclasses.replace(dataset, **arrays)


def make_synthetic(n_train: int = 2000, n_test: int = 1000, *, image_shape=(28, 28, 1),
                   num_classes: int = 10, contrast: float = 0.04, noise: float = 0.3,
                   seed: int = 0, class_seed: int = 0) -> Dataset:
    """Seeded Gaussian clusters shaped like images; no files. What ``load("synthetic")`` returns.

    Class ``c`` has a smooth unit-variance prototype ``m_c`` (a Gaussian random field on a 7x7
    grid, bilinearly upsampled) and an example of class ``c`` is
    ``x = clip(0.5 + contrast * m_c + noise * z, 0, 1)`` with ``z ~ N(0, I)`` per pixel. The
    prototypes depend only on ``class_seed``; ``seed`` draws the examples (train and test from
    independent streams). Labels are balanced (``n % num_classes`` classes get one more).

    With the defaults the task is learnable but not trivial: ridge regression on the pixels
    reaches about 80-90% test accuracy depending on the ridge, nearest class mean about 92%.

    Example:
      >>> ds = make_synthetic(20, 10, seed=1)
      >>> ds.x_train.shape, ds.x_train.dtype, ds.num_classes
      ((20, 28, 28, 1), dtype('float32'), 10)
    """
    shape = _checks.sequence("image_shape", image_shape, _checks.positive_int, example="(28, 28, 1)")
    if len(shape) != 3:
        raise bad("image_shape", image_shape, "must be (H, W, C)", "e.g. (28, 28, 1)")
    image_shape = tuple(shape)
    n_train = integer("n_train", n_train, low=0, fix="e.g. 2000")
    n_test = integer("n_test", n_test, low=0, fix="e.g. 1000")
    num_classes = integer("num_classes", num_classes, low=2, fix="e.g. 10")
    contrast = _checks.real("contrast", contrast, low=0.0, fix="e.g. 0.04")
    noise = _checks.real("noise", noise, low=0.0, fix="e.g. 0.3")
    seed, class_seed = _checks.seed("seed", seed), _checks.seed("class_seed", class_seed)
    kwargs = dict(image_shape=image_shape, num_classes=num_classes, contrast=contrast,
                  noise=noise, class_seed=class_seed)
    x_train, y_train = synthetic.sample(n_train, seed=[seed, 0], **kwargs)
    x_test, y_test = synthetic.sample(n_test, seed=[seed, 1], **kwargs)
    return Dataset(x_train, y_train, x_test, y_test, name="synthetic",
                   class_names=tuple(f"class {c}" for c in range(num_classes)))


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
      n_train, n_test: sizes of seeded random subsets (class-stratified, see :func:`subsample`);
        ``None`` keeps the whole split. For ``"synthetic"`` they are the numbers of examples
        generated (default 2000 and 1000).
      seed: seeds the subsets (for ``"synthetic"``: the draw of the examples).
      stratify: keep the class proportions in the subsets.

    Returns:
      A :class:`Dataset` with float32 NHWC images in [0, 1] and int32 labels.

    Raises:
      ValueError: unknown name (the message lists the valid names), corrupt files (the message
        names the file), or a subset larger than the split.
      FileNotFoundError: no copy of the files found; the message lists every path searched and
        how to get the files.

    Example:
      >>> ds = load("fashion_mnist_subset", n_train=100, n_test=50)
      >>> ds.x_train.shape, ds.num_classes, int(ds.x_train.max()) <= 1
      ((100, 28, 28, 1), 10, True)
    """
    if isinstance(name, Dataset):
        return subsample(name, n_train, n_test, seed=seed, stratify=stratify)
    key = _canonical(name)
    if key == "synthetic":
        return make_synthetic(2000 if n_train is None else n_train,
                              1000 if n_test is None else n_test, seed=seed)
    raw = read_raw(key, root)
    return _to_unit_float(subsample(raw, n_train, n_test, seed=seed, stratify=stratify))


def channel_stats(x) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``x``: statistics over every axis but the last.

    For NHWC images these are the usual per-channel statistics; for flat inputs ``[N, D]`` they
    are per-feature. Accumulated in float64, returned as float32 arrays of shape ``[C]``.
    """
    x = np.asarray(x)
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes, dtype=np.float64)
    std = x.std(axis=axes, dtype=np.float64)
    return mean.astype(np.float32), std.astype(np.float32)


def standardize(dataset: Dataset, *, mean=None, std=None) -> Dataset:
    """``(x - mean) / std`` on both splits, with per-channel statistics of the training set.

    Args:
      dataset: the data; its inputs are cast to float32.
      mean, std: per-channel statistics to use instead of ``channel_stats(dataset.x_train)``
        (e.g. those of a larger set). Channels with ``std == 0`` (constant pixels of flat inputs)
        are divided by 1.

    Returns:
      A new :class:`Dataset`; the test split is standardized with the training statistics.
    """
    if mean is None or std is None:
        train_mean, train_std = channel_stats(dataset.x_train)
        mean = train_mean if mean is None else mean
        std = train_std if std is None else std
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    std = np.where(std > 0, std, np.float32(1))
    return dataclasses.replace(
        dataset,
        x_train=((dataset.x_train - mean) / std).astype(np.float32),
        x_test=((dataset.x_test - mean) / std).astype(np.float32))


def downsample(dataset: Dataset, factor: int) -> Dataset:
    """Images ``[N, H, W, C]`` averaged over ``factor x factor`` pixel blocks, both splits.

    ``H`` and ``W`` are cropped to multiples of ``factor`` first (bottom and right rows go).
    ``factor=2`` maps 28x28 to 14x14: 4x fewer positions, so convolutions cost 4x less.

    Example:
      >>> downsample(make_synthetic(4, 2), 2).input_shape
      (14, 14, 1)
    """
    factor = integer("factor", factor, low=1, fix="e.g. 2 (28x28 -> 14x14)")
    if len(dataset.input_shape) != 3:
        raise bad("dataset", dataset, f"inputs of shape {dataset.input_shape} are not images "
                  "[H, W, C]", "downsample only image datasets")
    if factor == 1:
        return dataset

    def pool(x):
        n, h, w, c = x.shape
        h2, w2 = h // factor, w // factor
        x = x[:, :h2 * factor, :w2 * factor].reshape(n, h2, factor, w2, factor, c)
        return x.mean(axis=(2, 4), dtype=np.float64).astype(np.float32)

    return dataclasses.replace(dataset, x_train=pool(dataset.x_train), x_test=pool(dataset.x_test))


def one_hot(labels, k: int, centered: bool = False, dtype=np.float32):
    """One-hot targets ``[..., k]``; ``centered=True`` subtracts ``1/k`` (zero-mean MSE targets).

    numpy labels give a numpy array and are checked to lie in ``[0, k)`` (``ValueError``
    otherwise); JAX arrays (also inside ``jax.jit``) give a JAX array, and out-of-range labels
    give all-zero rows before centering, as ``jax.nn.one_hot`` does.

    Example:
      >>> one_hot(np.array([0, 2]), 4).tolist()
      [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
      >>> one_hot(np.array([0, 2]), 4, centered=True).tolist()
      [[0.75, -0.25, -0.25, -0.25], [-0.25, -0.25, 0.75, -0.25]]
    """
    k = integer("k", k, low=1, what="the number of classes", fix="e.g. 10")
    shift = 1.0 / k if centered else 0.0
    if not isinstance(labels, (np.ndarray, list, tuple, int, np.integer)):
        import jax  # JAX arrays and tracers

        if isinstance(labels, jax.Array):
            return jax.nn.one_hot(labels, k, dtype=dtype) - jax.numpy.asarray(shift, dtype)
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise bad("labels", labels, f"must be integers, got dtype {labels.dtype}",
                  "pass class indices, e.g. labels.astype(np.int32)", kind=TypeError)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise bad("labels", labels, f"must lie in [0, {k}), got range "
                  f"[{labels.min()}, {labels.max()}]", f"pass class indices below k={k}")
    return np.eye(k, dtype=dtype)[labels] - np.asarray(shift, dtype)
