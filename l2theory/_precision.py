"""Matmul precision: full float32 for everything compared with theory, reduced only when asked.

The policy (``docs/conventions.md`` section 6): JAX computes float32 matrix products and
convolutions at the backend's default precision, which on NVIDIA GPUs (Ampere and later) is
TF32, a 10-bit mantissa (about 1e-3 relative error). Every computation of the package that is
compared with theory or a reference (analytic and empirical kernels, the exact solvers, the
theory-vs-practice networks, the Hessian) runs at ``"highest"`` precision instead, and training
runs at the precision of ``TrainConfig.matmul_precision`` (full by default).

How it is guaranteed: ``scope(p)`` sets ``jax.default_matmul_precision(p)`` for a block. JAX
reads that setting when a ``dot_general`` or ``conv_general_dilated`` is *traced* and writes it
into the operation (``precision=HIGHEST`` in the jaxpr and the lowered program), and the
gradient's products inherit it from the traced operation. So ``full_precision`` and
``scope`` are entered *inside* the functions that are traced (below ``jax.jit``, or around an
eager computation): the compiled program then carries the precision whatever the caller's
context or ``jax_default_matmul_precision`` says, and a jitted function called under another
precision is traced again (the setting is part of JAX's compilation cache key).
"""
from __future__ import annotations

import contextlib
import functools
from typing import Callable, TypeVar

FULL = "highest"
# ``TrainConfig.matmul_precision`` values (JAX's names): full float32, TF32, one bfloat16 pass,
# and "default": no request (JAX's ``jax_default_matmul_precision`` if set, else the backend's
# default: TF32 on NVIDIA GPUs, bfloat16 passes on TPUs, full float32 on CPUs).
CHOICES = ("highest", "tensorfloat32", "bfloat16", "default")
# their names for ``jax.default_matmul_precision`` (JAX's legacy names, which every JAX version
# since 0.2 accepts: "float32" is ``Precision.HIGHEST``, "tensorfloat32" ``HIGH``)
_JAX_NAMES = {"highest": "float32", "tensorfloat32": "tensorfloat32", "bfloat16": "bfloat16"}

F = TypeVar("F", bound=Callable)


@contextlib.contextmanager
def scope(precision: str | None):
    """``jax.default_matmul_precision(precision)`` for the block; ``None`` or ``"default"``:
    leave the setting as it is."""
    if precision is None or precision == "default":
        yield
        return
    import jax

    with jax.default_matmul_precision(_JAX_NAMES.get(precision, precision)):
        yield


def full():
    """``scope("highest")``: full float32 (or float64) products in the block."""
    return scope(FULL)


def full_precision(fn: F) -> F:
    """``fn`` run inside ``full()`` (decorate *below* ``jax.jit`` so the trace sees it)."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with full():
            return fn(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def in_scope(fn: F, precision: str | None) -> F:
    """``fn`` run inside ``scope(precision)`` (``fn`` itself for ``None``/``"default"``)."""
    if precision is None or precision == "default":
        return fn

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with scope(precision):
            return fn(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def jax_default() -> str | None:
    """JAX's process-wide ``jax_default_matmul_precision`` (``None``: the backend's default)."""
    import jax

    return jax.config.jax_default_matmul_precision
