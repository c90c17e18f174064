"""Input checks shared by the whole package: every error names the argument, shows the offending
value and says what to pass instead, in one format: ``name=value: problem; fix``."""
from __future__ import annotations

import numbers
import warnings
from typing import Any, Sequence

import numpy as np


def bad(name: str, value: Any, problem: str, fix: str) -> ValueError:
    """The one error message of this package part: ``name=value: problem; fix``."""
    shown = value if np.ndim(value) == 0 else f"array of shape {np.shape(value)}"
    return ValueError(f"{name}={shown!r}: {problem}; {fix}")


def renamed(new: str, new_value: Any, old: str, old_value: Any, *, note: str = "",
            stacklevel: int = 3) -> Any:
    """Resolve a deprecated keyword ``old`` renamed to ``new``: warn (``DeprecationWarning``) when
    ``old`` is given and return its value; passing both is an error."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise TypeError(f"{old}={old_value!r}: {old} is the deprecated name of {new}; pass only "
                        f"{new}={old_value!r}")
    warnings.warn(f"{old}= is deprecated; use {new}= instead{note}", DeprecationWarning,
                  stacklevel=stacklevel)
    return old_value


NATURAL_TIME_NOTE = (" (same value: lam * lr * t is the natural time; physical time is lr * t, "
                     "see docs/conventions.md)")


def positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite real ``> 0`` (``>= 0`` with ``allow_zero``) as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise bad(name, value, f"must be a real number, not {type(value).__name__}", "e.g. 0.1")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not (np.isfinite(value) and ok):
        raise bad(name, value, "must be finite and " + (">= 0" if allow_zero else "> 0"),
                  "e.g. 0.1")
    return value


def positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise bad(name, value, f"must be an int >= {minimum}", f"e.g. {max(minimum, 1)}")
    return int(value)


def values(name: str, seq: Any, *, allow_zero: bool = False, minimum_count: int = 1) -> list:
    """A non-empty list of positive (or non-negative) finite floats."""
    if np.ndim(seq) == 0:
        seq = [seq]
    seq = list(np.asarray(seq, dtype=object).ravel()) if isinstance(seq, np.ndarray) else list(seq)
    if len(seq) < minimum_count:
        raise bad(name, seq, f"needs at least {minimum_count} value(s)", f"pass e.g. {name}=[...]")
    return [positive(f"{name}[{i}]", v, allow_zero=allow_zero) for i, v in enumerate(seq)]


def seeds(name: str, seq: Sequence[int]) -> list[int]:
    if np.ndim(seq) == 0:
        seq = [seq]
    seq = list(seq)
    if not seq:
        raise bad(name, seq, "is empty", "pass e.g. seeds=[0, 1]")
    return [positive_int(f"{name}[{i}]", s, minimum=0) for i, s in enumerate(seq)]


def columns(rows: Any, needed: Sequence[str], what: str = "rows") -> dict[str, np.ndarray]:
    """``rows`` as a dict of equal-length 1-D numpy arrays holding at least ``needed`` (nested
    tables, such as AutoL2's ``rows["autol2"]``, are left out)."""
    if not isinstance(rows, dict):
        raise bad(what, type(rows).__name__, "must be a dict of 1-D arrays (a sweep result)",
                  "pass the dict returned by l2theory.train.sweep")
    missing = [c for c in needed if c not in rows]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}; it has {sorted(rows)}. Pass the "
                         "dict returned by l2theory.train.sweep")
    out = {name: np.asarray(col) for name, col in rows.items() if not isinstance(col, dict)}
    lengths = {name: (out[name].shape[0] if out[name].ndim == 1 else None) for name in needed}
    if any(v is None for v in lengths.values()) or len(set(lengths.values())) != 1:
        raise ValueError(f"{what}: the columns {list(needed)} must be 1-D arrays of equal length, "
                         f"got lengths {lengths}")
    if next(iter(lengths.values())) == 0:
        raise ValueError(f"{what} is empty (no rows)")
    return out


def to_json(x: Any) -> Any:
    """Numpy scalars/arrays inside dicts/lists -> plain Python (JSON-serializable; nan -> None)."""
    if isinstance(x, dict):
        return {str(k): to_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_json(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_json(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    return x
