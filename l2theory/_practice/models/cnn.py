"""Plain convolutional networks: ``(conv - [BatchNorm] - act - [pool]) * depth - global pool - dense``."""

from __future__ import annotations

from typing import Sequence

from l2theory import _checks
from l2theory._practice.models import _layers
from l2theory._practice.models._model import Model

GLOBAL_POOLS = ("avg", "max", None)


def cnn(
    *,
    depth: int = 3,
    width: int | Sequence[int] = 64,
    out_dim: int = 10,
    kernel_size: int = 3,
    pool: str | None = "max",
    pool_every: int = 1,
    batchnorm: bool = False,
    bn_momentum: float = 0.9,
    bn_group_size: int | None = None,
    bias: bool = True,
    activation: str = "relu",
    parameterization: str = "standard",
    w_std: float = 2**0.5,
    b_std: float = 0.0,
    global_pool: str | None = "avg",
    dtype=None,
) -> Model:
    """Convolutional network on NHWC images.

    Layer ``i = 0 .. depth-1``: ``conv(kernel_size x kernel_size, stride 1, width[i] channels,
    zero "same" padding) - [BatchNorm] - act - [pool]``. The pooling is a 2x2 window with stride 2
    (``pool="max"`` or ``"avg"``) after every ``pool_every``-th layer (``pool_every=1``: after
    every layer; ``pool_every=2``: after layers 1, 3, ...), skipped once a spatial side is below 2;
    ``pool=None`` never pools. Then ``global_pool`` (``"avg"``/``"max"`` over the spatial axes, or
    ``None`` to flatten) and a dense readout to ``out_dim``.

    Every conv and the readout use the same parameterization (see ``l2theory.models``; defaults
    are the standard parameterization with He init ``W ~ N(0, 2/fan_in)``, zero biases).

    Homogeneity: without biases and BatchNorm and with a ReLU/linear activation, the network is
    positively homogeneous of degree ``depth + 1`` (max/avg pooling are positively homogeneous);
    then ``degree = depth + 1``, else ``None``. BatchNorm scale/offset are trainable ``params``
    (so L2 applies to them); the running averages live in ``state`` (momentum ``bn_momentum``:
    ``running <- m * running + (1 - m) * batch``). With BatchNorm a conv bias is redundant; pass
    ``bias=False`` to drop it. With BatchNorm every conv's weights are scale-invariant
    (``model.scale_invariant``: ``f`` does not change when one of them is multiplied by ``a > 0``;
    BatchNorm removes the bias between them).

    Args:
      depth: number of conv layers, >= 1.
      width: channels of every conv layer (int) or one int per layer (length ``depth``).
      out_dim: number of outputs.
      kernel_size: conv kernel side.
      pool, pool_every: local pooling kind (``"max"``, ``"avg"``, ``None``) and period.
      batchnorm, bn_momentum: BatchNorm after each conv and its running-average momentum.
      bn_group_size: examples per BatchNorm statistics group in training (``None``: the whole
        batch; see ``wide_resnet``); with ``batchnorm`` only.
      bias: conv and readout biases.
      activation: as in ``fully_connected``.
      parameterization, w_std, b_std: as in ``fully_connected``.
      global_pool: ``"avg"``, ``"max"`` or ``None`` (flatten).
      dtype: compute dtype (e.g. ``jnp.bfloat16``) or ``None``; params stay float32, the output is
        cast back to the parameters' dtype, BatchNorm statistics are computed in float32 (float64
        for float64 parameters).

    Returns:
      A ``Model`` with params ``{"conv_i": {"w", ["b"]}, ["bn_i": {"scale", "offset"}], "head":
      {"w", ["b"]}}`` and state ``{"bn_i": {"mean", "var"}}`` (``{}`` without BatchNorm).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> model = cnn(depth=2, width=(8, 16), batchnorm=True)
      >>> params, state = model.init(jax.random.PRNGKey(0), (32, 32, 3))
      >>> out, state = model.apply(params, state, jnp.ones((4, 32, 32, 3)), train=True)
      >>> out.shape
      (4, 10)
    """
    depth = _layers.check_positive_int("depth", depth)
    if isinstance(width, Sequence):
        widths = tuple(_checks.sequence("width", width, _layers.check_positive_int,
                                        example="(16, 32)"))
        if len(widths) != depth:
            raise _checks.bad("width", width, f"needs one int per conv layer (length "
                              f"depth={depth})", f"pass {depth} ints, or one int for all")
    else:
        widths = (_layers.check_positive_int("width", width),) * depth
    out_dim = _layers.check_positive_int("out_dim", out_dim)
    kernel_size = _layers.check_positive_int("kernel_size", kernel_size)
    pool_every = _layers.check_positive_int("pool_every", pool_every)
    _layers.check_choice("pool", pool, _layers.POOLS + (None,))
    _layers.check_choice("global_pool", global_pool, GLOBAL_POOLS)
    _layers.check_choice("parameterization", parameterization, _layers.PARAMETERIZATIONS)
    act = _layers.get_activation(activation)
    dtype = _layers.canonical_dtype(dtype)
    batchnorm, bias = _checks.boolean("batchnorm", batchnorm), _checks.boolean("bias", bias)
    bn_momentum = _checks.real("bn_momentum", bn_momentum, low=0.0, high=1.0, fix="e.g. 0.9")
    group = _layers.check_group_size(bn_group_size, batchnorm)
    layer = dict(parameterization=parameterization, w_std=_layers.check_std("w_std", w_std),
                 b_std=_layers.check_std("b_std", b_std))

    def pools_after(i, height, width_):
        return pool is not None and (i + 1) % pool_every == 0 and min(height, width_) >= 2

    def init(key, input_shape):
        input_shape = _layers.check_input_shape(input_shape, ndim=3)

        def build(normal):
            height, width_, channels = input_shape
            params, state = {}, {}
            for i in range(depth):
                params[f"conv_{i}"] = _layers.conv_init(normal, kernel_size, channels, widths[i],
                                                        bias=bias, **layer)
                if batchnorm:
                    params[f"bn_{i}"], state[f"bn_{i}"] = _layers.batchnorm_init(widths[i])
                channels = widths[i]
                if pools_after(i, height, width_):
                    height, width_ = height // 2, width_ // 2
            features = channels if global_pool is not None else channels * height * width_
            params["head"] = _layers.dense_init(normal, features, out_dim, bias=bias, **layer)
            return params, state

        return _layers.init_from_normals(key, build)

    def apply(params, state, x, train):
        train = _layers.check_train(train)
        new_state = {}
        h = x
        for i in range(depth):
            h = _layers.conv_apply(params[f"conv_{i}"], h, dtype=dtype, **layer)
            if batchnorm:
                h, new_state[f"bn_{i}"] = _layers.batchnorm_apply(
                    params[f"bn_{i}"], state.get(f"bn_{i}"), h, train=train,
                    momentum=bn_momentum, group_size=group)
            h = act(h)
            if pools_after(i, h.shape[1], h.shape[2]):
                h = _layers.pool(h, pool)
        h = _layers.global_pool(h, global_pool)
        out = _layers.dense_apply(params["head"], h, dtype=dtype, **layer)
        if dtype is not None:
            out = out.astype(params["head"]["w"].dtype)
        return out, (new_state if train else state)

    homogeneous = (not bias and not batchnorm
                   and activation in _layers.HOMOGENEOUS_ACTIVATIONS)
    width_tag = str(widths[0]) if len(set(widths)) == 1 else "-".join(map(str, widths))
    name = f"cnn-d{depth}-w{width_tag}" + ("-bn" if batchnorm else "")
    invariant = tuple((f"conv_{i}", "w") for i in range(depth)) if batchnorm else ()
    return Model(init=init, apply=apply, name=name, degree=depth + 1 if homogeneous else None,
                 scale_invariant=invariant)
