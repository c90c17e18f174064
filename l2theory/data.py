"""Datasets: loading (never downloading), subsets, preprocessing and on-device augmentation.

``load(name, root=None, n_train=None, n_test=None, seed=0)`` returns a :class:`Dataset` of numpy
arrays (float32 NHWC images in [0, 1], int32 labels) for ``"mnist"``, ``"fashion_mnist"``,
``"cifar10"`` (files found in ``root``, ``$L2THEORY_DATA``, ``~/.cache/l2theory``,
``/usr/share/datasets``, ``~/.keras/datasets``), ``"fashion_mnist_subset"`` (2,000/1,000 images
shipped with the package) and ``"synthetic"`` (generated). A ``Dataset`` built from your own arrays
works wherever a name does. Preprocessing: :func:`standardize`, :func:`downsample`,
:func:`one_hot`; augmentation on the device: :func:`random_crop_flip`, :func:`mixup`. Details:
``l2theory._practice.data``.
"""
from l2theory._practice.data import DATASETS
from l2theory._practice.data import Dataset
from l2theory._practice.data import channel_stats
from l2theory._practice.data import downsample
from l2theory._practice.data import load
from l2theory._practice.data import make_synthetic
from l2theory._practice.data import mixup
from l2theory._practice.data import one_hot
from l2theory._practice.data import random_crop_flip
from l2theory._practice.data import read_idx
from l2theory._practice.data import standardize
from l2theory._practice.data import subsample

__all__ = [
    "DATASETS",
    "Dataset",
    "channel_stats",
    "downsample",
    "load",
    "make_synthetic",
    "mixup",
    "one_hot",
    "random_crop_flip",
    "read_idx",
    "standardize",
    "subsample",
]
