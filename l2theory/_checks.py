"""Input checks shared by the whole package, with one message format::

    name=value: what is wrong; how to fix it

``TypeError`` when the argument has the wrong type (a string or ``None`` for a number, a bool or a
float for an int), ``ValueError`` when it has the right type but a wrong value (out of range, not
finite, not one of the options). Each check returns the value in canonical form (``float``,
``int``) so callers write ``lr = _checks.lr("lr", lr)``. Checks of list arguments name the bad
element as ``name[i]`` (``sweep(lam=[-1])`` reports ``lam[0]=-1``), with the same text as the
scalar check.

The domain checks (``lam``, ``lr``, ``seed``) give the same text through every entry point: the
training config, ``sweep``, the solvers and the experiments.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")

_SHOW_MAX = 80  # longest repr shown in a message; longer values are summarized


def show(value: Any) -> str:
    """How a message shows a value: its repr (numpy scalars as Python numbers), arrays by shape,
    long containers by their length."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and not isinstance(value, (str, bytes, np.generic)):
        if shape:
            return f"<array of shape {shape}>"
        try:
            value = np.asarray(value)[()]
        except Exception:  # noqa: BLE001 - a tracer has no value
            return "<traced scalar>"
    if isinstance(value, np.floating):
        value = float(str(value))  # the shortest repr of a float32: 0.1, not 0.10000000149...
    elif isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    if len(text) <= _SHOW_MAX:
        return text
    if hasattr(value, "__len__"):
        return f"<{type_name(value)} of length {len(value)}>"
    return f"<{type_name(value)}>"


class Described(str):
    """A value a message shows as this text, without quotes (``Described("<traced>")``): for
    values the caller summarizes itself."""

    def __repr__(self) -> str:
        return str(self)


def bad(name: str, value: Any, problem: str, fix: str, *,
        kind: type[Exception] = ValueError) -> Exception:
    """The one error of this package: ``kind(f"{name}={show(value)}: {problem}; {fix}")``
    (``kind=TypeError`` for a wrong type)."""
    return kind(f"{name}={show(value)}: {problem}; {fix}")


def type_name(value: Any) -> str:
    return type(value).__name__


# ----------------------------------------------------------------------------- numbers


def is_real(value: Any) -> bool:
    """A real number: a Python or numpy int or float, or a 0-d array of one; not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Real):
        return True
    dtype = getattr(value, "dtype", None)
    return (getattr(value, "shape", None) == () and dtype is not None
            and (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)))


def is_int(value: Any) -> bool:
    """A Python or numpy int; not a bool (nor a float, even an integral one)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _bounds(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False, what: str = "",
         fix: str = "e.g. 0.1") -> float:
    """A finite real number within the bounds (``low_open``: ``> low``, else ``>= low``), as a
    float. ``what`` names the quantity in the message (``"the learning rate must be ..."``)."""
    subject = f"{what} must be" if what else "must be"
    if not is_real(value):
        raise bad(name, value, f"{subject} a real number, not {type_name(value)}", fix,
                  kind=TypeError)
    x = float(value)
    ok = (math.isfinite(x)
          and (low is None or (x > low if low_open else x >= low))
          and (high is None or (x < high if high_open else x <= high)))
    if not ok:
        bounds = _bounds(low, high, low_open, high_open)
        raise bad(name, value, f"{subject} a finite number" + (f" {bounds}" if bounds else ""),
                  fix)
    return x


def positive(name: str, value: Any, *, allow_zero: bool = False, what: str = "",
             fix: str = "e.g. 0.1") -> float:
    """A finite real ``> 0`` (``>= 0`` with ``allow_zero``) as a float."""
    return real(name, value, low=0.0, low_open=not allow_zero, what=what, fix=fix)


def lam(name: str, value: Any, *, allow_zero: bool = True) -> float:
    """An L2 coefficient: finite, ``>= 0`` (``> 0`` unless ``allow_zero``)."""
    return positive(name, value, allow_zero=allow_zero, what="the L2 coefficient",
                    fix="e.g. 1e-4")


def lr(name: str, value: Any) -> float:
    """A learning rate: finite, ``> 0``."""
    return positive(name, value, what="the learning rate", fix="e.g. 0.1")


def integer(name: str, value: Any, *, low: int | None = 1, high: int | None = None,
            what: str = "", fix: str | None = None, bounds: str | None = None) -> int:
    """A Python or numpy int (not a bool or a float) in ``[low, high]``, as an int. ``bounds``
    replaces the generated range text (e.g. ``"in [0, 2**31)"``)."""
    subject = f"{what} must be" if what else "must be"
    fix = fix or f"e.g. {max(low, 1) if low is not None else 1}"
    if not is_int(value):
        raise bad(name, value, f"{subject} an int, not {type_name(value)}", fix, kind=TypeError)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = bounds or _bounds(low, high, False, False)
        raise bad(name, value, f"{subject} an int {bounds}", fix)
    return int(value)


def positive_int(name: str, value: Any, *, minimum: int = 1, what: str = "",
                 fix: str | None = None) -> int:
    """An int ``>= minimum`` (default 1)."""
    return integer(name, value, low=minimum, what=what, fix=fix)


def optional_int(name: str, value: Any, *, minimum: int = 1, fix: str | None = None) -> int | None:
    """``None`` or an int ``>= minimum``."""
    if value is None:
        return None
    return positive_int(name, value, minimum=minimum,
                        fix=fix or f"pass an int >= {minimum}, or None")


def seed(name: str, value: Any) -> int:
    """A random seed: an int in ``[0, 2**31)``."""
    return integer(name, value, low=0, high=2**31 - 1, bounds="in [0, 2**31)", fix="e.g. 0")


