"""Cross-entropy flow, linearized network and predictions, against direct integration of their
defining ODEs (written here independently of the solvers' reformulations)."""
import re

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.special import softmax

from l2theory import kernels, solvers


def _setup(seed=0, n=8, m=4, k=3, depth=3):
    rng = np.random.default_rng(seed)
    x, x_test = rng.normal(size=(n, 5)), rng.normal(size=(m, 5))
    k_tr = np.asarray(kernels.fc_relu(x, depth=depth)[1])
    k_te = np.asarray(kernels.fc_relu(x_test, x, depth=depth)[1])
    y = np.eye(k)[rng.integers(0, k, n)]
    return k_tr, k_te, y, 0.3 * rng.normal(size=(n, k)), 0.3 * rng.normal(size=(m, k))


def _direct(k_tr, k_te, y, f0, f0_test, t, *, lr, lam, degree, grad, linearized=False):
    """Integrate df/dt, df*/dt as written in docs/conventions.md. For the wide network the state is
    ``e^{b t} f`` (b = lr lam L: d(e^{bt} f)/dt = e^{bt} (df/dt + b f)), so that tolerances stay
    relative while f shrinks exponentially."""
    n, k = y.shape
    m = k_te.shape[0]
    gamma = 0.0 if linearized else 2 * (degree - 1) * lr * lam
    b = 0.0 if linearized else lr * lam * degree

    def rhs(time, z):
        z = z * np.exp(-b * time)
        f, fs = z[: n * k].reshape(n, k), z[n * k:].reshape(m, k)
        g = grad(f, y)
        if linearized:
            shrink, shrink_s = lr * lam * (f - f0 + degree * f0), lr * lam * (fs - f0_test + degree * f0_test)
        else:
            shrink, shrink_s = lr * lam * degree * f, lr * lam * degree * fs
        df = -(lr / n) * np.exp(-gamma * time) * k_tr @ g - shrink
        dfs = -(lr / n) * np.exp(-gamma * time) * k_te @ g - shrink_s
        dz = np.concatenate([df.ravel(), dfs.ravel()]) + b * z
        return dz * np.exp(b * time)

    z0 = np.concatenate([f0.ravel(), f0_test.ravel()])
    sol = solve_ivp(rhs, (0, t[-1]), z0, t_eval=t, method="DOP853", rtol=1e-11, atol=1e-13)
    assert sol.status == 0
    z = sol.y.T * np.exp(-b * t)[:, None]
    return z[:, : n * k].reshape(len(t), n, k), z[:, n * k:].reshape(len(t), m, k)


def _assert_close_per_time(got, want, tol):
    """Relative error per time slice (norm over points and outputs) <= tol."""
    got, want = np.asarray(got), np.asarray(want)
    err = np.linalg.norm((got - want).reshape(len(want), -1), axis=1)
    assert np.all(err <= tol * np.linalg.norm(want.reshape(len(want), -1), axis=1)), err


def _xent_grad(f, y):
    return softmax(f, axis=1) - y


def _mse_grad(f, y):
    return f - y


@pytest.mark.parametrize("degree,lam,lr", [(1, 1e-2, 1.0), (2, 1e-2, 0.5), (3, 1e-3, 2.0), (4, 0.1, 1.0)])
def test_xent_matches_direct_integration(x64, degree, lam, lr):
    k_tr, k_te, y, f0, f0_test = _setup(seed=degree)
    t = np.concatenate([[0.0], np.geomspace(0.1, 20 / (lr * lam), 15)])
    flow = solvers.L2GradientFlow(k_tr, y, lam=lam, lr=lr, degree=degree, loss="xent")
    f_train, f_test = flow.predict(t, k_te, f0_train=f0, f0_test=f0_test)
    ref_train, ref_test = _direct(k_tr, k_te, y, f0, f0_test, t, lr=lr, lam=lam, degree=degree,
                                  grad=_xent_grad)
    _assert_close_per_time(f_train, ref_train, 1e-7)
    _assert_close_per_time(f_test, ref_test, 1e-7)


@pytest.mark.parametrize("loss,grad", [("mse", _mse_grad), ("xent", _xent_grad)])
@pytest.mark.parametrize("degree", [1, 3])
def test_linearized_matches_direct_integration(x64, loss, grad, degree):
    k_tr, k_te, y, f0, f0_test = _setup(seed=7)
    lam, lr = 1e-2, 1.0
    t = np.concatenate([[0.0], np.geomspace(0.1, 30 / (lr * lam), 12)])
    flow = solvers.LinearizedL2Flow(k_tr, y, f0, lam=lam, lr=lr, degree=degree, loss=loss)
    f_train, f_test = flow.predict(t, k_te, f0_test=f0_test)
    ref_train, ref_test = _direct(k_tr, k_te, y, f0, f0_test, t, lr=lr, lam=lam, degree=degree,
                                  grad=grad, linearized=True)
    _assert_close_per_time(f_train, ref_train, 1e-7)
    _assert_close_per_time(f_test, ref_test, 1e-7)


