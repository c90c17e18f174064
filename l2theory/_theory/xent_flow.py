"""Cross-entropy gradient flow with L2 in function space: adaptive, error-controlled integration.

There is no closed form for softmax cross-entropy. The train and test outputs are integrated
jointly through one auxiliary state, the discounted residual integral::

    r(t) = int_0^t e^{-b (t-s)} e^{-gamma s} (p(s) - y) ds,     p = softmax(f_train),

with ``b = lr lam L`` and ``gamma = 2 (L-1) lr lam`` (docs/conventions.md). Then exactly::

    f_train(t) = e^{-b t} f0_train - (lr/n) K r(t),
    f_test(t)  = e^{-b t} f0_test  - (lr/n) k_test_train r(t),

so the test outputs come from the same trajectory at no extra integration cost. For ``gamma > 0``
the integrator works with ``rho = e^{b t} r`` (``d rho/dt = e^{(b-gamma) t} (p - y)``, bounded since
``b <= gamma``), which keeps relative accuracy while f shrinks exponentially at late times.
Integration uses ``scipy.integrate.solve_ivp`` (default DOP853, ``rtol=1e-9``) and reports its
own failure loudly.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy import integrate as scipy_integrate
from scipy import special

from l2theory import _checks


def integrate_xent(k_train_train, y_train, f0_train, t, *, lr, b, gamma, rtol, atol, method,
                   free):
    """Return ``r(t)`` at the times ``t`` (steps): ``[len(t), n, k]`` float64.

    ``free(t)`` is the scalar factor of the data-free evolution ``f = free(t) f0``
    (``e^{-b t}`` for the wide network; ``L e^{-b t} - (L - 1)`` for the linearized one).
    """
    kmat = np.asarray(k_train_train, dtype=np.float64)
    y = np.asarray(y_train, dtype=np.float64)
    f0 = np.asarray(f0_train, dtype=np.float64)
    n, k = y.shape
    beta = b if gamma > 0 else 0.0  # rescaling rate of rho = e^{beta t} r

    def rhs(time, rho_flat):
        rho = rho_flat.reshape(n, k)
        scale = np.exp(-beta * time)
        f = free(time) * f0 - (lr / n) * scale * (kmat @ rho)
        p = special.softmax(f, axis=1)
        return ((beta - b) * rho + np.exp((beta - gamma) * time) * (p - y)).ravel()

    order = np.argsort(t)
    t_sorted = t[order]
    out = np.zeros((len(t), n, k))
    if t_sorted[-1] > 0:
        sol = scipy_integrate.solve_ivp(rhs, (0.0, float(t_sorted[-1])), np.zeros(n * k),
                                        method=method, t_eval=t_sorted, rtol=rtol, atol=atol)
        if sol.status != 0:
            raise RuntimeError(f"cross-entropy integration failed: {sol.message}; try "
                               f"integrator='LSODA' or a looser rtol")
        rho = sol.y.T.reshape(len(t), n, k)
        out[order] = rho * np.exp(-beta * t_sorted)[:, None, None]
    return out


def integrate(flow, t, k_test_train, f0_train, f0_test, *, free=None):
    """Train/test outputs of ``flow`` (an ``L2GradientFlow`` with ``loss='xent'``) at times ``t``
    (finite, steps)."""
    if np.any(np.isinf(t)):
        raise _checks.bad("t", t, "loss='xent' takes finite times only", "pass a large finite t")
    free = free or (lambda time: np.exp(-flow.shrink_rate * time))
    r = integrate_xent(flow.k_train_train, flow.y_train, f0_train, t, lr=flow.lr,
                       b=flow.shrink_rate, gamma=flow.kernel_decay_rate, rtol=flow.rtol,
                       atol=flow.atol, method=flow.integrator, free=free)
    decay = free(t)[:, None, None]
    coef = flow.lr / flow.n
    f_train = decay * f0_train[None] - coef * np.einsum("ij,tjk->tik", flow.k_train_train, r)
    f_test = None
    if k_test_train is not None:
        f_test = decay * f0_test[None] - coef * np.einsum("mj,tjk->tmk", k_test_train, r)
        f_test = jnp.asarray(f_test, flow.dtype)
    return jnp.asarray(f_train, flow.dtype), f_test
