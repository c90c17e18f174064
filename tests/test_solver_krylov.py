"""method="krylov" (block Lanczos) against the exact eigh solver, its error estimate against its
true error, method="auto" (the default: the measured faster path, and every caller that relied
on eigh's properties), the method/integrator arguments, and the tiled kernel evaluator."""
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import _x64, data, kernels, solvers


def _rel(a, b):
    """Relative error per time slice (norm over points and outputs); 0 where both are 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    num = np.linalg.norm((a - b).reshape(len(b), -1), axis=1)
    den = np.linalg.norm(b.reshape(len(b), -1), axis=1)
    return np.where(num == 0, 0.0, num / np.where(den == 0, 1.0, den))


def _psd(seed, n, *, decay=1.5, rank=None):
    """Random PSD kernel with eigenvalues ~ i^-decay (zeros beyond ``rank``)."""
    rng = np.random.default_rng(seed)
    v = np.linalg.qr(rng.normal(size=(n, n)))[0]
    evals = n * np.arange(1, n + 1, dtype=float) ** -decay
    if rank is not None:
        evals[rank:] = 0.0
    k = (v * evals) @ v.T
    return (k + k.T) / 2, v, evals


def _test_kernel(v, evals, m, seed):
    """``[m, n]`` test-train block of a PSD joint kernel: rows in the span of K's range."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, len(evals))) @ (v * np.sqrt(evals)) @ v.T / np.sqrt(len(evals))


@pytest.fixture(scope="module")
def images():
    """600 training and 60 test images of the shipped subset, standardized, flattened."""
    ds = data.standardize(data.load("fashion_mnist_subset"))
    flat = lambda x: np.asarray(x, np.float64).reshape(len(x), -1)  # noqa: E731
    y = data.one_hot(ds.y_train, 10, centered=True).astype(np.float64)
    return flat(ds.x_train[:600]), flat(ds.x_test[:60]), y[:600]


@pytest.mark.parametrize("degree,lam,lr", [(1, 1e-2, 1.0), (2, 1e-3, 0.5), (3, 1e-2, 2.0),
                                           (5, 0.1, 1.0), (1, 0.0, 1.0), (3, 0.0, 0.3)])
def test_krylov_matches_eigh_on_random_psd_kernels(x64, degree, lam, lr):
    n, m = 80, 9
    k_tr, v, evals = _psd(degree, n)
    k_te = _test_kernel(v, evals, m, seed=10 + degree)
    rng = np.random.default_rng(degree)
    y, f0, f0_test = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
    scale = 1.0 / (lr * lam) if lam > 0 else 1e3 / lr
    t = np.concatenate([[0.0], np.geomspace(1e-3, 30 * scale, 25), [1e6 * scale]]
                       + ([[np.inf]] if lam > 0 else []))
    want = solvers.L2GradientFlow(k_tr, y, lam=lam, lr=lr, degree=degree).predict(
        t, k_te, f0_train=f0, f0_test=f0_test)
    flow = solvers.L2GradientFlow(k_tr, y, lam=lam, lr=lr, degree=degree, method="krylov",
                                  tol=1e-10)
    got = flow.predict(t, k_te, f0_train=f0, f0_test=f0_test)
    assert got[0].dtype == np.float64 and got[0].shape == (len(t), n, 3)
    assert np.max(_rel(got[0], want[0])) <= 1e-8
    assert np.max(_rel(got[1], want[1])) <= 1e-8
    np.testing.assert_allclose(got[0][0], f0, rtol=1e-12, atol=1e-13)  # t = 0: the start block
    assert flow.info["converged"] and flow.info["error_estimate"] <= 1e-10


