"""Kernel matrices of any size, filled block by block on the device.

``kernel_fn(x1, x2)`` of a whole data set materializes several ``[n1, n2]`` temporaries (the
``fc_relu`` recursion holds about ten): 60,000 Fashion-MNIST images would need hundreds of GB.
``kernel_matrix`` calls it on ``block_size``-row/column tiles and writes each tile into one
preallocated output in place (buffer donation), so the memory is the output plus one tile's
workspace.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from l2theory import _checks
from l2theory._theory import _validate, nt_adapter

GETS = ("nngp", "ntk")


def kernel_matrix(kernel_fn, x1, x2=None, *, get="ntk", block_size: int = 2048, dtype=None):
    """``[n1, n2]`` kernel matrix of ``kernel_fn`` (``(nngp, ntk)``), computed in tiles.

    Example:
      >>> import numpy as np
      >>> from l2theory import kernels
      >>> x = np.random.default_rng(0).normal(size=(10, 3))
      >>> k = kernels.kernel_matrix(kernels.fc_relu_fn(depth=3), x, block_size=4)
      >>> bool(np.allclose(k, kernels.fc_relu(x, depth=3)[1], rtol=1e-5))
      True

    Args:
      kernel_fn: ``kernel_fn(x1, x2=None) -> (nngp, ntk)``, traceable by ``jax.jit`` (e.g.
        ``kernels.fc_relu_fn(depth=3)``, or a neural-tangents ``kernel_fn``).
      x1: ``[n1, ...]`` inputs.
      x2: ``[n2, ...]`` inputs, or None for ``x2 = x1``: then only tiles on and above the
        diagonal are computed (half the work) and mirrored, so the result is exactly symmetric;
        diagonal tiles come from ``kernel_fn(x_tile, None)``.
      get: ``"ntk"``, ``"nngp"``, or a tuple of both (then a tuple of matrices is returned).
      block_size: tile side (rows and columns of the inputs per call).
      dtype: floating dtype of the inputs, the computation and the result; default float64 with
        JAX's x64 mode, else float32. Matrix products run at ``precision=HIGHEST`` (no TF32 on
        GPUs).

    Returns:
      JAX array(s) on the default device (the GPU when there is one).

    Memory: the result, ``n1 n2 itemsize`` bytes per matrix in ``get`` (60,000^2: 14.4 GB in
    float32, 28.8 GB in float64), plus one tile's workspace, for ``fc_relu`` about
    ``10 block_size^2 itemsize`` (0.3 GB at ``block_size=2048`` in float64). Compilation: one per
    tile shape (at most four, plus the diagonal tiles' when ``x2`` is None). Kernels that keep
    per-pair spatial covariances (convolutional ones) need far smaller tiles than ``fc_relu``:
    pick ``block_size`` so that one tile's workspace fits.
    """
    names = (get,) if isinstance(get, str) else tuple(get)
    if not names or any(name not in GETS for name in names) or len(set(names)) != len(names):
        raise _checks.bad("get", get, "must be 'ntk', 'nngp' or a tuple of both",
                          "e.g. get='ntk'")
    bs = _checks.integer("block_size", block_size, low=1, what="the tile side (inputs per tile)",
                         fix="e.g. 2048")
    dtype = _validate.float_dtype(dtype)
    fn = nt_adapter.as_kernel_fn(kernel_fn)
    symmetric = x2 is None
    x1 = jnp.asarray(x1, dtype)
    x2 = x1 if symmetric else jnp.asarray(x2, dtype)
    n1, n2 = x1.shape[0], x2.shape[0]
    outs = tuple(jnp.zeros((n1, n2), dtype) for _ in names)
    with jax.default_matmul_precision("highest"):
        for i in range(0, n1, bs):
            for j in range(i if symmetric else 0, n2, bs):
                diagonal = symmetric and i == j
                outs = _fill(outs, x1, x2, i, j, rows=min(bs, n1 - i), cols=min(bs, n2 - j),
                             fn=fn, names=names, diagonal=diagonal,
                             mirror=symmetric and not diagonal)
    return outs[0] if isinstance(get, str) else outs


@functools.partial(jax.jit, donate_argnums=0,
                   static_argnames=("rows", "cols", "fn", "names", "diagonal", "mirror"))
def _fill(outs, x1, x2, i, j, *, rows, cols, fn, names, diagonal, mirror):
    """Write the tile ``fn(x1[i:i+rows], x2[j:j+cols])``'s ``names`` into ``outs`` at ``(i, j)``
    (and transposed at ``(j, i)``); a diagonal tile is ``fn(x1[i:i+rows], None)``."""
    xa = jax.lax.dynamic_slice_in_dim(x1, i, rows)
    xb = None if diagonal else jax.lax.dynamic_slice_in_dim(x2, j, cols)
    nngp, ntk = fn(xa, xb)
    tiles = {"nngp": nngp, "ntk": ntk}
    new = []
    for out, name in zip(outs, names):
        tile = jnp.asarray(tiles[name], out.dtype)
        if diagonal:  # compiled code may round (a, b) and (b, a) differently by an ulp
            tile = (tile + tile.T) / 2
        out = jax.lax.dynamic_update_slice(out, tile, (i, j))
        if mirror:
            out = jax.lax.dynamic_update_slice(out, tile.T, (j, i))
        new.append(out)
    return tuple(new)
