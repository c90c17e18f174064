"""Finite-width bias-free ReLU FC networks for the theory comparison: full-batch GD that records
the network's outputs, and the empirical NTK of the network computed layer by layer.

Why not ``l2theory.train.train``: it reports losses and accuracies, while the function-space
comparison needs the network *outputs* ``f(x)`` on the training and test points at many steps.
``train_recording`` therefore drives the public pure step of the training engine
(``l2theory.train.make_step``: the same objective, ``mean_i 1/2 ||f(x_i) - y_i||^2 +
lam/2 ||theta||^2``, and the same update, ``theta <- theta - lr grad L``, as ``train``) in one
jitted ``lax.scan`` of full-batch steps, and evaluates the outputs at the requested steps only.
Both run at full float32 matmul precision on every backend (``fc_config``'s default
``matmul_precision``; ``docs/conventions.md`` section 6).
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _precision


def fc_config(*, depth: int, width: int, lam: float, lr: float, steps: int, seed: int = 0,
              w_std: float = 2 ** 0.5, dtype: str = "float32"):
    """The ``TrainConfig`` of the comparison: bias-free ReLU FC net, NTK parameterization, MSE
    on centered one-hot targets, full batch, constant lr and lam."""
    from l2theory import train

    return train.TrainConfig(model="fc", depth=depth, width=width, bias=False,
                             activation="relu", parameterization="ntk", w_std=w_std, b_std=0.0,
                             loss="mse", center_targets=True, lr=lr, lam=lam, steps=steps,
                             eval_every=steps, batch_size=None, seed=seed,
                             train_eval_size=None, dtype=dtype)


def train_recording(config, x_train, labels_train, x_test, record_steps, *, num_classes: int):
    """Full-batch GD of ``config`` (steps ``0 .. max(record_steps)``), outputs at ``record_steps``.

    Args:
      config: a ``TrainConfig`` (``fc_config``); ``lr``, ``lam``, ``seed`` are taken from it.
      x_train, labels_train: training inputs ``[n, ...]`` and integer labels ``[n]``.
      x_test: test inputs ``[m, ...]``.
      num_classes: number of outputs ``k``.
      record_steps: sorted distinct ints ``>= 0``; the outputs after that many steps are returned.

    Returns:
      ``(params0, f_train [R, n, k], f_test [R, m, k])`` as numpy arrays (``params0``: the
      initial parameter pytree, for the empirical NTK).
    """
    from l2theory import train

    record_steps = np.asarray(record_steps, np.int64)
    model = config.build_model(int(num_classes))
    x_train = jnp.asarray(x_train)
    x_test = jnp.asarray(x_test)
    labels = jnp.asarray(labels_train, jnp.int32)
    step = train.make_step(config, model, tuple(x_train.shape[1:]))
    dt = config.param_dtype
    hyper = train.Hyper(lr=jnp.asarray(config.lr, dt), lam=jnp.asarray(config.lam, dt),
                        seed=jnp.asarray(config.seed, jnp.int32),
                        steps=jnp.asarray(int(record_steps[-1]), jnp.int32),
                        boundaries=jnp.zeros((len(config.lr_decay_at),), jnp.int32))
    n_rec, end = len(record_steps), int(record_steps[-1])
    slot = np.full(end + 1, -1, np.int64)
    slot[record_steps] = np.arange(n_rec)

    def outputs(params):
        f = lambda x: model.apply(params, {}, x.astype(dt), False)[0]  # noqa: E731
        return f(x_train), f(x_test)

    @jax.jit
    @functools.partial(_precision.in_scope, precision=config.matmul_precision_in_force)
    def run(hyper):
        state = step.init(hyper)
        params0 = state.params
        ftr0, fte0 = outputs(state.params)
        buf = (jnp.zeros((n_rec,) + ftr0.shape, ftr0.dtype),
               jnp.zeros((n_rec,) + fte0.shape, fte0.dtype))
        slots = jnp.asarray(slot, jnp.int32)

        def body(carry, t):
            state, buf = carry

            def write(b):
                ftr, fte = outputs(state.params)
                j = slots[t]
                return b[0].at[j].set(ftr), b[1].at[j].set(fte)

            buf = jax.lax.cond(slots[t] >= 0, write, lambda b: b, buf)
            state = step.update(state, x_train, labels, None)[0]
            return (state, buf), None

        (state, buf), _ = jax.lax.scan(body, (state, buf), jnp.arange(end, dtype=jnp.int32))
        ftr, fte = outputs(state.params)
        buf = (buf[0].at[n_rec - 1].set(ftr), buf[1].at[n_rec - 1].set(fte))
        return params0, buf

    params0, (f_train, f_test) = run(hyper)
    return (jax.tree.map(np.asarray, params0), np.asarray(f_train), np.asarray(f_test))


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
    k = _fc_ntk(params, jnp.asarray(x).reshape(x.shape[0], -1), depth, float(w_std))
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
