"""Private pieces behind ``l2theory.data``: file formats, search paths, generated data, augmentation.

- ``formats``: readers for IDX (MNIST, Fashion-MNIST), keras ``mnist.npz`` and CIFAR-10 (binary and
  python pickles, the latter through a restricted unpickler that cannot execute code).
- ``locate``: where the files are looked for, in which order, and the error when they are missing.
- ``synthetic``: the seeded Gaussian-cluster dataset shaped like images (no files).
- ``augment``: on-device augmentation as pure, jittable JAX functions.
"""
