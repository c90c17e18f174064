"""Linearized finite-width network with L2 on theta: constant kernel, no late-time collapse.

``f_lin(theta) = f0 + J0 (theta - theta0)`` with the L2 term on ``theta`` (not on
``theta - theta0``). For a degree-L network ``J0 theta0 = L f0`` (Euler), so (docs/conventions.md)::

    df/dt  = -(lr/n) Theta0 (dloss/df) - lr lam (f - f0 + L f0),
    df*/dt = -(lr/n) k_test_train (dloss/df) - lr lam (f* - f0* + L f0*).

With ``g = f + (L-1) f0`` the MSE flow is exactly the linear-model (degree 1) flow with targets
``y + (L-1) f0`` and initial outputs ``L f0``; that is how it is solved (closed form). The
cross-entropy flow is integrated like ``L2GradientFlow``'s, with the data-free evolution
``f = (L e^{-lr lam t} - (L-1)) f0``.
"""
from __future__ import annotations

import numpy as np

from l2theory._theory import _validate, xent_flow
from l2theory._theory.gradient_flow import L2GradientFlow


class LinearizedL2Flow:
    """Gradient flow with L2 of a linearized network of homogeneity degree ``degree``.

    Args:
      k_train_train: ``[n, n]`` empirical NTK of the network at initialization (per output).
      y_train: ``[n]`` or ``[n, k]`` targets.
      f0_train: ``[n, k]`` the network's own outputs at initialization (required: they set the
        fixed point).
      lam, lr, degree, loss, dtype, method, tol, max_iter, integrator, rtol, atol: as in
        ``L2GradientFlow`` (MSE is solved by one degree-1 ``L2GradientFlow`` with these).

    ``predict(t, k_test_train=None, f0_test=None)`` returns ``(f_train, f_test)`` with the same
    shapes as ``L2GradientFlow.predict``; ``f0_test`` is the network's test outputs at
    initialization (None: 0).
    """

    def __init__(self, k_train_train, y_train, f0_train, *, lam: float, lr: float = 1.0,
                 degree: int, loss: str = "mse", dtype=None, method: str = "eigh",
                 tol: float | None = None, max_iter: int | None = None,
                 integrator: str | None = None, rtol: float = 1e-9, atol: float = 1e-12):
        method, integrator = _validate.method_and_integrator(method, integrator)
        base = L2GradientFlow(k_train_train, y_train, lam=lam, lr=lr, degree=1, loss=loss,
                              dtype=dtype, method=method, tol=tol, max_iter=max_iter,
                              integrator=integrator, rtol=rtol, atol=atol)
        self.degree = _validate.degree(degree)
        self.f0_train = _validate.outputs("f0_train", f0_train, (base.n, base.k), dtype=base.dtype)
        self.lam, self.lr, self.loss, self.n, self.k = base.lam, base.lr, base.loss, base.n, base.k
        shift = (self.degree - 1) * self.f0_train
        if loss == "mse":
            # g = f + (L-1) f0 follows the degree-1 flow with targets y + (L-1) f0.
            self._shifted = L2GradientFlow(base.k_train_train, base.y_train + shift, lam=lam,
                                           lr=lr, degree=1, dtype=base.dtype, method=method,
                                           tol=tol, max_iter=max_iter)
        self._base = base

    @property
    def info(self):
        """``L2GradientFlow.info`` of the last MSE solve (``method="krylov"``), else None."""
        return self._shifted.info if self.loss == "mse" else None

    def _free(self, time):
        """Data-free evolution factor: ``f = (L e^{-lr lam t} - (L-1)) f0``."""
        return self.degree * np.exp(-self.lr * self.lam * time) - (self.degree - 1)

    def predict_test(self, t, k_test_train, f0_test=None):
        """Only the test outputs ``[len(t), m, k]``."""
        _validate.needs_test_kernel(k_test_train)
        return self.predict(t, k_test_train, f0_test=f0_test)[1]

    def predict(self, t, k_test_train=None, f0_test=None):
        t_arr, scalar_t = _validate.times(t)
        k_tt, f0_tt = self._base.test_inputs(k_test_train, f0_test)
        if self.loss == "mse":
            shift = self.degree - 1
            g_train, g_test = self._shifted.predict(
                t_arr, k_tt, f0_train=self.degree * self.f0_train,
                f0_test=None if f0_tt is None else self.degree * f0_tt)
            f_train = g_train - shift * self.f0_train[None]
            f_test = None if g_test is None else g_test - shift * f0_tt[None]
        else:
            f_train, f_test = xent_flow.integrate(self._base, t_arr, k_tt, self.f0_train, f0_tt,
                                                  free=self._free)
        if scalar_t:
            f_train = f_train[0]
            f_test = None if f_test is None else f_test[0]
        return f_train, f_test
