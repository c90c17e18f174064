"""The lazy limit of a ``TrainConfig``'s network without BatchNorm (``solvers``' ``LazyL2Flow``,
docs/conventions.md sec. 2): its outputs and two-scale NTKs at scaled copies ``a_d theta_0`` of
the run's initial parameters, and the flow they define.

Two-scale NTK (per output, the mean over the ``k`` outputs, as ``kernels.empirical_ntk``)::

    Theta_de(x, x') = (1/k) sum_c J_c(x; a_d theta_0) . J_c(x'; a_e theta_0).

- ``scaled_ntks``: any model, from per-example gradients (one backward pass per point, output
  and scale) contracted in float32 at full precision. Cost ``S (n + m) k`` backward passes (more
  when the rows do not fit ``panel_bytes``: each panel of rows recomputes the gradients of the
  training points after it) and ``S^2 (n/2 + m) n k P`` multiply-adds; memory one panel
  (``panel_bytes``, default 1 GiB) plus the ``[S, S, n + m, n]`` float64 kernels.
- ``fc_scaled_ntks``: ReLU (or linear) fully connected nets, with or without biases, layer by
  layer (no Jacobian): ``sum_l (s_l^2 h_l . h_l' + b_l^2) (1/k) sum_c delta_l^c . delta_l^c'``
  with ``h_l`` the layer's input and ``delta_l^c = d f_c / d z_l`` at each point's own scale.
  Cost ``S^2 (n + m) n k width`` per layer.

Measured costs: ``predict_network``'s docstring.
"""
from __future__ import annotations

import functools
import math
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks, _precision

DEFAULT_NODES = 9
PANEL_BYTES = 2 ** 30  # gradient rows held at once by scaled_ntks


def _scaled(params, a):
    return jax.tree.map(lambda p: (a * p).astype(p.dtype), params)


@functools.partial(jax.jit, static_argnums=(0,))
@_precision.full_precision
def _outputs(apply_fn, params, a, x):
    return apply_fn(_scaled(params, a), x)


def scaled_outputs(apply_fn, params, x, scales) -> np.ndarray:
    """``[S, N, k]`` float64 outputs ``f(x; a_d theta_0)`` (full matmul precision)."""
    x = jnp.asarray(x)
    return np.stack([np.asarray(_outputs(apply_fn, params, float(a), x), np.float64)
                     for a in np.asarray(scales, np.float64)])


@functools.partial(jax.jit, static_argnums=(0,))
@_precision.full_precision
def _gradient_rows(apply_fn, params, a, c, x):
    """``[b, P]``: the gradients of output ``c`` at ``a theta_0``, one example at a time."""
    def out(p, xi):
        return apply_fn(p, xi[None])[0, c]

    grads = jax.vmap(jax.grad(out), in_axes=(None, 0))(_scaled(params, a), x)
    return jnp.concatenate([g.reshape(x.shape[0], -1) for g in jax.tree.leaves(grads)], axis=1)


