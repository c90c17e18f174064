"""Closed-form coefficients of one eigenmode of gradient flow with L2 (MSE loss).

In the eigenbasis of the train kernel ``K = V diag(k) V^T`` every mode of the infinite-width
degree-L dynamics (docs/conventions.md) obeys the scalar linear ODE, in steps ``t``::

    du/dt = -(a e^{-gamma t} + b) u + a e^{-gamma t} w,     u(0) = u0,

with ``a = lr k / n`` (data term), ``b = lr lam L`` (the L2 shrinkage of f),
``gamma = 2 (L - 1) lr lam`` (kernel decay) and ``w`` the target's mode. Its solution is::

    u(t) = H(t) u0 + a Dn(t) w,
    H(t)  = exp(-b t - a tau(t)),              tau(t) = (1 - e^{-gamma t}) / gamma   (= t if gamma = 0)
    Dn(t) = int_0^t e^{-gamma s} exp(-int_s^t (a e^{-gamma r} + b) dr) ds.

Test points need ``E(t) = (H(t) - e^{-b t}) / a = -e^{-b t} tau phi(-a tau)``,
``phi(x) = expm1(x)/x``, and ``Dn`` itself; both stay finite as ``a -> 0``, so singular kernels
need no pseudo-inverse (a null mode of a PSD joint kernel has ``k_test_train v = 0``).

``Dn`` in closed form (``gamma > 0``): with ``z0 = a/gamma``, ``z1 = z0 e^{-gamma t}``,
``nu = b/gamma = L/(2(L-1))`` and ``s = 1 - nu`` (``s = 0`` for L = 2: exponential integral)::

    a Dn = e^{z1} z1^nu int_{z1}^{z0} x^{-nu} e^{-x} dx = e^{z1} z1^nu [Gamma(s, z1) - Gamma(s, z0)].

It is evaluated without cancellation in three regimes (all relative accuracy ~1e-14):

1. ``z0 <= 2``: power series ``Dn = e^{z1 - b t} / gamma * sum_k (-z0)^k / k! * g_k`` with
   ``g_k = -expm1(-(s+k) gamma t) / (s+k)`` (``g_0 = gamma t`` when s = 0);
2. ``z0 > 2`` and ``Delta = z0 - z1 >= 1``: ``a Dn = S(z1) - H S(z0)`` with the scaled
   incomplete gamma ``S(z) = e^z z^nu Gamma(s, z)`` (bounded, -> 1 as z -> infinity);
3. ``z0 > 2`` and ``Delta < 1``: 24-point Gauss-Legendre on the smooth integral
   ``a Dn = int_0^Delta (1 + y/z1)^{-nu} e^{-y} dy``.

Everything here is float64 numpy (the coefficients cost O(n len(t)); the O(n^2) work happens in
the solver, on the accelerator when there is one).
"""
from __future__ import annotations

import numpy as np
from scipy import special

_EULER = 0.57721566490153286061
_SERIES_Z0_MAX = 2.0
_SERIES_TERMS = 40
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(24)


def phi(x):
    """``phi(x) = expm1(x) / x`` with ``phi(0) = 1``, accurate for all x."""
    x = np.asarray(x, dtype=np.float64)
    safe = np.where(x == 0.0, 1.0, x)
    return np.where(x == 0.0, 1.0, np.expm1(safe) / safe)


def scaled_upper_gamma(s: float, z: np.ndarray) -> np.ndarray:
    """``S(z) = e^z z^(1-s) Gamma(s, z)`` for ``0 <= s < 1``, ``z >= 0``; ``S(0) = 0``.

    Series (via ``log z``, safe for tiny z) below 1, scipy up to 50, Lentz continued fraction above.
    """
    z = np.asarray(z, dtype=np.float64)
    nu = 1.0 - s
    out = np.zeros_like(z)
    small = (z > 0) & (z <= 1.0)
    mid = (z > 1.0) & (z <= 50.0)
    big = z > 50.0
    if small.any():
        zs = z[small]
        logz = np.log(zs)
        k = np.arange(1, _SERIES_TERMS)[:, None]
        # sum_{k>=1} (-z)^k / (k! (s+k)) ; Gamma(s,z) = Gamma(s) - z^s/s - z^s * that  (s>0)
        terms = (-zs[None, :]) ** k / (special.factorial(k) * (s + k))
        tail = terms.sum(axis=0)
        if s == 0.0:
            upper = -_EULER - logz - tail  # E1(z)
        else:
            zs_s = np.exp(s * logz)
            upper = special.gamma(s) - zs_s / s - zs_s * tail
        out[small] = np.exp(zs + nu * logz) * upper
    if mid.any():
        zm = z[mid]
        upper = special.exp1(zm) if s == 0.0 else special.gamma(s) * special.gammaincc(s, zm)
        out[mid] = np.exp(zm + nu * np.log(zm)) * upper
    if big.any():
        zb = z[big]
        out[big] = zb * _upper_gamma_cf(s, zb)
    return out


def _upper_gamma_cf(s: float, x: np.ndarray) -> np.ndarray:
    """``e^x x^-s Gamma(s, x)`` by the modified Lentz continued fraction (x > ~1)."""
    tiny = 1e-300
    b = x + 1.0 - s
    c = np.full_like(x, 1.0 / tiny)
    d = 1.0 / b
    h = d.copy()
    for i in range(1, 500):
        an = -i * (i - s)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = d * c
        h = h * delta
        if np.all(np.abs(delta - 1.0) <= np.finfo(np.float64).eps):  # one ulp: converged
            break
    return h


