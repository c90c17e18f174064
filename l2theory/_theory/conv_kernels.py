"""Analytic infinite-channel kernels of convolutional ReLU networks (NTK parameterization).

Network, on NHWC images ``[n, H, W, C]``::

    depth x [Conv(f x f, stride 1, SAME zero padding) - ReLU] - readout - Dense

with every layer in NTK parameterization: a conv computes ``h = w_std/sqrt(f^2 c_in) (x * W) +
b_std b`` with ``W, b ~ N(0, 1)`` (fan-in = filter area times input channels), the Dense readout
``w_std/sqrt(fan_in) x W + b_std b``. ``readout="flatten"`` flattens ``[H, W, C]``,
``readout="gap"`` averages over the ``H x W`` positions first. This is neural-tangents'
``stax.serial(*[Conv(C, (f, f), padding='SAME', W_std, b_std), Relu()] * depth, Flatten() or
GlobalAvgPool(), Dense(k, W_std, b_std))`` and ``l2theory.models.cnn(depth, pool=None,
global_pool=None or "avg", bias=False, parameterization="ntk")`` (``b_std = 0``).

Recursion (Arora et al. 2019, "On exact computation with an infinitely wide neural net"), over
pairs of positions ``p = (h, w)``, ``p'`` of two images and their covariance ``K(p, p')``,
starting from ``K0(p, p') = x(p) . x'(p') / C``::

    conv:  K'(p, p')     = w_std^2 / f^2 sum_d K(p + d, p' + d) + b_std^2   (d over the f x f
           Theta'(p, p') = w_std^2 / f^2 sum_d Theta(p + d, p' + d) + K'(p, p')   window; zero
    relu:  K     <- E[relu relu],   Theta <- Theta E[relu' relu']                outside the image)

with the ReLU expectations of ``fc_kernels.relu_moments`` at the variances ``K(p, p)`` and
``K'(p', p')`` of each image, and ``Theta = K`` after the first conv. Readout: flatten averages
the spatial diagonal, ``K_r = mean_p K(p, p)``; GAP averages everything, ``K_r = mean_{p, p'}
K(p, p')`` (same for ``Theta``); then ``nngp = w_std^2 K_r + b_std^2``, ``ntk = w_std^2 Theta_r +
nngp``. The spatial diagonal ``K(p, p)`` is closed under the recursion (a conv shifts both
positions by the same ``d``), so the flatten readout needs only ``H W`` numbers per image pair;
GAP needs the full ``(H W)^2`` covariance.

Homogeneity: with ``b_std = 0`` the network (``depth`` convs and the Dense readout) is positively
homogeneous of degree ``depth + 1`` in its weights; use ``degree = depth + 1`` in
``L2GradientFlow``. Like ``fc_relu``, the result is one output's kernel (the full kernel is this
times the identity over outputs).
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from l2theory import _checks
from l2theory._theory import _validate
from l2theory._theory.fc_kernels import relu_moments

READOUTS = ("flatten", "gap")
# Elements of one [pairs, positions] array in a block (2^22: 32 MiB in float64): about ten such
# arrays are alive at once, so a block peaks near 0.3 GiB.
BLOCK_ELEMENTS = 2 ** 22
_HIGHEST = jax.lax.Precision.HIGHEST


def conv_relu(x1, x2=None, *, depth: int, filter_size: int = 3, readout: str = "flatten",
              w_std: float = 2 ** 0.5, b_std: float = 0.0, block_size: int | None = None):
    """``(nngp, ntk)`` ``[n1, n2]`` infinite-channel kernels of a ReLU CNN (module docstring).

    Example:
      >>> import numpy as np
      >>> from l2theory.kernels import conv_relu, fc_relu
      >>> x = np.random.default_rng(0).normal(size=(3, 1, 1, 4))
      >>> _, ntk = conv_relu(x, depth=2, filter_size=1)   # 1x1 images and filters: an FC net
      >>> bool(np.allclose(ntk, fc_relu(x, depth=3)[1], rtol=1e-5))
      True
      >>> conv_relu(np.ones((5, 14, 14, 1)), depth=2, readout="gap")[1].shape
      (5, 5)

    Args:
      x1: ``[n1, H, W, C]`` images (NHWC).
      x2: ``[n2, H, W, C]`` images, or None for ``x2 = x1`` (then the result is exactly
        symmetric and each image's own spatial angles are exactly 0).
      depth: number of conv layers (``>= 0``; 0 is the Dense readout alone).
      filter_size: odd side ``f`` of the square filters.
      readout: ``"flatten"`` or ``"gap"`` (global average pooling).
      w_std, b_std: weight and bias standard deviations of every layer (``b_std = 0``: no bias).
      block_size: images per side of a block of image pairs (None: as many as keep one
        ``[pairs, positions]`` array under ``BLOCK_ELEMENTS``). Memory only; blocks are padded to
        one shape, so one compilation serves all of them.

    Cost, per image pair: ``O(H W (C + depth f))`` (flatten) or ``O((H W)^2 (C + depth f))``
    (GAP) flops plus ``depth`` ReLU moments (an ``atan2`` and a ``sqrt``, ~25 ns each on a CPU)
    per position (pair); memory about ten arrays of ``block_size^2 H W`` (flatten) or
    ``block_size^2 (H W)^2`` (GAP) floats, ~0.3 GiB with the default ``block_size``, whatever
    ``n1 n2``. On 2 CPU cores (float64, depth 2, f = 3): flatten, 1000 images of 28x28 in 42 s;
    GAP, 100 images of 14x14 in 46 s, so use an accelerator for more (docs/measurements.md).

    Returns:
      ``(nngp, ntk)``, JAX arrays ``[n1, n2]`` in the inputs' floating dtype (float64 needs JAX's
      x64 mode).
    """
    depth = _checks.integer("depth", depth, low=0, what="the number of conv layers",
                            fix="e.g. 2 (0: the Dense readout alone)")
    filter_size = _checks.integer("filter_size", filter_size, low=1, fix="e.g. 3")
    if filter_size % 2 == 0:
        raise _checks.bad("filter_size", filter_size, "must be odd (SAME padding of an even "
                          "filter is asymmetric)", "e.g. 3")
    _checks.choice("readout", readout, READOUTS)
    w_var = _validate.scalar("w_std", w_std, minimum=0.0, fix="e.g. 2**0.5") ** 2
    b_var = _validate.scalar("b_std", b_std, minimum=0.0, fix="e.g. 0.0") ** 2
    block_size = _checks.optional_int("block_size", block_size)
    x1 = _images("x1", x1)
    same = x2 is None
    x2 = x1 if same else _images("x2", x2)
    if x1.shape[1:] != x2.shape[1:]:
        raise _checks.bad("x2", x2, f"has images of shape {x2.shape[1:]}, x1 {x1.shape[1:]}",
                          "pass images of the same [H, W, C]")
    dtype = jnp.result_type(x1.dtype, x2.dtype, jnp.float32)
    x1, x2 = x1.astype(dtype), x2.astype(dtype)
    n1, n2 = x1.shape[0], x2.shape[0]
    height, width = x1.shape[1:3]
    positions = height * width * (height * width if readout == "gap" else 1)
    if block_size is None:
        block_size = max(1, math.isqrt(BLOCK_ELEMENTS // positions))
    b1, b2 = min(int(block_size), n1), min(int(block_size), n2)

    scal = (jnp.asarray(w_var, dtype), jnp.asarray(b_var, dtype))
    v1 = _variances(x1, *scal, depth=depth, f=filter_size)
    v2 = v1 if same else _variances(x2, *scal, depth=depth, f=filter_size)
    x1p, v1p = _pad_rows(x1, v1, b1)
    x2p, v2p = (x1p, v1p) if same and b1 == b2 else _pad_rows(x2, v2, b2)
    block = functools.partial(_block, depth=depth, f=filter_size, readout=readout)
    nngp_rows, ntk_rows = [], []
    starts1, starts2 = range(0, n1, b1), range(0, n2, b2)
    for i in starts1:
        nngp_row, ntk_row = [], []
        for j in starts2:
            if same and j < i:  # filled from the transpose below
                nngp_row.append(None)
                ntk_row.append(None)
                continue
            diag = jnp.asarray(same) & (jnp.arange(i, i + b1)[:, None]
                                        == jnp.arange(j, j + b2)[None, :])
            nngp, ntk = block(x1p[i:i + b1], x2p[j:j + b2], v1p[:, i:i + b1], v2p[:, j:j + b2],
                              diag, *scal)
            nngp_row.append(nngp)
            ntk_row.append(ntk)
        nngp_rows.append(nngp_row)
        ntk_rows.append(ntk_row)
    out = []
    for rows in (nngp_rows, ntk_rows):
        if same:
            for bi, row in enumerate(rows):
                for bj in range(bi):
                    row[bj] = rows[bj][bi].T
        full = jnp.block(rows)[:n1, :n2]
        out.append((full + full.T) / 2 if same else full)
    return out[0], out[1]


def conv_relu_fn(*, depth: int, filter_size: int = 3, readout: str = "flatten",
                 w_std: float = 2 ** 0.5, b_std: float = 0.0, block_size: int | None = None):
    """``conv_relu`` as a kernel function ``kernel_fn(x1, x2=None) -> (nngp, ntk)``."""
    def kernel_fn(x1, x2=None):
        return conv_relu(x1, x2, depth=depth, filter_size=filter_size, readout=readout,
                         w_std=w_std, b_std=b_std, block_size=block_size)
    return kernel_fn


def _images(name, x):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.number):
        raise _checks.bad(name, x, f"dtype {x.dtype} is not numeric", "pass float images",
                          kind=TypeError)
    if x.ndim != 4:
        raise _checks.bad(name, x, "must be NHWC images [n, H, W, C]",
                          "add a channel axis (x[..., None]) to [n, H, W] images")
    _validate.finite_inputs(name, x)
    return x


def _pad_rows(x, v, b):
    """Pad the image axis of ``x [n, ...]`` and ``v [depth, n, ...]`` with zeros to a multiple of
    ``b`` (zero images have zero kernels: ``relu_moments`` gives 0 at zero variance)."""
    extra = -x.shape[0] % b
    if extra == 0:
        return x, v
    x = jnp.concatenate([x, jnp.zeros((extra,) + x.shape[1:], x.dtype)])
    v = jnp.concatenate([v, jnp.zeros(v.shape[:1] + (extra,) + v.shape[2:], v.dtype)], axis=1)
    return x, v


def _box(k, f, axes):
    """``sum_d k(p + d)`` over the ``f x f`` window, zero outside, shifting every position axis
    pair ``(axes[0], axes[1])`` (and ``(axes[2], axes[3])``) together."""
    r = (f - 1) // 2
    if r == 0:
        return k
    for group in axes:
        pad = [(0, 0)] * k.ndim
        for a in group:
            pad[a] = (r, r)
        kp = jnp.pad(k, pad)
        out = 0
        for s in range(f):
            idx = [slice(None)] * k.ndim
            for a in group:
                idx[a] = slice(s, s + k.shape[a])
            out = out + kp[tuple(idx)]
        k = out
    return k


@functools.partial(jax.jit, static_argnames=("depth", "f"))
def _variances(x, w_var, b_var, *, depth, f):
    """``[depth, n, H, W]``: variance of each conv layer's pre-activations at each position."""
    v = jnp.sum(x * x, axis=-1) / x.shape[-1]
    out = []
    for layer in range(depth):
        v = w_var / f ** 2 * _box(v if layer == 0 else v / 2, f, ((1,), (2,))) + b_var
        out.append(v)
    if not out:
        return jnp.zeros((0,) + v.shape, v.dtype)
    return jnp.stack(out)


