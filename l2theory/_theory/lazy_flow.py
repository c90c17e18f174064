"""The lazy (infinite-width) limit of gradient flow with L2 for any network without
normalization, from the network's kernels at scaled copies of its initial parameters.

Conventions (docs/conventions.md, sec. 2): loss ``mean_i loss(f(x_i), y_i) + lam/2 ||theta||^2``,
``d theta/dt = -lr (grad loss_data + lam theta)``, ``t`` in steps. With
``theta_t = a_t (theta_0 + delta_t)``, ``a_t = exp(-lr lam t)``, and ``w_t = a_t delta_t`` the
displacement, the lazy limit keeps the first order in ``w``::

    f_t = f(a_t theta_0) + J(a_t theta_0) w_t,
    dw/dt = -lr lam w - (lr/n) J(a_t theta_0)^T g_t,        g = dloss/df (MSE: f - y),

no homogeneity degree needed. Scale nodes: the Jacobian is expanded in the scale ``a`` through
Lagrange polynomials ``phi_d`` on ``D + 1`` nodes ``a_d`` (``scale_nodes``: Chebyshev-Lobatto in
``[a_min, 1]``, ``a_0 = 1``), ``J(a theta_0) ~ sum_d phi_d(a) J(a_d theta_0)``, and
``f(a theta_0)`` likewise through the network's outputs at the nodes. Then ``w`` stays in the span
of the rows of the ``J(a_d theta_0)``, ``w = sum_d J(a_d theta_0)^T c_d``, and the flow closes on
the coefficients ``c_d`` (``[n, k]`` each)::

    dc_d/dt = -lr lam c_d - (lr/n) phi_d(a_t) g_t,      u_t = sum_{d,e} phi_d(a_t) Theta_de c_e,

with ``Theta_de = J(a_d theta_0) J(a_e theta_0)^T`` the two-scale NTK (per output, the mean over
the outputs, as the package's NTKs: the outputs evolve independently). Test outputs:
``u*_t = sum_{d,e} phi_d(a_t) Theta*_de c_e`` with ``Theta*_de`` between the test points at scale
``a_d`` and the training points at ``a_e``. For a degree-``L`` homogeneous network
``J(a theta_0) = a^(L-1) J_0`` and ``f(a theta_0) = a^L f_0`` are polynomials in ``a``: the
expansion is exact once ``D >= L``, and the flow is ``L2GradientFlow(degree=L)`` (tested to
1e-8). Otherwise (residual sums, biases) it converges in ``D``: the flow through one node
fewer (``restrict``) estimates the interpolation error.

Integration (MSE, a linear ODE, stiff when ``lam n`` is small against the kernel): 3-stage
Radau IIA (order 5, L-stable) in physical time ``lr t``, its linear stage equations solved
exactly through the ``[3n, 3n]`` system of the train outputs at the stages (so the ``k`` outputs
share one factorization), with step doubling for error control (``rtol`` on the train and test
outputs) and steps that land on every requested time. Cost per step: three ``[3n, 3n]``
solves and ``O(S^2 (n + m) n k)`` products (``S = D + 1``); memory ``O(S^2 (n + m) n)`` for the
kernels. Cross-entropy is not implemented (its flow is nonlinear in ``c``).
"""
from __future__ import annotations

import math

import numpy as np

from l2theory import _checks
from l2theory._theory import _validate

# Radau IIA, 3 stages (Hairer & Wanner, Solving ODEs II, table 5.6)
_S6 = math.sqrt(6.0)
_RADAU_C = np.array([(4 - _S6) / 10, (4 + _S6) / 10, 1.0])
_RADAU_A = np.array([
    [(88 - 7 * _S6) / 360, (296 - 169 * _S6) / 1800, (-2 + 3 * _S6) / 225],
    [(296 + 169 * _S6) / 1800, (88 + 7 * _S6) / 360, (-2 - 3 * _S6) / 225],
    [(16 - _S6) / 36, (16 + _S6) / 36, 1 / 9]])
MAX_STEPS = 200_000