def scaled_ntks(apply_fn, params, x_train, x_test, scales, *, batch_size: int | None = None,
                panel_bytes: int = PANEL_BYTES):
    """``(k_train_train [S, S, n, n], k_test_train [S, S, m, n])`` float64 two-scale NTKs of
    any model (module docstring). ``batch_size``: examples per gradient call (None: as many
    as keep a call under 2^25 elements)."""
    scales = np.asarray(scales, np.float64)
    s, n = len(scales), len(x_train)
    m = 0 if x_test is None else len(x_test)
    x_all = jnp.asarray(x_train if x_test is None else np.concatenate([x_train, x_test]))
    k = int(jax.eval_shape(apply_fn, params, x_all[:1]).shape[-1])
    p = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))
    itemsize = jnp.dtype(jax.tree.leaves(params)[0].dtype).itemsize
    if batch_size is None:
        batch_size = max(1, 2 ** 25 // p)
    # rows: (scale, example) for the training points at every scale, then the test points
    rows = [(d, i) for d in range(s) for i in range(n)] + [(d, n + j) for d in range(s)
                                                           for j in range(m)]
    n_train_rows = s * n
    panel = max(1, min(len(rows), int(panel_bytes // (p * itemsize))))
    out = np.zeros((len(rows), n_train_rows))

    def gradients(row_ids, c):
        """``[len(row_ids), P]`` numpy gradients of output ``c`` for these rows."""
        blocks = []
        for d in sorted({rows[r][0] for r in row_ids}):
            idx = [rows[r][1] for r in row_ids if rows[r][0] == d]
            for start in range(0, len(idx), batch_size):
                xb = x_all[np.asarray(idx[start:start + batch_size])]
                blocks.append(np.asarray(_gradient_rows(apply_fn, params, float(scales[d]), c,
                                                        xb)))
        return np.concatenate(blocks)

    starts = [(lo, min(lo + panel, n_train_rows)) for lo in range(0, n_train_rows, panel)]
    starts += [(lo, min(lo + panel, len(rows))) for lo in range(n_train_rows, len(rows), panel)]
    for c in range(k):
        for lo, hi in starts:  # a panel holds training rows or test rows, never both
            ids = list(range(lo, hi))
            held = gradients(ids, c)
            # columns: training rows; a training panel needs only those from its own start on
            col_lo = lo if lo < n_train_rows else 0
            for cl in range(col_lo, n_train_rows, panel):
                cols = list(range(cl, min(cl + panel, n_train_rows)))
                other = (held[cl - lo:cl - lo + len(cols)] if cl >= lo and cl + len(cols)
                         <= lo + len(ids) else gradients(cols, c))
                out[lo:lo + len(ids), cl:cl + len(cols)] += held @ other.T
    out /= k
    tt = out[:n_train_rows]
    upper = np.triu(np.ones((n_train_rows, n_train_rows), bool))
    tt = np.where(upper, tt, tt.T)  # only the upper triangle was computed
    k_tt = tt.reshape(s, n, s, n).transpose(0, 2, 1, 3)
    k_st = out[n_train_rows:].reshape(s, m, s, n).transpose(0, 2, 1, 3) if m else None
    return k_tt, k_st


@functools.partial(jax.jit, static_argnames=("depth", "parameterization", "activation"))
@_precision.full_precision
def _fc_layers(params, a, x, *, depth, w_std, b_std, parameterization, activation):
    """Per layer: input ``h_l [N, p]`` and output-gradient ``delta_l [N, k, q]`` at
    ``a theta_0``, and the weight and bias coefficients ``s_l``, ``b_l`` (module docstring)."""
    ws = [a * params[f"dense_{i}"]["w"] for i in range(depth)]
    bs = [a * params[f"dense_{i}"]["b"] if "b" in params[f"dense_{i}"] else None
          for i in range(depth)]
    ntk = parameterization == "ntk"
    scales = [w_std / math.sqrt(w.shape[0]) if ntk else 1.0 for w in ws]
    bias_coef = [(b_std if ntk else 1.0) if b is not None else 0.0 for b in bs]
    relu = activation == "relu"
    hs, pre = [x], []
    for i in range(depth):
        z = scales[i] * (hs[-1] @ ws[i]) + (0.0 if bs[i] is None else bias_coef[i] * bs[i])
        pre.append(z)
        if i < depth - 1:
            hs.append(jax.nn.relu(z) if relu else z)
    n, k = x.shape[0], ws[-1].shape[1]
    delta = jnp.broadcast_to(jnp.eye(k, dtype=x.dtype), (n, k, k))
    deltas = [None] * depth
    for i in range(depth - 1, -1, -1):
        deltas[i] = delta
        if i > 0:
            delta = scales[i] * jnp.einsum("nck,jk->ncj", delta, ws[i])
            if relu:
                delta = delta * (pre[i - 1] > 0)[:, None, :]
    return hs, deltas, scales, bias_coef


def fc_scaled_ntks(params, x_train, x_test, scales, *, depth: int, w_std: float,
                   b_std: float, parameterization: str = "ntk", activation: str = "relu"):
    """``scaled_ntks`` of a fully connected net (``models.fully_connected``, ReLU or linear,
    with or without biases), layer by layer (module docstring); equal to ``scaled_ntks``
    (tested)."""
    scales = np.asarray(scales, np.float64)
    n = len(x_train)
    x = np.asarray(x_train if x_test is None else np.concatenate([x_train, x_test]))
    x = jnp.asarray(x.reshape(len(x), -1))
    per_scale = [_fc_layers(params, float(a), x, depth=depth, w_std=float(w_std),
                            b_std=float(b_std), parameterization=parameterization,
                            activation=activation) for a in scales]
    s, big_n = len(scales), x.shape[0]
    out = np.zeros((s, s, big_n, n))
    for d in range(s):
        for e in range(s):
            out[d, e] = np.asarray(_fc_pair(per_scale[d], per_scale[e], n), np.float64)
    k_tt = (out[:, :, :n] + out[:, :, :n].transpose(1, 0, 3, 2)) / 2
    k_st = out[:, :, n:] if x_test is not None else None
    return k_tt, k_st


@functools.partial(jax.jit, static_argnums=(2,))
@_precision.full_precision
def _fc_pair(rows, cols, n):
    """``[N, n]``: the two-scale NTK between all points at the rows' scale and the training
    points at the columns' scale."""
    hs_r, ds_r, scales, bias_coef = rows
    hs_c, ds_c = cols[0], cols[1]
    total = 0.0
    for h_r, d_r, h_c, d_c, sc, bc in zip(hs_r, ds_r, hs_c, ds_c, scales, bias_coef):
        fwd = sc ** 2 * (h_r @ h_c[:n].T) + bc ** 2
        bwd = jnp.einsum("ick,jck->ij", d_r, d_c[:n]) / d_r.shape[1]
        total = total + fwd * bwd
    return total


class LazySetup(NamedTuple):
    """What ``lazy_flow`` builds: ``flow`` (``LazyL2Flow``: nodes, kernels and outputs at the
    nodes), ``y_test [m, k]``, the ``kernel`` description, ``kernel_seconds`` (kernels and
    outputs at the nodes), the network's ``euler_ratio`` at initialization (an effective
    degree, ``network_theory.euler_ratio``) and its ``param_count``."""

    flow: Any
    y_test: np.ndarray
    kernel: str
    kernel_seconds: float
    euler_ratio: float
    param_count: int


def lazy_flow(config, x_train, labels_train, x_test, labels_test, *, num_classes: int,
              tau_max: float, nodes: int = DEFAULT_NODES, f0: str = "network",
              batch_size: int | None = None, rtol: float = 1e-6) -> LazySetup:
    """The lazy limit of a run of ``config`` (a network without BatchNorm, MSE) on these
    arrays, up to the natural time ``tau_max = lam lr t_max``: its smallest scale
    ``a_min = exp(-tau_max)`` is the last of the ``nodes`` Chebyshev-Lobatto nodes
    ``scale_nodes(nodes, a_min)``."""
    from l2theory import models
    from l2theory._experiments import network_theory
    from l2theory._experiments.recording import initial_params
    from l2theory._theory.lazy_flow import LazyL2Flow, scale_nodes

    if f0 not in network_theory.F0_CHOICES:
        _checks.choice("f0", f0, network_theory.F0_CHOICES, what="initial outputs")
    network_theory.check_no_batchnorm(config)
    if config.loss != "mse":  # before any kernel is computed
        raise _checks.bad("config.loss", config.loss, "the lazy limit is implemented for MSE "
                          "only (its flow is linear in the coefficients)", "use loss='mse'")
    nodes = _checks.positive_int("nodes", nodes)
    lr, lam = network_theory.flow_rates(config)
    s = config.model_settings()
    model = config.build_model(num_classes)
    params = initial_params(config, num_classes, np.shape(x_train)[1:])
    dt = jax.tree.leaves(params)[0].dtype
    x_train, x_test = np.asarray(x_train, dt), np.asarray(x_test, dt)
    tau_max = _checks.positive("tau_max", tau_max)
    a = scale_nodes(nodes, float(np.exp(-tau_max))) if lam > 0 else np.ones(1)
    t0 = time.perf_counter()
    if (network_theory.family(config) == "fc" and s["activation"] in ("relu", "linear",
                                                                        "identity")):
        act = "relu" if s["activation"] == "relu" else "linear"
        k_tt, k_st = fc_scaled_ntks(params, x_train, x_test, a, depth=s["depth"],
                                    w_std=s["w_std"], b_std=s["b_std"],
                                    parameterization=s["parameterization"], activation=act)
        kernel = "empirical two-scale NTK (layer by layer)"
    else:
        k_tt, k_st = scaled_ntks(models.apply_fn(model), params, x_train, x_test, a,
                                 batch_size=batch_size)
        kernel = "empirical two-scale NTK (per-example gradients)"
    f_tr = f_te = None
    if f0 == "network":
        f_all = scaled_outputs(models.apply_fn(model), params,
                               np.concatenate([x_train, x_test]), a)
        f_tr, f_te = f_all[:, :len(x_train)], f_all[:, len(x_train):]
    seconds = time.perf_counter() - t0
    y_tr = network_theory.targets(config, labels_train, num_classes)
    flow = LazyL2Flow(a, k_tt, y_tr, lam=lam, lr=lr, f_train=f_tr, k_test_train=k_st,
                      f_test=f_te, loss=config.loss, rtol=rtol)
    ratio = network_theory.euler_ratio(model, params, x_train)
    return LazySetup(flow, network_theory.targets(config, labels_test, num_classes), kernel,
                     seconds, ratio, models.param_count(params))


def coarser(flow):
    """The lazy flow through all its scale nodes but the middle one: an interpolant of one
    degree less, whose distance to the full flow estimates (from above, where the expansion
    converges) the full flow's interpolation error."""
    count = len(flow.nodes)
    return flow.restrict(np.delete(np.arange(count), count // 2))


LAZY_TAU_MAX = 10.0  # default horizon of the lazy prediction, natural time lam lr t


def predict_lazy(config, x_train, labels_train, x_test, labels_test, *, num_classes: int,
                 f0: str = "network", metric: str = "loss", t=None, nodes: int = DEFAULT_NODES,
                 batch_size: int | None = None):
    """``predict_network`` for a network that is not homogeneous: the lazy limit
    (``NetworkPrediction`` with ``degree=None``, ``nodes`` and ``coarse_t_star``)."""
    from l2theory import solvers
    from l2theory._experiments import network_theory

    lr, lam = network_theory.flow_rates(config)
    if t is None:
        if lam == 0:
            raise _checks.bad("t", None, "lam = 0 has no natural time scale",
                              "pass t (a grid of steps)")
        grid = solvers.default_times(lam, lr, t_max=LAZY_TAU_MAX / (lam * lr))
    else:
        grid = np.asarray(t, np.float64)
    tau_max = max(lam * lr * float(np.max(grid)), 1e-12)
    setup = lazy_flow(config, x_train, labels_train, x_test, labels_test,
                      num_classes=num_classes, tau_max=tau_max, nodes=nodes, f0=f0,
                      batch_size=batch_size)
    flow = setup.flow
    pk = solvers.peak(flow, None, setup.y_test, metric=metric, t=grid)
    coarse_t = None
    if len(flow.nodes) >= 3:
        coarse_t = float(solvers.peak(coarser(flow), None, setup.y_test, metric=metric,
                                      t=grid).t_star)
    f_train, f_test = flow.predict(pk.t)
    c = config.lam * config.lr * pk.t_star if config.lam > 0 else None
    return network_theory.NetworkPrediction(
        t_star=pk.t_star, c=c, value=pk.value, metric=metric, t=np.asarray(pk.t),
        curve=np.asarray(pk.curve), f_train=f_train, f_test=f_test, degree=None,
        euler_ratio=setup.euler_ratio, kernel=setup.kernel, f0=f0, lr=flow.lr, lam=flow.lam,
        nodes=len(flow.nodes), coarse_t_star=coarse_t)