def test_linearized_has_no_late_time_collapse(x64):
    """The contrast the paper draws: the infinite-width degree-L flow collapses to 0, the
    linearized network settles at a ridge-like fixed point."""
    k_tr, k_te, y, f0, f0_test = _setup(seed=3)
    lam, lr, degree = 1e-2, 1.0, 3
    t = np.array([1e4 / (lr * lam)])
    lin, _ = solvers.LinearizedL2Flow(k_tr, y, f0, lam=lam, lr=lr, degree=degree).predict(t)
    wide, _ = solvers.L2GradientFlow(k_tr, y, lam=lam, lr=lr, degree=degree).predict(t, f0_train=f0)
    assert np.linalg.norm(wide) < 1e-100
    # fixed point of df/dt = -(lr/n) K (f - y) - lr lam (f + (L-1) f0) = 0
    n = len(y)
    fixed = np.linalg.solve(k_tr / n + lam * np.eye(n), k_tr @ y / n - lam * (degree - 1) * f0)
    np.testing.assert_allclose(lin[0], fixed, rtol=1e-9, atol=1e-12)
    assert np.linalg.norm(lin) > 0.1


def test_peak_of_test_loss_matches_brute_force(x64):
    k_tr, k_te, y, _, _ = _setup(seed=11, n=30, m=20, k=2)
    rng = np.random.default_rng(0)
    y = rng.normal(size=(30, 2))
    y_test = np.asarray(k_te) @ np.linalg.solve(k_tr + 0.1 * np.eye(30), y) + 0.3 * rng.normal(size=(20, 2))
    flow = solvers.L2GradientFlow(k_tr, y, lam=1e-3, lr=1.0, degree=3)
    pk = solvers.peak(flow, k_te, y_test, metric="loss")
    dense = np.geomspace(pk.t_star / 3, pk.t_star * 3, 4001)
    _, f_test = flow.predict(dense, k_te)
    brute = solvers.test_metric(f_test, y_test, "loss")
    assert pk.value <= brute.min() + 1e-12
    assert pk.t_star == pytest.approx(dense[np.argmin(brute)], rel=2e-3)
    assert pk.c == pytest.approx(1e-3 * 1.0 * pk.t_star)
    # accuracy: the first grid time of the maximum
    acc = solvers.peak(flow, k_te, y_test, metric="accuracy")
    assert acc.value == acc.curve.max() and acc.t_star == acc.t[np.argmax(acc.curve)]
    # the repr shows the scalars and the arrays' size and range, not 400 numbers each
    text = repr(acc)
    assert text.startswith("Peak(t_star=") and len(text) < 160, text
    assert "t=<400 times " in text and "curve=<400 values " in text


def _repr_fields(text: str) -> dict[str, str]:
    """``{field: shown value}`` of a repr ``Name(a=1.2, b=<400 values 0.1..2>, ...)``."""
    return dict(re.findall(r"(\w+)=(<[^>]*>|[^,)]*)", text[text.index("(") + 1:-1]))


def _numbers(text: str) -> list[float]:
    """The numbers written in a shown value (``0.1..2``: a range of two)."""
    return [float(x) for x in
            re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?", text.replace("..", " "))]


def test_peak_repr_is_short_and_shows_the_key_numbers():
    t = np.geomspace(0.1, 1e6, 400)
    curve = np.linspace(0.1, 0.83, 400)
    pk = solvers.Peak(1234.5, 0.83123, 0.12, t, curve)
    text = repr(pk)
    assert str(pk) == text and text.startswith("Peak(") and len(text) < 120, text
    shown = _repr_fields(text)
    assert set(shown) == set(solvers.Peak._fields), text
    for name in ("t_star", "value", "c"):  # each scalar, to 4 significant digits
        assert _numbers(shown[name]) == [pytest.approx(getattr(pk, name), rel=1e-3)], text
    for name in ("t", "curve"):  # each array: its size and range, not its 400 numbers
        a = getattr(pk, name)
        assert _numbers(shown[name]) == [len(a), pytest.approx(a.min(), rel=1e-3),
                                         pytest.approx(a.max(), rel=1e-3)], text
    # None shown as None; non-finite entries counted and kept out of the range
    other = repr(pk._replace(c=None, curve=np.r_[np.nan, np.full(399, 0.5)]))
    shown = _repr_fields(other)
    assert shown["c"] == "None" and "nan" not in shown["curve"].lower(), other
    assert sorted(_numbers(shown["curve"])) == [0.5, 1, 400], other
    assert pk.t is t and pk[3] is t  # still a NamedTuple of the arrays


def test_c_and_lam_opt():
    assert solvers.c_from_t_star(500.0, lam=1e-3, lr=0.2) == pytest.approx(0.1)
    assert solvers.lam_opt(0.1, lr=0.2, budget=5000) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match=r"^budget=0: must be a finite number > 0"):
        solvers.lam_opt(0.1, lr=0.2, budget=0)
    with pytest.raises(ValueError, match="lam = 0 has no natural time scale"):
        solvers.default_times(0.0, 1.0)


def test_predict_test_equals_predict(x64):
    k_tr, k_te, y, f0, f0_test = _setup(seed=5)
    t = np.array([0.0, 3.0, 300.0])
    for flow in (solvers.L2GradientFlow(k_tr, y, lam=1e-2, lr=1.0, degree=2),
                 solvers.LinearizedL2Flow(k_tr, y, f0, lam=1e-2, lr=1.0, degree=2)):
        kwargs = {} if isinstance(flow, solvers.LinearizedL2Flow) else {"f0_train": f0}
        _, want = flow.predict(t, k_te, f0_test=f0_test, **kwargs)
        got = flow.predict_test(t, k_te, f0_test=f0_test, **kwargs)
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"^k_test_train=None: predict_test needs the test-train kernel"):
        flow.predict_test(t, None)
