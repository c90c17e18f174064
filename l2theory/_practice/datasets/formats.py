"""Readers for the on-disk dataset formats. Every reader returns uint8 NHWC images and int32 labels.

Corrupt input (bad magic number, truncated file, wrong sizes, image/label count mismatch, labels
out of range) raises ``ValueError`` whose message starts with the offending file's path. A missing
file raises ``FileNotFoundError`` as usual. Nothing here touches the network.

Formats:

- IDX (MNIST, Fashion-MNIST), gzipped or not (detected from the gzip magic bytes, not the name).
  Header: two zero bytes, a type code (0x08 = uint8, ...), the number of dimensions, then one
  big-endian uint32 per dimension; the data follow in C order.
- keras ``mnist.npz``: arrays ``x_train``, ``y_train``, ``x_test``, ``y_test`` (read with
  ``allow_pickle=False``).
- CIFAR-10 binary (``cifar-10-batches-bin/*.bin``): records of 1 label byte + 3072 pixel bytes
  (1024 red, 1024 green, 1024 blue, each a row-major 32x32 plane).
- CIFAR-10 python (``cifar-10-batches-py/data_batch_*``): Python-2 pickles of a dict with ``data``
  (uint8 [N, 3072], same pixel order) and ``labels`` (list of N ints). Read with
  :class:`CifarUnpickler`, which resolves only the numpy globals these files need.
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"); data are big-endian.
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"

MNIST_IMAGE_SHAPE = (28, 28)
CIFAR_IMAGE_SHAPE = (32, 32, 3)
CIFAR_RECORD_BYTES = 1 + 32 * 32 * 3
NUM_CLASSES = 10


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic bytes."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            raise ValueError(f"{path}: corrupt or truncated gzip file ({type(e).__name__}: {e})") from e
    return data


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> np.ndarray:
    """Reads one IDX file (gzipped or not) into a native-endian numpy array.

    Args:
      path: the file, e.g. ``train-images-idx3-ubyte.gz``.
      ndim: if given, the number of dimensions the header must declare (3 for images, 1 for labels).

    Returns:
      An array of the shape the header declares (uint8 for MNIST-style files).

    Raises:
      ValueError: naming ``path``, when the magic number is wrong, the dimensions differ from
        ``ndim``, or the file size does not match the header (truncated or padded file).
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: not an IDX file (bad magic number 0x{data[:4].hex() or 'empty'}; expected "
            "0x0000 followed by a type code such as 0x08 and the number of dimensions)")
    code, nd = data[2], data[3]
    if ndim is not None and nd != ndim:
        raise ValueError(f"{path}: IDX header declares {nd} dimensions, expected {ndim} "
                         f"(magic number 0x{data[:4].hex()})")
    header = 4 + 4 * nd
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    shape = struct.unpack(f">{nd}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = int(np.prod(shape, dtype=np.int64))
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(f"{path}: IDX file {what}: header declares shape {shape} ({expected} bytes "
                         f"with the header) but the data are {len(data)} bytes")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def _check_labels(labels: np.ndarray, path: Path | str) -> np.ndarray:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: labels must be a 1-D integer array, got shape {labels.shape} "
                         f"dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"{path}: labels must lie in [0, {NUM_CLASSES}), got range "
                         f"[{labels.min()}, {labels.max()}]")
    return labels.astype(np.int32)


def _check_mnist_images(images: np.ndarray, path: Path | str) -> np.ndarray:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != MNIST_IMAGE_SHAPE:
        raise ValueError(f"{path}: expected uint8 images of shape [N, 28, 28], got shape "
                         f"{images.shape} dtype {images.dtype}")
    return images[..., None]  # NHWC with one channel


def _pair(images: np.ndarray, labels: np.ndarray, images_path, labels_path):
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                         f"{len(labels)} labels; one of the files is corrupt or from another set")
    return images, labels


def read_mnist_idx(files: dict[str, Path]):
    """Reads the four MNIST-style IDX files.

    Args:
      files: paths under the keys ``train_images``, ``train_labels``, ``test_images``,
        ``test_labels``.

    Returns:
      ``(x_train, y_train, x_test, y_test)``: uint8 [N, 28, 28, 1] images, int32 labels.
    """
    out = []
    for split in ("train", "test"):
        ipath, lpath = files[f"{split}_images"], files[f"{split}_labels"]
        images = _check_mnist_images(read_idx(ipath, ndim=3), ipath)
        labels = _check_labels(read_idx(lpath, ndim=1), lpath)
        out += _pair(images, labels, ipath, lpath)
    return tuple(out)


