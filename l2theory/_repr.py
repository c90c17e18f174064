"""Short reprs for result tuples that hold arrays: scalars to 4 significant digits, each array as
its size and range (``<400 values 0.1..1e+06>``), each other pytree as its number of arrays and
values, instead of hundreds of numbers."""
from __future__ import annotations

from typing import Any

import numpy as np


def number(x: Any) -> str:
    """A scalar to 4 significant digits (ints, bools and None as they are)."""
    if x is None or isinstance(x, (bool, np.bool_, str)):
        return repr(x) if isinstance(x, str) else str(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return format(float(x), ".4g")


def array(a: Any, what: str = "values") -> str:
    """``<400 values 0.1..1e+06>`` (a 1-D array), ``<array 3x20x1, -1.2..3.4>`` (more axes),
    ``[0.1, 0.2]`` (up to 4 numbers), ``<8 flags, 1 True>`` (booleans)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return number(a.item())
    if a.size <= 4 and a.dtype.kind in "biuf":  # e.g. one value per lane of a small sweep
        return "[" + ", ".join(number(v) for v in a.ravel().tolist()) + "]"
    if a.dtype.kind == "b":
        return f"<{a.size} flags, {int(a.sum())} True>"
    head = f"{a.size} {what}" if a.ndim == 1 else f"array {'x'.join(map(str, a.shape))},"
    if a.size == 0 or not np.issubdtype(a.dtype, np.number):
        return f"<{head} {a.dtype}>"
    finite = a[np.isfinite(a)] if np.issubdtype(a.dtype, np.inexact) else a
    if finite.size == 0:
        return f"<{head} all non-finite>"
    lo, hi = finite.min(), finite.max()
    span = number(lo) if lo == hi else f"{number(lo)}..{number(hi)}"
    extra = "" if finite.size == a.size else f", {a.size - finite.size} non-finite"
    return f"<{head} {span}{extra}>"


def value(x: Any, what: str = "values") -> str:
    """One field: a scalar, an array, a result tuple (recursively) or a pytree, shortened."""
    if x is None or isinstance(x, (bool, int, float, str, np.generic)):
        return number(x)
    if hasattr(x, "_fields"):
        return fields(x)
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        try:
            return array(x, what) if len(x.shape) else number(np.asarray(x).item())
        except Exception:  # noqa: BLE001 - e.g. a tracer inside jit: no values to show
            return f"<{type(x).__name__} {'x'.join(map(str, x.shape)) or 'scalar'} {x.dtype}>"
    if isinstance(x, (dict, list, tuple)):
        import jax

        leaves = [leaf for leaf in jax.tree_util.tree_leaves(x) if hasattr(leaf, "shape")]
        if not leaves:
            return repr(x)
        size = sum(int(np.prod(leaf.shape)) for leaf in leaves)
        return f"<pytree of {len(leaves)} arrays, {size:,} values>"
    return repr(x)


def fields(obj: Any, what: dict[str, str] | None = None) -> str:
    """``Name(field=short value, ...)`` of a NamedTuple; ``what`` names the units of array
    fields (``{"t": "times"}``; default "values")."""
    what = what or {}
    body = ", ".join(f"{k}={value(getattr(obj, k), what.get(k, 'values'))}" for k in obj._fields)
    return f"{type(obj).__name__}({body})"
