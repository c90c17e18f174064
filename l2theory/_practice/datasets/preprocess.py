"""Preprocessing of a ``Dataset``, separate and explicit: seeded class-stratified subsets
(``subsample``), a validation split held out of the training set (``hold_out``), per-channel standardization with the training set's statistics
(``standardize``), block-average downsampling (``downsample``) and one-hot targets with the
centred variant for MSE (``one_hot``). Every function returns a new ``Dataset`` (or array)."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from l2theory import _checks
from l2theory._checks import bad, integer
from l2theory._practice.datasets.dataset import Dataset


class FewerThanClasses(UserWarning):
    """A class-stratified subset asked for fewer examples than there are classes: it holds one
    example each of as many classes as examples (``subsample``)."""


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
        classes = len(np.unique(y))
        if stratify and 0 < n < classes:
            warnings.warn(FewerThanClasses(
                f"n_{split}={n}: fewer than the {classes} classes of the {split} split of "
                f"{dataset.name!r}: the class-stratified subset holds one example of {n} of "
                f"them (the largest remainders, ties by the seed); pass n_{split} >= {classes} "
                "for every class"), stacklevel=3)
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

    A stratified subset smaller than the number of classes holds one example each of as many
    classes as it has examples (the largest remainders, ties by the seed) and warns
    (``FewerThanClasses``) naming the argument: it cannot hold every class.

    Raises:
      ValueError: if ``n_train`` or ``n_test`` is negative or exceeds the split's size (0 gives an
        empty split here; ``load`` refuses it).

    Example:
      >>> from l2theory.data import make_synthetic
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

def hold_out(dataset: Dataset, n_val: int, *, seed: int = 0, stratify: bool = True) -> Dataset:
    """A validation split of ``n_val`` examples held out of the training set: they leave
    ``x_train``/``y_train`` (training never sees them) and become ``x_val``/``y_val``, which the
    training engine evaluates beside the test set (``val_loss``, ``val_acc``) - the data on which
    a "best" setting is chosen, so the test set only scores it.

    The held-out examples are a seeded draw from the training set (class-stratified like
    ``subsample``, from the stream ``numpy.random.default_rng([seed, 2])``), kept in their
    original order; the remaining training examples keep theirs.

    Raises:
      ValueError: ``n_val`` not in ``[1, n_train - 1]``, or the dataset already has a
        validation split.

    Example:
      >>> from l2theory.data import make_synthetic
      >>> ds = hold_out(make_synthetic(100, 50), 20)
      >>> ds.n_train, ds.n_val, ds.n_test
      (80, 20, 50)
    """
    if dataset.x_val is not None:
        raise bad("dataset", dataset, "already has a validation split",
                  "hold out once, from a dataset without one")
    seed = _checks.seed("seed", seed)
    n_val = integer("n_val", n_val, low=1, high=dataset.n_train - 1,
                    what="the size of the validation split (it leaves the training set)",
                    fix="keep at least one training example")
    val = _subset_indices(dataset.y_train, n_val, np.random.default_rng([seed, 2]), stratify)
    train = np.setdiff1d(np.arange(dataset.n_train), val)
    return dataclasses.replace(dataset, x_train=dataset.x_train[train],
                               y_train=dataset.y_train[train], x_val=dataset.x_train[val],
                               y_val=dataset.y_train[val])


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
    """``(x - mean) / std`` on every split, with per-channel statistics of the training set.

    Args:
      dataset: the data; its inputs are cast to float32.
      mean, std: per-channel statistics to use instead of ``channel_stats(dataset.x_train)``
        (e.g. those of a larger set). Channels with ``std == 0`` (constant pixels of flat inputs)
        are divided by 1.

    Returns:
      A new :class:`Dataset`; the test (and validation) split is standardized with the
      training statistics.
    """
    if mean is None or std is None:
        train_mean, train_std = channel_stats(dataset.x_train)
        mean = train_mean if mean is None else mean
        std = train_std if std is None else std
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    std = np.where(std > 0, std, np.float32(1))
    return dataclasses.replace(dataset, **{
        f"x_{split}": ((getattr(dataset, f"x_{split}") - mean) / std).astype(np.float32)
        for split in dataset.splits})


def downsample(dataset: Dataset, factor: int) -> Dataset:
    """Images ``[N, H, W, C]`` averaged over ``factor x factor`` pixel blocks, every split.

    ``H`` and ``W`` are cropped to multiples of ``factor`` first (bottom and right rows go).
    ``factor=2`` maps 28x28 to 14x14: 4x fewer positions, so convolutions cost 4x less.

    Example:
      >>> from l2theory.data import make_synthetic
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

    return dataclasses.replace(dataset, **{f"x_{split}": pool(getattr(dataset, f"x_{split}"))
                                           for split in dataset.splits})


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