def read_mnist_npz(path: str | os.PathLike[str]):
    """Reads keras' ``mnist.npz`` (no pickles allowed); returns the same tuple as ``read_mnist_idx``."""
    path = Path(path)
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with open(path, "rb") as f:
            npz = np.load(f, allow_pickle=False)
            if not hasattr(npz, "files"):
                raise ValueError(f"a single array {npz.shape}, not an .npz archive")
            with npz:
                arrays = {k: np.asarray(npz[k]) for k in keys}
    except FileNotFoundError:
        raise
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{path}: not a readable mnist.npz with arrays {', '.join(keys)} "
                         f"({type(e).__name__}: {e})") from e
    out = []
    for split in ("train", "test"):
        images = _check_mnist_images(arrays[f"x_{split}"], f"{path} [x_{split}]")
        labels = _check_labels(arrays[f"y_{split}"], f"{path} [y_{split}]")
        out += _pair(images, labels, f"{path} [x_{split}]", f"{path} [y_{split}]")
    return tuple(out)


def _cifar_planes_to_nhwc(flat: np.ndarray) -> np.ndarray:
    """[N, 3072] in R, G, B plane order -> [N, 32, 32, 3]."""
    return np.ascontiguousarray(flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def read_cifar_bin(path: str | os.PathLike[str]):
    """Reads one CIFAR-10 binary batch; returns ``(images uint8 [N, 32, 32, 3], labels int32 [N])``."""
    path = Path(path)
    data = read_bytes(path)
    if not data or len(data) % CIFAR_RECORD_BYTES:
        raise ValueError(
            f"{path}: size {len(data)} bytes is not a positive multiple of the CIFAR-10 record size "
            f"{CIFAR_RECORD_BYTES} (1 label byte + 3072 pixel bytes): truncated or not a CIFAR-10 "
            "binary batch")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    labels = _check_labels(records[:, 0], path)
    return _cifar_planes_to_nhwc(records[:, 1:]), labels


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that can only build numpy arrays: it cannot import or call anything else.

    ``pickle`` executes whatever callable a file names, so an ordinary ``pickle.load`` of a
    downloaded file can run arbitrary code. The CIFAR-10 python batches only need the globals in
    ``ALLOWED`` (how numpy pickles an ``ndarray``: ``_reconstruct``, ``ndarray``, ``dtype``); every
    other global is refused with ``pickle.UnpicklingError`` before it is imported. Persistent ids
    are refused by ``pickle.Unpickler`` already.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,  # files written by numpy 1.x
        ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,  # files written by numpy 2.x
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load global {module}.{name}: a CIFAR-10 batch only needs numpy arrays "
                f"({', '.join(f'{m}.{n}' for m, n in self.ALLOWED)})") from None


def load_cifar_pickle(data: bytes, path: Path | str = "<bytes>"):
    """Unpickles one CIFAR-10 python batch with :class:`CifarUnpickler` (``encoding='bytes'``)."""
    try:
        obj = CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, struct.error) as e:
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    # Python-2 pickles decode to bytes keys; a batch re-pickled under Python 3 may have str keys.
    batch = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path}: CIFAR-10 batch without 'data' and 'labels' (keys: "
                         f"{sorted(map(str, batch))})")
    flat = batch["data"]
    if (not isinstance(flat, np.ndarray) or flat.dtype != np.uint8 or flat.ndim != 2
            or flat.shape[1] != CIFAR_RECORD_BYTES - 1):
        raise ValueError(f"{path}: 'data' must be a uint8 array [N, 3072], got "
                         f"{getattr(flat, 'shape', type(flat).__name__)} "
                         f"{getattr(flat, 'dtype', '')}")
    try:
        labels = np.asarray(batch["labels"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: 'labels' is not a list of ints ({e})") from e
    labels = _check_labels(labels, path)
    return _pair(_cifar_planes_to_nhwc(flat), labels, path, path)


def read_cifar_pickle(path: str | os.PathLike[str]):
    """Reads one CIFAR-10 python batch file safely; returns ``(images, labels)``."""
    path = Path(path)
    return load_cifar_pickle(path.read_bytes(), path)


def read_cifar_batches(train_files, test_file, reader):
    """Concatenates the training batches and reads the test batch with ``reader``."""
    parts = [reader(p) for p in train_files]
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    x_test, y_test = reader(test_file)
    return x_train, y_train, x_test, y_test
