"""The datasets behind ``l2theory.data`` (private; the public names are re-exported there).

A ``Dataset`` holds four numpy arrays: images ``x`` (float32, NHWC, values in [0, 1] as loaded:
``[N, 28, 28, 1]`` for MNIST-like sets, ``[N, 32, 32, 3]`` for CIFAR-10) and integer class labels
``y``. Arrays built in memory work everywhere a named dataset does. Nothing is ever downloaded.

One idea per file:

- ``dataset``: the ``Dataset`` type and its checks.
- ``loading``: the named datasets (``DATASETS``) and ``load``; the shipped
  ``"fashion_mnist_subset"`` (2,000 train / 1,000 test images, ``l2theory/_data/README.md``).
- ``locate``: where the files are looked for, in which order, and the error when they are missing.
- ``formats``: readers for IDX (MNIST, Fashion-MNIST), keras ``mnist.npz`` and CIFAR-10 (binary and
  python pickles, the latter through a restricted unpickler that cannot execute code).
- ``synthetic``: the seeded Gaussian-cluster dataset shaped like images (no files).
- ``preprocess``: seeded class-stratified subsets, standardization, downsampling, one-hot targets.
- ``augment``: on-device augmentation as pure, jittable JAX functions.
- ``make_subset``: the script that made the shipped subset from the full Fashion-MNIST files.
"""
