"""The MSE solver against independent references: high-precision integration of the full system
(no eigendecomposition), kernel ridge regression, matrix exponentials, and its own limits."""
import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import solve_ivp

from l2theory import kernels, solvers


def _problem(seed=0, n=6, m=3, d=4, k=2, depth=2, singular=False):
    rng = np.random.default_rng(seed)
    x, x_test = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    if singular:  # linear kernel with n > d: rank d
        k_tr, k_te = x @ x.T / d, x_test @ x.T / d
    else:
        _, k_tr = kernels.fc_relu(x, depth=depth)
        _, k_te = kernels.fc_relu(x_test, x, depth=depth)
    y = rng.normal(size=(n, k))
    f0, f0_test = rng.normal(size=(n, k)), rng.normal(size=(m, k))
    return np.asarray(k_tr), np.asarray(k_te), y, f0, f0_test


def _integrate(k_tr, k_te, y, f0, f0_test, *, lam, lr, degree, t_eval):
    """Direct Radau integration of the train+test system in the variable g = e^{bt} f (gamma > 0),
    which removes the exponential shrinkage so relative accuracy survives late times."""
    n, k = y.shape
    m = k_te.shape[0]
    b, gamma = lr * lam * degree, 2 * (degree - 1) * lr * lam
    beta = b if gamma > 0 else 0.0
    kk = np.vstack([k_tr, k_te])  # rows: train then test; columns: train
    big = np.zeros((n + m, n + m))
    big[:, :n] = kk

    def rhs(t, g_flat):
        g = g_flat.reshape(n + m, k)
        resid = g[:n] - np.exp(beta * t) * y  # e^{beta t} (f - y)
        return (-(lr / n) * np.exp(-gamma * t) * (kk @ resid) - (b - beta) * g).ravel()

    def jac(t, g_flat):
        j = -(lr / n) * np.exp(-gamma * t) * big - (b - beta) * np.eye(n + m)
        return np.kron(j, np.eye(k))

    g0 = np.vstack([f0, f0_test]).ravel()
    sol = solve_ivp(rhs, (0, t_eval[-1]), g0, method="Radau", t_eval=t_eval, jac=jac,
                    rtol=1e-12, atol=1e-15)
    assert sol.status == 0, sol.message
    f = sol.y.T.reshape(len(t_eval), n + m, k) * np.exp(-beta * t_eval)[:, None, None]
    return f[:, :n], f[:, n:]


def _rel(a, b):
    """Relative error per time slice (norm over points and outputs)."""
    a, b = np.asarray(a), np.asarray(b)
    num = np.linalg.norm((a - b).reshape(len(a), -1), axis=1)
    den = np.linalg.norm(b.reshape(len(b), -1), axis=1)
    return num / den


@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("lam,lr", [(1e-6, 0.1), (1e-6, 2.0), (1e-4, 1.0), (1e-2, 0.1),
                                    (1e-2, 2.0), (1.0, 0.5), (1.0, 2.0)])
def test_mse_matches_high_precision_integration(x64, degree, lam, lr):
    k_tr, k_te, y, f0, f0_test = _problem(seed=degree, depth=max(degree, 2))
    t = np.concatenate([[0.0], np.geomspace(1e-3, 50 / (lr * lam), 24)])
    flow = solvers.L2GradientFlow(k_tr, y, lam=lam, lr=lr, degree=degree)
    f_train, f_test = flow.predict(t, k_te, f0_train=f0, f0_test=f0_test)
    ref_train, ref_test = _integrate(k_tr, k_te, y, f0, f0_test, lam=lam, lr=lr, degree=degree,
                                     t_eval=t)
    assert f_train.dtype == np.float64
    assert np.max(_rel(f_train, ref_train)) <= 1e-8
    assert np.max(_rel(f_test, ref_test)) <= 1e-8
    if degree >= 2:  # late times: the outputs shrank by many orders of magnitude
        assert np.linalg.norm(ref_train[-1]) < 1e-20 * np.linalg.norm(ref_train[1])


def test_singular_kernel(x64):
    k_tr, k_te, y, f0, f0_test = _problem(n=10, d=3, singular=True)
    assert np.linalg.matrix_rank(k_tr) == 3
    t = np.concatenate([[0.0], np.geomspace(1e-2, 5e3, 12)])
    for degree in (1, 3):
        flow = solvers.L2GradientFlow(k_tr, y, lam=1e-2, lr=1.0, degree=degree)
        f_train, f_test = flow.predict(t, k_te, f0_train=f0, f0_test=f0_test)
        ref_train, ref_test = _integrate(k_tr, k_te, y, f0, f0_test, lam=1e-2, lr=1.0,
                                         degree=degree, t_eval=t)
        assert np.max(_rel(f_train, ref_train)) <= 1e-8
        assert np.max(_rel(f_test, ref_test)) <= 1e-8


