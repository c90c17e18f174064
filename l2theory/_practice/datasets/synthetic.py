"""The ``"synthetic"`` dataset: seeded Gaussian clusters shaped like images (no files).

Class ``c`` has a smooth prototype image ``m_c`` (a Gaussian random field on a coarse grid,
bilinearly upsampled to ``image_shape``); an example of class ``c`` is

    x = clip(0.5 + contrast * m_c + noise * z, 0, 1),      z ~ N(0, I) per pixel,

so the classes are Gaussian clusters (before the clipping) around ``0.5 + contrast * m_c``. The
prototypes depend only on ``class_seed`` (the data distribution is fixed); ``seed`` draws the
examples. The classes are exactly balanced when ``n`` is a multiple of ``num_classes`` and the
order is shuffled.
"""
from __future__ import annotations

import numpy as np

from l2theory import _checks
from l2theory._checks import bad, integer
from l2theory._practice.datasets.dataset import Dataset

COARSE = 7  # side of the coarse grid of the prototypes (a 28x28 image gets 4x4-pixel features)


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """[n_out, n_in] linear interpolation weights from n_in to n_out evenly spaced samples."""
    positions = np.linspace(0.0, n_in - 1.0, n_out)
    return np.stack([np.interp(positions, np.arange(n_in), row) for row in np.eye(n_in)], axis=1)


def prototypes(image_shape, num_classes: int, class_seed: int) -> np.ndarray:
    """The class prototypes ``m_c``: float64 [num_classes, H, W, C], unit variance per pixel."""
    h, w, c = image_shape
    rng = np.random.default_rng([class_seed, 0x5EED])
    coarse = rng.standard_normal((num_classes, COARSE, COARSE, c))
    fine = np.einsum("Hh,khwc,Ww->kHWc", _interp_matrix(h, COARSE), coarse,
                     _interp_matrix(w, COARSE))
    return fine / fine.std()


def sample(n: int, *, image_shape, num_classes: int, contrast: float, noise: float,
           seed, class_seed: int):
    """``n`` examples: (float32 images [n, H, W, C] in [0, 1], int32 labels [n])."""
    protos = prototypes(image_shape, num_classes, class_seed)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int32)
    x = 0.5 + contrast * protos[labels] + noise * rng.standard_normal((n, *image_shape))
    return np.clip(x, 0.0, 1.0).astype(np.float32), labels


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
    n_train = integer("n_train", n_train, low=1, fix="e.g. 2000")
    n_test = integer("n_test", n_test, low=1, fix="e.g. 1000")
    num_classes = integer("num_classes", num_classes, low=2, fix="e.g. 10")
    contrast = _checks.real("contrast", contrast, low=0.0, fix="e.g. 0.04")
    noise = _checks.real("noise", noise, low=0.0, fix="e.g. 0.3")
    seed, class_seed = _checks.seed("seed", seed), _checks.seed("class_seed", class_seed)
    kwargs = dict(image_shape=image_shape, num_classes=num_classes, contrast=contrast,
                  noise=noise, class_seed=class_seed)
    x_train, y_train = sample(n_train, seed=[seed, 0], **kwargs)
    x_test, y_test = sample(n_test, seed=[seed, 1], **kwargs)
    return Dataset(x_train, y_train, x_test, y_test, name="synthetic",
                   class_names=tuple(f"class {c}" for c in range(num_classes)))