@functools.partial(jax.jit, static_argnames=("depth", "f", "readout"))
def _block(x1, x2, v1, v2, diag, w_var, b_var, *, depth, f, readout):
    """``(nngp, ntk)`` ``[b1, b2]`` of one block of image pairs.

    ``v1 [depth, b1, H, W]``, ``v2 [depth, b2, H, W]``: pre-activation variances per layer;
    ``diag [b1, b2]``: pairs of an image with itself (the angle between a position and itself
    is exactly 0 there).
    """
    c = x1.shape[-1]
    if readout == "flatten":  # [b1, b2, H, W]: the spatial diagonal K(p, p)
        k = jnp.einsum("ihwc,jhwc->ijhw", x1, x2, precision=_HIGHEST) / c
        axes = ((2,), (3,))
    else:  # [b1, b2, H, W, H', W']: every pair of positions
        k = jnp.einsum("ihwc,jxyc->ijhwxy", x1, x2, precision=_HIGHEST) / c
        axes = ((2, 4), (3, 5))
    ntk = jnp.zeros_like(k)
    for layer in range(depth):
        if layer > 0:
            k, ntk = _relu(k, ntk, v1[layer - 1], v2[layer - 1], diag, readout)
        k = w_var / f ** 2 * _box(k, f, axes) + b_var
        ntk = (w_var / f ** 2 * _box(ntk, f, axes) if layer > 0 else 0) + k
    if depth > 0:
        k, ntk = _relu(k, ntk, v1[depth - 1], v2[depth - 1], diag, readout)
    spatial = tuple(range(2, k.ndim))
    nngp = w_var * jnp.mean(k, axis=spatial) + b_var
    return nngp, w_var * jnp.mean(ntk, axis=spatial) + nngp


def _relu(k, ntk, v1, v2, diag, readout):
    """ReLU moments of the pair covariance ``k`` at the variances ``v1 [b1, H, W]`` (first image,
    position p) and ``v2 [b2, H, W]`` (second image, position p')."""
    if readout == "flatten":
        prod = v1[:, None] * v2[None, :]
        own = jnp.broadcast_to(diag[:, :, None, None], k.shape)
        var = jnp.broadcast_to(v1[:, None], k.shape)
    else:
        prod = v1[:, None, :, :, None, None] * v2[None, :, None, None, :, :]
        height, width = v1.shape[1:]
        same_pos = jnp.eye(height * width, dtype=bool).reshape(height, width, height, width)
        own = diag[:, :, None, None, None, None] & same_pos
        var = jnp.broadcast_to(v1[:, None, :, :, None, None], k.shape)
    # own pairs: the angle is exactly 0 (set, not computed: prod - k^2 of equal numbers can
    # leave an FMA rounding residue whose square root is ~sqrt(eps) relative)
    e_relu, e_drelu = relu_moments(k, prod)
    e_relu = jnp.where(own, var / 2, e_relu)
    e_drelu = jnp.where(own, 0.5, e_drelu)
    return e_relu, ntk * e_drelu
