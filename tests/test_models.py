"""Tests for l2theory.models: shapes, parameter counts, homogeneity, parameterizations, BatchNorm,
mixed precision and jit behaviour."""

from __future__ import annotations

import contextlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import models

KEY = jax.random.PRNGKey(0)


@contextlib.contextmanager
def x64():
    """Enable float64 for the block, across jax versions (>= 0.6)."""
    if hasattr(jax, "enable_x64"):
        with jax.enable_x64(True):
            yield
        return
    exp = getattr(jax, "experimental", None)
    if exp is not None and hasattr(exp, "enable_x64"):
        with exp.enable_x64():
            yield
        return
    old = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)


def to64(tree):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)


def scale_tree(a, tree):
    return jax.tree_util.tree_map(lambda p: a * p, tree)


# ----------------------------------------------------------------------------- fully connected


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("bias", [False, True])
def test_fc_shapes_and_param_count(depth, bias):
    d_in, width, out_dim = 12, 7, 3
    model = models.fully_connected(depth=depth, width=width, out_dim=out_dim, bias=bias)
    params, state = model.init(KEY, (3, 4))
    assert state == {}
    sizes = [d_in] + [width] * (depth - 1) + [out_dim]
    expected = sum(a * b + (b if bias else 0) for a, b in zip(sizes[:-1], sizes[1:]))
    assert models.param_count(params) == expected
    out, new_state = model.apply(params, state, jnp.ones((5, 3, 4)), train=True)
    assert out.shape == (5, out_dim) and out.dtype == jnp.float32
    assert new_state == {}
    assert model.degree == (None if bias else depth)


