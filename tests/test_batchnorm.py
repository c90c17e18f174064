"""BatchNorm groups ("ghost" BatchNorm: one device computing a data-parallel step) and the
scale-invariant weights of the BatchNorm models.

- A batch of ``G g`` examples in groups of ``g`` gives exactly (float64: to rounding) the outputs
  of ``G`` separate batches of ``g``, and the gradient of its mean loss is the average of the ``G``
  per-group gradients - what a ``G``-device step (google/autol2: 8 TPU cores of 128) computes.
- The training step with groups (crop + flip, mixup within each group, momentum, L2) equals that
  ``G``-device step.
- ``model.scale_invariant`` lists exactly the weight tensors whose scale ``f`` ignores.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2theory import data, models, train
from l2theory._practice.datasets.augment import mixup, random_crop_flip
from l2theory._practice.models import _layers
from l2theory._practice.models._model import get_path

KEY = jax.random.PRNGKey(0)


def test_grouped_batchnorm_layer_is_separate_batches():
    x = 3.0 + 2.0 * jax.random.normal(KEY, (16, 3, 3, 4))
    params, state = _layers.batchnorm_init(4)
    params = {"scale": params["scale"] * 1.5, "offset": params["offset"] + 0.3}
    y, mean, var = _layers.batch_normalize(params, x, group_size=4)
    assert mean.shape == var.shape == (4, 4)
    for j in range(4):
        yj, mj, vj = _layers.batch_normalize(params, x[4 * j:4 * j + 4])
        np.testing.assert_allclose(y[4 * j:4 * j + 4], yj, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(mean[j], mj[0], rtol=1e-6)
        np.testing.assert_allclose(var[j], vj[0], rtol=1e-6)
    # running averages move towards the mean of the groups' statistics
    _, new = _layers.batchnorm_apply(params, state, x, train=True, group_size=4)
    np.testing.assert_allclose(new["mean"], 0.1 * mean.mean(0), rtol=1e-5)
    np.testing.assert_allclose(new["var"], 0.9 + 0.1 * var.mean(0), rtol=1e-5)
    with pytest.raises(ValueError, match=r"^bn_group_size=5: does not divide the batch of 16 "):
        _layers.batch_normalize(params, x, group_size=5)


# (family constructor arguments, input shape, batch, group): the brief's 1024 in groups of 128 on
# a small CNN; both WRN variants on a smaller batch
GHOST_CASES = {
    "cnn-bn": (dict(name="cnn", depth=2, width=3, batchnorm=True), (4, 4, 1), 1024, 128),
    "wrn-reference": (dict(name="wrn", depth=10, widen=1), (8, 8, 3), 32, 8),
    "wrn-autol2": (dict(name="wrn", depth=10, widen=1, variant="autol2"), (8, 8, 3), 32, 8),
}


@pytest.mark.parametrize("case", list(GHOST_CASES))
def test_groups_give_the_outputs_and_the_gradient_of_separate_batches(case, x64):
    kwargs, shape, batch, group = GHOST_CASES[case]
    kwargs = dict(kwargs)
    name = kwargs.pop("name")
    grouped = models.get(name, bn_group_size=group, **kwargs)
    single = models.get(name, **kwargs)
    params, state = jax.tree.map(lambda a: a.astype(jnp.float64), single.init(KEY, shape))
    x = jax.random.normal(jax.random.PRNGKey(1), (batch,) + shape, jnp.float64)
    y = jax.random.randint(jax.random.PRNGKey(2), (batch,), 0, 10)

    def loss(model, p, x, y):
        out, new_state = model.apply(p, state, x, True)
        return jnp.mean(-jax.nn.log_softmax(out)[jnp.arange(len(y)), y]), (out, new_state)

    (_, (out, new_state)), grad = jax.jit(jax.value_and_grad(
        functools.partial(loss, grouped), has_aux=True))(params, x, y)
    per_group = jax.jit(jax.vmap(jax.value_and_grad(functools.partial(loss, single),
                                                    has_aux=True), in_axes=(None, 0, 0)))
    (_, (outs, states)), grads = per_group(params, x.reshape((-1, group) + shape),
                                           y.reshape(-1, group))
    np.testing.assert_allclose(out, outs.reshape(out.shape), rtol=1e-10, atol=1e-12)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b.mean(0), rtol=1e-9, atol=1e-13),
                 grad, grads)
    # running averages (reference BatchNorm): the mean of the groups' updates
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b.mean(0), rtol=1e-10),
                 new_state, states)
    # and the groups matter: one group of the whole batch is another function
    whole, _ = single.apply(params, state, x, True)
    assert np.abs(whole - out).max() > 1e-3


def test_one_device_step_with_groups_is_the_data_parallel_step(x64):
    """``make_step`` with ``bn_group_size=8`` on a batch of 32 (crop + flip, mixup, momentum,
    coupled L2) = 4 devices of 8: each mixes its own group (reversed partner, its own key),
    computes the gradient of its mean loss with its own BatchNorm statistics, the gradients are
    averaged (their ``psum / ndevices``) and one SGD step is taken."""
    lr, lam, group, batch = 0.1, 0.02, 8, 32
    cfg = train.TrainConfig(model="cnn", depth=2, width=3, model_kwargs={"batchnorm": True},
                            bn_group_size=group, batch_size=batch, augment=True, mixup=True,
                            momentum=0.9, lr=lr, lam=lam, dtype="float64")
    shape = (6, 6, 1)
    augment = functools.partial(random_crop_flip, pad=2)
    step = train.make_step(cfg, cfg.build_model(10), shape, augment_fn=augment, num_classes=10)
    device_cfg = cfg.replace(bn_group_size=None)
    device = train.make_step(device_cfg, device_cfg.build_model(10), shape, augment_fn=augment,
                             num_classes=10)
    hyper = train.Hyper(lr=jnp.float64(lr), lam=jnp.float64(lam), seed=jnp.int32(0),
                        steps=jnp.int32(10), boundaries=jnp.zeros((3,), jnp.int32))
    state = step.init(hyper)
    x = jax.random.normal(jax.random.PRNGKey(1), (batch,) + shape, jnp.float64)
    y = jax.random.randint(jax.random.PRNGKey(2), (batch,), 0, 10)
    key = jax.random.PRNGKey(3)
    new, _ = jax.jit(step.update)(state, x, y, key)

    cropped = jax.jit(augment)(key, x)
    targets = jax.nn.one_hot(y, 10, dtype=jnp.float64)
    xb, yb = jax.jit(step.batch)(x, y, key)
    mix = jax.jit(functools.partial(mixup, alpha=1.0, per_example=True, partner="reverse"))
    device_grad = jax.jit(jax.grad(device.loss, has_aux=True))  # compiled once for the 4 devices
    grads, states = [], []
    for j in range(batch // group):
        part = slice(j * group, (j + 1) * group)
        xj, yj = mix(jax.random.fold_in(jax.random.fold_in(key, 1), j), cropped[part],
                     targets[part])
        np.testing.assert_allclose(xb[part], xj, rtol=1e-12)  # device j's own mixup
        np.testing.assert_allclose(yb[part], yj, rtol=1e-12)
        g, (_, s) = device_grad(state.params, state.model_state, xj, yj)
        grads.append(g)
        states.append(s)
    mean_grad = jax.tree.map(lambda *g: sum(g) / len(g), *grads)
    # first step: the momentum buffer is 0, so it becomes g + lam theta
    expected = jax.tree.map(lambda p, g: p - lr * (g + lam * p), state.params, mean_grad)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13),
                 new.params, expected)
    jax.tree.map(lambda a, *b: np.testing.assert_allclose(a, sum(b) / len(b), rtol=1e-10),
                 new.model_state, *states)


def test_group_size_must_divide_the_batch_and_needs_batchnorm():
    with pytest.raises(ValueError, match=r"^bn_group_size=100: does not divide batch_size=128"):
        train.TrainConfig(model="wrn-10-1", batch_size=128, bn_group_size=100)
    with pytest.raises(ValueError, match=r"^bn_group_size=8: model 'fc' has no bn_group_size "
                                         r"setting"):
        train.TrainConfig(model="fc", bn_group_size=8)
    with pytest.raises(ValueError, match=r"^bn_group_size=8: has no effect without BatchNorm; "
                                         r"pass batchnorm=True"):
        train.TrainConfig(model="cnn", bn_group_size=8)
    ds = data.load("fashion_mnist_subset", n_train=100, n_test=50)
    with pytest.raises(ValueError, match=r"^bn_group_size=30: does not divide the full batch of "
                                         r"100 training examples"):
        train.TrainConfig(model="cnn", model_kwargs={"batchnorm": True},
                          bn_group_size=30).validate(ds)


def test_eval_batches_of_batch_statistics_models_must_tile_the_sets():
    ds = data.load("fashion_mnist_subset", n_train=100, n_test=60)
    cfg = train.TrainConfig(model="wrn-10-1", model_kwargs={"variant": "autol2"},
                            eval_batch_size=25, train_eval_size=None)
    with pytest.raises(ValueError, match=r"^eval_batch_size=25: does not divide the test set of "
                                         r"60 examples.*pass a divisor of 60 \(e.g. 20\)$"):
        cfg.validate(ds)
    cfg.replace(eval_batch_size=20).validate(ds)  # 60 = 3 x 20, 100 = 5 x 20
    cfg.replace(eval_batch_size=1000).validate(ds)  # one shard each
    train.TrainConfig(model="wrn-10-1", eval_batch_size=25).validate(ds)  # running averages


# every BatchNorm model, with the tensors it declares scale-invariant
INVARIANT_CASES = {
    "cnn": (dict(name="cnn", depth=3, width=4, batchnorm=True), ["conv_0", "conv_1", "conv_2"]),
    "cnn-ntk": (dict(name="cnn", depth=2, width=4, batchnorm=True, parameterization="ntk",
                     b_std=1.0), ["conv_0", "conv_1"]),
    "wrn-16-1": (dict(name="wrn", depth=16, widen=1),
                 [f"stage{s}_block{b}/conv1" for s in (1, 2, 3) for b in (0, 1)]),
    "wrn-10-2": (dict(name="wrn", depth=10, widen=2),  # stage 1 projects the stem after its BN
                 ["stem"] + [f"stage{s}_block0/conv1" for s in (1, 2, 3)]),
    "wrn-16-1-autol2": (dict(name="wrn", depth=16, widen=1, variant="autol2"),
                        [f"stage{s}_block{b}/conv1" for s in (1, 2, 3) for b in (0, 1)]),
}


@pytest.mark.parametrize("case", list(INVARIANT_CASES))
def test_scale_invariant_tensors_are_exactly_those_f_ignores_the_scale_of(case, x64):
    """Multiply one weight tensor by 3: the training-mode outputs stay (up to BatchNorm's eps)
    for the tensors the model lists, and change for every other weight tensor."""
    kwargs, expected = INVARIANT_CASES[case]
    kwargs = dict(kwargs)
    model = models.get(kwargs.pop("name"), **kwargs)
    assert ["/".join(p[:-1]) for p in model.scale_invariant] == expected
    assert all(p[-1] == "w" for p in model.scale_invariant)
    params, state = model.init(KEY, (8, 8, 3))
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    x = jax.random.normal(jax.random.PRNGKey(1), (16, 8, 8, 3), jnp.float64)
    apply = jax.jit(lambda p: model.apply(p, state, x, True)[0])
    base = apply(params)
    paths = [tuple(k.key for k in path) for path, _ in
             jax.tree_util.tree_flatten_with_path(params)[0] if path[-1].key == "w"]
    for path in paths:
        scaled = jax.tree_util.tree_map_with_path(
            lambda p, a: 3.0 * a if tuple(k.key for k in p) == path else a, params)
        change = float(jnp.abs(apply(scaled) - base).max() / jnp.abs(base).max())
        if path in model.scale_invariant:
            assert change < 1e-3, (path, change)  # BatchNorm's eps alone
        else:
            assert change > 1e-2, (path, change)
        assert get_path(params, path).ndim in (2, 4)
    assert models.get("wrn", depth=10, batchnorm=False).scale_invariant == ()
    assert models.get("cnn").scale_invariant == ()


def test_engine_evaluates_a_batch_statistics_model_shard_by_shard():
    """The authors' WRN's test loss is the mean over shards of ``eval_batch_size`` images, each
    shard normalized with its own statistics (their 8 shards of 1250; here 4 of 16)."""
    from l2theory._practice.train.engine import Engine, to_host

    ds = data.load("fashion_mnist_subset", n_train=64, n_test=64)
    cfg = train.TrainConfig(model="wrn-10-1", model_kwargs={"variant": "autol2"},
                            batch_size=16, bn_group_size=8, eval_batch_size=16,
                            train_eval_size=32)
    engine = Engine(cfg, ds, 1)
    state = engine.init(engine.hyper([0.1], [0.0], [0], [1]))
    row = engine.evaluate(state, 0)
    params = jax.tree.map(lambda a: a[0], to_host(state.params))
    apply = jax.jit(lambda x: engine.model.apply(params, {}, x, False)[0])
    x, y = np.asarray(ds.x_test), np.asarray(ds.y_test)

    def shard_loss(size):
        out = np.concatenate([apply(x[i:i + size]) for i in range(0, len(y), size)])
        return float(np.mean(-jax.nn.log_softmax(out)[np.arange(len(y)), y]))

    np.testing.assert_allclose(row["test_loss"][0], shard_loss(16), rtol=1e-5)
    assert abs(shard_loss(16) - shard_loss(64)) > 1e-4  # the shards' statistics matter
