"""The data of a function-space comparison (a network's outputs against the theory's): a
class-stratified subset as float32 numpy arrays, downsampled and standardized as asked."""
from __future__ import annotations

import numpy as np

from l2theory import _checks


def prepare_data(data, *, n_train: int, n_test: int, data_seed: int = 0,
                 standardize: bool = True, downsample: int = 1, flatten: bool = True):
    """``(x_train, labels_train, x_test, labels_test, k, name)`` as float32 numpy: inputs
    ``[n, d]`` (``flatten``) or ``[n, *input_shape]`` (e.g. NHWC images for a CNN).

    ``data``: a dataset name for ``l2theory.data.load`` (e.g. ``"fashion_mnist_subset"``; the
    full ``"fashion_mnist"`` is found through ``$L2THEORY_DATA``), an ``l2theory.data.Dataset``,
    or a tuple ``(x_train, labels_train, x_test, labels_test)`` of arrays. A class-stratified
    seeded subset of ``n_train``/``n_test`` points is taken (``data_seed``), images are averaged
    over ``downsample x downsample`` pixel blocks (``l2theory.data.downsample``) and, with
    ``standardize``, inputs are standardized by the training set's statistics.
    """
    from l2theory import data as data_mod

    if isinstance(data, tuple):
        if len(data) != 4:
            raise _checks.bad("data", _checks.Described(f"<tuple of length {len(data)}>"),
                              "a tuple must hold 4 arrays",
                              "pass (x_train, labels_train, x_test, labels_test)")
        data = data_mod.Dataset(*data)
    elif not isinstance(data, (str, data_mod.Dataset)):
        raise _checks.bad("data", data, f"unsupported type {type(data).__name__}",
                          "pass a dataset name, an l2theory.data.Dataset or a 4-tuple of arrays",
                          kind=TypeError)
    ds = data_mod.load(data, n_train=n_train, n_test=n_test, seed=data_seed)
    if downsample != 1:
        ds = data_mod.downsample(ds, downsample)
    if standardize:
        ds = data_mod.standardize(ds)
    shape = (-1,) if flatten else ds.input_shape
    x_train = np.asarray(ds.x_train, np.float32).reshape((ds.n_train,) + shape)
    x_test = np.asarray(ds.x_test, np.float32).reshape((ds.n_test,) + shape)
    return (x_train, np.asarray(ds.y_train), x_test, np.asarray(ds.y_test), ds.num_classes,
            ds.name)