@pytest.mark.parametrize("activation", ["relu", "linear", "identity"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_fc_homogeneity_and_euler(depth, activation):
    """f(a theta) = a^L f(theta) and theta . grad f = L f, in float64."""
    with x64():
        model = models.fully_connected(depth=depth, width=16, out_dim=3, activation=activation)
        assert model.degree == depth
        params, state = model.init(KEY, (5,))
        params = to64(params)
        x = jax.random.normal(jax.random.PRNGKey(1), (4, 5), jnp.float64)
        f = models.apply_fn(model, state)
        f0 = f(params, x)
        assert f0.dtype == jnp.float64
        for a in (0.3, 2.5):
            np.testing.assert_allclose(f(scale_tree(a, params), x), a**depth * f0,
                                       rtol=1e-12, atol=1e-12)
        # Euler: d/da f(a theta) at a = 1 equals theta . grad f.
        _, jvp = jax.jvp(lambda p: f(p, x), (params,), (params,))
        np.testing.assert_allclose(jvp, depth * f0, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    dict(bias=True, b_std=0.5),
    dict(activation="tanh"),
    dict(activation="gelu"),
])
def test_fc_not_homogeneous(kwargs):
    with x64():
        model = models.fully_connected(depth=2, width=16, out_dim=2, **kwargs)
        assert model.degree is None
        params, state = model.init(KEY, (5,))
        params = to64(params)
        x = jax.random.normal(jax.random.PRNGKey(1), (4, 5), jnp.float64)
        f = models.apply_fn(model, state)
        a = 2.0
        gap = jnp.max(jnp.abs(f(scale_tree(a, params), x) - a**2 * f(params, x)))
        assert gap > 1e-3


def test_fc_ntk_and_standard_same_function_class():
    """Rescaling W_ntk by w_std/sqrt(n) and b_ntk by b_std gives the standard net's function, and
    the two initializations have the same forward variance."""
    w_std, b_std, d_in, width = 1.3, 0.4, 20, 64
    ntk = models.fully_connected(depth=3, width=width, out_dim=4, bias=True,
                                 parameterization="ntk", w_std=w_std, b_std=b_std)
    std = models.fully_connected(depth=3, width=width, out_dim=4, bias=True,
                                 parameterization="standard", w_std=w_std, b_std=b_std)
    p_ntk, _ = ntk.init(KEY, (d_in,))
    p_std = {name: {"w": layer["w"] * w_std / math.sqrt(layer["w"].shape[0]),
                    "b": layer["b"] * b_std} for name, layer in p_ntk.items()}
    x = jax.random.normal(jax.random.PRNGKey(1), (6, d_in))
    np.testing.assert_allclose(models.apply_fn(ntk)(p_ntk, x), models.apply_fn(std)(p_std, x),
                               rtol=1e-5, atol=1e-5)

    # Forward variance at one input, over the many outputs of wide independent initializations
    # (independent keys, so this is a statement about the distributions, not the identity above).
    wide = dict(depth=3, width=1024, out_dim=1024, bias=True, w_std=w_std, b_std=b_std)
    x1 = jax.random.normal(jax.random.PRNGKey(2), (1, d_in))
    variances = []
    for parameterization, seed in (("ntk", 3), ("standard", 4)):
        model = models.fully_connected(parameterization=parameterization, **wide)
        f = jax.jit(models.apply_fn(model))
        second_moments = [
            jnp.mean(f(model.init(key, (d_in,))[0], x1) ** 2)
            for key in jax.random.split(jax.random.PRNGKey(seed), 8)
        ]
        variances.append(float(np.mean(second_moments)))
    assert abs(variances[0] / variances[1] - 1) < 0.2


def _relu_expectation(q):
    """E[relu(u) relu(v)] for (u, v) ~ N(0, q), elementwise over a covariance matrix q."""
    d = jnp.sqrt(jnp.diag(q))
    cos = jnp.clip(q / jnp.outer(d, d), -1.0, 1.0)
    theta = jnp.arccos(cos)
    return (jnp.sqrt(jnp.clip(jnp.outer(d, d) ** 2 - q**2, 0.0)) + (jnp.pi - theta) * q) / (
        2 * jnp.pi)


@pytest.mark.parametrize("b_std", [0.0, 0.3])
def test_fc_ntk_nngp_matches_infinite_width(b_std):
    """Empirical NNGP (average of f(x) f(x') over wide outputs) -> analytic kernel."""
    d_in, n_out, width = 6, 2048, 4096
    w_std = 2**0.5
    x = jax.random.normal(jax.random.PRNGKey(1), (4, d_in))
    q1 = w_std**2 * x @ x.T / d_in + b_std**2

    one = models.fully_connected(depth=1, width=1, out_dim=n_out, bias=True, b_std=b_std)
    p, _ = one.init(KEY, (d_in,))
    f = models.apply_fn(one)(p, x)
    # Depth 1: exact up to sampling noise ~ 1/sqrt(n_out) of the diagonal scale.
    np.testing.assert_allclose(f @ f.T / n_out, q1, atol=0.1 * float(jnp.max(jnp.diag(q1))))

    two = models.fully_connected(depth=2, width=width, out_dim=n_out, bias=True, b_std=b_std)
    p, _ = two.init(KEY, (d_in,))
    f = models.apply_fn(two)(p, x)
    q2 = w_std**2 * _relu_expectation(q1) + b_std**2
    np.testing.assert_allclose(f @ f.T / n_out, q2, atol=0.1 * float(jnp.max(jnp.diag(q2))))


def test_fc_first_layer_is_ntk_scaled():
    """With W ~ N(0,1), the first layer is exactly w_std/sqrt(d_in) x @ W + b_std b."""
    model = models.fully_connected(depth=1, width=1, out_dim=3, bias=True, w_std=1.7, b_std=0.2)
    params, _ = model.init(KEY, (8,))
    layer = params["dense_0"]
    x = jnp.arange(16.0).reshape(2, 8) / 10
    expected = 1.7 / math.sqrt(8) * x @ layer["w"] + 0.2 * layer["b"]
    np.testing.assert_allclose(models.apply_fn(model)(params, x), expected, rtol=1e-6)


@pytest.mark.parametrize("activation", ["relu", "linear", "identity", "tanh", "erf", "gelu"])
def test_fc_activations_run(activation):
    model = models.get("fc", depth=2, width=8, out_dim=2, activation=activation)
    params, state = model.init(KEY, (3,))
    out, _ = model.apply(params, state, jnp.ones((2, 3)), False)
    assert out.shape == (2, 2) and bool(jnp.all(jnp.isfinite(out)))


def test_fc_bf16_compute():
    model32 = models.fully_connected(depth=3, width=64, out_dim=4)
    model16 = models.fully_connected(depth=3, width=64, out_dim=4, dtype=jnp.bfloat16)
    params, state = model32.init(KEY, (10,))
    x = jax.random.normal(jax.random.PRNGKey(1), (8, 10))
    out32, _ = model32.apply(params, state, x, False)
    out16, _ = model16.apply(params, state, x, False)
    assert out16.dtype == jnp.float32
    assert jax.tree_util.tree_all(
        jax.tree_util.tree_map(lambda a: a.dtype == jnp.float32, params))
    scale = float(jnp.max(jnp.abs(out32)))
    np.testing.assert_allclose(out16, out32, atol=0.05 * scale)


# ----------------------------------------------------------------------------- errors


def test_unknown_model_name_lists_valid():
    with pytest.raises(ValueError, match="fully_connected") as info:
        models.get("mlp")
    assert "'fc'" in str(info.value) and "mlp" in str(info.value)


def test_unknown_activation_lists_valid():
    with pytest.raises(ValueError, match="activation") as info:
        models.fully_connected(depth=2, width=4, activation="sigmoid")
    for name in ("relu", "linear", "tanh", "erf", "gelu"):
        assert name in str(info.value)


def test_unknown_parameterization():
    with pytest.raises(ValueError, match="parameterization.*'ntk'.*'standard'"):
        models.fully_connected(depth=2, width=4, parameterization="mup")


@pytest.mark.parametrize("arg,value", [("depth", 0), ("width", 0), ("depth", -2), ("width", 2.5),
                                       ("out_dim", 0)])
def test_fc_bad_arguments_name_the_argument(arg, value):
    kwargs = dict(depth=2, width=4)
    kwargs[arg] = value
    with pytest.raises(ValueError, match=arg):
        models.fully_connected(**kwargs)


def test_train_must_be_python_bool():
    model = models.fully_connected(depth=2, width=4)
    params, state = model.init(KEY, (3,))
    with pytest.raises(TypeError, match="static"):
        model.apply(params, state, jnp.ones((1, 3)), jnp.array(True))


# ----------------------------------------------------------------------------- jit


def _count_traces(model):
    traces = []

    def apply(params, state, x, train):
        traces.append(train)
        return model.apply(params, state, x, train)

    return jax.jit(apply, static_argnames="train"), traces


def test_fc_jit_does_not_recompile():
    model = models.fully_connected(depth=3, width=8)
    params, state = model.init(KEY, (5,))
    fn, traces = _count_traces(model)
    for i in range(3):
        x = jax.random.normal(jax.random.PRNGKey(i), (4, 5))
        fn(params, state, x, train=True)
    assert len(traces) == 1
    fn(params, state, x, train=False)
    fn(params, state, x + 1, train=False)
    assert traces == [True, False]
