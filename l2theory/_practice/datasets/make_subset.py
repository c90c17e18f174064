"""Makes ``l2theory/_data/fashion_mnist_subset.npz``, the Fashion-MNIST subset shipped with l2theory.

Usage (from the repository root, with the four Fashion-MNIST IDX files findable by
``l2theory.data.load``, e.g. ``L2THEORY_DATA=<dir>`` with ``<dir>/fashion-mnist/*.gz``)::

    python -m l2theory._practice.datasets.make_subset [--root DIR] [--out PATH]

It takes a class-stratified random subset (``subsample(..., n_train=2000, n_test=1000, seed=0)``:
200 images per class in train, 100 per class in test, kept in file order) and stores it as uint8
with ``np.savez_compressed``: ``x_train`` [2000, 28, 28], ``y_train`` [2000], ``x_test``
[1000, 28, 28], ``y_test`` [1000], and ``idx_train``/``idx_test``, the positions of the images in
the original files, so the subset can be checked against them. Re-running it reproduces the file's
arrays exactly.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from l2theory._practice.datasets.loading import SUBSET_FILE, read_raw
from l2theory._practice.datasets.preprocess import subset_indices

N_TRAIN, N_TEST, SEED = 2000, 1000, 0
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "_data" / SUBSET_FILE


def make_subset(root=None) -> dict[str, np.ndarray]:
    """The arrays of the shipped subset, read from the full Fashion-MNIST files."""
    full = read_raw("fashion_mnist", root)
    idx_train, idx_test = subset_indices(full, N_TRAIN, N_TEST, seed=SEED, stratify=True)
    return {
        "x_train": full.x_train[idx_train, ..., 0], "y_train": full.y_train[idx_train].astype(np.uint8),
        "x_test": full.x_test[idx_test, ..., 0], "y_test": full.y_test[idx_test].astype(np.uint8),
        "idx_train": idx_train.astype(np.int32), "idx_test": idx_test.astype(np.int32),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l2theory._practice.datasets.make_subset",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="folder searched first for the IDX files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    args = parser.parse_args(argv)
    arrays = make_subset(args.root)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    counts = np.bincount(arrays["y_train"]).tolist(), np.bincount(arrays["y_test"]).tolist()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB); per-class counts "
          f"train {counts[0]}, test {counts[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
