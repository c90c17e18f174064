"""Tests for l2theory.models: shapes, parameter counts, homogeneity, parameterizations, BatchNorm,
mixed precision and jit behaviour."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import models
from l2theory._x64 import x64

KEY = jax.random.PRNGKey(0)


def to64(tree):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)


def scale_tree(a, tree):
    return jax.tree_util.tree_map(lambda p: a * p, tree)


def jit_apply(model):
    """Jitted ``model.apply`` (one compilation is much faster than op-by-op on CPU)."""
    return jax.jit(model.apply, static_argnames="train")


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


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_fc_homogeneity_and_euler(depth, activation):
    """f(a theta) = a^L f(theta) and theta . grad f = L f, in float64."""
    with x64():
        model = models.fully_connected(depth=depth, width=16, out_dim=3, activation=activation)
        assert model.degree == depth
        params, state = model.init(KEY, (5,))
        params = to64(params)
        x = jax.random.normal(jax.random.PRNGKey(1), (4, 5), jnp.float64)
        f = jax.jit(models.apply_fn(model, state))
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
    np.testing.assert_allclose(models.apply_fn(model)(params, x), expected, rtol=1e-5, atol=1e-6)


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


# ----------------------------------------------------------------------------- registry


def test_every_family_name_builds_that_family_and_the_theory_reads_the_same_registry():
    """Each family's name, its aliases and an upper-case spelling build that family's network
    (its ``Model.name`` starts with the family's name), and the theory's family lookup of a
    ``TrainConfig`` gives the same family; ``wrn-D-K`` fixes depth and widen."""
    from l2theory._experiments import network_theory
    from l2theory.train import TrainConfig

    constructors = set()
    for fam in models.FAMILIES.values():
        constructors.add(fam.constructor)
        for name in (fam.name, *fam.aliases, fam.name.upper()):
            assert models.get(name).name.split("-")[0] == fam.name, name
            assert network_theory.family(TrainConfig(model=name)) == fam.name, name
    assert constructors == {models.fully_connected, models.cnn, models.wide_resnet}
    assert models.get("WRN-16-4").name == "wrn-16-4"
    assert network_theory.family(TrainConfig(model="wrn-16-4")) == "wrn"


def test_every_listed_activation_and_parameterization_is_accepted():
    for activation in models.ACTIVATIONS:
        for parameterization in models.PARAMETERIZATIONS:
            model = models.cnn(depth=1, width=2, activation=activation,
                               parameterization=parameterization)
            params, state = model.init(KEY, (4, 4, 1))
            out, _ = model.apply(params, state, jnp.ones((1, 4, 4, 1)), False)
            assert bool(jnp.all(jnp.isfinite(out))), (activation, parameterization)


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


@pytest.mark.parametrize("arg,value,error", [
    ("depth", 0, ValueError), ("width", 0, ValueError), ("depth", -2, ValueError),
    ("width", 2.5, TypeError), ("depth", True, TypeError), ("out_dim", 0, ValueError),
    ("w_std", "1", TypeError), ("b_std", -1.0, ValueError), ("bias", 1, TypeError)])
def test_fc_bad_arguments_name_the_argument(arg, value, error):
    kwargs = dict(depth=2, width=4)
    kwargs[arg] = value
    with pytest.raises(error, match=f"^{arg}={value!r}: "):
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


# ----------------------------------------------------------------------------- cnn


def test_cnn_shapes_and_param_count():
    model = models.cnn(depth=2, width=(4, 8), out_dim=10, kernel_size=3)
    params, state = model.init(KEY, (8, 8, 3))
    assert state == {} and model.degree is None
    assert models.param_count(params) == (27 * 4 + 4) + (36 * 8 + 8) + (8 * 10 + 10)
    out, _ = jit_apply(model)(params, state, jnp.ones((2, 8, 8, 3)), train=False)
    assert out.shape == (2, 10) and out.dtype == jnp.float32

    # Flattening head: two 2x2 poolings take 8x8 to 2x2, so the readout has 8*2*2 inputs.
    flat = models.cnn(depth=2, width=(4, 8), global_pool=None)
    params, _ = flat.init(KEY, (8, 8, 3))
    assert params["head"]["w"].shape == (32, 10)
    assert flat.apply(params, {}, jnp.ones((2, 8, 8, 3)), False)[0].shape == (2, 10)


@pytest.mark.parametrize("pool,pool_every,side", [("max", 1, 1), ("avg", 3, 2), (None, 1, 4)])
def test_cnn_pooling_schedule(pool, pool_every, side):
    """4x4 inputs, 4 layers: pooling stops at 1x1; pool_every=3 pools after layer 2 only."""
    model = models.cnn(depth=4, width=3, pool=pool, pool_every=pool_every, global_pool=None,
                       bias=False)
    params, _ = model.init(KEY, (4, 4, 2))
    assert params["head"]["w"].shape == (3 * side * side, 10)
    out, _ = jit_apply(model)(params, {}, jnp.ones((2, 4, 4, 2)), train=True)
    assert out.shape == (2, 10)


@pytest.mark.parametrize("pool,global_pool", [("max", "avg"), ("avg", "max"), (None, None)])
def test_cnn_homogeneity(pool, global_pool):
    with x64():
        model = models.cnn(depth=2, width=4, bias=False, pool=pool, global_pool=global_pool,
                           out_dim=3)
        assert model.degree == 3
        params, _ = model.init(KEY, (6, 6, 2))
        params = to64(params)
        x = jax.random.normal(jax.random.PRNGKey(1), (3, 6, 6, 2), jnp.float64)
        f = jax.jit(models.apply_fn(model))
        f0 = f(params, x)
        np.testing.assert_allclose(f(scale_tree(1.7, params), x), 1.7**3 * f0, rtol=1e-12,
                                   atol=1e-12)
        _, jvp = jax.jvp(lambda p: f(p, x), (params,), (params,))
        np.testing.assert_allclose(jvp, 3 * f0, rtol=1e-10, atol=1e-12)
    assert models.cnn(depth=2, bias=False, batchnorm=True).degree is None
    assert models.cnn(depth=2, bias=True).degree is None


def test_cnn_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        models.cnn(depth=0)
    with pytest.raises(ValueError, match="width"):
        models.cnn(depth=2, width=(4, 0))
    with pytest.raises(ValueError, match=r"^width\[1\]=0: must be an int >= 1"):
        models.cnn(depth=2, width=(4, 0))
    with pytest.raises(ValueError, match=r"^width=\(4, 8\): needs one int per conv layer"):
        models.cnn(depth=3, width=(4, 8))
    with pytest.raises(ValueError, match="pool.*'max'.*'avg'"):
        models.cnn(pool="min")
    with pytest.raises(ValueError, match="global_pool"):
        models.cnn(global_pool="sum")
    with pytest.raises(ValueError, match="input_shape.*3 axes"):
        models.cnn().init(KEY, (28, 28))


# ----------------------------------------------------------------------------- batchnorm


def test_batchnorm_layer_train_and_eval():
    from l2theory._practice.models import _layers

    x = 3.0 + 2.0 * jax.random.normal(KEY, (16, 5, 5, 4))
    params, state = _layers.batchnorm_init(4)
    y, new_state = _layers.batchnorm_apply(params, state, x, train=True, momentum=0.9)
    np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.var(y, axis=(0, 1, 2)), 1.0, rtol=1e-3)
    np.testing.assert_allclose(new_state["mean"], 0.1 * jnp.mean(x, axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(new_state["var"], 0.9 + 0.1 * jnp.var(x, axis=(0, 1, 2)),
                               rtol=1e-5)
    y_eval, same = _layers.batchnorm_apply(params, new_state, x, train=False)
    assert same is new_state
    expected = (x - new_state["mean"]) / jnp.sqrt(new_state["var"] + 1e-5)
    np.testing.assert_allclose(y_eval, expected, rtol=1e-5, atol=1e-5)


def test_cnn_batchnorm_train_vs_eval():
    model = models.cnn(depth=2, width=4, batchnorm=True, bias=False)
    params, state = model.init(KEY, (6, 6, 3))
    assert set(state) == {"bn_0", "bn_1"} and set(params["bn_0"]) == {"scale", "offset"}
    apply = jit_apply(model)
    x = jax.random.normal(jax.random.PRNGKey(1), (8, 6, 6, 3))
    x_other = x.at[1:].set(5.0 * x[1:] + 1.0)  # same first example, different rest of batch

    out_train, new_state = apply(params, state, x, train=True)
    out_train_other, _ = apply(params, state, x_other, train=True)
    assert not np.allclose(out_train[0], out_train_other[0], atol=1e-4)  # batch statistics
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)
    assert not np.allclose(new_state["bn_0"]["mean"], state["bn_0"]["mean"])

    out_eval, eval_state = apply(params, new_state, x, train=False)
    out_eval_other, _ = apply(params, new_state, x_other, train=False)
    np.testing.assert_allclose(out_eval[0], out_eval_other[0], rtol=1e-6)  # running averages
    jax.tree_util.tree_map(np.testing.assert_array_equal, eval_state, new_state)

    # Running averages converge to the batch statistics: eval then matches train on that batch.
    for _ in range(200):
        _, state = apply(params, state, x, train=True)
    np.testing.assert_allclose(apply(params, state, x, train=False)[0], out_train,
                               rtol=1e-3, atol=1e-3)


def test_apply_fn_needs_state_for_batchnorm():
    model = models.cnn(depth=1, width=2, batchnorm=True)
    params, state = model.init(KEY, (4, 4, 1))
    x = jnp.ones((2, 4, 4, 1))
    with pytest.raises(ValueError, match="state"):
        models.apply_fn(model)(params, x)
    np.testing.assert_allclose(models.apply_fn(model, state)(params, x),
                               model.apply(params, state, x, False)[0])


# ----------------------------------------------------------------------------- wide resnet


@pytest.mark.parametrize("depth,widen,expected", [
    (28, 10, 36_479_194),  # the paper's WRN-28-10 (~36.5M)
    (16, 4, 2_748_890),    # ~2.7M
    (10, 1, 77_850),
])
def test_wrn_param_count_without_memory(depth, widen, expected):
    model = models.wide_resnet(depth=depth, widen=widen)
    params, state = jax.eval_shape(lambda k: model.init(k, (32, 32, 3)), KEY)
    assert models.param_count(params) == expected
    # state: running mean and var of every BN (2 per block + the final one).
    n = (depth - 4) // 6
    channels = 16 + sum(c * (2 * n - 1) + c for c in (16 * widen, 32 * widen, 64 * widen))
    assert models.param_count(state) == 2 * channels
    assert models.get(f"wrn-{depth}-{widen}").name == f"wrn-{depth}-{widen}"


def test_wrn_structure_and_shapes():
    model = models.get("wrn", depth=10, widen=2, out_dim=7)
    assert model.degree is None
    params, state = model.init(KEY, (8, 8, 3))
    # One block per stage; every first block changes shape here (16 -> 32 channels in stage 1).
    assert params["stage1_block0"]["conv1"]["w"].shape == (3, 3, 16, 32)
    assert params["stage2_block0"]["shortcut"]["w"].shape == (1, 1, 32, 64)
    assert params["head"]["w"].shape == (128, 7)
    deeper, _ = models.wide_resnet(depth=16, widen=1).init(KEY, (8, 8, 3))
    assert "shortcut" not in deeper["stage1_block0"]  # 16 -> 16 channels, stride 1: identity
    assert "shortcut" not in deeper["stage2_block1"]
    # Trainable params and state are disjoint: state only holds running averages.
    def leaf_names(tree):
        return {path[-1].key for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]}

    assert leaf_names(state) == {"mean", "var"}
    assert leaf_names(params) == {"w", "b", "scale", "offset"}
    apply = jit_apply(model)
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 8, 8, 3))
    out, new_state = apply(params, state, x, train=True)
    assert out.shape == (4, 7) and out.dtype == jnp.float32
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)
    out_eval, _ = apply(params, new_state, x, train=False)
    assert out_eval.shape == (4, 7) and bool(jnp.all(jnp.isfinite(out_eval)))


def test_wrn_without_batchnorm():
    model = models.wide_resnet(depth=10, widen=1, batchnorm=False, residual_scale=0.5)
    params, state = model.init(KEY, (8, 8, 3))
    assert state == {}
    assert not any("bn" in k for blk in params.values() for k in blk)
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 3))
    out, new_state = jit_apply(model)(params, state, x, train=True)
    assert out.shape == (2, 10) and new_state == {}
    np.testing.assert_allclose(out, jax.jit(models.apply_fn(model))(params, x), rtol=1e-6)


def test_wrn_bad_arguments():
    with pytest.raises(ValueError, match=r"^depth=12: a wide ResNet's depth must be 6n \+ 4"):
        models.wide_resnet(depth=12)
    with pytest.raises(ValueError, match="depth"):
        models.wide_resnet(depth=4)
    with pytest.raises(ValueError, match="widen"):
        models.wide_resnet(depth=10, widen=0)
    with pytest.raises(ValueError, match="already sets"):
        models.get("wrn-16-4", depth=10)


# ----------------------------------------------------------------------------- mixed precision


@pytest.mark.parametrize("family,kwargs", [
    ("cnn", dict(depth=2, width=8, batchnorm=True)),
    ("wrn", dict(depth=10, widen=1)),
])
def test_bf16_compute_with_batchnorm(family, kwargs):
    m32 = models.get(family, **kwargs)
    m16 = models.get(family, dtype=jnp.bfloat16, **kwargs)
    params, state = m32.init(KEY, (8, 8, 3))
    x = jax.random.normal(jax.random.PRNGKey(1), (8, 8, 8, 3))
    apply32, apply16 = jit_apply(m32), jit_apply(m16)
    for train in (True, False):
        out32, s32 = apply32(params, state, x, train=train)
        out16, s16 = apply16(params, state, x, train=train)
        assert out16.dtype == jnp.float32
        scale = float(jnp.max(jnp.abs(out32)))
        np.testing.assert_allclose(out16, out32, atol=0.1 * scale)
        for a, b in zip(jax.tree_util.tree_leaves(s16), jax.tree_util.tree_leaves(s32)):
            assert a.dtype == jnp.float32
            np.testing.assert_allclose(a, b, rtol=0.05, atol=0.05)


# ----------------------------------------------------------------------------- jit, NTK


def test_wrn_jit_does_not_recompile():
    model = models.wide_resnet(depth=10, widen=1)
    params, state = model.init(KEY, (8, 8, 3))
    fn, traces = _count_traces(model)
    for i in range(3):
        x = jax.random.normal(jax.random.PRNGKey(i), (4, 8, 8, 3))
        _, state = fn(params, state, x, train=True)
    fn(params, state, x, train=False)
    fn(params, state, x + 1, train=False)
    assert traces == [True, False]


def test_apply_fn_supports_empirical_ntk():
    """theta -> f(x; theta) from apply_fn is differentiable: J J^T is a PSD kernel matrix."""
    model = models.fully_connected(depth=2, width=32, out_dim=1)
    params, state = model.init(KEY, (3,))
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
    f = models.apply_fn(model, state)
    jac = jax.jacrev(lambda p: f(p, x)[:, 0])(params)
    flat = jnp.concatenate([j.reshape(5, -1) for j in jax.tree_util.tree_leaves(jac)], axis=1)
    ntk = flat @ flat.T
    assert ntk.shape == (5, 5)
    assert float(jnp.min(jnp.linalg.eigvalsh(ntk))) > -1e-4


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_cnn_with_pooling_trains_under_jit(pool):
    """jit(grad) through pooling (a traced reduce_window init value used to break linearization)."""
    model = models.cnn(depth=2, width=4, out_dim=3, pool=pool)
    params, state = model.init(jax.random.PRNGKey(0), (8, 8, 1))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 1))

    def loss(p):
        return jnp.sum(model.apply(p, state, x, True)[0] ** 2)

    g = jax.jit(jax.grad(loss))(params)
    g_ref = jax.grad(loss)(params)
    for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(g_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # pooling values: 2x2 windows of a known input
    xs = jnp.arange(16.0).reshape(1, 4, 4, 1)
    from l2theory._practice.models import _layers
    want = {"max": [[5.0, 7.0], [13.0, 15.0]], "avg": [[2.5, 4.5], [10.5, 12.5]]}[pool]
    np.testing.assert_array_equal(_layers.pool(xs, pool)[0, :, :, 0], want)