def mode_coefficients(a: np.ndarray, t: np.ndarray, *, b: float, gamma: float):
    """Coefficients of the scalar mode ODE at times ``t`` (steps) for rates ``a`` (per step).

    Args:
      a: ``[n]`` data-term rates ``lr k_i / n >= 0``.
      t: ``[T]`` times in steps, ``>= 0`` (``inf`` allowed).
      b: ``lr lam L``, the L2 shrinkage rate of f (per step).
      gamma: ``2 (L-1) lr lam``, the kernel decay rate (per step); 0 for L = 1 or lam = 0.

    Returns:
      ``(H, Dn, E, decay)``: ``H, Dn, E`` of shape ``[T, n]`` and ``decay = e^{-b t}`` of shape
      ``[T]``; see the module docstring. Train mode: ``u = H u0 + a Dn w``; test coefficient:
      ``(lr/n) (E u0 + Dn w)``.
    """
    a = np.asarray(a, dtype=np.float64)[None, :]
    t = np.asarray(t, dtype=np.float64)[:, None]
    inf_t = np.isinf(t)
    tt = np.where(inf_t, 0.0, t)  # finite placeholder; limits filled in below
    # e^{-b t}: exactly 0 at t = inf when b > 0, and 1 at every t (inf too) when b = 0
    decay = np.exp(-b * t) if b > 0 else np.ones_like(t)

    if gamma == 0.0:
        c = a + b
        H = np.exp(-c * tt)
        Dn = tt * phi(-c * tt)
        E = -np.exp(-b * tt) * tt * phi(-a * tt)
        # t -> inf: H -> 0 (c > 0) or 1; Dn -> 1/c (c > 0) or inf; E -> -1/a e^{-bt} ...
        with np.errstate(divide="ignore", invalid="ignore"):
            H = np.where(inf_t, np.where(c > 0, 0.0, 1.0), H)
            # lam = 0 and t = inf on a null mode (a = 0) diverges, but a null mode of a PSD joint
            # kernel has k_test_train v = 0: the pseudo-inverse convention (contribution 0) is exact.
            Dn = np.where(inf_t, np.where(c > 0, 1.0 / np.where(c > 0, c, 1.0), 0.0), Dn)
            E_inf = np.where(b > 0, 0.0, np.where(a > 0, -1.0 / np.where(a > 0, a, 1.0), 0.0))
            E = np.where(inf_t, E_inf, E)
        return H, Dn, E, decay[:, 0]

    nu = b / gamma
    s = 1.0 - nu
    if abs(s) < 1e-14:
        s = 0.0
    tau = -np.expm1(-gamma * tt) / gamma
    delta = a * tau  # z0 - z1
    H = np.exp(-b * tt - delta)
    E = -np.exp(-b * tt) * tau * phi(-delta)
    z0 = np.broadcast_to(a / gamma, delta.shape)
    log_decay_gamma = -gamma * tt
    Dn = np.empty(delta.shape)

    # Regime 1 is a property of the mode (z0 = a/gamma): the series coefficients (-z0)^k/k! are
    # per mode and g_k per time, so the sum over k is one [T, K] x [K, n_series] product.
    series_modes = (a[0] / gamma) <= _SERIES_Z0_MAX
    series = np.broadcast_to(series_modes[None, :], delta.shape)
    if series_modes.any():
        z0s = a[0, series_modes] / gamma
        gt = gamma * tt[:, 0]  # [T]
        k = np.arange(_SERIES_TERMS, dtype=np.float64)[:, None]
        sk = s + k
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(sk == 0.0, gt[None, :], -np.expm1(-sk * gt[None, :]) / np.where(sk == 0.0, 1.0, sk))
        coef = np.cumprod(np.vstack([np.ones_like(z0s)[None, :],
                                     -z0s[None, :] / k[1:]]), axis=0)  # (-z0)^k / k!
        total = g.T @ coef  # [T, n_series]
        z1s = z0s[None, :] * np.exp(-gt)[:, None]
        Dn[:, series_modes] = np.exp(z1s - nu * gt[:, None]) / gamma * total

    closed = (~series) & (delta >= 1.0)
    if closed.any():
        z0c, dc = z0[closed], delta[closed]
        log_z1 = np.log(z0c) + np.broadcast_to(log_decay_gamma, delta.shape)[closed]
        z1c = np.exp(log_z1)
        s_z1 = scaled_upper_gamma(s, z1c)
        # z1 may underflow to 0 while z1^nu e^{...} does not: use the tiny-z limit via log z1
        tiny = z1c < 1e-300
        if tiny.any():
            lead = special.gamma(s) if s > 0 else (-_EULER - log_z1[tiny])
            s_z1[tiny] = np.exp(nu * log_z1[tiny]) * lead
        h_closed = np.exp(-b * np.broadcast_to(tt, delta.shape)[closed] - dc)
        a_c = np.broadcast_to(a, delta.shape)[closed]
        Dn[closed] = (s_z1 - h_closed * scaled_upper_gamma(s, z0c)) / a_c

    quad = (~series) & (delta < 1.0)
    if quad.any():
        z0q, dq = z0[quad], delta[quad]
        z1q = z0q - dq
        y = 0.5 * dq[None, :] * (_GL_NODES[:, None] + 1.0)
        integrand = (1.0 + y / z1q[None, :]) ** (-nu) * np.exp(-y)
        a_q = np.broadcast_to(a, delta.shape)[quad]
        Dn[quad] = 0.5 * dq * (_GL_WEIGHTS[:, None] * integrand).sum(axis=0) / a_q

    # t = inf with gamma > 0: everything decays to 0 (b > 0 since gamma > 0 implies lam > 0).
    H = np.where(inf_t, 0.0, H)
    Dn = np.where(inf_t, 0.0, Dn)
    E = np.where(inf_t, 0.0, E)
    return H, Dn, E, decay[:, 0]
