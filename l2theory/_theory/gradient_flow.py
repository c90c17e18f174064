"""Exact gradient flow with L2 in function space: linear model and infinitely wide networks.

Conventions (docs/conventions.md): training loss ``mean_i loss(f(x_i), y_i) + lam/2 ||theta||^2``,
gradient descent ``theta <- theta - lr grad L``, time ``t`` in steps (physical time ``lr t``). For a
degree-L homogeneous network at infinite width (NTK parameterization) the outputs obey::

    df/dt = -(lr/n) e^{-gamma t} K (dloss/df) - lr lam L f,        gamma = 2 (L-1) lr lam,

on the training set (``K = k_train_train``, the NTK at initialization), and on test points::

    df*/dt = -(lr/n) e^{-gamma t} k_test_train (dloss/df) - lr lam L f*.

``degree=1`` is the linear model ``f = J theta``: no kernel decay, and MSE converges to kernel ridge
regression ``K (K + n lam I)^{-1} y``. ``lam = 0`` is ordinary kernel gradient flow.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks, _precision
from l2theory._theory import _validate, mode_functions, xent_flow


class L2GradientFlow:
    r"""Function-space gradient flow with L2 regularization, solved exactly.

    Example:
      >>> import numpy as np
      >>> from l2theory import kernels, solvers
      >>> x = np.random.default_rng(0).normal(size=(20, 5))
      >>> _, k = kernels.fc_relu(x, depth=3)
      >>> flow = solvers.L2GradientFlow(k, np.sign(x[:, :1]), lam=1e-2, lr=0.5, degree=3)
      >>> f_train, _ = flow.predict([0.0, 10.0, 100.0])
      >>> f_train.shape
      (3, 20, 1)

    Args:
      k_train_train: ``[n, n]`` kernel (NTK at initialization) between training points, one
        output's kernel (the full kernel is this times the identity over outputs). Symmetric
        positive semi-definite; singular kernels are fine. Negative eigenvalues down to
        ``-1e-9`` (float64) / ``-1e-4`` (float32) times the largest are round-off and clipped to
        0; more negative ones raise ``ValueError``.
      y_train: ``[n]`` or ``[n, k]`` targets (MSE), or ``[n, k]`` class probabilities / one-hot
        labels (``loss="xent"``).
      lam: L2 coefficient in parameter space (``lam/2 ||theta||^2``), ``>= 0``. This is not a
        function-space ridge (``diag_reg``): its function-space effect is the ``-lr lam L f`` term
        and the kernel decay.
      lr: learning rate; times are in steps, so only ``lr * t`` matters in the flow.
      degree: homogeneity degree ``L >= 1`` (number of layers of a bias-free ReLU net).
      loss: ``"mse"`` (per sample ``1/2 ||f - y||^2``, solved in closed form) or ``"xent"``
        (softmax cross-entropy, integrated numerically with error control).
      dtype: floating dtype of the linear algebra; default float64 when JAX's x64 mode is on,
        else float32. The per-mode coefficients are always computed in float64.
      rtol, atol, method: integrator settings for ``loss="xent"`` (``scipy.integrate.solve_ivp``).

    The eigendecomposition of ``k_train_train`` is computed once, on the first ``predict``, and
    reused for every later call.
    """

    def __init__(self, k_train_train, y_train, *, lam: float, lr: float = 1.0, degree: int,
                 loss: str = "mse", dtype=None, rtol: float = 1e-9, atol: float = 1e-12,
                 method: str = "DOP853"):
        self.lam = _checks.lam("lam", lam)
        self.lr = _checks.lr("lr", lr)
        self.degree = _validate.degree(degree)
        self.loss = _validate.loss_name(loss)
        self.dtype = _validate.float_dtype(dtype)
        self.k_train_train = _validate.kernel_matrix("k_train_train", k_train_train, dtype=self.dtype)
        self.n = self.k_train_train.shape[0]
        self.y_train = _validate.targets("y_train", y_train, self.n, dtype=self.dtype)
        self.k = self.y_train.shape[1]
        if self.loss == "xent" and self.k < 2:
            raise _checks.bad("y_train", y_train, "loss='xent' needs targets of shape [n, k] "
                              "with k >= 2 classes (one-hot or probabilities)",
                              "use loss='mse' for scalar targets")
        self.rtol = _checks.positive("rtol", rtol, fix="e.g. 1e-9")
        self.atol = _checks.positive("atol", atol, fix="e.g. 1e-12")
        self.method = (_checks.choice("method", method, _validate.ODE_METHODS)
                       if isinstance(method, str) else method)  # or a scipy OdeSolver class

    # ---- rates (per step) --------------------------------------------------------------------
    @property
    def shrink_rate(self) -> float:
        """``b = lr lam L``: rate of the ``-lr lam L f`` term (per step)."""
        return self.lr * self.lam * self.degree

    @property
    def kernel_decay_rate(self) -> float:
        """``gamma = 2 (L-1) lr lam``: the kernel decays as ``exp(-gamma t)`` (per step)."""
        return 2.0 * (self.degree - 1) * self.lr * self.lam

    # ---- factorization, cached --------------------------------------------------------------
    @functools.cached_property
    def _eigh(self):
        evals, evecs = jnp.linalg.eigh(jnp.asarray(self.k_train_train))
        evals = _validate.eigenvalues("k_train_train", np.asarray(evals))
        y_modes = evecs.T @ jnp.asarray(self.y_train)
        return evals, evecs, y_modes

    # ---- prediction -----------------------------------------------------------------------
    @_precision.full_precision
    def predict(self, t, k_test_train=None, f0_train=None, f0_test=None):
        """Train and test outputs at times ``t`` (steps).

        Args:
          t: scalar or 1-D array of times in steps, ``>= 0``; ``np.inf`` gives the ``t -> inf``
            limit (MSE only). An array adds a leading time axis.
          k_test_train: ``[m, n]`` kernel between test and training points, or None.
          f0_train: ``[n, k]`` outputs at ``t = 0``; None means 0 (infinite-ensemble mean).
          f0_test: ``[m, k]`` test outputs at ``t = 0``; None means 0.

        Returns:
          ``(f_train, f_test)``: ``[len(t), n, k]`` and ``[len(t), m, k]`` JAX arrays (no leading
          axis for scalar ``t``); ``f_test`` is None without ``k_test_train``.
        """
        t_arr, scalar_t = _validate.times(t)
        f0_train = self._train_outputs(f0_train)
        k_test_train_arr, f0_test_arr = self.test_inputs(k_test_train, f0_test)
        if self.loss == "mse":
            f_train, f_test = self._predict_mse(t_arr, k_test_train_arr, f0_train, f0_test_arr,
                                                with_train=True)
        else:
            f_train, f_test = xent_flow.integrate(
                self, t_arr, k_test_train_arr, f0_train, f0_test_arr)
        if scalar_t:
            f_train = f_train[0]
            f_test = None if f_test is None else f_test[0]
        return f_train, f_test

    def _train_outputs(self, f0_train):
        """Checked ``[n, k]`` initial train outputs (zeros for None: the ensemble mean)."""
        if f0_train is None:
            return np.zeros((self.n, self.k), self.dtype)
        return _validate.outputs("f0_train", f0_train, (self.n, self.k), dtype=self.dtype)

    def test_inputs(self, k_test_train, f0_test):
        """Checked ``(k_test_train [m, n], f0_test [m, k])`` (None, None without test points)."""
        if k_test_train is None:
            if f0_test is not None:
                raise _checks.bad("f0_test", f0_test, "was given without k_test_train",
                                  "pass k_test_train ([m, n] kernel between test and training "
                                  "points)")
            return None, None
        k_test_train = _validate.test_kernel("k_test_train", k_test_train, self.n,
                                             dtype=self.dtype)
        m = k_test_train.shape[0]
        f0_test = (np.zeros((m, self.k), self.dtype) if f0_test is None else
                   _validate.outputs("f0_test", f0_test, (m, self.k), dtype=self.dtype))
        return k_test_train, f0_test

    @_precision.full_precision
    def predict_test(self, t, k_test_train, f0_train=None, f0_test=None):
        """Only the test outputs ``[len(t), m, k]`` (half the work of ``predict`` for MSE)."""
        _validate.needs_test_kernel(k_test_train)
        if self.loss != "mse":
            return self.predict(t, k_test_train, f0_train, f0_test)[1]
        t_arr, scalar_t = _validate.times(t)
        f0_train = self._train_outputs(f0_train)
        k_test_train_arr, f0_test_arr = self.test_inputs(k_test_train, f0_test)
        _, f_test = self._predict_mse(t_arr, k_test_train_arr, f0_train, f0_test_arr,
                                      with_train=False)
        return f_test[0] if scalar_t else f_test

    def _predict_mse(self, t, k_test_train, f0_train, f0_test, *, with_train):
        evals, evecs, y_modes = self._eigh
        rates = self.lr * evals.astype(np.float64) / self.n
        h, dn, e, decay = mode_functions.mode_coefficients(
            rates, t, b=self.shrink_rate, gamma=self.kernel_decay_rate)
        u0 = evecs.T @ jnp.asarray(f0_train)
        h, dn, e = (jnp.asarray(c, self.dtype)[:, :, None] for c in (h, dn, e))
        a = jnp.asarray(rates, self.dtype)[None, :, None]
        f_train = None
        if with_train:
            u_t = h * u0[None] + a * dn * y_modes[None]
            f_train = jnp.einsum("ij,tjk->tik", evecs, u_t)
        if k_test_train is None:
            return f_train, None
        q = (self.lr / self.n) * (e * u0[None] + dn * y_modes[None])
        kv = jnp.asarray(k_test_train) @ evecs
        f_test = (jnp.asarray(decay, self.dtype)[:, None, None] * jnp.asarray(f0_test)[None]
                  + jnp.einsum("mj,tjk->tmk", kv, q))
        return f_train, f_test

