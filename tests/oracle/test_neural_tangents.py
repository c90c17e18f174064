"""neural-tangents as an independent oracle (pinned environment, see tests/run.sh).

neural-tangents 0.6.5 imports only with jax 0.4.23 / numpy < 2, so these tests run in a separate
virtual environment that tests/run.sh builds and caches; in the main environment they skip.
"""
import numpy as np
import pytest

nt = pytest.importorskip("neural_tangents", reason="neural-tangents not importable here: "
                         "run in the pinned oracle environment (tests/run.sh builds it)")
from neural_tangents import stax  # noqa: E402

from l2theory import kernels, solvers  # noqa: E402

pytestmark = pytest.mark.oracle


def _stax_relu(depth, w_std=2 ** 0.5, b_std=None):
    layers = [stax.Dense(512, W_std=w_std, b_std=b_std)]
    for _ in range(depth - 1):
        layers += [stax.Relu(), stax.Dense(512, W_std=w_std, b_std=b_std)]
    return stax.serial(*layers)[2]


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_fc_relu_equals_stax(x64, depth):
    rng = np.random.default_rng(depth)
    x1, x2 = rng.normal(size=(9, 6)), rng.normal(size=(5, 6))
    kernel_fn = _stax_relu(depth)
    nngp, ntk = kernels.fc_relu(x1, x2, depth=depth)
    ref = kernel_fn(x1, x2, ("nngp", "ntk"))
    assert ntk.dtype == np.float64
    np.testing.assert_allclose(nngp, ref[0], rtol=1e-10, atol=0)
    np.testing.assert_allclose(ntk, ref[1], rtol=1e-10, atol=0)
    # x2 = None: off-diagonal entries agree to 1e-10. On the diagonal the angle is exactly 0;
    # l2theory uses that, neural-tangents computes atan2(sqrt(q11 q22 - q12^2), q12) from rounded
    # inputs, which leaves O(sqrt(eps)) ~ 1e-8 relative error on some diagonal entries. The
    # diagonal is checked against its closed form instead: q' = w^2 q / 2, Theta' = q' + w^2/2 Theta.
    nngp, ntk = (np.asarray(a) for a in kernels.fc_relu(x1, None, depth=depth))
    ref = [np.asarray(a) for a in kernel_fn(x1, None, ("nngp", "ntk"))]
    off = ~np.eye(len(x1), dtype=bool)
    np.testing.assert_allclose(nngp[off], ref[0][off], rtol=1e-10, atol=0)
    np.testing.assert_allclose(ntk[off], ref[1][off], rtol=1e-10, atol=0)
    np.testing.assert_allclose(np.diag(ntk), np.diag(ref[1]), rtol=1e-7)
    q = theta = 2.0 * np.sum(x1 * x1, axis=1) / x1.shape[1]
    for _ in range(depth - 1):
        q = 2.0 * q / 2  # w_std^2 E[relu(u)^2] = w_std^2 q / 2
        theta = q + 2.0 / 2 * theta  # + w_std^2 E[relu'(u)^2] Theta, E[relu'^2] = 1/2
    np.testing.assert_allclose(np.diag(nngp), q, rtol=1e-14)
    np.testing.assert_allclose(np.diag(ntk), theta, rtol=1e-14)


def test_fc_relu_with_bias_equals_stax(x64):
    x1 = np.random.default_rng(0).normal(size=(7, 4))
    x2 = np.random.default_rng(1).normal(size=(3, 4))
    nngp, ntk = kernels.fc_relu(x1, x2, depth=3, w_std=1.5, b_std=0.3)
    ref = _stax_relu(3, w_std=1.5, b_std=0.3)(x1, x2, ("nngp", "ntk"))
    np.testing.assert_allclose(nngp, ref[0], rtol=1e-10)
    np.testing.assert_allclose(ntk, ref[1], rtol=1e-10)


@pytest.mark.parametrize("degree", [1, 3])
def test_lam_zero_solver_equals_gradient_descent_mse(x64, degree):
    """neural-tangents' flow is df/dt = -(learning_rate / y.size) K (f - y) (mean over all n*k
    entries); ours is -(lr / n) K (f - y), so learning_rate = lr * k."""
    rng = np.random.default_rng(1)
    n, m, k, lr = 12, 5, 3, 0.7
    x, x_test = rng.normal(size=(n, 4)), rng.normal(size=(m, 4))
    _, k_tr = kernels.fc_relu(x, depth=3)
    _, k_te = kernels.fc_relu(x_test, x, depth=3)
    y, f0, f0_test = rng.normal(size=(n, k)), rng.normal(size=(n, k)), rng.normal(size=(m, k))
    t = np.array([0.0, 0.3, 4.0, 60.0, 2000.0])
    ours = solvers.L2GradientFlow(k_tr, y, lam=0.0, lr=lr, degree=degree)
    f_train, f_test = ours.predict(t, k_te, f0_train=f0, f0_test=f0_test)
    predict_fn = nt.predict.gradient_descent_mse(k_tr, y, learning_rate=lr * k)
    ref_train, ref_test = predict_fn(t, f0, f0_test, k_te)
    np.testing.assert_allclose(f_train, ref_train, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(f_test, ref_test, rtol=1e-9, atol=1e-11)
    # t=None is t -> infinity and a scalar f0 is broadcast, in both (the argument orders differ)
    ours_inf = ours.predict(None, k_te, f0_train=0.5, f0_test=0.5)
    ref_inf = predict_fn(None, 0.5, 0.5, k_te)
    np.testing.assert_allclose(ours_inf[0], ref_inf[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours_inf[1], ref_inf[1], rtol=1e-8, atol=1e-10)


def test_neural_tangents_kernel_fn_accepted(x64):
    x = np.random.default_rng(2).normal(size=(6, 3))
    kernel_fn = _stax_relu(3)
    k_tr, k_te = kernels.ntk_matrices(kernel_fn, x, x[:2] + 0.1)
    ref_tr = kernels.fc_relu(x, depth=3)[1]
    ref_te = kernels.fc_relu(x[:2] + 0.1, x, depth=3)[1]
    np.testing.assert_allclose(k_tr, ref_tr, rtol=1e-7)  # diagonal round-off, see above
    np.testing.assert_allclose(k_te, ref_te, rtol=1e-10)
    nngp, ntk = kernels.as_kernel_fn(kernel_fn)(x, x[:2] + 0.1)
    np.testing.assert_allclose(ntk, kernels.fc_relu(x, x[:2] + 0.1, depth=3)[1], rtol=1e-10)
