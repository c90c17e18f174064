"""Analytic infinite-width kernels of fully connected ReLU networks (NTK parameterization).

Network ``Dense-(Relu-Dense)*(depth-1)``; each Dense computes
``h = w_std/sqrt(fan_in) x W + b_std b`` with ``W, b ~ N(0, 1)`` (neural-tangents' ``stax.Dense``).
The recursion (Jacot et al. 2018; Arora et al. 2019), per pair of inputs, starting from
``q = w_std^2 x.x'/d + b_std^2`` and ``Theta = q``::

    theta    = arccos(q12 / sqrt(q11 q22))          (computed as atan2, stable near 0)
    E[relu relu]   = (sqrt(q11 q22 - q12^2) + (pi - theta) q12) / (2 pi)
    E[relu' relu'] = (pi - theta) / (2 pi)
    q'     = w_std^2 E[relu relu] + b_std^2
    Theta' = q' + w_std^2 E[relu' relu'] Theta

Returns the NNGP kernel ``q`` and the NTK ``Theta`` of the last layer, per output (the full
kernel is this times the identity over outputs). With ``b_std = 0`` and ReLU the network is
homogeneous of degree ``depth`` and the NTK of degree ``2 (depth - 1)`` in the weights' scale.
"""
from __future__ import annotations

import functools

import jax.numpy as jnp

from l2theory import _checks, _precision
from l2theory._theory import _validate


def relu_moments(q12, prod, *, zero_diagonal: bool = False):
    """``(E[relu(u) relu(v)], E[relu'(u) relu'(v)])`` for centered Gaussians ``(u, v)`` with
    covariance ``q12`` and variance product ``prod = q11 q22`` (elementwise, any shape).

    The angle is ``atan2(sqrt(prod - q12^2), q12)``: stable near 0, and 0 where both vanish.
    ``zero_diagonal`` (a square ``[n, n]`` kernel of one set of inputs with itself): the angle is
    exactly 0 on the diagonal, also where XLA fuses ``prod - q12^2`` into an FMA and leaves a
    ``sqrt(eps)``-sized root.
    """
    root = jnp.sqrt(jnp.maximum(prod - q12 ** 2, 0.0))
    if zero_diagonal:
        root = root.at[jnp.diag_indices(root.shape[0])].set(0.0)
    angle = jnp.arctan2(root, q12)
    return (root + (jnp.pi - angle) * q12) / (2 * jnp.pi), (jnp.pi - angle) / (2 * jnp.pi)


@_precision.full_precision
def fc_relu(x1, x2=None, *, depth: int, w_std: float = 2 ** 0.5, b_std: float = 0.0):
    """``(nngp, ntk)`` ``[n1, n2]`` infinite-width kernels of a ReLU FC net of ``depth`` layers.

    Example:
      >>> import numpy as np
      >>> from l2theory.kernels import fc_relu
      >>> x = np.eye(3)
      >>> nngp, ntk = fc_relu(x, depth=1)   # linear model: w_std^2 x.x'/d
      >>> round(float(ntk[0, 0]), 6), float(ntk[0, 1])   # 2/3 in float32 and float64
      (0.666667, 0.0)

    Args:
      x1: ``[n1, ...]`` inputs (flattened to ``[n1, d]``).
      x2: ``[n2, ...]`` inputs, or None for ``x2 = x1`` (then the result is exactly symmetric).
      depth: number of Dense layers (``>= 1``); ``depth=1`` is the linear model.
      w_std, b_std: weight and bias standard deviations (``b_std = 0``: no bias).

    Memory: about ten ``[n1, n2]`` temporaries. For large data sets (the full training set)
    use ``kernels.kernel_matrix(fc_relu_fn(depth=...), x1, x2, block_size=...)``: the same
    kernel in tiles, in float32 or float64, on the GPU when there is one.
    The input product ``x1 x2^T`` is taken at full float32 precision on every backend
    (``docs/conventions.md`` section 6).
    """
    depth = _checks.integer("depth", depth, low=1, what="the number of Dense layers",
                            fix="e.g. 3 (1: the linear model)")
    w_var = _validate.scalar("w_std", w_std, minimum=0.0, fix="e.g. 2**0.5") ** 2
    b_var = _validate.scalar("b_std", b_std, minimum=0.0, fix="e.g. 0.0") ** 2
    x1 = jnp.asarray(x1)
    x1 = x1.reshape(x1.shape[0], -1)
    same = x2 is None
    x2 = x1 if same else jnp.asarray(x2).reshape(jnp.shape(x2)[0], -1)
    _validate.finite_inputs("x1", x1)
    if not same:
        _validate.finite_inputs("x2", x2)
    if x1.shape[1] != x2.shape[1]:
        raise _checks.bad("x2", x2, f"must have the same feature size as x1 ({x1.shape[1]}), "
                          f"got {x2.shape[1]}", "pass inputs of the same shape")
    d = x1.shape[1]
    q12 = w_var * (x1 @ x2.T) / d + b_var
    q11 = w_var * jnp.sum(x1 * x1, axis=1) / d + b_var
    q22 = q11 if same else w_var * jnp.sum(x2 * x2, axis=1) / d + b_var
    if same:  # exact symmetry and exact diagonal (theta = 0 there)
        q12 = (q12 + q12.T) / 2
        q12 = q12.at[jnp.diag_indices(q12.shape[0])].set(q11)
    ntk = q12
    for _ in range(depth - 1):
        e_relu, e_drelu = relu_moments(q12, q11[:, None] * q22[None, :], zero_diagonal=same)
        q12_new = w_var * e_relu + b_var
        ntk = q12_new + w_var * e_drelu * ntk
        q12 = q12_new
        q11 = w_var * q11 / 2 + b_var
        q22 = q11 if same else w_var * q22 / 2 + b_var
        if same:
            q12 = q12.at[jnp.diag_indices(q12.shape[0])].set(q11)
    return q12, ntk


def fc_relu_fn(*, depth: int, w_std: float = 2 ** 0.5, b_std: float = 0.0):
    """``fc_relu`` as a kernel function ``kernel_fn(x1, x2=None) -> (nngp, ntk)``.

    The same settings give the same function object, so ``jax.jit`` caches keyed on it (the
    tiles of ``kernels.kernel_matrix``) compile once.
    """
    depth = _checks.integer("depth", depth, low=1, what="the number of Dense layers",
                            fix="e.g. 3 (1: the linear model)")
    return _fc_relu_fn(depth, _validate.scalar("w_std", w_std, minimum=0.0, fix="e.g. 2**0.5"),
                       _validate.scalar("b_std", b_std, minimum=0.0, fix="e.g. 0.0"))


@functools.lru_cache(maxsize=64)
def _fc_relu_fn(depth: int, w_std: float, b_std: float):
    def kernel_fn(x1, x2=None):
        return fc_relu(x1, x2, depth=depth, w_std=w_std, b_std=b_std)
    return kernel_fn