def scale_nodes(count: int, a_min: float) -> np.ndarray:
    """``count`` Chebyshev-Lobatto nodes of the scale ``a`` in ``[a_min, 1]``, from ``a_0 = 1``
    down to ``a_min`` (``count = 1``: ``[1]``). The nodes of ``(count + 1) // 2`` (``count``
    odd) are every second one of these."""
    count = _checks.positive_int("count", count)
    a_min = _checks.real("a_min", a_min, low=0.0, high=1.0, high_open=True,
                         fix="e.g. exp(-lam lr t_max), the smallest scale a_t the flow reaches")
    if count == 1:
        return np.ones(1)
    d = np.arange(count)
    return (1 + a_min) / 2 + (1 - a_min) / 2 * np.cos(np.pi * d / (count - 1))


def lagrange_basis(nodes, a) -> np.ndarray:
    """``[len(a), S]`` Lagrange polynomials ``phi_d(a)`` of distinct ``nodes`` (barycentric
    form; ``phi_d(a_e) = delta_de``)."""
    nodes = np.asarray(nodes, np.float64)
    a = np.atleast_1d(np.asarray(a, np.float64))
    if len(nodes) == 1:
        return np.ones((len(a), 1))
    diff = nodes[:, None] - nodes[None, :]
    np.fill_diagonal(diff, 1.0)
    weights = 1.0 / np.prod(diff, axis=1)
    dist = a[:, None] - nodes[None, :]
    exact = dist == 0
    dist[exact] = 1.0
    terms = weights[None, :] / dist
    out = terms / terms.sum(axis=1, keepdims=True)
    hit = exact.any(axis=1)
    out[hit] = exact[hit].astype(np.float64)
    return out


