"""Wide residual networks WRN-d-k (Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016)."""

from __future__ import annotations

import jax

from l2theory import _checks
from l2theory._practice.models import _layers
from l2theory._practice.models._model import Model

_HE = dict(parameterization="standard", w_std=2**0.5, b_std=0.0)  # W ~ N(0, 2/fan_in)
_HEAD = dict(parameterization="standard", w_std=1.0, b_std=0.0)  # W ~ N(0, 1/fan_in), b = 0


def wide_resnet(
    *,
    depth: int = 28,
    widen: int = 10,
    out_dim: int = 10,
    batchnorm: bool = True,
    bn_momentum: float = 0.9,
    residual_scale: float = 1.0,
    dtype=None,
) -> Model:
    """Wide ResNet WRN-``depth``-``widen`` with pre-activation basic blocks, no dropout.

    ``n = (depth - 4) / 6`` blocks per stage (``depth`` = 10, 16, 22, 28, ...). Architecture::

        conv3x3(16) -> stage 1: n blocks, 16k channels, stride 1
                    -> stage 2: n blocks, 32k channels, stride 2
                    -> stage 3: n blocks, 64k channels, stride 2
                    -> BN - ReLU - global average pool - dense(out_dim)

    A block computes ``o = ReLU(BN(x))``, ``y = conv3x3(ReLU(BN(conv3x3(o, stride))))`` and returns
    ``shortcut + residual_scale * y`` with ``shortcut = x``, or ``conv1x1(o, stride)`` when the
    channel count or the resolution changes (the first block of a stage, as in the reference
    implementation). Convolutions have no bias and He init ``W ~ N(0, 2/fan_in)`` (standard
    parameterization); the readout has ``W ~ N(0, 1/fan_in)`` and a zero-initialized bias.

    BatchNorm: batch statistics when ``train=True``, running averages (``running <- m * running +
    (1 - m) * batch`` with ``m = bn_momentum``, i.e. PyTorch momentum ``1 - m``) when
    ``train=False``. The BN scale and offset are trainable ``params``, so the L2 term
    ``lam/2 ||theta||^2`` (over all params) applies to them too; the running averages are
    ``state``. ``batchnorm=False`` replaces every BN by the identity; then the forward variance
    roughly doubles per block at init, and ``residual_scale < 1`` (e.g. ``1/sqrt(3n)``) tames it.

    The network is never homogeneous (scale-invariant BN; residual sums of different depths;
    readout bias), so ``degree`` is ``None``.

    Args:
      depth: total depth ``6n + 4`` with ``n >= 1``.
      widen: widening factor ``k >= 1``.
      out_dim: number of outputs.
      batchnorm, bn_momentum: BatchNorm (or identity) and its running-average momentum.
      residual_scale: multiplies the residual branch.
      dtype: compute dtype (e.g. ``jnp.bfloat16``) or ``None``; params stay float32, the output is
        cast back to the parameters' dtype, BatchNorm statistics are computed in float32.

    Returns:
      A ``Model`` named ``"wrn-{depth}-{widen}"``. Parameter counts (CIFAR-10, 3 input channels,
      10 outputs, BatchNorm): WRN-28-10 36,479,194; WRN-16-4 2,748,890.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> model = wide_resnet(depth=10, widen=1)
      >>> params, state = model.init(jax.random.PRNGKey(0), (32, 32, 3))
      >>> out, state = model.apply(params, state, jnp.ones((2, 32, 32, 3)), train=True)
      >>> out.shape
      (2, 10)
    """
    depth = _layers.check_positive_int("depth", depth)
    if (depth - 4) % 6 != 0 or depth < 10:
        raise _checks.bad("depth", depth, "a wide ResNet's depth must be 6n + 4 with n >= 1",
                          "e.g. 10, 16, 22, 28 or 40")
    n_blocks = (depth - 4) // 6
    widen = _layers.check_positive_int("widen", widen)
    out_dim = _layers.check_positive_int("out_dim", out_dim)
    dtype = _layers.canonical_dtype(dtype)
    batchnorm = _checks.boolean("batchnorm", batchnorm)
    bn_momentum = _checks.real("bn_momentum", bn_momentum, low=0.0, high=1.0, fix="e.g. 0.9")
    residual_scale = _checks.real("residual_scale", residual_scale, fix="e.g. 1.0")
    stages = ((16 * widen, 1), (32 * widen, 2), (64 * widen, 2))  # (channels, first stride)

    def blocks():
        """(name, in_channels, out_channels, stride) for every block, in order."""
        c_in = 16
        for s, (c_out, stride) in enumerate(stages, start=1):
            for b in range(n_blocks):
                yield f"stage{s}_block{b}", c_in, c_out, stride if b == 0 else 1
                c_in = c_out

    def init(key, input_shape):
        channels = _layers.check_input_shape(input_shape, ndim=3)[2]
        return _layers.init_from_normals(key, lambda normal: build(normal, channels))

    def build(normal, channels):
        params = {"stem": _layers.conv_init(normal, 3, channels, 16, bias=False, **_HE)}
        state = {}
        for name, c_in, c_out, stride in blocks():
            p, s = {}, {}
            if batchnorm:
                p["bn1"], s["bn1"] = _layers.batchnorm_init(c_in)
                p["bn2"], s["bn2"] = _layers.batchnorm_init(c_out)
            p["conv1"] = _layers.conv_init(normal, 3, c_in, c_out, bias=False, **_HE)
            p["conv2"] = _layers.conv_init(normal, 3, c_out, c_out, bias=False, **_HE)
            if c_in != c_out or stride != 1:
                p["shortcut"] = _layers.conv_init(normal, 1, c_in, c_out, bias=False, **_HE)
            params[name] = p
            if batchnorm:
                state[name] = s
        c_final = stages[-1][0]
        if batchnorm:
            params["bn_final"], state["bn_final"] = _layers.batchnorm_init(c_final)
        params["head"] = _layers.dense_init(normal, c_final, out_dim, bias=True, **_HEAD)
        return params, state

    def apply(params, state, x, train):
        train = _layers.check_train(train)
        new_state = {}

        def norm(p, s, h, name, key):
            if not batchnorm:
                return h
            h, new_s = _layers.batchnorm_apply(p[key], None if s is None else s.get(key), h,
                                               train=train, momentum=bn_momentum)
            new_state.setdefault(name, {})[key] = new_s
            return h

        h = _layers.conv_apply(params["stem"], x, dtype=dtype, **_HE)
        for name, _, _, stride in blocks():
            p, s = params[name], state.get(name)
            o = jax.nn.relu(norm(p, s, h, name, "bn1"))
            y = _layers.conv_apply(p["conv1"], o, stride=stride, dtype=dtype, **_HE)
            y = jax.nn.relu(norm(p, s, y, name, "bn2"))
            y = _layers.conv_apply(p["conv2"], y, dtype=dtype, **_HE)
            if "shortcut" in p:
                h = _layers.conv_apply(p["shortcut"], o, stride=stride, dtype=dtype, **_HE)
            h = h + residual_scale * y
        if batchnorm:
            h, new_state["bn_final"] = _layers.batchnorm_apply(
                params["bn_final"], state.get("bn_final"), h, train=train, momentum=bn_momentum)
        h = _layers.global_pool(jax.nn.relu(h), "avg")
        out = _layers.dense_apply(params["head"], h, dtype=dtype, **_HEAD)
        if dtype is not None:
            out = out.astype(params["head"]["w"].dtype)
        return out, (new_state if train else state)

    name = f"wrn-{depth}-{widen}" + ("" if batchnorm else "-nobn")
    return Model(init=init, apply=apply, name=name, degree=None)
