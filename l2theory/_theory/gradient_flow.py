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

import copy
import functools

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks, _precision
from l2theory._theory import _validate, krylov_flow, mode_functions, xent_flow

# method="auto": the training-set size n from which the MSE flow is solved by block Lanczos
# ("krylov") rather than one eigendecomposition ("eigh"), per dtype: where krylov was faster at
# every measured size (benchmarks/bench_solvers.py, its default run: depth-3 fc_relu NTK of
# Fashion-MNIST, 10 outputs, 2,000 test points, 200 times, lam 1e-3; docs/measurements.md).
AUTO_KRYLOV_MIN_N = {"float64": 1500, "float32": 1000}


class L2GradientFlow:
    r"""Function-space gradient flow with L2 regularization, solved exactly (or, for MSE with
    ``method="krylov"``, matrix-free to a tolerance).

    Example:
      >>> import numpy as np
      >>> from l2theory import kernels, solvers
      >>> x = np.random.default_rng(0).normal(size=(20, 5))
      >>> _, k = kernels.fc_relu(x, depth=3)
      >>> flow = solvers.L2GradientFlow(k, np.sign(x[:, :1]), lam=1e-2, lr=0.5, degree=3)
      >>> f_train, _ = flow.predict([0.0, 10.0, 100.0])
      >>> f_train.shape
      (3, 20, 1)
      >>> big = solvers.L2GradientFlow(k, np.sign(x[:, :1]), lam=1e-2, lr=0.5, degree=3,
      ...                              method="krylov", tol=1e-4)
      >>> f_krylov, _ = big.predict([0.0, 10.0, 100.0])
      >>> bool(np.allclose(f_krylov, f_train, rtol=1e-3, atol=1e-4)), big.info["converged"]
      (True, True)

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
      method: how the MSE flow is solved. ``"auto"`` (default): the faster exact path for this
        problem, chosen below, recorded in ``info["why"]``. ``"eigh"``: exact, one
        eigendecomposition of ``k_train_train`` (``O(n^3)`` time, ``O(n^2)`` memory on the host
        and device; 255 s at n = 10,000 on 2 CPU cores). ``"krylov"``: matrix-free block
        Lanczos on the kernel (``l2theory/_theory/krylov_flow.py``): only products ``K @ V``
        (``V`` of shape ``[n, k]`` or ``[n, 2k]``), iterated until an error estimate is below
        ``tol``; for large n (the full 60,000-image training set on one GPU). Then
        ``k_train_train`` may also be a JAX array on the GPU (it is not copied to the host) or
        a callable ``matvec(V) -> K @ V`` (``n`` is taken from ``y_train``). Cross-entropy
        ignores ``method`` (it is integrated; ``"krylov"`` is refused there). With several devices (all
        processes' in a multi-process run) a kernel matrix is split by rows over them and a
        ``kernels.kernel_operator`` splits its rows likewise (docs/cluster.md).
        ``"auto"`` takes ``"krylov"`` for a callable kernel and for ``n >=
        AUTO_KRYLOV_MIN_N[dtype]`` (the measured crossover, see ``AUTO_KRYLOV_MIN_N``), and
        ``"eigh"`` below it and whenever the kernel does not decay (``degree=1`` or
        ``lam=0``: Krylov then converges like conjugate gradients on ``K + n lam I``, slowly at
        long times, while eigh is exact at any time, ``t=None`` included). ``replace`` chooses
        again for its lam and degree. The results are the chosen method's.
      tol: ``method="krylov"`` (or ``"auto"`` when it takes krylov): target relative error per
        time slice of the train and test outputs (norm over points and outputs); default 1e-8
        (float64) / 1e-4 (float32).
      max_iter: as ``tol``: most block steps (default 400); the basis holds at most
        ``max_iter * p`` vectors of size n (``p = k``, or ``2k`` with ``f0_train``).
      integrator, rtol, atol: ``loss="xent"``: ``scipy.integrate.solve_ivp``'s method (default
        ``"DOP853"``) and tolerances.

    ``"eigh"`` computes the eigendecomposition once, on the first ``predict``, and reuses it, and
    keeps ``k_test_train @ eigenvectors`` for the last test kernel object passed (a kernel passed
    again as the same object is taken to be unchanged: do not modify it in place in between);
    ``"krylov"`` keeps its Krylov basis for the same ``f0_train`` and extends it when a later call
    needs more. ``info`` holds ``method`` (the one in use) and ``why`` (requested, or why
    ``"auto"`` chose it); after each MSE ``predict`` with ``"krylov"`` it also describes the
    solve:
    ``error_estimate`` (largest estimated relative error over times, train and test),
    ``error_estimate_train``/``_test`` (``[T]`` per time, None when not computed),
    ``converged``, ``tol``, ``iterations`` (block steps, i.e. products ``K @ V``),
    ``matvec_columns``, ``basis_size``, ``block_size``, ``invariant`` (the Krylov space is exact),
    ``test_products`` (products with ``k_test_train`` in this solve: applications of an
    operator, blocks of a matrix). A solve that stops above ``tol`` (``max_iter`` reached) warns.
    ``replace(lam=...)`` gives the same flow at another lam (lr, degree, tol) sharing the
    eigendecomposition or the Krylov basis.
    """

    AUTO_KRYLOV_MIN_N = AUTO_KRYLOV_MIN_N

    def __init__(self, k_train_train, y_train, *, lam: float, lr: float = 1.0, degree: int,
                 loss: str = "mse", dtype=None, method: str = "auto", tol: float | None = None,
                 max_iter: int | None = None, integrator: str | None = None, rtol: float = 1e-9,
                 atol: float = 1e-12):
        self.lam = _checks.lam("lam", lam)
        self.lr = _checks.lr("lr", lr)
        self.degree = _validate.degree(degree)
        self.loss = _validate.loss_name(loss)
        self.requested_method, self.integrator = _validate.method_and_integrator(method,
                                                                                 integrator)
        self.dtype = _validate.float_dtype(dtype)
        if callable(k_train_train) and self.requested_method == "eigh":
            raise _checks.bad("k_train_train", k_train_train, "a matvec callable serves "
                              "method='krylov' only", "pass the [n, n] matrix, or "
                              "method='krylov' (or 'auto')", kind=TypeError)
        n = (np.shape(y_train)[0] if np.ndim(y_train) else 0) if callable(k_train_train) else (
            np.shape(k_train_train)[0] if np.ndim(k_train_train) else 0)
        self.method, why = self._pick_method(n, callable(k_train_train))
        self._krylov_options(tol, max_iter)
        if self.method == "krylov" and callable(k_train_train):
            self.k_train_train = k_train_train
            self.n = n
        elif self.method == "krylov":
            self.k_train_train = krylov_flow.train_kernel("k_train_train", k_train_train,
                                                          dtype=self.dtype)
            self.n = self.k_train_train.shape[0]
        else:
            self.k_train_train = _validate.kernel_matrix("k_train_train", k_train_train,
                                                         dtype=self.dtype)
            self.n = self.k_train_train.shape[0]
        self.y_train = _validate.targets("y_train", y_train, self.n, dtype=self.dtype)
        self.k = self.y_train.shape[1]
        if self.loss == "xent" and self.k < 2:
            raise _checks.bad("y_train", y_train, "loss='xent' needs targets of shape [n, k] "
                              "with k >= 2 classes (one-hot or probabilities)",
                              "use loss='mse' for scalar targets")
        self.rtol = _checks.positive("rtol", rtol, fix="e.g. 1e-9")
        self.atol = _checks.positive("atol", atol, fix="e.g. 1e-12")
        self.info = {"method": self.method, "why": why}
        # what does not depend on lam, lr, degree, tol: shared with the flows of ``replace``
        # ("eigh": the eigendecomposition; "krylov": (f0_train or None, BlockLanczos);
        # "device_kernel": the kernel on the device, for a flow that switched to krylov)
        self._shared = {}

    def _pick_method(self, n: int, matvec: bool) -> tuple[str, str]:
        """``(method, why)``: the requested method, or for ``"auto"`` the faster exact path
        (``AUTO_KRYLOV_MIN_N``)."""
        if self.loss != "mse":
            return "eigh", (f"loss={self.loss!r} is integrated numerically "
                            f"(integrator={self.integrator_name!r}); method does not apply")
        if self.requested_method != "auto":
            return self.requested_method, f"method={self.requested_method!r} as requested"
        if matvec:
            return "krylov", "auto: k_train_train is a matvec callable"
        if self.kernel_decay_rate == 0:
            return "eigh", (f"auto: no kernel decay (degree={self.degree}, lam={self.lam:g}): "
                            "Krylov would converge like conjugate gradients on K + n lam I; "
                            "eigh is exact")
        crossover = AUTO_KRYLOV_MIN_N[np.dtype(self.dtype).name]
        if n >= crossover:
            return "krylov", (f"auto: n = {n} >= {crossover}, where block Lanczos is faster "
                              f"than the eigendecomposition ({np.dtype(self.dtype).name}, "
                              "measured by benchmarks/bench_solvers.py)")
        return "eigh", (f"auto: n = {n} < {crossover}, where the eigendecomposition is faster "
                        f"than block Lanczos ({np.dtype(self.dtype).name}, measured by "
                        "benchmarks/bench_solvers.py)")

    @property
    def integrator_name(self) -> str:
        return self.integrator if isinstance(self.integrator, str) else self.integrator.__name__

    def _krylov_options(self, tol, max_iter):
        """``tol`` and ``max_iter`` checked: they count with ``method="krylov"`` (also as
        ``"auto"``'s choice, now or after ``replace``) and are an error with ``"eigh"``."""
        if self.requested_method == "eigh" or (self.requested_method == "auto"
                                               and self.loss != "mse"):
            for name, value in (("tol", tol), ("max_iter", max_iter)):
                if value is not None:
                    raise _checks.bad(name, value, f"only method='krylov' takes {name} "
                                      f"(method={self.requested_method!r}, loss={self.loss!r} "
                                      "is solved without it)",
                                      f"drop {name}, or pass method='krylov' (MSE only)")
            return
        if self.loss != "mse":
            raise _checks.bad("method", self.requested_method, f"solves the MSE flow, not "
                              f"loss={self.loss!r}", "pass method='auto' or 'eigh' "
                              "(cross-entropy is integrated numerically)")
        self.tol = (krylov_flow.default_tol(self.dtype) if tol is None else
                    _checks.positive("tol", tol, what="the target relative error",
                                     fix="e.g. 1e-8"))
        self.max_iter = (krylov_flow.DEFAULT_MAX_ITER if max_iter is None else
                         _checks.integer("max_iter", max_iter, low=1,
                                         what="the number of block Lanczos steps",
                                         fix=f"e.g. {krylov_flow.DEFAULT_MAX_ITER}"))

    # ---- rates (per step) --------------------------------------------------------------------
    @property
    def shrink_rate(self) -> float:
        """``b = lr lam L``: rate of the ``-lr lam L f`` term (per step)."""
        return self.lr * self.lam * self.degree

    @property
    def kernel_decay_rate(self) -> float:
        """``gamma = 2 (L-1) lr lam``: the kernel decays as ``exp(-gamma t)`` (per step)."""
        return 2.0 * (self.degree - 1) * self.lr * self.lam

    def replace(self, *, lam: float | None = None, lr: float | None = None,
                degree: int | None = None, tol: float | None = None) -> "L2GradientFlow":
        """This flow with other ``lam``, ``lr``, ``degree`` or ``tol`` (``method="krylov"``),
        on the same kernel and targets, sharing the work that does not depend on them: the
        eigendecomposition (``"eigh"``), or the Krylov basis and its products with an operator
        ``k_test_train`` (``"krylov"``: the basis depends on the kernel and the starting block
        ``[y, f0]`` only). Several lam on one large kernel then cost one basis, as large as the
        hardest of them asks for (the smallest lam, at the longest times), and one application
        of a test-kernel operator (``kernels.kernel_operator``) to it.

        Example:
          >>> import numpy as np
          >>> from l2theory import kernels, solvers
          >>> x = np.random.default_rng(0).normal(size=(20, 5))
          >>> flow = solvers.L2GradientFlow(kernels.fc_relu(x, depth=3)[1], np.sign(x[:, :2]),
          ...                               lam=1e-2, degree=3)
          >>> other = flow.replace(lam=1e-3)
          >>> other.lam, other.degree
          (0.001, 3)
        """
        new = copy.copy(self)  # shares self._shared (a dict) and the checked arrays
        if lam is not None:
            new.lam = _checks.lam("lam", lam)
        if lr is not None:
            new.lr = _checks.lr("lr", lr)
        if degree is not None:
            new.degree = _validate.degree(degree)
        if tol is not None:
            new._krylov_options(tol, getattr(self, "max_iter", None))
        method, why = new._pick_method(new.n, callable(new.k_train_train))
        if method == "eigh" and callable(new.k_train_train):
            method, why = "krylov", "auto: k_train_train is a matvec callable"
        new.method = method
        new.info = {"method": method, "why": why}
        return new

    # ---- factorization, cached --------------------------------------------------------------
    @property
    def _eigh(self):
        if "eigh" not in self._shared:
            evals, evecs = jnp.linalg.eigh(jnp.asarray(self.k_train_train))
            evals = _validate.eigenvalues("k_train_train", np.asarray(evals))
            y_modes = evecs.T @ jnp.asarray(self.y_train)
            self._shared["eigh"] = evals, evecs, y_modes
        return self._shared["eigh"]

    # ---- prediction -----------------------------------------------------------------------
    @_precision.full_precision
    def predict(self, t, k_test_train=None, f0_train=None, f0_test=None):
        """Train and test outputs at times ``t`` (steps).

        Args:
          t: scalar or 1-D array of times in steps, ``>= 0``; ``np.inf`` (or ``None``, as in
            neural-tangents) gives the ``t -> inf`` limit (MSE only). An array adds a leading
            time axis.
          k_test_train: ``[m, n]`` kernel between test and training points, or None; for MSE
            also a linear operator of that shape that is never stored
            (``kernels.kernel_operator``; applied to the whole Krylov basis at once, once or
            twice per solve with ``method="krylov"``, or to the eigenvectors with ``"eigh"``).
          f0_train: ``[n, k]`` outputs at ``t = 0``; None means 0 (infinite-ensemble mean); a
            scalar is broadcast to every point and output.
          f0_test: ``[m, k]`` test outputs at ``t = 0``; None means 0; a scalar is broadcast.

        Differences from neural-tangents' ``predict_fn(t, fx_train_0, fx_test_0,
        k_test_train)`` (``docs/conventions.md`` section 5): the kernel comes first here, and its
        ``learning_rate`` is ``lr * k`` (it divides by ``y.size``, we by ``n``).

        Returns:
          ``(f_train, f_test)``: ``[len(t), n, k]`` and ``[len(t), m, k]`` JAX arrays (no leading
          axis for scalar ``t``); ``f_test`` is None without ``k_test_train``.
        """
        t_arr, scalar_t = _validate.times(t)
        f0_train = self._train_outputs(f0_train)
        k_test_train_arr, f0_test_arr = self.test_inputs(k_test_train, f0_test)
        if self.loss == "mse":
            f_train, f_test = self._predict_mse(t_arr, k_test_train_arr, f0_train, f0_test_arr,
                                                with_train=True, given=k_test_train)
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
        if _validate.is_operator(k_test_train) and self.loss != "mse":
            raise _checks.bad("k_test_train", k_test_train, "a kernel operator serves the MSE "
                              "flow only", "pass the [m, n] matrix (e.g. "
                              "kernels.kernel_matrix) for loss='xent'", kind=TypeError)
        k_test_train = _validate.test_kernel("k_test_train", k_test_train, self.n,
                                             dtype=self.dtype)  # a JAX array stays on its device
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
                                      with_train=False, given=k_test_train)
        return f_test[0] if scalar_t else f_test

    def _predict_mse(self, t, k_test_train, f0_train, f0_test, *, with_train, given=None):
        """``given``: the test kernel object as the caller passed it; the eigh path keeps
        ``k_test_train @ evecs`` for it (one ``O(m n^2)`` product for every later call with the
        same object, also from the flows of ``replace``)."""
        if self.method == "krylov":
            return self._predict_krylov(t, k_test_train, f0_train, f0_test, with_train=with_train)
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
        cached = self._shared.get("kv")
        if cached is not None and given is not None and cached[0] is given:
            kv = cached[1]
        else:
            if not _validate.is_operator(k_test_train):
                k_test_train = jnp.asarray(k_test_train)  # the product on the device
            kv = jnp.asarray(k_test_train @ evecs, self.dtype)
            self._shared["kv"] = (given, kv)  # holding ``given`` keeps its id unique
        f_test = (jnp.asarray(decay, self.dtype)[:, None, None] * jnp.asarray(f0_test)[None]
                  + jnp.einsum("mj,tjk->tmk", kv, q))
        return f_train, f_test

    def _predict_krylov(self, t, k_test_train, f0_train, f0_test, *, with_train):
        """Block Lanczos (``krylov_flow``) from ``[y, f0]``; the basis is kept for the same f0."""
        with_f0 = bool(np.any(f0_train != 0))
        key = f0_train if with_f0 else None
        cached = self._shared.get("krylov")
        if cached is None or (cached[0] is None) != (key is None) or (
                key is not None and not np.array_equal(cached[0], key)):
            matvec = (self.k_train_train if callable(self.k_train_train) else
                      functools.partial(krylov_flow._dense_matvec, self._device_kernel()))
            start = np.hstack([self.y_train, f0_train]) if with_f0 else self.y_train
            lanczos = krylov_flow.BlockLanczos(matvec, start, dtype=self.dtype,
                                               max_blocks=self.max_iter)
            cached = self._shared["krylov"] = (None if key is None else key.copy(), lanczos)
        f_train, f_test, info = krylov_flow.solve(
            cached[1], t, lr=self.lr, b=self.shrink_rate, gamma=self.kernel_decay_rate, k=self.k,
            with_f0=with_f0, tol=self.tol, with_train=with_train,
            k_test_train=(k_test_train if k_test_train is None or _validate.is_operator(
                k_test_train) else jnp.asarray(k_test_train)),
            f0_test=None if f0_test is None else jnp.asarray(f0_test))
        self.info = {**info, "why": self.info["why"]}
        return f_train, f_test

    def _device_kernel(self):
        """The kernel as a JAX array (one copy kept for a flow that ``replace`` switched from
        ``"eigh"``'s host matrix to ``"krylov"``)."""
        if isinstance(self.k_train_train, jax.Array):
            return self.k_train_train
        if "device_kernel" not in self._shared:
            self._shared["device_kernel"] = jnp.asarray(self.k_train_train)
        return self._shared["device_kernel"]
