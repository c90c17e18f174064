"""The ``Dataset`` type: a train/test split (and an optional validation split held out of the
training set) held as numpy arrays, checked once at construction."""
from __future__ import annotations

import dataclasses

import numpy as np

from l2theory._checks import bad


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split held as numpy arrays, with an optional validation split.

    Attributes:
      x_train: inputs ``[n_train, *input_shape]``; images are float32 NHWC in [0, 1] as loaded.
      y_train: integer class labels ``[n_train]`` in ``[0, num_classes)``.
      x_test: inputs ``[n_test, *input_shape]``.
      y_test: integer class labels ``[n_test]``.
      name: where the data came from (``"arrays"`` for user arrays), keyword-only.
      class_names: optional names of the classes; when given they fix ``num_classes``.
      x_val, y_val: an optional validation split (both or neither), keyword-only: examples held
        out of the training set (``data.hold_out``) that training never sees; the training
        engine evaluates them beside the test set (``val_loss``/``val_acc``), so a "best"
        setting can be chosen without the test set.

    The constructor converts the arrays with ``np.asarray`` and raises ``ValueError`` when the
    counts of inputs and labels differ, the train and test inputs have different shapes, or the
    labels are not a 1-D integer array of non-negative class indices.

    Example:
      >>> import numpy as np
      >>> ds = Dataset(np.zeros((4, 2, 2, 1), np.float32), np.array([0, 1, 2, 1]),
      ...              np.zeros((2, 2, 2, 1), np.float32), np.array([0, 2]))
      >>> ds.num_classes, ds.input_shape, ds.n_train, ds.n_test
      (3, (2, 2, 1), 4, 2)
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    _: dataclasses.KW_ONLY
    name: str = "arrays"
    class_names: tuple[str, ...] | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self):
        if (self.x_val is None) != (self.y_val is None):
            raise bad("y_val" if self.y_val is None else "x_val", None, "a validation split "
                      "needs both x_val and y_val", "pass both, or neither")
        for field in ("x_train", "y_train", "x_test", "y_test") + (
                ("x_val", "y_val") if self.x_val is not None else ()):
            object.__setattr__(self, field, np.asarray(getattr(self, field)))
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(self.class_names))
        for split in self.splits:
            xn, yn = f"x_{split}", f"y_{split}"
            x, y = getattr(self, xn), getattr(self, yn)
            if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
                raise bad(xn, x, f"must be numeric, got dtype {x.dtype}",
                          "pass images as a float or uint8 array", kind=TypeError)
            if x.ndim < 2:
                raise bad(xn, x, "must have shape [n, *input_shape] with at least 2 axes",
                          "add a feature axis, e.g. x[:, None]")
            if not np.issubdtype(y.dtype, np.integer):
                raise bad(yn, y, f"must be a 1-D array of integer class labels, got dtype "
                          f"{y.dtype}", "for one-hot targets pass y.argmax(-1), for float labels "
                          "y.astype(np.int32)", kind=TypeError)
            if y.ndim != 1:
                raise bad(yn, y, "must be a 1-D array of integer class labels",
                          "for one-hot targets pass y.argmax(-1)")
            if len(x) != len(y):
                raise bad(yn, y, f"{xn} has {len(x)} examples but {yn} has {len(y)} labels",
                          "pass one label per example")
            if y.size and y.min() < 0:
                raise bad(yn, y, f"holds a negative label ({y.min()})",
                          "labels are class indices 0 .. k-1")
            if self.class_names is not None and y.size and y.max() >= len(self.class_names):
                raise bad(yn, y, f"holds label {y.max()} but class_names has only "
                          f"{len(self.class_names)} classes", "pass one name per class")
        for split in self.splits[1:]:
            x = getattr(self, f"x_{split}")
            if self.x_train.shape[1:] != x.shape[1:]:
                raise bad(f"x_{split}", x, f"x_train examples have shape "
                          f"{self.x_train.shape[1:]} but x_{split} examples have shape "
                          f"{x.shape[1:]}", f"pass train and {split} images of one shape")

    @property
    def splits(self) -> tuple[str, ...]:
        """``("train", "test")``, and ``"val"`` when there is a validation split."""
        return ("train", "test") + (("val",) if self.x_val is not None else ())

    @property
    def num_classes(self) -> int:
        """``len(class_names)`` if given, else the largest label (train or test) plus one."""
        if self.class_names is not None:
            return len(self.class_names)
        top = [int(y.max()) for y in (getattr(self, f"y_{s}") for s in self.splits) if y.size]
        return max(top) + 1 if top else 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input, e.g. ``(28, 28, 1)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    @property
    def n_val(self) -> int:
        """Examples in the validation split (0 without one)."""
        return 0 if self.y_val is None else len(self.y_val)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, x_train={self.x_train.dtype}{list(self.x_train.shape)}"
                f", x_test={self.x_test.dtype}{list(self.x_test.shape)}, "
                + (f"x_val={self.x_val.dtype}{list(self.x_val.shape)}, " if self.n_val else "")
                + f"num_classes={self.num_classes})")

