"""Kernels: fc_relu against closed forms and wide networks; empirical_ntk against jax.jacobian."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import kernels, models


def test_fc_relu_depth_one_is_linear_kernel(x64):
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(5, 7)), rng.normal(size=(4, 7))
    nngp, ntk = kernels.fc_relu(x1, x2, depth=1, w_std=1.3, b_std=0.4)
    want = 1.3 ** 2 * x1 @ x2.T / 7 + 0.4 ** 2
    np.testing.assert_allclose(nngp, want, rtol=1e-14)
    np.testing.assert_allclose(ntk, want, rtol=1e-14)


def test_fc_relu_depth_two_closed_form(x64):
    # Two-layer ReLU NTK (Jacot et al.): Theta = q' + w^2 (pi - theta)/(2 pi) q, written out directly.
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    _, ntk = kernels.fc_relu(x1, x2, depth=2)
    for i in range(3):
        for j in range(4):
            q11, q22 = 2 * x1[i] @ x1[i] / 5, 2 * x2[j] @ x2[j] / 5
            q12 = 2 * x1[i] @ x2[j] / 5
            th = np.arccos(q12 / np.sqrt(q11 * q22))
            q_next = 2 * (np.sqrt(q11 * q22) * (np.sin(th) + (np.pi - th) * np.cos(th))) / (2 * np.pi)
            want = q_next + 2 * (np.pi - th) / (2 * np.pi) * q12
            assert float(ntk[i, j]) == pytest.approx(want, rel=1e-12)


def test_fc_relu_symmetry_homogeneity_and_psd(x64):
    x = np.random.default_rng(2).normal(size=(12, 6))
    nngp, ntk = kernels.fc_relu(x, depth=4)
    np.testing.assert_array_equal(ntk, ntk.T)
    assert np.linalg.eigvalsh(np.asarray(ntk)).min() > -1e-12 * float(ntk.max())
    # Without bias the ReLU kernels are homogeneous of degree 1 in each input's squared norm.
    z = np.random.default_rng(3).normal(size=(5, 6))
    _, ntk_scaled = kernels.fc_relu(3.0 * x, z, depth=4)
    _, ntk_xz = kernels.fc_relu(x, z, depth=4)
    np.testing.assert_allclose(ntk_scaled, 3.0 * np.asarray(ntk_xz), rtol=1e-12)
    # x2 = None gives the values of x2 = x1; the diagonal is exact there (angle 0), while with
    # x2 = x1 passed explicitly its angle carries O(sqrt(eps)) round-off.
    _, ntk_cross = kernels.fc_relu(x, x, depth=4)
    np.testing.assert_allclose(ntk, ntk_cross, rtol=1e-7)


def test_fc_relu_bad_input():
    with pytest.raises(ValueError, match=r"^depth=0: .*must be an int >= 1"):
        kernels.fc_relu(np.ones((2, 3)), depth=0)
    with pytest.raises(TypeError, match=r"^depth=2.0: .*must be an int, not float"):
        kernels.fc_relu(np.ones((2, 3)), depth=2.0)
    with pytest.raises(ValueError, match="same feature size"):
        kernels.fc_relu(np.ones((2, 3)), np.ones((2, 4)), depth=2)


def _mlp(params, x):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


def test_empirical_ntk_equals_jacobian_product(x64):
    key = jax.random.PRNGKey(0)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    params = {"w1": jax.random.normal(k1, (4, 9)), "b1": jnp.zeros(9),
              "w2": jax.random.normal(k2, (9, 3)), "b2": jnp.ones(3)}
    x1, x2 = jax.random.normal(k3, (7, 4)), jax.random.normal(k4, (5, 4))

    def jac_matrix(x):  # [n*k, P] from jax.jacobian
        j = jax.jacobian(_mlp)(params, x)
        return jnp.concatenate([v.reshape(x.shape[0] * 3, -1)
                                for v in jax.tree_util.tree_leaves(j)], axis=1)

    j1, j2 = jac_matrix(x1), jac_matrix(x2)
    full = (j1 @ j2.T).reshape(7, 3, 5, 3)
    want = jnp.einsum("icjc->ij", full) / 3
    for bs in (None, 2, 3, 7):
        got = kernels.empirical_ntk(_mlp, params, x1, x2, batch_size=bs)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    full11 = (j1 @ j1.T).reshape(7, 3, 7, 3)
    want11 = jnp.einsum("icjc->ij", full11) / 3
    for bs in (None, 3):
        got = kernels.empirical_ntk(_mlp, params, x1, batch_size=bs)
        np.testing.assert_allclose(got, want11, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="batch_size"):
        kernels.empirical_ntk(_mlp, params, x1, batch_size=0)


def test_empirical_ntk_of_wide_relu_net_approaches_fc_relu():
    """Relative error shrinks like width^-1/2 (fit over widths 256..4096, 3 seeds each)."""
    depth = 3
    x = np.random.default_rng(5).normal(size=(5, 8)).astype(np.float32)
    _, ntk_inf = kernels.fc_relu(x, depth=depth)
    widths = [256, 1024, 4096]
    errors = []
    for width in widths:
        model = models.fully_connected(depth=depth, width=width, out_dim=1)
        apply_fn = models.apply_fn(model)
        errs = []
        for seed in range(3):
            params, _ = model.init(jax.random.PRNGKey(seed), (8,))
            ntk = kernels.empirical_ntk(apply_fn, params, x)
            errs.append(np.linalg.norm(ntk - ntk_inf) / np.linalg.norm(ntk_inf))
        errors.append(np.mean(errs))
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert errors[0] > errors[1] > errors[2]
    assert -0.8 <= slope <= -0.3, (errors, slope)
    assert errors[-1] < 0.1


def test_kernel_fn_adapter():
    x = np.random.default_rng(0).normal(size=(4, 3))
    fn = kernels.fc_relu_fn(depth=2)
    k_tr, k_te = kernels.ntk_matrices(fn, x, x[:2])
    np.testing.assert_allclose(k_te, k_tr[:2], rtol=1e-6)
    with pytest.raises(TypeError, match="return \\(nngp, ntk\\)"):
        kernels.ntk_matrices(lambda a, b=None: np.eye(len(a)), x)
    with pytest.raises(TypeError, match="callable"):
        kernels.as_kernel_fn(3)


# ---- conv_relu -------------------------------------------------------------------------------


def _imgs(seed, n, shape=(5, 4, 3)):
    return np.random.default_rng(seed).normal(size=(n,) + shape)


@pytest.mark.parametrize("depth", [1, 3])
def test_conv_relu_with_1x1_filters_is_the_mean_of_per_position_fc_kernels(x64, depth):
    """f = 1: every position is an independent FC net on the pixel vector x(p), and the flatten
    readout averages their kernels: conv_relu = mean_p fc_relu(x[:, p], x'[:, p], depth + 1)."""
    x1, x2 = _imgs(0, 4), _imgs(1, 3)
    got = kernels.conv_relu(x1, x2, depth=depth, filter_size=1, w_std=1.2, b_std=0.3)
    per_position = [kernels.fc_relu(x1[:, h, w], x2[:, h, w], depth=depth + 1, w_std=1.2,
                                    b_std=0.3) for h in range(5) for w in range(4)]
    for i in range(2):
        want = np.mean([np.asarray(k[i]) for k in per_position], axis=0)
        np.testing.assert_allclose(got[i], want, rtol=1e-13)
    # 1x1 images: the same for both readouts
    one = kernels.conv_relu(x1[:, :1, :1], x2[:, :1, :1], depth=depth, filter_size=1,
                            readout="gap")[1]
    np.testing.assert_allclose(one, kernels.fc_relu(x1[:, 0, 0], x2[:, 0, 0], depth=depth + 1)[1],
                               rtol=1e-13)


def test_conv_relu_depth_zero_closed_forms(x64):
    x1, x2 = _imgs(2, 4), _imgs(3, 2)
    nngp, ntk = kernels.conv_relu(x1, x2, depth=0, w_std=1.5, b_std=0.5)
    want = 1.5 ** 2 * x1.reshape(4, -1) @ x2.reshape(2, -1).T / 60 + 0.25
    np.testing.assert_allclose(nngp, want, rtol=1e-13)
    np.testing.assert_allclose(ntk, want, rtol=1e-13)  # readout ntk = w^2 * 0 + nngp
    nngp, _ = kernels.conv_relu(x1, x2, depth=0, readout="gap", w_std=1.5, b_std=0.5)
    want = 1.5 ** 2 * x1.mean(axis=(1, 2)) @ x2.mean(axis=(1, 2)).T / 3 + 0.25
    np.testing.assert_allclose(nngp, want, rtol=1e-13)


def test_conv_relu_symmetry_psd_blocks_and_scaling(x64):
    x = _imgs(4, 9, (5, 5, 1))
    for readout in ("flatten", "gap"):
        # block_size 3: 3 x 3 blocks, of which only the upper ones are computed
        nngp, ntk = (np.asarray(a) for a in kernels.conv_relu(x, depth=2, readout=readout,
                                                              block_size=3))
        np.testing.assert_array_equal(ntk, ntk.T)
        assert np.linalg.eigvalsh(ntk).min() > -1e-12 * ntk.max()
        assert np.linalg.eigvalsh(nngp).min() > -1e-12 * nngp.max()
        # one block, and x2 = x1 given (its diagonal angles carry round-off, see conv_relu)
        np.testing.assert_allclose(kernels.conv_relu(x, depth=2, readout=readout)[1], ntk,
                                   rtol=1e-12)
        np.testing.assert_allclose(kernels.conv_relu(x, x, depth=2, readout=readout,
                                                     block_size=3)[1], ntk, rtol=1e-7)
        # bias-free ReLU kernels are homogeneous of degree 1 in each input
        z = x[:3] + 0.5
        scaled, plain = (np.asarray(kernels.conv_relu(a, z, depth=2, readout=readout,
                                                      block_size=3)[1]) for a in (3.0 * x, x))
        np.testing.assert_allclose(scaled, 3.0 * plain, rtol=1e-12)


def test_conv_relu_bad_input():
    x = np.ones((2, 4, 4, 1))
    for kwargs, error, match in (
            ({"depth": -1}, ValueError, "depth=-1: the number of conv layers must be an int >= 0"),
            ({"depth": 1.0}, TypeError, "depth=1.0"),
            ({"depth": 1, "filter_size": 2}, ValueError, "filter_size=2: must be odd"),
            ({"depth": 1, "readout": "max"}, ValueError, "readout='max': unknown readout"),
            ({"depth": 1, "block_size": 0}, ValueError, "block_size=0")):
        with pytest.raises(error, match=match):
            kernels.conv_relu(x, **kwargs)
    with pytest.raises(ValueError, match=r"add a channel axis"):
        kernels.conv_relu(np.ones((2, 4, 4)), depth=1)
    with pytest.raises(ValueError, match=r"same \[H, W, C\]"):
        kernels.conv_relu(x, np.ones((2, 4, 5, 1)), depth=1)


@pytest.mark.parametrize("readout, channels", [("flatten", (32, 512)), ("gap", (64, 1024))])
def test_empirical_ntk_of_wide_cnn_approaches_conv_relu(readout, channels):
    """``models.cnn(pool=None, bias=False, parameterization="ntk")`` is conv_relu's network: its
    empirical NTK at initialization converges to it, the relative error falling like
    channels^-1/2 (16x the channels: ~4x smaller; mean over 4 seeds). Measured (4 seeds):
    flatten 0.22 / 0.049 at 32 / 512 channels, GAP 0.176 / 0.047 at 64 / 1024 (GAP's readout
    averages only ``channels`` features, so it needs more of them)."""
    x = _imgs(5, 4, (5, 5, 2)).astype(np.float32)
    _, ntk_inf = kernels.conv_relu(x, depth=2, readout=readout)
    errors = []
    for c in channels:
        model = models.cnn(depth=2, width=c, out_dim=1, pool=None, bias=False,
                           parameterization="ntk",
                           global_pool=None if readout == "flatten" else "avg")
        apply_fn = models.apply_fn(model)
        errs = []
        for seed in range(4):
            params, _ = model.init(jax.random.PRNGKey(seed), (5, 5, 2))
            with jax.default_matmul_precision("highest"):
                ntk = kernels.empirical_ntk(apply_fn, params, x)
            errs.append(np.linalg.norm(ntk - ntk_inf) / np.linalg.norm(ntk_inf))
        errors.append(np.mean(errs))
    assert 2.0 < errors[0] / errors[1] < 8.0, errors
    assert errors[1] < 0.1, errors
