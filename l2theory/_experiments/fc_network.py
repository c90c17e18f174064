"""Finite-width bias-free ReLU FC networks for the theory comparison: their ``TrainConfig`` and
the network's empirical NTK computed layer by layer. (Training that records the outputs, for any
model: ``recording.train_recording``.)
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _precision
from l2theory._experiments.recording import comparison_config


def fc_config(*, depth: int, width: int, lam: float, lr: float, steps: int, seed: int = 0,
              w_std: float = 2 ** 0.5, dtype: str = "float32"):
    """The ``TrainConfig`` of the comparison: bias-free ReLU FC net, NTK parameterization, MSE
    on centered one-hot targets, full batch, constant lr and lam
    (``recording.comparison_config``)."""
    model = {"model": "fc", "depth": depth, "width": width, "bias": False, "activation": "relu",
             "parameterization": "ntk", "w_std": w_std, "b_std": 0.0, "dtype": dtype}
    return comparison_config(model, seed=seed, lr=lr, lam=lam, steps=steps)


def fc_empirical_ntk(params, x1, x2=None, *, depth: int, w_std: float = 2 ** 0.5):
    """Empirical NTK (mean over outputs) of a bias-free NTK-parameterized ReLU FC net, exactly,
    layer by layer.

    With ``a_l`` the input of layer ``l`` (``a_0 = x``), ``z_l = s_l a_l W_l``
    (``s_l = w_std / sqrt(fan_in_l)``) and ``delta_l^c = d f_c / d z_l``::

        Theta(x, x') = sum_l s_l^2 (a_l(x) . a_l(x')) * (1/k) sum_c delta_l^c(x) . delta_l^c(x')

    since ``d f_c / d W_l = s_l a_l (x) delta_l^c``. This equals
    ``l2theory.kernels.empirical_ntk`` (tested) but needs no ``[n, k, P]`` Jacobian: its cost is
    one backward pass with ``k`` cotangents, so width 4096 takes seconds, not hours.

    Args:
      params: ``{"dense_0": {"w": [d, width]}, ..., "dense_{depth-1}": {"w": [width, k]}}``
        (``l2theory.models.fully_connected(bias=False, parameterization="ntk")``).
      x1, x2: inputs ``[n1, ...]``, ``[n2, ...]`` (``x2=None``: ``x1``).
      depth: number of Dense layers.
      w_std: the network's weight standard deviation.

    Returns:
      ``(k_11 [n1, n1], k_21 [n2, n1])`` numpy arrays (``k_21`` None without ``x2``).
    """
    n1 = x1.shape[0]
    x = x1 if x2 is None else np.concatenate([np.asarray(x1), np.asarray(x2)])
    dtype = params["dense_0"]["w"].dtype  # float32 inputs of float64 weights: no float32 Gram
    k = _fc_ntk(params, jnp.asarray(x, dtype).reshape(x.shape[0], -1), depth, float(w_std))
    k = np.asarray(k)
    k11 = (k[:n1, :n1] + k[:n1, :n1].T) / 2
    return k11, (None if x2 is None else k[n1:, :n1])


@jax.jit
@_precision.full_precision
def _ntk_layer(a, d, scale):
    """``scale * (a a^T) * mean_c (d_c d_c^T)`` for ``a [N, p]``, ``d [N, k, q]``."""
    return scale * (a @ a.T) * jnp.einsum("ick,jck->ij", d, d) / d.shape[1]


@_precision.full_precision
def _fc_ntk(params, x, depth: int, w_std: float):
    ws = [params[f"dense_{i}"]["w"] for i in range(depth)]
    scales = [w_std / math.sqrt(w.shape[0]) for w in ws]
    acts, pre = [x], []
    for i, (w, s) in enumerate(zip(ws, scales)):
        z = s * (acts[-1] @ w)
        pre.append(z)
        if i < depth - 1:
            acts.append(jax.nn.relu(z))
    n, k = x.shape[0], ws[-1].shape[1]
    delta = jnp.broadcast_to(jnp.eye(k, dtype=x.dtype), (n, k, k))  # d f_c / d z_{L-1}
    total = None
    for i in range(depth - 1, -1, -1):
        term = _ntk_layer(acts[i], delta, scales[i] ** 2)
        total = term if total is None else total + term
        if i > 0:
            delta = scales[i] * jnp.einsum("nck,jk->ncj", delta, ws[i])
            delta = delta * (pre[i - 1] > 0)[:, None, :]
    return total