class LazyL2Flow:
    """The lazy limit of the L2 gradient flow of one network (module docstring), MSE.

    Example (a degree-2 homogeneous kernel: the flow is ``L2GradientFlow(degree=2)``):
      >>> import numpy as np
      >>> from l2theory import solvers
      >>> x = np.random.default_rng(0).normal(size=(6, 3)); k0 = x @ x.T; y = x[:, :1]
      >>> a = solvers.scale_nodes(3, 0.0)                # [1, 0.5, 0]
      >>> nodes_k = np.einsum("d,e,nm->denm", a, a, k0)  # Theta(a_d, a_e) = a_d a_e K_0
      >>> lazy = solvers.LazyL2Flow(a, nodes_k, y, lam=0.1, lr=1.0, rtol=1e-10)
      >>> exact = solvers.L2GradientFlow(k0, y, lam=0.1, lr=1.0, degree=2)
      >>> bool(np.allclose(lazy.predict([5.0, 50.0])[0], exact.predict([5.0, 50.0])[0],
      ...                  rtol=1e-5, atol=1e-6))     # float32 flow (x64 off); float64: 1e-10
      True

    Args:
      nodes: ``[S]`` distinct scales ``a_d`` in ``[0, 1]`` (``scale_nodes``), covering the
        scales ``a_t = exp(-lr lam t)`` of every requested time (else ``ValueError``).
      k_train_train: ``[S, S, n, n]`` two-scale NTKs ``Theta_de`` between the training points
        at scales ``a_d`` (rows) and ``a_e`` (columns); ``Theta_ed = Theta_de^T``.
      y_train: ``[n]`` or ``[n, k]`` targets.
      lam, lr: L2 coefficient (``lam/2 ||theta||^2``) and learning rate; times are in steps.
      f_train: ``[S, n, k]`` outputs ``f(a_d theta_0)`` at the nodes, or None (0: the infinite
        ensemble's mean).
      k_test_train, f_test: ``[S, S, m, n]`` test-train two-scale NTKs and ``[S, m, k]`` test
        outputs at the nodes (None: no test points; ``f_test`` None with a test kernel: 0).
      loss: ``"mse"`` only.
      rtol: relative error per step of the train and test outputs (step doubling; the absolute
        floor is ``rtol`` times the RMS target).

    ``predict(t)`` integrates once and keeps the state at every requested time, so later calls
    (``solvers.peak``'s refinement) restart from the nearest earlier one. ``info``: ``steps``
    (accepted), ``rejected``, ``solves`` (``[3n, 3n]`` systems).
    """

    def __init__(self, nodes, k_train_train, y_train, *, lam: float, lr: float = 1.0,
                 f_train=None, k_test_train=None, f_test=None, loss: str = "mse",
                 rtol: float = 1e-8):
        self.lam = _checks.lam("lam", lam)
        self.lr = _checks.lr("lr", lr)
        self.loss = _validate.loss_name(loss)
        if self.loss != "mse":
            raise _checks.bad("loss", loss, "the lazy limit is implemented for MSE only (its "
                              "flow is linear in the coefficients)", "use loss='mse'")
        self.rtol = _checks.real("rtol", rtol, low=0.0, high=1.0, low_open=True,
                                 fix="e.g. 1e-8")
        self.nodes = _validate.numeric("nodes", nodes).astype(np.float64)
        s = len(self.nodes)
        if (self.nodes.ndim != 1 or s < 1 or np.any(self.nodes < 0) or np.any(self.nodes > 1)
                or len(np.unique(self.nodes)) < s):
            raise _checks.bad("nodes", nodes, "must be distinct scales in [0, 1]",
                              "use scale_nodes(count, a_min)")
        g = _validate.numeric("k_train_train", k_train_train).astype(np.float64)
        if g.ndim != 4 or g.shape[:2] != (s, s) or g.shape[2] != g.shape[3]:
            raise _checks.bad("k_train_train", _checks.Described(f"<array {g.shape}>"),
                              f"must have shape [S, S, n, n] with S = {s} nodes",
                              "pass the two-scale NTKs Theta_de of the training points")
        self.n = g.shape[2]
        self.g = (g + g.transpose(1, 0, 3, 2)) / 2  # Theta_ed = Theta_de^T (round-off)
        self.y_train = _validate.targets("y_train", y_train, self.n, dtype=np.float64)
        self.k = self.y_train.shape[1]
        self.f_train = self._node_outputs("f_train", f_train, self.n)
        self.g_test = None
        if k_test_train is not None:
            gt = _validate.numeric("k_test_train", k_test_train).astype(np.float64)
            if gt.ndim != 4 or gt.shape[:2] != (s, s) or gt.shape[3] != self.n:
                raise _checks.bad("k_test_train", _checks.Described(f"<array {gt.shape}>"),
                                  f"must have shape [S, S, m, n] with S = {s}, n = {self.n}",
                                  "pass the test-train two-scale NTKs")
            self.g_test = gt
            self.f_test = self._node_outputs("f_test", f_test, gt.shape[2])
        elif f_test is not None:
            raise _checks.bad("f_test", _checks.Described("<array>"), "needs k_test_train",
                              "pass both, or neither")
        # layouts without copies in the steps: rows (d, i), columns (e, j); and [e, (d, i, j)]
        self._gb = np.ascontiguousarray(self.g.transpose(0, 2, 1, 3)).reshape(s * self.n, -1)
        self._ge = np.ascontiguousarray(self.g.transpose(1, 0, 2, 3)).reshape(s, -1)
        self._gtb = (None if self.g_test is None else np.ascontiguousarray(
            self.g_test.transpose(0, 2, 1, 3)).reshape(-1, s * self.n))
        self._y_scale = _rms(self.y_train) or 1.0
        c0 = np.zeros((s, self.n, self.k))
        self._checkpoints = [(0.0, c0, None)]  # (physical time lr t, state, next step size)
        self.info = {"steps": 0, "rejected": 0, "solves": 0}

    def _node_outputs(self, name, f, points):
        shape = (len(self.nodes), points, self.k)
        if f is None:
            return np.zeros(shape)
        f = _validate.numeric(name, f).astype(np.float64)
        if f.shape != shape:
            raise _checks.bad(name, _checks.Described(f"<array {f.shape}>"),
                              f"must have shape {shape} (nodes x points x outputs)",
                              "pass the network's outputs at each scale node")
        return f

    # ----------------------------------------------------------------- public

    def replace(self, *, lam: float | None = None, lr: float | None = None,
                rtol: float | None = None) -> "LazyL2Flow":
        """The same network's flow at other rates (its nodes must still cover the scales the
        new times reach)."""
        return LazyL2Flow(self.nodes, self.g, self.y_train, lam=self.lam if lam is None else lam,
                          lr=self.lr if lr is None else lr, f_train=self.f_train,
                          k_test_train=self.g_test, f_test=None if self.g_test is None else
                          self.f_test, loss=self.loss, rtol=self.rtol if rtol is None else rtol)

    def restrict(self, index) -> "LazyL2Flow":
        """The flow through the nodes ``self.nodes[index]`` only (e.g. all but the middle
        one: the difference of the two predictions estimates the interpolation error)."""
        index = np.asarray(index)
        return LazyL2Flow(self.nodes[index], self.g[np.ix_(index, index)], self.y_train,
                          lam=self.lam, lr=self.lr, f_train=self.f_train[index],
                          k_test_train=None if self.g_test is None else
                          self.g_test[np.ix_(index, index)],
                          f_test=None if self.g_test is None else self.f_test[index],
                          loss=self.loss, rtol=self.rtol)

    def predict(self, t):
        """``(f_train [T, n, k], f_test [T, m, k] or None)`` at steps ``t`` (scalar ``t``:
        no leading axis)."""
        times, scalar = _validate.times(t)
        if np.any(~np.isfinite(times)):
            raise _checks.bad("t", t, "the lazy flow is integrated, t -> infinity is not "
                              "available", "pass finite times in steps")
        s_req = self.lr * times
        a_req = np.exp(-self.lam * s_req)
        lo = self.nodes.min()
        if len(self.nodes) > 1 and a_req.min() < lo * (1 - 1e-12) - 1e-300:
            t_max = float(times.max())
            raise _checks.bad("t", _checks.Described(f"<times up to {t_max:g}>"),
                              f"reach the scale a = exp(-lr lam t) = {a_req.min():.3g}, below the "
                              f"smallest node {lo:.3g}", "build the flow with nodes down to "
                              "a_min = exp(-lr lam t_max)")
        order = np.argsort(s_req, kind="stable")
        states = np.empty((len(times),) + self._checkpoints[0][1].shape)
        for i in order:
            states[i] = self._state_at(float(s_req[i]))
        phi = lagrange_basis(self.nodes, a_req)
        f_tr = self._outputs(phi, states)
        f_te = None if self.g_test is None else self._outputs(phi, states, test=True)
        if scalar:
            return f_tr[0], None if f_te is None else f_te[0]
        return f_tr, f_te

    def predict_test(self, t, k_test_train=None, f0_train=None, f0_test=None):
        """``[T, m, k]`` test outputs (``solvers.peak`` calls this; the test kernels and
        outputs are part of the flow, so ``k_test_train``, ``f0_train``, ``f0_test`` must be
        None)."""
        for name, v in (("k_test_train", k_test_train), ("f0_train", f0_train),
                        ("f0_test", f0_test)):
            if v is not None:
                raise _checks.bad(name, _checks.Described("<array>"), "is part of a LazyL2Flow",
                                  "pass None (give it when building the flow)")
        if self.g_test is None:
            raise _checks.bad("k_test_train", None, "this LazyL2Flow has no test points",
                              "build it with k_test_train and f_test")
        return self.predict(t)[1]

    # ----------------------------------------------------------------- internals

    def _outputs(self, phi, states, test: bool = False, with_f0: bool = True):
        """``f(a theta_0) + sum_{d,e} phi_d Theta_de c_e`` (train, or test) for ``phi [T, S]``
        and ``states [T, S, n, k]``."""
        s, t = len(self.nodes), len(states)
        block = self._gtb if test else self._gb
        gc = np.matmul(block, states.reshape(t, s * self.n, self.k)).reshape(t, s, -1, self.k)
        out = np.einsum("td,tdpk->tpk", phi, gc)
        if with_f0:
            out += np.tensordot(phi, self.f_test if test else self.f_train, axes=([1], [0]))
        return out

    def _state_at(self, s_target: float) -> np.ndarray:
        """The coefficients at physical time ``s_target`` (from the latest checkpoint at or
        before it; the result is kept as a checkpoint)."""
        times = [c[0] for c in self._checkpoints]
        i = int(np.searchsorted(times, s_target, side="right")) - 1
        s, c, h = self._checkpoints[i]
        if s == s_target:
            return c
        h = h if h is not None else self._first_step(s_target - s)
        for _ in range(MAX_STEPS):
            if s >= s_target:
                break
            step = min(h, s_target - s)
            c_new, accepted, h_next = self._adaptive_step(s, c, step)
            if accepted:
                s = s_target if step == s_target - s else s + step
                c = c_new
                h_next = max(h_next, h) if step < h else h_next  # a step cut to land
            h = h_next
        else:
            raise RuntimeError(f"LazyL2Flow: more than {MAX_STEPS} steps to reach lr t = "
                               f"{s_target:g} (rtol={self.rtol:g} too tight?)")
        self._checkpoints.insert(i + 1, (s_target, c, h))
        return c

    def _first_step(self, span: float) -> float:
        """A first step: a tenth of the fastest kernel time ``n / lambda_max`` (or ``span``)."""
        top = float(np.trace(self.g[0, 0])) / self.n  # trace / n >= lambda_max / n
        return min(span, 0.1 / top) if top > 0 else span

    def _adaptive_step(self, s, c, h):
        """One step of ``h`` against two of ``h / 2``: ``(state, accepted, next h)``."""
        big, u_big = self._radau(s, c, h)
        half, _ = self._radau(s, c, h / 2)
        small, u_small = self._radau(s + h / 2, half, h / 2)
        phi = lagrange_basis(self.nodes, [np.exp(-self.lam * (s + h))])
        f_small = u_small + np.tensordot(phi[0], self.f_train, axes=(0, 0))
        pairs = [(u_small - u_big, f_small)]
        if self.g_test is not None:
            diff, u_test = self._outputs(np.repeat(phi, 2, axis=0), np.stack([small - big, small]),
                                         test=True, with_f0=False)
            f_test = u_test + np.tensordot(phi[0], self.f_test, axes=(0, 0))
            pairs.append((diff, f_test))
        ratio = max(_rms(d) / (self.rtol * (_rms(f) + self._y_scale)) for d, f in pairs)
        factor = 5.0 if ratio == 0 else min(5.0, max(0.2, 0.9 * ratio ** (-1 / 6)))
        if ratio <= 1:
            self.info["steps"] += 1
            return small, True, h * factor
        self.info["rejected"] += 1
        return c, False, h * min(factor, 0.5)

    def _radau(self, s0, c0, h):
        """One Radau IIA step of ``h`` (physical time) from coefficients ``c0 [S, n, k]``;
        returns ``(c1, u1)`` with ``u1 [n, k]`` the displacement of the train outputs at
        ``s0 + h``.

        Stage equations (``c_i`` at the stages, ``P_i = Phi_i^T Theta c_i`` their train output
        displacements, ``R_i = f(a_i theta_0) - y``, ``E = I + h lam A``, ``T = E^-1 A``,
        ``sig = E^-1 1``)::

            c_i = sig_i c0 - (h/n) sum_l T_il Phi_l (P_l + R_l),
            P_i + (h/n) sum_l T_il K_il P_l = sig_i Phi_i^T Theta c0 - (h/n) sum_l T_il K_il R_l,

        with ``K_il = Phi_i^T Theta Phi_l`` the NTK between the scales of stages ``i`` and ``l``;
        stiffly accurate: ``c1 = c_3``, ``u1 = P_3``.
        """
        n, k, s = self.n, self.k, len(self.nodes)
        phi = lagrange_basis(self.nodes, np.exp(-self.lam * (s0 + h * _RADAU_C)))  # [3, S]
        resid = np.tensordot(phi, self.f_train, axes=([1], [0])) - self.y_train   # [3, n, k]
        e_inv = np.linalg.inv(np.eye(3) + h * self.lam * _RADAU_A)
        sig, tm = e_inv.sum(axis=1), e_inv @ _RADAU_A
        g_phi = (phi @ self._ge).reshape(3, s, n * n)            # [l, d, (i j)]: sum_e phi_le
        kern = np.matmul(phi, g_phi).reshape(3, 3, n, n)          # [l, i, n, m] = K_il
        coupling = (h / n) * (kern * tm.T[:, :, None, None])      # T_il K_il
        coupling = coupling.transpose(1, 2, 0, 3).reshape(3 * n, 3 * n)   # rows (i, n), (l, m)
        gc0 = (self._gb @ c0.reshape(s * n, k)).reshape(s, n, k)
        u0 = np.tensordot(phi, gc0, axes=([1], [0]))                             # [3, n, k]
        rhs = sig[:, None, None] * u0 - (coupling @ resid.reshape(3 * n, k)).reshape(3, n, k)
        coupling[np.diag_indices(3 * n)] += 1.0
        p = np.linalg.solve(coupling, rhs.reshape(3 * n, k)).reshape(3, n, k)
        self.info["solves"] += 1
        weights = (h / n) * tm[2][:, None] * phi                                   # [3, S]
        c1 = sig[2] * c0 - np.tensordot(weights, p + resid, axes=([0], [0]))
        return c1, p[2]


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(x))))
