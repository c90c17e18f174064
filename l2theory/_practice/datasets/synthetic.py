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
