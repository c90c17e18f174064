"""Where dataset files are looked for, in which order, and the error when they are missing.

Base folders, in order (the first complete copy found wins):

1. ``root``, the argument of ``load`` (a dataset folder itself, or a folder holding dataset folders);
2. every entry of ``$L2THEORY_DATA`` (``os.pathsep``-separated, read at call time);
3. ``~/.cache/l2theory``;
4. ``/usr/share/datasets`` (Debian's ``dataset-fashion-mnist`` installs
   ``/usr/share/datasets/fashion-mnist/*.gz``);
5. ``~/.keras/datasets`` (keras' download cache: ``fashion-mnist/``, ``mnist.npz``,
   ``cifar-10-batches-py/``).

Inside each base folder the dataset is looked for in the subfolders listed in ``SUBDIRS`` (the
spellings of the project's own layout, Debian, torchvision's ``<root>/FashionMNIST/raw``,
``<root>/MNIST/raw``, ``<root>/cifar-10-batches-py`` and keras). A torchvision or keras download
folder therefore works when passed as ``root`` or listed in ``$L2THEORY_DATA``. The files may also
lie directly in ``root`` (only there: MNIST and Fashion-MNIST share file names, so a bare folder
elsewhere would be ambiguous).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

ENV_VAR = "L2THEORY_DATA"
SYSTEM_DIRS: tuple[str, ...] = ("/usr/share/datasets",)

# role -> accepted file names without the optional ".gz" (the second is a common re-spelling).
IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"

SUBDIRS = {
    "fashion_mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "FashionMNIST",
                      "fashionmnist", "Fashion-MNIST"),
    "mnist": ("mnist", "MNIST/raw", "MNIST"),
    "cifar10": ("cifar-10-batches-bin", "cifar-10-batches-py",
                "cifar10/cifar-10-batches-bin", "cifar10/cifar-10-batches-py",
                "cifar-10/cifar-10-batches-bin", "cifar-10/cifar-10-batches-py",
                "cifar10", "cifar-10", "CIFAR10"),
}

HOW_TO_GET = {
    "fashion_mnist": (
        "On Debian/Ubuntu: `apt-get install dataset-fashion-mnist` (installs "
        "/usr/share/datasets/fashion-mnist/). Otherwise download the four IDX .gz files from "
        "Zalando Research's fashion-mnist repository into <dir>/fashion-mnist/ and set "
        f"{ENV_VAR}=<dir> (or pass root=<dir>). A torchvision or keras download folder works too. "
        "Offline, load('fashion_mnist_subset') uses the 2,000/1,000-image subset shipped with "
        "l2theory."),
    "mnist": (
        "Download the four MNIST IDX files (train-images-idx3-ubyte.gz, ...) into <dir>/mnist/, "
        f"or keras' mnist.npz into <dir>/, and set {ENV_VAR}=<dir> (or pass root=<dir>). "
        "A torchvision root (<dir>/MNIST/raw/) works too."),
    "cifar10": (
        "Download the CIFAR-10 binary version (cifar-10-binary.tar.gz) or the python version "
        "(cifar-10-python.tar.gz) from the CIFAR-10 page of the University of Toronto, extract it "
        f"into <dir>/ (giving <dir>/cifar-10-batches-bin/ or <dir>/cifar-10-batches-py/) and set "
        f"{ENV_VAR}=<dir> (or pass root=<dir>). A torchvision or keras download folder works too."),
}

EXPECTED = {
    "fashion_mnist": "the four IDX files " + ", ".join(n[0] for n in IDX_FILES.values())
                     + " (each optionally .gz)",
    "cifar10": "data_batch_1.bin ... data_batch_5.bin and test_batch.bin (binary version) or "
               "data_batch_1 ... data_batch_5 and test_batch (python version)",
}
EXPECTED["mnist"] = EXPECTED["fashion_mnist"] + ", or keras' mnist.npz"


@dataclasses.dataclass(frozen=True)
class Found:
    """A complete copy of a dataset on disk.

    ``format`` is ``"idx"`` (``files`` maps the four roles of ``IDX_FILES`` to paths),
    ``"mnist_npz"`` (``files = {"npz": path}``), ``"cifar_bin"`` or ``"cifar_py"``
    (``files = {"train": [5 paths], "test": path}``).
    """

    format: str
    files: dict
    where: Path


def search_dirs(root: str | os.PathLike[str] | None = None) -> list[tuple[Path, str]]:
    """The base folders, in search order, each with where it came from."""
    dirs = []
    if root is not None:
        dirs.append((Path(root).expanduser(), "root argument"))
    for entry in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if entry.strip():
            dirs.append((Path(entry.strip()).expanduser(), f"${ENV_VAR}"))
    home = Path.home()
    dirs.append((home / ".cache" / "l2theory", "user cache"))
    dirs += [(Path(d), "system datasets") for d in SYSTEM_DIRS]
    dirs.append((home / ".keras" / "datasets", "keras cache"))
    return dirs


def _first_file(folder: Path, names) -> Path | None:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _match_idx(folder: Path):
    files = {role: _first_file(folder, names) for role, names in IDX_FILES.items()}
    missing = [IDX_FILES[role][0] for role, path in files.items() if path is None]
    if not missing:
        return Found("idx", files, folder), None
    if len(missing) < len(files):
        return None, "incomplete: lacks " + ", ".join(f"{m}[.gz]" for m in missing)
    return None, None


def _match_npz(path: Path):
    return (Found("mnist_npz", {"npz": path}, path), None) if path.is_file() else (None, None)


def _match_cifar(folder: Path):
    notes = []
    for fmt, suffix in (("cifar_bin", ".bin"), ("cifar_py", "")):
        train = [folder / f"{name}{suffix}" for name in CIFAR_TRAIN]
        test = folder / f"{CIFAR_TEST}{suffix}"
        present = [p.is_file() for p in (*train, test)]
        if all(present):
            return Found(fmt, {"train": train, "test": test}, folder), None
        if any(present):
            lacking = [p.name for p, ok in zip((*train, test), present) if not ok]
            notes.append("incomplete: lacks " + ", ".join(lacking))
    return None, "; ".join(notes) or None


def _candidates(name: str, base: Path, is_root: bool):
    """(path shown in the error, matcher) pairs for one base folder, in order."""
    folders = ([base] if is_root else []) + [base / sub for sub in SUBDIRS[name]]
    match = _match_cifar if name == "cifar10" else _match_idx
    out = [(folder, lambda f=folder: match(f)) for folder in folders]
    if name == "mnist":  # keras keeps mnist.npz directly in its datasets folder
        for npz in (base / "mnist.npz", base / "mnist" / "mnist.npz"):
            out.append((npz, lambda p=npz: _match_npz(p)))
    return out


def locate(name: str, root: str | os.PathLike[str] | None = None) -> Found:
    """Finds the first complete copy of ``name`` ("mnist", "fashion_mnist" or "cifar10").

    Raises:
      FileNotFoundError: listing every path searched (with what was wrong where a folder exists)
        and how to get the files.
    """
    searched = []
    for base, origin in search_dirs(root):
        for path, match in _candidates(name, base, origin == "root argument"):
            found, note = match()
            if found is not None:
                return found
            state = note or ("empty or other files" if path.is_dir() else "not found")
            searched.append(f"  {path}  [{origin}]  ({state})")
    if os.environ.get(ENV_VAR) is None:
        searched.append(f"  (${ENV_VAR} is not set)")
    raise FileNotFoundError(
        f"dataset {name!r} not found on disk (l2theory never downloads). It needs "
        f"{EXPECTED[name]} in one folder. Searched, in order:\n" + "\n".join(searched)
        + f"\nHow to get it: {HOW_TO_GET[name]}")
