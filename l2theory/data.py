"""Datasets: loading (never downloading), subsets, preprocessing and on-device augmentation.

``load(name, root=None, n_train=None, n_test=None, seed=0)`` returns a :class:`Dataset` of numpy
arrays (float32 NHWC images in [0, 1], int32 labels) for ``"mnist"``, ``"fashion_mnist"``,
``"cifar10"`` (files found in ``root``, ``$L2THEORY_DATA``, ``~/.cache/l2theory``,
``/usr/share/datasets``, ``~/.keras/datasets``), ``"fashion_mnist_subset"`` (2,000/1,000 images
shipped with the package) and ``"synthetic"`` (generated; :func:`make_synthetic`); :data:`DATASETS`
lists the names. A ``Dataset`` built from your own arrays works wherever a name does.
:func:`read_idx` reads one IDX file. Preprocessing: :func:`subsample` (class-stratified; a subset
smaller than the number of classes warns with :class:`FewerThanClasses`), :func:`hold_out` (a
validation split held out of the training set, evaluated by the training engine beside the test
set), :func:`standardize` (with :func:`channel_stats`), :func:`downsample`, :func:`one_hot`;
augmentation on the device:
:func:`random_crop_flip`, :func:`mixup`.
"""
from l2theory._practice.datasets.augment import mixup
from l2theory._practice.datasets.augment import random_crop_flip
from l2theory._practice.datasets.dataset import Dataset
from l2theory._practice.datasets.formats import read_idx
from l2theory._practice.datasets.loading import DATASETS
from l2theory._practice.datasets.loading import load
from l2theory._practice.datasets.preprocess import FewerThanClasses
from l2theory._practice.datasets.preprocess import channel_stats
from l2theory._practice.datasets.preprocess import downsample
from l2theory._practice.datasets.preprocess import hold_out
from l2theory._practice.datasets.preprocess import one_hot
from l2theory._practice.datasets.preprocess import standardize
from l2theory._practice.datasets.preprocess import subsample
from l2theory._practice.datasets.synthetic import make_synthetic

__all__ = [
    "DATASETS",
    "Dataset",
    "FewerThanClasses",
    "channel_stats",
    "downsample",
    "hold_out",
    "load",
    "make_synthetic",
    "mixup",
    "one_hot",
    "random_crop_flip",
    "read_idx",
    "standardize",
    "subsample",
]
