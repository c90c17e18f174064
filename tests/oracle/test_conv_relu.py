"""``kernels.conv_relu`` against neural-tangents' ``stax`` kernels of the same CNN, in float64.

Runs in the pinned oracle environment (tests/run.sh); skips where neural-tangents does not import.
"""
import numpy as np
import pytest

nt = pytest.importorskip("neural_tangents", reason="neural-tangents not importable here: "
                         "run in the pinned oracle environment (tests/run.sh builds it)")
from neural_tangents import stax  # noqa: E402

from l2theory import kernels, solvers  # noqa: E402

pytestmark = pytest.mark.oracle


def _stax_cnn(depth, readout, *, filter_size=3, w_std=2 ** 0.5, b_std=0.0):
    layers = []
    for _ in range(depth):
        layers += [stax.Conv(16, (filter_size, filter_size), padding="SAME", W_std=w_std,
                             b_std=b_std), stax.Relu()]
    layers += [stax.Flatten() if readout == "flatten" else stax.GlobalAvgPool(),
               stax.Dense(10, W_std=w_std, b_std=b_std)]
    return stax.serial(*layers)[2]


def _images(seed, n, shape=(6, 5, 2)):
    return np.random.default_rng(seed).normal(size=(n,) + shape)


@pytest.mark.parametrize("readout", ["flatten", "gap"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_conv_relu_equals_stax(x64, depth, readout):
    x1, x2 = _images(depth, 7), _images(10 + depth, 4)
    kernel_fn = _stax_cnn(depth, readout)
    # block_size 3 splits x1 into blocks 3 + 3 + 1 (padded), so the blocking is exercised too
    nngp, ntk = kernels.conv_relu(x1, x2, depth=depth, readout=readout, block_size=3)
    ref = kernel_fn(x1, x2, ("nngp", "ntk"))
    assert ntk.dtype == np.float64
    np.testing.assert_allclose(nngp, ref[0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(ntk, ref[1], rtol=1e-12, atol=0)
    # x2 = None: off the diagonal to 1e-12; on it neural-tangents computes the angle between an
    # image's position and itself from rounded inputs (O(sqrt(eps)) ~ 1e-9 relative, see
    # test_neural_tangents.py), while l2theory uses that it is exactly 0.
    nngp, ntk = (np.asarray(a) for a in kernels.conv_relu(x1, depth=depth, readout=readout,
                                                          block_size=3))
    ref = [np.asarray(a) for a in kernel_fn(x1, None, ("nngp", "ntk"))]
    off = ~np.eye(len(x1), dtype=bool)
    np.testing.assert_array_equal(ntk, ntk.T)
    for got, want in zip((nngp, ntk), ref):
        np.testing.assert_allclose(got[off], want[off], rtol=1e-12, atol=0)
        np.testing.assert_allclose(np.diag(got), np.diag(want), rtol=1e-7, atol=0)


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_conv_relu_with_bias_wide_filter_and_depth_zero(x64, readout):
    x1, x2 = _images(0, 5, (7, 7, 3)), _images(1, 3, (7, 7, 3))
    for depth, f, w_std, b_std in ((2, 5, 1.3, 0.4), (0, 3, 1.1, 0.2), (1, 1, 2 ** 0.5, 0.0)):
        got = kernels.conv_relu(x1, x2, depth=depth, filter_size=f, readout=readout,
                                w_std=w_std, b_std=b_std)
        ref = _stax_cnn(depth, readout, filter_size=f, w_std=w_std, b_std=b_std)(
            x1, x2, ("nngp", "ntk"))
        for a, b in zip(got, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_conv_relu_fn_and_stax_kernel_fn_give_the_same_flow(x64):
    """The analytic kernel in the solver: same predictions as with neural-tangents' kernel_fn."""
    x, x_test = _images(3, 8, (5, 5, 1)), _images(4, 3, (5, 5, 1))
    y = np.random.default_rng(5).normal(size=(8, 2))
    ours = kernels.ntk_matrices(kernels.conv_relu_fn(depth=2, readout="gap"), x, x_test)
    ref = kernels.ntk_matrices(_stax_cnn(2, "gap"), x, x_test)
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-12)
    t = np.array([0.0, 5.0, 200.0])
    f = [solvers.L2GradientFlow(k_tt, y, lam=1e-2, lr=0.5, degree=3).predict(t, k_st)[1]
         for k_tt, k_st in (ours, ref)]
    np.testing.assert_allclose(f[0], f[1], rtol=1e-6, atol=1e-9)
