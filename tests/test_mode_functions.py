"""Per-mode closed forms against 50-digit mpmath evaluations, in every regime of the formula."""
import mpmath as mp
import numpy as np
import pytest

from l2theory._theory.mode_functions import mode_coefficients, phi, scaled_upper_gamma

mp.mp.dps = 50


def _reference(a, b, gamma, t):
    """(H, Dn, E) from their definitions in mpmath (incomplete gamma / quadrature)."""
    a, b, g, t = map(mp.mpf, (a, b, gamma, t))
    if g == 0:
        c = a + b
        h = mp.e ** (-c * t)
        dn = (1 - mp.e ** (-c * t)) / c if c > 0 else t
        e = -mp.e ** (-b * t) * ((1 - mp.e ** (-a * t)) / a if a > 0 else t)
        return h, dn, e
    nu = b / g
    s = 1 - nu
    tau = (1 - mp.e ** (-g * t)) / g
    h = mp.e ** (-b * t - a * tau)
    e = -mp.e ** (-b * t) * ((1 - mp.e ** (-a * tau)) / a if a > 0 else tau)
    if a == 0:
        dn = mp.e ** (-b * t) * ((1 - mp.e ** (-s * g * t)) / (s * g) if s != 0 else t)
        return h, dn, e
    z0 = a / g
    z1 = z0 * mp.e ** (-g * t)
    if z0 - z1 < 1:  # short interval: direct quadrature is exact to working precision
        integral = mp.quad(lambda x: x ** (-nu) * mp.e ** (-x), [z1, z0])
    elif s == 0:
        integral = mp.e1(z1) - mp.e1(z0)
    else:
        integral = mp.gammainc(s, z1, z0)
    return h, mp.e ** z1 * z1 ** nu * integral / a, e


@pytest.mark.parametrize("degree", [1, 2, 3, 6])
@pytest.mark.parametrize("lam,lr", [(0.0, 1.0), (1e-6, 0.1), (1e-3, 2.0), (1.0, 0.5)])
def test_mode_coefficients_match_mpmath(degree, lam, lr):
    b, gamma = lr * lam * degree, 2 * (degree - 1) * lr * lam
    # rates spanning null modes, the series regime (z0 <= 2) and the closed/quadrature regimes
    a = np.array([0.0, 1e-12, 1e-7, 1e-4, 1e-2, 0.3, 3.0]) * lr
    horizon = 50 / (lr * lam) if lam > 0 else 1e4
    t = np.concatenate([[0.0], np.geomspace(1e-6, horizon, 9)])
    h, dn, e, decay = mode_coefficients(a, t, b=b, gamma=gamma)
    for j, tj in enumerate(t):
        assert decay[j] == pytest.approx(float(mp.e ** (-mp.mpf(b) * tj)), rel=1e-13)
        for i, ai in enumerate(a):
            ref = [float(v) for v in _reference(ai, b, gamma, tj)]
            for got, want in zip((h[j, i], dn[j, i], e[j, i]), ref):
                assert got == pytest.approx(want, rel=1e-11, abs=0.0), (ai, tj)


def test_scaled_upper_gamma_all_branches():
    z = np.array([1e-200, 1e-8, 0.3, 1.0, 1.5, 20.0, 50.0, 50.5, 1e3, 1e7])
    for s in (0.0, 0.25, 0.4):
        got = scaled_upper_gamma(s, z)
        for zi, gi in zip(z, got):
            zi = mp.mpf(zi)
            upper = mp.e1(zi) if s == 0 else mp.gammainc(s, zi)
            want = mp.e ** zi * zi ** (1 - s) * upper
            assert gi == pytest.approx(float(want), rel=1e-13)


def test_limits_at_infinity():
    # degree >= 2, lam > 0: everything decays to zero; degree 1: ridge fixed point 1/(a + b).
    h, dn, e, decay = mode_coefficients(np.array([0.0, 0.5]), np.array([np.inf]), b=0.03, gamma=0.04)
    assert np.all(h == 0) and np.all(dn == 0) and np.all(e == 0) and decay[0] == 0
    h, dn, e, _ = mode_coefficients(np.array([0.0, 0.5]), np.array([np.inf]), b=0.01, gamma=0.0)
    np.testing.assert_allclose(dn[0], [1 / 0.01, 1 / 0.51])
    np.testing.assert_array_equal(h[0], [0.0, 0.0])


def test_phi():
    x = np.array([-50.0, -1e-20, 0.0, 1e-12, 2.0])
    want = [float(mp.expm1(mp.mpf(v)) / mp.mpf(v)) if v != 0 else 1.0 for v in x]
    np.testing.assert_allclose(phi(x), want, rtol=1e-15)
