"""Fully connected networks: ``Dense - (act - Dense) * (depth - 1)`` on flattened inputs."""

from __future__ import annotations

import math

import jax.numpy as jnp

from l2theory import _checks
from l2theory._practice.models import _layers
from l2theory._practice.models._model import Model


def fully_connected(
    *,
    depth: int = 2,
    width: int = 256,
    out_dim: int = 10,
    activation: str = "relu",
    bias: bool = False,
    parameterization: str = "ntk",
    w_std: float = 2**0.5,
    b_std: float = 0.0,
    dtype=None,
) -> Model:
    """Fully connected network with ``depth`` Dense layers.

    Architecture ``Dense(width) - (act - Dense(width)) * (depth - 2) - act - Dense(out_dim)``;
    ``depth=1`` is the linear model ``f = x @ W``. Inputs ``[batch, *input_shape]`` are flattened.
    Every layer (the readout included) uses the same ``w_std``/``b_std``, as neural-tangents'
    ``stax.serial(Dense(W_std=w_std, b_std=b_std), Relu(), ...)``.

    Parameterization, for a layer with fan-in ``n`` (``n = prod(input_shape)`` for the first):

    - ``"ntk"``: ``W ~ N(0, 1)`` and, when ``bias``, ``b ~ N(0, 1)``;
      ``h = w_std/sqrt(n) * x @ W + b_std * b``. This matches the analytic infinite-width kernels
      (``l2theory.kernels``): the first layer's NNGP is ``w_std^2 x.x'/n + b_std^2``. With
      ``b_std=0`` a bias is present but has no effect on the function.
    - ``"standard"``: ``W ~ N(0, w_std^2/n)``, ``b ~ N(0, b_std^2)``; ``h = x @ W + b``.

    The network is positively homogeneous, ``f(x; a*theta) = a^depth f(x; theta)``, when it has no
    biases and a ReLU/linear activation: then ``degree = depth``, else ``None``.

    Args:
      depth: number of Dense layers, >= 1 (default 2: one hidden layer).
      width: hidden width, >= 1 (unused when ``depth=1``; default 256).
      out_dim: number of outputs.
      activation: ``"relu"``, ``"linear"``/``"identity"``, ``"tanh"``, ``"erf"`` or ``"gelu"``
        (exact, erf-based).
      bias: whether layers have biases.
      parameterization: ``"ntk"`` or ``"standard"``.
      w_std, b_std: weight and bias standard deviations (see above).
      dtype: compute dtype (e.g. ``jnp.bfloat16``) or ``None``; parameters stay float32 and the
        output is cast back to the parameters' dtype.

    Returns:
      A ``Model``; its ``params`` are ``{"dense_0": {"w", ["b"]}, ..., "dense_{depth-1}": ...}``
      and its ``state`` is ``{}``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> model = fully_connected(depth=3, width=64)
      >>> params, state = model.init(jax.random.PRNGKey(0), (28, 28, 1))
      >>> out, _ = model.apply(params, state, jnp.ones((5, 28, 28, 1)), train=False)
      >>> out.shape, model.degree
      ((5, 10), 3)
    """
    depth = _layers.check_positive_int("depth", depth)
    width = _layers.check_positive_int("width", width)
    out_dim = _layers.check_positive_int("out_dim", out_dim)
    act = _layers.get_activation(activation)
    _layers.check_choice("parameterization", parameterization, _layers.PARAMETERIZATIONS)
    dtype = _layers.canonical_dtype(dtype)
    bias = _checks.boolean("bias", bias)
    w_std, b_std = _layers.check_std("w_std", w_std), _layers.check_std("b_std", b_std)
    layer = dict(parameterization=parameterization, w_std=w_std, b_std=b_std)

    def init(key, input_shape):
        fan_in = math.prod(_layers.check_input_shape(input_shape))
        sizes = [fan_in] + [width] * (depth - 1) + [out_dim]

        def build(normal):
            params = {
                f"dense_{i}": _layers.dense_init(normal, sizes[i], sizes[i + 1], bias=bias,
                                                 **layer)
                for i in range(depth)
            }
            return params, {}

        return _layers.init_from_normals(key, build)

    def apply(params, state, x, train):
        _layers.check_train(train)
        h = jnp.reshape(x, (x.shape[0], -1))
        for i in range(depth):
            if i > 0:
                h = act(h)
            h = _layers.dense_apply(params[f"dense_{i}"], h, dtype=dtype, **layer)
        if dtype is not None:
            h = h.astype(params[f"dense_{depth - 1}"]["w"].dtype)
        return h, state

    homogeneous = not bias and activation in _layers.HOMOGENEOUS_ACTIVATIONS
    name = f"fc-d{depth}-w{width}-{activation}-{parameterization}" + ("-bias" if bias else "")
    return Model(init=init, apply=apply, name=name, degree=depth if homogeneous else None)
