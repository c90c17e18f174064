"""Empirical neural tangent kernel of any JAX model ``apply_fn(params, x) -> [batch, k]``.

    Theta(x1, x2) = (1/k) sum_c  J_c(x1) . J_c(x2),     J_c(x) = d f_c(x) / d theta,

the mean over the k outputs of the per-output kernel (``J J^T / k`` with J the ``[n*k, P]``
Jacobian summed over output pairs (c, c)). Computed block by block: for each block of ``x1`` rows
the Jacobian is formed once and contracted with the Jacobian of each block of ``x2``, so memory
is ``O(batch_size * k * P)`` instead of ``O(n * k * P)``. Each block is one jitted call, so the
computation runs on the accelerator when there is one. Both the model's products (forward and
Jacobian) and the contraction run at full float32 precision on every backend, whatever the
caller's ``jax.default_matmul_precision`` (``docs/conventions.md`` section 6).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from l2theory import _checks, _precision


@functools.partial(jax.jit, static_argnums=(0,))
@_precision.full_precision
def _jacobian_block(apply_fn, params, x):
    """Pytree of ``[b, k, *param_shape]`` Jacobians of ``apply_fn(params, x)``, one example at a
    time under ``vmap`` (``jacrev`` of the whole block would back-propagate all ``b k`` outputs
    through all ``b`` examples: ``b`` times the work and memory)."""
    def outputs(p, xi):
        return apply_fn(p, xi[None]).reshape(-1)
    return jax.vmap(jax.jacrev(outputs), in_axes=(None, 0))(params, x)


@jax.jit
@_precision.full_precision
def _contract(j1, j2):
    """``(1/k) sum_{c, leaves} J1[i, c, ...] J2[j, c, ...]`` -> ``[b1, b2]``."""
    def leaf(a, b):
        a = a.reshape(a.shape[0], a.shape[1], -1)
        b = b.reshape(b.shape[0], b.shape[1], -1)
        return jnp.einsum("ick,jck->ij", a, b)
    leaves = jax.tree_util.tree_leaves(jax.tree_util.tree_map(leaf, j1, j2))
    k = jax.tree_util.tree_leaves(j1)[0].shape[1]
    return sum(leaves) / k


def empirical_ntk(apply_fn, params, x1, x2=None, *, batch_size: int | None = None):
    """``[n1, n2]`` empirical NTK (mean over outputs of the per-output kernel).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from l2theory.kernels import empirical_ntk
      >>> apply_fn = lambda p, x: jnp.tanh(x @ p["w1"]) @ p["w2"]
      >>> params = {"w1": jnp.ones((3, 4)) / 2, "w2": jnp.ones((4, 2))}
      >>> empirical_ntk(apply_fn, params, jnp.eye(3)).shape
      (3, 3)

    Args:
      apply_fn: ``apply_fn(params, x) -> [batch, k]`` (a ``[batch]`` output counts as k = 1).
        Compiled once per ``apply_fn`` object: pass the same function, not a new lambda, to
        reuse the compilation.
      params: pytree of parameters.
      x1, x2: inputs with a leading batch axis; ``x2=None`` means ``x1`` (symmetric result,
        only the upper blocks are computed).
      batch_size: rows per block (None: one block). Memory is about
        ``2 * batch_size * k * P`` floats.
    """
    batch_size = _checks.optional_int("batch_size", batch_size)

    same = x2 is None
    x1 = jnp.asarray(x1)
    x2 = x1 if same else jnp.asarray(x2)
    n1, n2 = x1.shape[0], x2.shape[0]
    bs1 = n1 if batch_size is None else min(batch_size, n1)
    bs2 = n2 if batch_size is None else min(batch_size, n2)
    starts1, starts2 = range(0, n1, bs1), range(0, n2, bs2)
    jac = functools.partial(_jacobian_block, apply_fn)
    rows = []
    for i in starts1:
        j1 = jac(params, x1[i:i + bs1])
        row = []
        for j in starts2:
            if same and j < i:
                row.append(None)  # filled from the transpose below
                continue
            if same and j == i:
                j2 = j1
            else:
                j2 = jac(params, x2[j:j + bs2])
            row.append(_contract(j1, j2))
        rows.append(row)
    if same:
        for bi, row in enumerate(rows):
            for bj in range(bi):
                row[bj] = rows[bj][bi].T
    return jnp.block(rows) if len(rows) > 1 or len(rows[0]) > 1 else rows[0][0]