def choice(name: str, value: Any, options: Sequence[Any], *, what: str = "") -> Any:
    """``value`` if it is one of ``options``, else a ``ValueError`` listing them."""
    try:
        ok = value in options
    except (TypeError, ValueError):  # unhashable or array-valued
        ok = False
    if not ok:
        raise bad(name, value, f"unknown {what or name}",
                  "valid: " + ", ".join(repr(o) for o in options))
    return value


def boolean(name: str, value: Any) -> bool:
    """``True`` or ``False`` (a numpy bool too; not 0/1 or a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise bad(name, value, f"must be True or False, not {type_name(value)}",
                  f"pass {name}=True or {name}=False", kind=TypeError)
    return bool(value)


# ----------------------------------------------------------------------------- sequences


def as_list(name: str, seq: Any, *, minimum: int = 1, example: str = "[...]") -> list:
    """A list of the values of ``seq`` (a list, tuple, 1-D array or iterable; a single value
    counts as a list of one) with at least ``minimum`` of them."""
    if isinstance(seq, (list, tuple, range)):
        items = list(seq)
    elif isinstance(getattr(seq, "shape", None), tuple):
        items = list(np.asarray(seq).ravel())
    elif isinstance(seq, Iterable) and not isinstance(seq, (str, bytes, dict)):
        items = list(seq)
    else:
        items = [seq]
    if len(items) < minimum:
        problem = "is empty" if not items else f"needs at least {minimum} values"
        raise bad(name, seq, problem, f"pass e.g. {name}={example}")
    return items


def sequence(name: str, seq: Any, check: Callable[[str, Any], T], *, minimum: int = 1,
             example: str = "[...]") -> list[T]:
    """``check(f"{name}[{i}]", v)`` for every value of ``seq`` (see ``as_list``)."""
    return [check(f"{name}[{i}]", v)
            for i, v in enumerate(as_list(name, seq, minimum=minimum, example=example))]


def values(name: str, seq: Any, *, allow_zero: bool = False, minimum_count: int = 1) -> list:
    """A non-empty list of positive (or non-negative) finite floats."""
    return sequence(name, seq, lambda n, v: positive(n, v, allow_zero=allow_zero),
                    minimum=minimum_count)


def lams(name: str, seq: Any, *, allow_zero: bool = True) -> list[float]:
    """A non-empty list of L2 coefficients (see ``lam``)."""
    return sequence(name, seq, lambda n, v: lam(n, v, allow_zero=allow_zero),
                    example="[1e-4, 1e-3]")


def lrs(name: str, seq: Any) -> list[float]:
    """A non-empty list of learning rates (see ``lr``)."""
    return sequence(name, seq, lr, example="[0.1]")


def seeds(name: str, seq: Any) -> list[int]:
    """A non-empty list of seeds (see ``seed``)."""
    return sequence(name, seq, seed, example="[0, 1]")


# ----------------------------------------------------------------------------- tables


def columns(rows: Any, needed: Sequence[str], what: str = "rows") -> dict[str, np.ndarray]:
    """``rows`` as a dict of equal-length 1-D numpy arrays holding at least ``needed`` (nested
    tables, such as AutoL2's ``rows["autol2"]``, are left out)."""
    fix = "pass the dict returned by l2theory.train.sweep"
    if not isinstance(rows, dict):
        raise bad(what, rows, f"must be a dict of 1-D arrays (a sweep result), not "
                  f"{type_name(rows)}", fix, kind=TypeError)
    missing = [c for c in needed if c not in rows]
    if missing:
        raise bad(what, rows, f"lacks the column(s) {missing}; it has {sorted(rows)}", fix)
    out = {name: np.asarray(col) for name, col in rows.items() if not isinstance(col, dict)}
    lengths = {name: (out[name].shape[0] if out[name].ndim == 1 else None) for name in needed}
    if any(v is None for v in lengths.values()) or len(set(lengths.values())) != 1:
        raise bad(what, rows, f"the columns {list(needed)} must be 1-D arrays of equal length, "
                  f"got lengths {lengths}", fix)
    if next(iter(lengths.values())) == 0:
        raise bad(what, rows, "is empty (no rows)", fix)
    return out


# ----------------------------------------------------------------------------- JSON


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


# ----------------------------------------------------------------------------- folders


def writable_folder(name: str, path: Any, *, alternative: str = "") -> "os.PathLike":
    """``path`` as a ``pathlib.Path`` if it is a folder that can be written, or can be created,
    proven by trying: the missing folders are created, a probe file is written and removed, and
    the folders created are removed again, so nothing is left behind (a command that fails later
    leaves no empty folder). Otherwise ``ValueError`` naming ``name``: ``--out='/proc/x': cannot
    create this folder (No such file or directory); pass a folder you can write to``.
    ``alternative``: text appended to the fix (``", or --out none to write nothing"``)."""
    import os
    import tempfile
    from pathlib import Path

    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise bad(name, path, "must be a folder path (str or os.PathLike)",
                  f"e.g. 'runs/exp1'{alternative}", kind=TypeError)
    folder = Path(path)
    missing = []
    existing = folder
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    shown = str(path)
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == folder else f"cannot be created: {existing} is a file"
        raise bad(name, shown, f"{where}, not a folder", f"pass a folder{alternative}")
    created = []
    try:
        for part in reversed(missing):
            part.mkdir()
            created.append(part)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        what = "cannot create this folder" if created != missing else "cannot write in it"
        raise bad(name, shown, f"{what} ({e.strerror or e})",
                  f"pass a folder you can write to{alternative}") from None
    finally:
        for part in reversed(created):
            try:
                part.rmdir()
            except OSError:
                pass
    return folder