@pytest.mark.parametrize("lam", [1e-3, 0.1])
def test_degree_one_converges_to_kernel_ridge(x64, lam):
    k_tr, k_te, y, f0, f0_test = _problem(n=8)
    n = len(y)
    ridge = k_tr @ np.linalg.solve(k_tr + n * lam * np.eye(n), y)
    ridge_test = k_te @ np.linalg.solve(k_tr + n * lam * np.eye(n), y)
    flow = solvers.L2GradientFlow(k_tr, y, lam=lam, lr=0.7, degree=1)
    for t in (np.inf, 200 / (0.7 * lam)):
        f_train, f_test = flow.predict(t, k_te, f0_train=f0, f0_test=f0_test)
        np.testing.assert_allclose(f_train, ridge, rtol=1e-10, atol=1e-12)
        # test points keep a trace of f0_test only through e^{-lr lam t} -> 0
        np.testing.assert_allclose(f_test, ridge_test, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("degree", [1, 3])
def test_lam_zero_is_kernel_gradient_flow(x64, degree):
    k_tr, k_te, y, f0, _ = _problem(n=7)
    lr, n = 0.3, len(y)
    flow = solvers.L2GradientFlow(k_tr, y, lam=0.0, lr=lr, degree=degree)
    t = np.array([0.0, 0.5, 7.0, 300.0])
    f_train, _ = flow.predict(t, f0_train=f0)
    for ti, fi in zip(t, f_train):
        want = y + scipy.linalg.expm(-(lr / n) * k_tr * ti) @ (f0 - y)
        np.testing.assert_allclose(fi, want, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("degree", [1, 3])
def test_neural_tangents_conventions_t_none_and_scalar_f0(x64, degree):
    """As neural-tangents' ``predict_fn``: ``t=None`` is ``t -> infinity`` (no time axis) and a
    scalar initial output is broadcast to every point and output."""
    k_tr, k_te, y, _, _ = _problem(n=8)
    flow = solvers.L2GradientFlow(k_tr, y, lam=1e-2, lr=0.5, degree=degree)
    inf_train, inf_test = flow.predict(np.inf, k_te, f0_train=0.3, f0_test=-0.2)
    none_train, none_test = flow.predict(None, k_te, f0_train=0.3, f0_test=-0.2)
    np.testing.assert_array_equal(none_train, inf_train)
    np.testing.assert_array_equal(none_test, inf_test)
    t = np.array([0.0, 3.0, 40.0])
    f_train, f_test = flow.predict(t, k_te, f0_train=0.3, f0_test=-0.2)
    full_train, full_test = flow.predict(t, k_te, f0_train=np.full(y.shape, 0.3),
                                         f0_test=np.full((len(k_te), y.shape[1]), -0.2))
    np.testing.assert_array_equal(f_train, full_train)
    np.testing.assert_array_equal(f_test, full_test)
    np.testing.assert_allclose(f_train[0], 0.3, rtol=1e-13)


@pytest.mark.parametrize("degree", [1, 3])
def test_lam_zero_at_infinite_time_interpolates(x64, degree):
    """Without L2 the flow ends at the kernel interpolant, on test points too:
    ``f*(inf) = f0* + k*(X) K^-1 (y - f0)`` (this was nan before: e^{-0 * inf})."""
    k_tr, k_te, y, f0, f0_test = _problem(n=8)
    flow = solvers.L2GradientFlow(k_tr, y, lam=0.0, lr=0.5, degree=degree)
    f_train, f_test = flow.predict(np.inf, k_te, f0_train=f0, f0_test=f0_test)
    np.testing.assert_allclose(f_train, y, rtol=1e-9, atol=1e-10)
    want = f0_test + k_te @ np.linalg.solve(k_tr, y - f0)
    np.testing.assert_allclose(f_test, want, rtol=1e-8, atol=1e-10)


def test_infinite_ensemble_mean_and_shapes(x64):
    k_tr, k_te, y, _, _ = _problem()
    flow = solvers.L2GradientFlow(k_tr, y[:, 0], lam=1e-2, lr=1.0, degree=3)
    f_train, f_test = flow.predict(5.0, k_te)  # scalar t: no time axis; f0 = 0
    assert f_train.shape == (6, 1) and f_test.shape == (3, 1)
    zero = np.zeros((6, 1))
    np.testing.assert_allclose(f_train, flow.predict(5.0, f0_train=zero)[0], rtol=1e-14)
    f_train, f_test = flow.predict(np.array([0.0, 1.0]))
    assert f_train.shape == (2, 6, 1) and f_test is None
    np.testing.assert_array_equal(f_train[0], 0.0)


def test_float32_default_without_x64():
    k_tr, k_te, y, f0, f0_test = _problem()
    flow = solvers.L2GradientFlow(k_tr, y, lam=1e-2, lr=1.0, degree=2)
    f_train, f_test = flow.predict([0.0, 10.0], k_te, f0_train=f0, f0_test=f0_test)
    assert f_train.dtype == np.float32 and f_test.dtype == np.float32
    np.testing.assert_allclose(f_train[0], f0, rtol=1e-5, atol=1e-5)


def test_roundoff_negative_eigenvalues_are_clipped_and_negative_kernels_rejected(x64):
    rng = np.random.default_rng(3)
    v = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    y = rng.normal(size=(5, 1))
    k_roundoff = v @ np.diag([2.0, 1.0, 0.5, 0.0, -1e-13]) @ v.T
    k_roundoff = (k_roundoff + k_roundoff.T) / 2
    f, _ = solvers.L2GradientFlow(k_roundoff, y, lam=0.1, lr=1.0, degree=2).predict([1.0, 10.0])
    assert np.all(np.isfinite(f))
    k_bad = v @ np.diag([2.0, 1.0, 0.5, 0.0, -1e-3]) @ v.T
    k_bad = (k_bad + k_bad.T) / 2
    with pytest.raises(ValueError, match="negative eigenvalue"):
        solvers.L2GradientFlow(k_bad, y, lam=0.1, lr=1.0, degree=2).predict(1.0)


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(lam=-1.0), ValueError, r"^lam=-1.0: the L2 coefficient must be a finite number >= 0"),
    (dict(lam="a"), TypeError, r"^lam='a': the L2 coefficient must be a real number, not str"),
    (dict(lr=0.0), ValueError, r"^lr=0.0: the learning rate must be a finite number > 0"),
    (dict(degree=0), ValueError, r"^degree=0: .* must be an int >= 1"),
    (dict(degree=1.5), TypeError, r"^degree=1.5: .* must be an int, not float"),
    (dict(loss="hinge"), ValueError, r"^loss='hinge': unknown loss; valid: 'mse', 'xent'"),
    (dict(k_train_train=np.ones((3, 4))), ValueError, "square"),
    (dict(k_train_train=np.array([[1.0, 0.5], [0.2, 1.0]])), ValueError, "not symmetric"),
    (dict(k_train_train=np.array([[np.nan, 0.0], [0.0, 1.0]])), ValueError, "non-finite"),
    (dict(k_train_train=np.array([["a", "b"], ["c", "d"]])), TypeError, "numeric"),
    (dict(y_train=np.ones((3, 1))), ValueError, r"^y_train=<array of shape \(3, 1\)>: must "
                                                r"have shape"),
])
def test_bad_construction_arguments(kwargs, err, match):
    args = dict(k_train_train=np.eye(2), y_train=np.ones((2, 1)), lam=0.1, lr=1.0, degree=2)
    args.update(kwargs)
    with pytest.raises(err, match=match):
        solvers.L2GradientFlow(**args)


def test_bad_predict_arguments():
    flow = solvers.L2GradientFlow(np.eye(2), np.ones((2, 1)), lam=0.1, degree=2)
    with pytest.raises(ValueError, match=r"^t=\[-1.0, 1.0\]: must be >= 0"):
        flow.predict([-1.0, 1.0])
    with pytest.raises(ValueError, match="f0_train=.*must have shape"):
        flow.predict(1.0, f0_train=np.ones((3, 1)))
    with pytest.raises(ValueError, match="k_test_train=.*must have shape"):
        flow.predict(1.0, k_test_train=np.ones((4, 3)))
    with pytest.raises(ValueError, match="f0_test=.*must have shape"):
        flow.predict(1.0, k_test_train=np.ones((4, 2)), f0_test=np.ones((2, 1)))
    with pytest.raises(ValueError, match="without k_test_train"):
        flow.predict(1.0, f0_test=np.ones((2, 1)))


def test_float64_without_x64_is_refused():
    with pytest.raises(ValueError, match="jax_enable_x64"):
        solvers.L2GradientFlow(np.eye(2), np.ones((2, 1)), lam=0.1, degree=2, dtype=np.float64)
