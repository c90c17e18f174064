"""google/autol2's Wide ResNet (``wide_resnet(variant="autol2")``): each of its differences from the
package's reference WRN, against a literal port of their network in ``jax.example_libraries.stax``
(the library their ``WideResnetnt`` builds on) and against their initialization and parameter
count."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.example_libraries import stax

from l2theory import models
from l2theory._practice.models import _layers, registry

KEY = jax.random.PRNGKey(0)


def _authors_wrn(n_blocks: int, widen: int, num_classes: int):
    """google/autol2 ``jaxwrn_utils.WideResnetnt(n_blocks, widen, num_classes)``, line for line,
    with ``stax`` layers: neural-tangents' ``Conv(..., parameterization='standard')`` computes
    ``conv(x, W) + b`` like ``stax.Conv``, and ``_batch_norm_internal`` is ``stax.BatchNorm()``."""
    def conv(channels, strides=(1, 1)):
        return stax.Conv(channels, (3, 3), strides, padding="SAME")

    def block(channels, strides=(1, 1), channel_mismatch=False):
        main = stax.serial(stax.BatchNorm(), stax.Relu, conv(channels, strides),
                           stax.BatchNorm(), stax.Relu, conv(channels))
        shortcut = conv(channels, strides) if channel_mismatch else stax.Identity
        return stax.serial(stax.FanOut(2), stax.parallel(main, shortcut), stax.FanInSum)

    def group(channels, strides=(1, 1)):
        blocks = [block(channels, strides, channel_mismatch=True)]
        blocks += [block(channels) for _ in range(n_blocks - 1)]
        return stax.serial(*blocks)

    return stax.serial(conv(16), group(16 * widen), group(32 * widen, (2, 2)),
                       group(64 * widen, (2, 2)), stax.BatchNorm(), stax.Relu,
                       stax.AvgPool((8, 8)), stax.Flatten, stax.Dense(num_classes))


def _as_stax_params(p, n_blocks):
    """Our parameter dict in the nesting of ``_authors_wrn``'s (stax: conv ``(W, b)``, BatchNorm
    ``(beta, gamma)``, ``()`` for a layer without parameters)."""
    def conv(q):
        return q["w"], q["b"].reshape(1, 1, 1, -1)

    def bn(q):
        return q["offset"], q["scale"]

    groups = []
    for s in (1, 2, 3):
        blocks = []
        for b in range(n_blocks):
            q = p[f"stage{s}_block{b}"]
            main = [bn(q["bn1"]), (), conv(q["conv1"]), bn(q["bn2"]), (), conv(q["conv2"])]
            blocks.append([(), [main, conv(q["shortcut"]) if "shortcut" in q else ()], ()])
        groups.append(blocks)
    return [conv(p["stem"]), *groups, bn(p["bn_final"]), (), (), (),
            (p["head"]["w"], p["head"]["b"])]


def test_the_authors_wrn_is_their_stax_network_in_training_and_evaluation(x64):
    """Same function as the literal port of their network (float64, to rounding): shortcut = a
    strided 3x3 conv of the block's raw input in the first block of every stage, XLA "SAME"
    padding, biases on every conv, BatchNorm with batch statistics (eps 1e-5) in training *and*
    evaluation, 8x8 average pool, dense readout; with BatchNorm groups, each group as its own
    batch."""
    n_blocks, widen = 2, 1  # WRN-16-1: first blocks with conv shortcuts, later ones identity
    model = models.wide_resnet(depth=6 * n_blocks + 4, widen=widen, variant="autol2",
                               bn_group_size=2)
    params, state = model.init(KEY, (32, 32, 3))
    assert state == {} and model.eval_batch_stats
    # perturb every parameter so biases, BN scales and offsets all take part
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    params = jax.tree.unflatten(tree, [a.astype(jnp.float64) + 0.2 * jax.random.normal(
        k, a.shape, jnp.float64) for a, k in zip(leaves, keys)])
    _, theirs = _authors_wrn(n_blocks, widen, 10)
    theirs = jax.jit(theirs)
    x = jax.random.normal(jax.random.PRNGKey(2), (4, 32, 32, 3), jnp.float64)
    stax_params = _as_stax_params(params, n_blocks)
    apply = jax.jit(model.apply, static_argnames="train")

    evaluated, _ = apply(params, state, x, train=False)  # the whole batch is one shard
    np.testing.assert_allclose(evaluated, theirs(stax_params, x), rtol=1e-10, atol=1e-10)
    trained, new_state = apply(params, state, x, train=True)  # groups of 2: two "devices"
    np.testing.assert_allclose(trained, np.concatenate([theirs(stax_params, x[:2]),
                                                        theirs(stax_params, x[2:])]),
                               rtol=1e-10, atol=1e-10)
    assert new_state == {}
    assert not np.allclose(trained, evaluated, atol=1e-6)  # groups of 2 vs one group of 4


def test_shortcuts_are_strided_3x3_convs_in_every_first_block():
    for widen in (1, 2):
        model = models.wide_resnet(depth=16, widen=widen, variant="autol2")
        params, _ = jax.eval_shape(lambda k: model.init(k, (32, 32, 3)), KEY)
        c_in = 16
        for s, c_out in enumerate((16 * widen, 32 * widen, 64 * widen), start=1):
            # also where channels and size do not change (stage 1 of a WRN-d-1: 16 -> 16)
            assert params[f"stage{s}_block0"]["shortcut"]["w"].shape == (3, 3, c_in, c_out)
            assert params[f"stage{s}_block0"]["shortcut"]["b"].shape == (c_out,)
            assert "shortcut" not in params[f"stage{s}_block1"]
            c_in = c_out
        reference, _ = jax.eval_shape(
            lambda k: models.wide_resnet(depth=16, widen=widen).init(k, (32, 32, 3)), KEY)
        assert ("shortcut" in reference["stage1_block0"]) == (widen > 1)
        assert reference["stage2_block0"]["shortcut"]["w"].shape == (1, 1, 16 * widen,
                                                                     32 * widen)
    # that the shortcut reads the block's raw input (not ReLU(BN(x)) as the reference's
    # projection does) is checked against the authors' network above


def test_init_variance_is_one_over_fan_in_and_biases_are_zero():
    """Standard parameterization, neural-tangents' W_std = 1, b_std = 0: ``W ~ N(0, 1/fan_in)``
    on every conv and the readout (measured on the widest layers), every bias exactly 0;
    the reference WRN has He init ``2/fan_in`` and no conv biases."""
    model = models.wide_resnet(depth=10, widen=4, variant="autol2")
    params, _ = jax.jit(model.init, static_argnums=1)(KEY, (8, 8, 3))
    wide = {"conv2 (256 -> 256)": (params["stage3_block0"]["conv2"]["w"], 9 * 256),
            "shortcut (128 -> 256)": (params["stage3_block0"]["shortcut"]["w"], 9 * 128),
            "conv1 (128 -> 256)": (params["stage3_block0"]["conv1"]["w"], 9 * 128)}
    for name, (w, fan_in) in wide.items():
        w = np.asarray(w, np.float64)
        # relative standard error of a variance from m normal draws: sqrt(2 / m) <= 0.3%
        assert abs(w.var() * fan_in - 1.0) < 0.02, name
        assert abs(w.mean()) < 5 * (fan_in * w.size) ** -0.5, name
    head = np.asarray(params["head"]["w"], np.float64)  # 256 x 10
    assert abs(head.var() * 256 - 1.0) < 0.15
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    biases = [leaf for path, leaf in leaves if path[-1].key == "b"]
    weights = [leaf for path, leaf in leaves if path[-1].key == "w"]
    # stem, 3 blocks x (2 convs + shortcut), head: every one with its bias
    assert len(biases) == len(weights) == 1 + 3 * (2 + 1) + 1
    assert all(np.all(np.asarray(b) == 0.0) for b in biases)

    reference, _ = jax.jit(models.wide_resnet(depth=10, widen=4).init, static_argnums=1)(
        KEY, (8, 8, 3))
    w = np.asarray(reference["stage3_block0"]["conv2"]["w"], np.float64)
    assert abs(w.var() * 9 * 256 / 2.0 - 1.0) < 0.02  # He
    assert "b" not in reference["stage3_block0"]["conv2"]


def test_evaluation_uses_the_shards_own_batch_statistics():
    model = models.wide_resnet(depth=10, widen=1, variant="autol2")
    params, state = model.init(KEY, (8, 8, 3))
    apply = jax.jit(model.apply, static_argnames="train")
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 8, 8, 3))
    mates = x.at[1:].set(3.0 * x[1:] + 1.0)  # same first image, other shard mates
    out, _ = apply(params, state, x, train=False)
    out_mates, _ = apply(params, state, mates, train=False)
    assert np.abs(out[0] - out_mates[0]).max() > 1e-2  # image 0 depends on its mates
    np.testing.assert_allclose(out, apply(params, state, x, train=True)[0], rtol=1e-6)
    np.testing.assert_allclose(models.apply_fn(model)(params, x), out, rtol=1e-5, atol=1e-6)
    # the reference WRN evaluates with running averages: no dependence on the shard
    reference = models.wide_resnet(depth=10, widen=1)
    rp, rs = reference.init(KEY, (8, 8, 3))
    r_apply = jax.jit(reference.apply, static_argnames="train")
    np.testing.assert_allclose(r_apply(rp, rs, x, train=False)[0][0],
                               r_apply(rp, rs, mates, train=False)[0][0], rtol=1e-6)
    assert not reference.eval_batch_stats


def _stax_param_count(n: int, k: int, channels: int, classes: int) -> int:
    """Parameters of google/autol2's ``WideResnetnt(n, k, classes)`` on images of ``channels``
    channels, from its layers: a 3x3 conv ``c_in -> c`` with bias has ``9 c_in c + c``, a
    ``stax.BatchNorm`` over ``c`` channels ``2 c`` (beta, gamma), the readout ``64k classes +
    classes``."""
    def conv(c_in, c):
        return 9 * c_in * c + c

    total = conv(channels, 16)
    c_in = 16
    for c in (16 * k, 32 * k, 64 * k):
        first = 2 * c_in + conv(c_in, c) + 2 * c + conv(c, c) + conv(c_in, c)  # + shortcut
        later = (n - 1) * (2 * c + conv(c, c) + 2 * c + conv(c, c))
        total += first + later
        c_in = c
    return total + 2 * 64 * k + 64 * k * classes + classes


@pytest.mark.parametrize("depth,widen,channels", [(10, 1, 1), (16, 4, 3), (28, 10, 3),
                                                  (22, 2, 1)])
def test_parameter_count_is_the_stax_formula(depth, widen, channels):
    model = models.wide_resnet(depth=depth, widen=widen, variant="autol2")
    params, state = jax.eval_shape(lambda k: model.init(k, (32, 32, channels)), KEY)
    n = (depth - 4) // 6
    assert models.param_count(params) == _stax_param_count(n, widen, channels, 10)
    assert state == {}
    assert model.name == f"wrn-{depth}-{widen}-autol2"


def test_same_padding_differs_from_symmetric_only_at_stride_two():
    p = {"w": jax.random.normal(KEY, (3, 3, 2, 4))}
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 2))
    lax_same = jax.lax.conv_general_dilated(x, p["w"], (2, 2), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    same = _layers.conv_apply(p, x, stride=2, padding="SAME")
    np.testing.assert_allclose(same, lax_same, rtol=1e-5, atol=1e-5)
    symmetric = _layers.conv_apply(p, x, stride=2)
    assert same.shape == symmetric.shape == (2, 4, 4, 4)
    assert not np.allclose(same, symmetric, atol=1e-3)
    np.testing.assert_allclose(_layers.conv_apply(p, x, padding="SAME"),
                               _layers.conv_apply(p, x), rtol=1e-6)


def test_bad_variant_arguments_name_the_fix():
    with pytest.raises(ValueError, match=r"^variant='stax': unknown variant"):
        models.wide_resnet(variant="stax")
    with pytest.raises(ValueError, match=r"^bn_momentum=0.99: has no effect with "
                                         r"variant='autol2'.*leave bn_momentum unset"):
        models.wide_resnet(variant="autol2", bn_momentum=0.99)
    with pytest.raises(ValueError, match=r"^bn_group_size=8: has no effect without BatchNorm"):
        models.wide_resnet(variant="autol2", batchnorm=False, bn_group_size=8)


def test_the_name_wrn_depth_widen_autol2_builds_it_and_reads_back():
    from l2theory import train

    model = models.get("wrn-16-4-autol2")
    assert model.name == "wrn-16-4-autol2" and model.eval_batch_stats
    assert registry.family("wrn-16-4-autol2") == "wrn"
    cfg = train.TrainConfig(model="wrn-16-4-autol2", bn_group_size=8, batch_size=32)
    assert cfg.model_settings()["variant"] == "autol2"
    assert cfg.build_model(10).name == "wrn-16-4-autol2"
    with pytest.raises(ValueError, match=r"^variant='reference': 'wrn-16-4-autol2' already sets "
                                         r"depth, variant, widen; drop variant"):
        train.TrainConfig(model="wrn-16-4-autol2", model_kwargs={"variant": "reference"})