@pytest.mark.parametrize("depth,lam", [(3, 1e-3), (4, 1e-2)])
def test_krylov_matches_eigh_on_fashion_mnist_kernels(x64, images, depth, lam):
    """Real NTKs: a basis far smaller than n reaches 1e-9, train and test, with and without f0."""
    x, x_test, y = images
    _, k_tr = kernels.fc_relu(x, depth=depth)
    _, k_te = kernels.fc_relu(x_test, x, depth=depth)
    t = np.concatenate([[0.0], np.geomspace(1.0, 50 / lam, 40), [np.inf]])
    f0 = 0.1 * np.random.default_rng(depth).normal(size=y.shape)
    for f0_train in (None, f0):
        want = solvers.L2GradientFlow(k_tr, y, lam=lam, degree=depth).predict(
            t, k_te, f0_train=f0_train)
        flow = solvers.L2GradientFlow(k_tr, y, lam=lam, degree=depth, method="krylov", tol=1e-9)
        got = flow.predict(t, k_te, f0_train=f0_train)
        assert np.max(_rel(got[0], want[0])) <= 1e-9
        assert np.max(_rel(got[1], want[1])) <= 1e-9
        assert flow.info["basis_size"] <= len(y) / 2, flow.info  # not the whole space


def test_error_estimate_bounds_the_true_error(x64, images):
    """Stopped early (by tol, or by max_iter short of tol), the true error per time stays below
    the reported estimate (up to round-off), and the estimate below tol when converged."""
    x, x_test, y = images
    _, k_tr = kernels.fc_relu(x, depth=3)
    _, k_te = kernels.fc_relu(x_test, x, depth=3)
    truncated = 0
    for lam in (1e-3, 1e-2):
        t = np.concatenate([[0.0], np.geomspace(1.0, 50 / lam, 30)])
        want = solvers.L2GradientFlow(k_tr, y, lam=lam, degree=3).predict(t, k_te)
        for tol, max_iter in ((1e-3, None), (1e-6, None), (1e-12, 5), (1e-12, 7), (1e-12, 9)):
            flow = solvers.L2GradientFlow(k_tr, y, lam=lam, degree=3, method="krylov", tol=tol,
                                          max_iter=max_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # max_iter short of tol
                got = flow.predict(t, k_te)
            info = flow.info
            assert info["converged"] == (max_iter is None)
            assert info["converged"] == (info["error_estimate"] <= tol)
            for true, est in ((_rel(got[0], want[0]), info["error_estimate_train"]),
                              (_rel(got[1], want[1]), info["error_estimate_test"])):
                assert np.all(true <= est + 1e-12), (lam, tol, max_iter, true.max(), est.max())
                truncated += np.sum((true > 1e-10) & (est < 1e-2))
    assert truncated >= 5  # the estimate was checked where truncation error shows, not round-off


def test_singular_kernel_and_invariant_space(x64):
    """Rank-4 kernel: the Krylov space is invariant after a few steps; then the result is exact."""
    n, m = 40, 6
    k_tr, v, evals = _psd(3, n, rank=4)
    k_te = _test_kernel(v, evals, m, seed=1)
    rng = np.random.default_rng(0)
    y, f0 = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    t = np.concatenate([[0.0], np.geomspace(1e-2, 1e5, 15), [np.inf]])
    for degree in (1, 3):
        want = solvers.L2GradientFlow(k_tr, y, lam=1e-2, degree=degree).predict(t, k_te, f0)
        flow = solvers.L2GradientFlow(k_tr, y, lam=1e-2, degree=degree, method="krylov")
        got = flow.predict(t, k_te, f0)
        assert flow.info["invariant"] and flow.info["basis_size"] <= 4 + 4
        assert np.max(_rel(got[0], want[0])) <= 1e-10
        assert np.max(_rel(got[1], want[1])) <= 1e-10


def test_limits_at_infinite_time(x64):
    """t = inf: kernel ridge regression for degree 1, zero for degree >= 2 (lam > 0)."""
    n = 50
    k_tr, v, evals = _psd(5, n, decay=1.0)
    k_te = _test_kernel(v, evals, 7, seed=2)
    y = np.random.default_rng(1).normal(size=(n, 2))
    lam = 1e-2
    ridge = np.linalg.solve(k_tr + n * lam * np.eye(n), y)
    flow = solvers.L2GradientFlow(k_tr, y, lam=lam, degree=1, method="krylov", tol=1e-12)
    f_train, f_test = flow.predict(np.inf, k_te)
    np.testing.assert_allclose(f_train, k_tr @ ridge, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(f_test, k_te @ ridge, rtol=1e-10, atol=1e-12)
    wide = solvers.L2GradientFlow(k_tr, y, lam=lam, degree=3, method="krylov")
    np.testing.assert_array_equal(wide.predict(np.inf, k_te)[1], 0.0)


def test_basis_is_reused_and_extended(x64, images):
    x, x_test, y = images
    _, k_tr = kernels.fc_relu(x, depth=3)
    _, k_te = kernels.fc_relu(x_test, x, depth=3)
    flow = solvers.L2GradientFlow(k_tr, y, lam=1e-2, degree=3, method="krylov", tol=1e-9)
    early = np.array([0.1, 0.3, 1.0])
    flow.predict(early)
    steps_early = flow.info["iterations"]
    late = np.geomspace(1.0, 1e4, 20)
    got = flow.predict(late, k_te)  # needs more: the same basis is extended
    assert flow.info["iterations"] > steps_early
    want = solvers.L2GradientFlow(k_tr, y, lam=1e-2, degree=3).predict(late, k_te)
    assert np.max(_rel(got[1], want[1])) <= 1e-9
    steps = flow.info["iterations"]
    again = flow.predict_test(late, k_te)  # nothing new to do
    assert flow.info["iterations"] == steps
    assert np.max(_rel(again, got[1])) <= 1e-12


def test_matvec_callable_and_device_array(x64):
    n = 60
    k_tr, v, evals = _psd(7, n)
    k_te = _test_kernel(v, evals, 5, seed=3)
    y = np.random.default_rng(2).normal(size=(n, 2))
    t = np.geomspace(0.1, 1e3, 12)
    want = solvers.L2GradientFlow(k_tr, y, lam=1e-2, degree=2).predict(t, k_te)
    k_dev = jnp.asarray(k_tr)
    calls = []

    def matvec(block):
        calls.append(block.shape)
        return k_dev @ block

    for kernel in (matvec, k_dev):
        flow = solvers.L2GradientFlow(kernel, y, lam=1e-2, degree=2, method="krylov", tol=1e-10)
        got = flow.predict(t, jnp.asarray(k_te))
        assert np.max(_rel(got[0], want[0])) <= 1e-8
        assert np.max(_rel(got[1], want[1])) <= 1e-8
    assert calls and all(shape == (n, 2) for shape in calls)
    skew = np.triu(np.ones((n, n)), 1)
    with pytest.raises(ValueError, match="not symmetric"):
        solvers.L2GradientFlow(lambda b: (k_dev + 0.1 * skew) @ b, y, lam=1e-2, degree=2,
                               method="krylov").predict(t)
    with pytest.raises(ValueError, match="not symmetric"):
        solvers.L2GradientFlow(k_dev + 0.1 * skew, y, lam=1e-2, degree=2, method="krylov")
    k_neg = k_tr - 2 * evals[5] * np.eye(n)  # clearly negative eigenvalues
    with pytest.raises(ValueError, match="negative eigenvalue"):
        solvers.L2GradientFlow(k_neg, y, lam=1e-2, degree=2, method="krylov").predict(t)


def test_float32_default_and_nonconvergence_warning():
    n = 60
    k_tr, v, evals = _psd(9, n)
    y = np.random.default_rng(4).normal(size=(n, 2))
    t = np.geomspace(0.1, 1e3, 10)
    flow = solvers.L2GradientFlow(k_tr, y, lam=1e-2, degree=2, method="krylov")
    f_train, _ = flow.predict(t)
    assert f_train.dtype == np.float32 and flow.info["tol"] == 1e-4 and flow.info["converged"]
    with _x64.x64():
        want = solvers.L2GradientFlow(k_tr, y, lam=1e-2, degree=2).predict(t)[0]
    assert np.max(_rel(f_train, want)) <= 1e-4
    short = solvers.L2GradientFlow(k_tr, y, lam=1e-2, degree=2, method="krylov", max_iter=2)
    with pytest.warns(RuntimeWarning, match="estimated relative error"):
        short.predict(t)
    assert not short.info["converged"] and short.info["iterations"] == 2


def test_zero_targets_and_outputs(x64):
    k_tr, _, _ = _psd(1, 12)
    flow = solvers.L2GradientFlow(k_tr, np.zeros((12, 2)), lam=0.1, degree=2, method="krylov")
    f_train, f_test = flow.predict([0.0, 1.0, np.inf], np.ones((3, 12)))
    np.testing.assert_array_equal(f_train, 0.0)
    np.testing.assert_array_equal(f_test, 0.0)


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_linearized_flow_takes_the_same_arguments(x64, loss):
    k_tr, v, evals = _psd(2, 30)
    k_te = _test_kernel(v, evals, 4, seed=5)
    rng = np.random.default_rng(5)
    y = np.eye(3)[rng.integers(0, 3, 30)]
    f0 = 0.3 * rng.normal(size=(30, 3))
    t = np.geomspace(0.1, 300.0, 8)
    want = solvers.LinearizedL2Flow(k_tr, y, f0, lam=1e-2, degree=3, loss=loss).predict(t, k_te)
    if loss == "mse":
        flow = solvers.LinearizedL2Flow(k_tr, y, f0, lam=1e-2, degree=3, method="krylov",
                                        tol=1e-11)
        got = flow.predict(t, k_te)
        assert flow.info["converged"]
        assert np.max(_rel(got[0], want[0])) <= 1e-9
        assert np.max(_rel(got[1], want[1])) <= 1e-9
    rk45 = solvers.LinearizedL2Flow(k_tr, y, f0, lam=1e-2, degree=3, loss=loss,
                                    integrator="RK45")
    assert rk45._base.integrator == "RK45" and rk45._base.method == "eigh"
    np.testing.assert_allclose(rk45.predict(t, k_te)[1], want[1], rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match=r"^method='RK45': names a cross-entropy integrator; "
                                         r".*pass integrator='RK45'"):
        solvers.LinearizedL2Flow(k_tr, y, f0, lam=1e-2, degree=3, loss=loss, method="RK45")


def test_method_and_integrator_arguments():
    k, y = np.eye(3), np.eye(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flow = solvers.L2GradientFlow(k, y, lam=0.1, degree=2, loss="xent", integrator="Radau")
    assert (flow.method, flow.integrator) == ("eigh", "Radau")
    for kwargs, match in [
        (dict(method="lanczos"),
         r"method='lanczos': unknown method; valid: 'auto' .*, 'eigh' .*, 'krylov'"),
        (dict(method="LSODA"), "method='LSODA': names a cross-entropy integrator; method "
                               "picks the MSE solver; pass integrator='LSODA'"),
        (dict(method="RK45", integrator="DOP853"), "pass integrator='RK45'"),
        (dict(integrator="euler"), "integrator='euler': unknown integrator"),
        (dict(method="krylov", loss="xent"), "method='krylov': solves the MSE flow"),
        (dict(method="eigh", tol=1e-6), "tol=1e-06: only method='krylov' takes tol"),
        (dict(tol=1e-6, loss="xent"), "tol=1e-06: only method='krylov' takes tol"),
        (dict(method="eigh", max_iter=5), "max_iter=5: only method='krylov'"),
        (dict(method="krylov", max_iter=0), "max_iter=0: the number of block Lanczos steps must"),
        (dict(method="krylov", tol=0.0), r"tol=0.0: the target relative error must be .* > 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            solvers.L2GradientFlow(k, y, lam=0.1, degree=2, **kwargs)


def test_kernel_matrix_in_tiles_equals_the_whole(x64):
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=(20, 6)), rng.normal(size=(8, 6))
    fn = kernels.fc_relu_fn(depth=3)
    nngp, ntk = kernels.fc_relu(x, depth=3)
    tiled = kernels.kernel_matrix(fn, x, get=("nngp", "ntk"), block_size=8)  # tiles 8, 8, 4
    assert tiled[1].dtype == np.float64 and tiled[1].shape == (20, 20)
    for got, want in zip(tiled, (nngp, ntk)):
        np.testing.assert_array_equal(got, got.T)  # mirrored tiles: exactly symmetric
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(kernels.kernel_matrix(fn, z, x, block_size=8),
                               kernels.fc_relu(z, x, depth=3)[1], rtol=1e-13, atol=1e-13)
    k32 = kernels.kernel_matrix(fn, x, block_size=8, dtype=np.float32)
    assert k32.dtype == np.float32
    np.testing.assert_allclose(k32, ntk, rtol=1e-5, atol=1e-6 * np.abs(ntk).max())
    for kwargs, match in [(dict(get="both"), "get='both'"), (dict(block_size=0), "block_size=0")]:
        with pytest.raises(ValueError, match=match):
            kernels.kernel_matrix(fn, x, **kwargs)


def test_kernel_operator_equals_the_matrix(x64):
    """``op @ V`` recomputes the kernel in tiles: equal to the stored matrix times V, symmetric
    (upper tiles used twice) or not, for a vector and a block; float32 by choice."""
    rng = np.random.default_rng(1)
    x, z = rng.normal(size=(20, 6)), rng.normal(size=(8, 6))
    v = rng.normal(size=(20, 3))
    fn = kernels.fc_relu_fn(depth=3)
    _, k_xx = kernels.fc_relu(x, depth=3)
    _, k_zx = kernels.fc_relu(z, x, depth=3)
    for x1, x2, want in ((x, None, k_xx), (z, x, k_zx)):
        op = kernels.kernel_operator(fn, x1, x2, block_size=8)  # tiles of 8, 8, 4 rows/columns
        assert op.shape == want.shape and op.dtype == np.float64
        np.testing.assert_allclose(op @ v, want @ v, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(op(v[:, 0]), want @ v[:, 0], rtol=1e-12, atol=1e-12)
    nngp = kernels.kernel_operator(fn, z, x, get="nngp", block_size=8)
    np.testing.assert_allclose(nngp @ v, kernels.fc_relu(z, x, depth=3)[0] @ v, rtol=1e-12)
    op32 = kernels.kernel_operator(fn, x, dtype=np.float32)
    assert (op32 @ v).dtype == np.float32
    np.testing.assert_allclose(op32 @ v, k_xx @ v, rtol=1e-4, atol=1e-4 * np.abs(k_xx @ v).max())
    assert "shape=(20, 20)" in repr(op32)
    with pytest.raises(ValueError, match=r"v=.*must have shape \[20\] or \[20, c\]"):
        op32 @ np.ones((9, 2))
    with pytest.raises(ValueError, match="get=.*one matrix per operator"):
        kernels.kernel_operator(fn, x, get=("nngp", "ntk"))
    with pytest.raises(ValueError, match="x2=.*x1's shape"):
        kernels.kernel_operator(fn, x, np.ones((3, 5)))


def test_test_kernel_operator_and_replace_share_the_work(x64, images):
    """A test-kernel operator (never stored): the same outputs as the matrix, with eigh and
    krylov; krylov applies it once to the basis, and flows of ``replace`` (other lam) reuse the
    basis and its products when they need no more of it."""
    x, x_test, y = images
    fn = kernels.fc_relu_fn(depth=3)
    _, k_tr = kernels.fc_relu(x, depth=3)
    k_te = kernels.kernel_matrix(fn, x_test, x)
    op = kernels.kernel_operator(fn, x_test, x, block_size=256)
    calls = []

    class Counted:  # the operator, counting its applications
        shape = op.shape

        def __matmul__(self, v):
            calls.append(v.shape)
            return op @ v

    counted = Counted()
    tau = np.geomspace(1e-3, 10.0, 30)  # lam lr t
    exact = solvers.L2GradientFlow(k_tr, y, lam=1e-3, degree=3, method="eigh")
    np.testing.assert_allclose(exact.predict_test(tau / 1e-3, op),
                               exact.predict_test(tau / 1e-3, k_te), rtol=1e-10, atol=1e-12)
    flow = solvers.L2GradientFlow(k_tr, y, lam=1e-3, degree=3, method="krylov", tol=1e-9)
    for lam in (1e-3, 1e-2, 1e-1):  # the hardest (smallest lam: longest times) first
        flow = flow.replace(lam=lam)
        got = flow.predict_test(tau / lam, counted)
        want = exact.replace(lam=lam).predict_test(tau / lam, k_te)
        true = _rel(got, want)
        assert flow.info["converged"] and np.max(true) <= 1e-9, (lam, flow.info)
        assert np.all(true <= flow.info["error_estimate_test"] + 1e-12)
        if lam == 1e-3:
            steps = flow.info["iterations"]
            assert flow.info["test_products"] == len(calls) == 1
    assert flow.info["iterations"] == steps and len(calls) == 1  # nothing new for lam 1e-2, 1e-1
    assert flow.info["basis_size"] <= len(y) / 2
    # both outputs at once; an operator for cross-entropy is refused
    f_train, f_test = flow.replace(lam=1e-2).predict(tau / 1e-2, op)
    want = exact.replace(lam=1e-2).predict(tau / 1e-2, k_te)
    assert max(np.max(_rel(f_train, want[0])), np.max(_rel(f_test, want[1]))) <= 1e-9
    xent = solvers.L2GradientFlow(k_tr[:20, :20], np.eye(10)[np.arange(20) % 10], lam=1e-2,
                                  degree=3, loss="xent")
    with pytest.raises(TypeError, match="k_test_train=.*MSE flow only"):
        xent.predict([1.0], kernels.kernel_operator(fn, x_test, x[:20]))
    with pytest.raises(ValueError, match=r"k_test_train=.*shape \(m, n\) with n = 600"):
        flow.predict([1.0], kernels.kernel_operator(fn, x_test, x[:20]))
    with pytest.raises(ValueError, match="tol=1e-06: only method='krylov' takes tol"):
        exact.replace(tol=1e-6)


def test_auto_takes_the_measured_faster_path_says_why_and_keeps_eigh_where_it_is_needed(
        x64, images, monkeypatch):
    """Below the crossover auto is eigh, above it krylov with the very results of
    method="krylov"; where the kernel does not decay (lam = 0, degree 1: slow Krylov) it is eigh
    again, also after replace; t=None, repeated calls with one test kernel, cross-entropy and a
    matvec callable work as before."""
    from l2theory._theory import gradient_flow

    x_tr, x_te, y = images
    k_tr = np.asarray(kernels.fc_relu(x_tr, depth=3)[1])
    k_te = np.asarray(kernels.fc_relu(x_te, x_tr, depth=3)[1])
    t = np.geomspace(1.0, 1e5, 40)
    small = solvers.L2GradientFlow(k_tr, y, lam=1e-3, degree=3)
    assert small.method == "eigh" and small.info["method"] == "eigh"
    assert small.info["why"].startswith("auto: n = 600 < 1500, where the eigendecomposition")
    exact = small.predict(t, k_te)
    again = small.predict(t, k_te)  # the same test kernel object: its product is reused
    for a, b in zip(exact, again):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    monkeypatch.setitem(gradient_flow.AUTO_KRYLOV_MIN_N, "float64", 500)
    auto = solvers.L2GradientFlow(k_tr, y, lam=1e-3, degree=3)
    assert auto.method == "krylov" and "n = 600 >= 500" in auto.info["why"]
    chosen = auto.predict(t, k_te)
    assert auto.info["converged"] and auto.info["method"] == "krylov" and "why" in auto.info
    requested = solvers.L2GradientFlow(k_tr, y, lam=1e-3, degree=3, method="krylov")
    for a, b, e in zip(chosen, requested.predict(t, k_te), exact):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # the chosen method's
        assert np.max(_rel(a, e)) < 1e-7

    # no kernel decay: eigh (exact at t = inf), also when replace gets there
    for flow in (auto.replace(lam=0.0), auto.replace(degree=1),
                 solvers.L2GradientFlow(k_tr, y, lam=1e-3, degree=1)):
        assert flow.method == "eigh" and "no kernel decay" in flow.info["why"]
    ridge = auto.replace(degree=1).predict(None)[0]
    expected = k_tr @ np.linalg.solve(k_tr + len(y) * 1e-3 * np.eye(len(y)), y)
    np.testing.assert_allclose(ridge, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(auto.replace(lam=1e-2).predict(t, k_te)[1],
                               small.replace(lam=1e-2).predict(t, k_te)[1], rtol=1e-6,
                               atol=1e-9)
    assert auto.replace(lam=1e-2).method == "krylov"
    # tol counts when auto takes krylov; a matvec callable is krylov; xent is integrated
    assert solvers.L2GradientFlow(k_tr, y, lam=1e-3, degree=3, tol=1e-10).tol == 1e-10
    matvec = solvers.L2GradientFlow(lambda v: jnp.asarray(k_tr) @ v, y, lam=1e-3, degree=3)
    assert matvec.method == "krylov" and "callable" in matvec.info["why"]
    xent = solvers.L2GradientFlow(np.eye(3), np.eye(3), lam=0.1, degree=2, loss="xent")
    assert "integrated numerically" in xent.info["why"]
