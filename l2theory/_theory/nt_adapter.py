"""Kernel functions: l2theory's own and neural-tangents' ``kernel_fn`` behind one interface.

A kernel function here is ``kernel_fn(x1, x2=None) -> (nngp, ntk)`` with ``[n1, n2]`` arrays.
neural-tangents' ``stax`` kernel functions (``kernel_fn(x1, x2, get)``) are accepted wherever a
kernel function is taken; neural-tangents itself is optional and never imported here.
"""
from __future__ import annotations

import numpy as np

from l2theory import _checks, _precision


def is_neural_tangents_kernel_fn(fn) -> bool:
    """True for a neural-tangents ``kernel_fn`` (``stax`` layers or ``empirical_kernel_fn``)."""
    module = getattr(fn, "__module__", "") or ""
    wrapped = getattr(fn, "__wrapped__", None)
    inner = getattr(wrapped, "__module__", "") or ""
    return module.startswith("neural_tangents") or inner.startswith("neural_tangents")


def as_kernel_fn(fn):
    """Wrap ``fn`` into ``kernel_fn(x1, x2=None) -> (nngp, ntk)``.

    Accepts a neural-tangents ``kernel_fn`` (called with ``get=("nngp", "ntk")``) or a function
    already returning ``(nngp, ntk)``.
    """
    if not callable(fn):
        raise _checks.bad("kernel_fn", fn, f"must be callable, not {type(fn).__name__}",
                          "pass kernel_fn(x1, x2=None) -> (nngp, ntk), e.g. "
                          "kernels.fc_relu_fn(depth=3)", kind=TypeError)
    if is_neural_tangents_kernel_fn(fn):
        def nt_kernel_fn(x1, x2=None):
            nngp, ntk = fn(x1, x2, ("nngp", "ntk"))
            return nngp, ntk
        return nt_kernel_fn
    return fn


@_precision.full_precision
def ntk_matrices(kernel_fn, x_train, x_test=None):
    """``(k_train_train [n, n], k_test_train [m, n] or None)`` NTKs from any kernel function
    (computed at full float32 matmul precision, ``docs/conventions.md`` section 6)."""
    fn = as_kernel_fn(kernel_fn)
    out = fn(x_train, None)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise _checks.bad("kernel_fn", kernel_fn, f"must return (nngp, ntk), not "
                          f"{type(out).__name__}", "wrap a function returning only the NTK as "
                          "lambda x1, x2=None: (None, ntk_fn(x1, x2))", kind=TypeError)
    k_train_train = np.asarray(out[1])
    k_test_train = None if x_test is None else np.asarray(fn(x_test, x_train)[1])
    return k_train_train, k_test_train
