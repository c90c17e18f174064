"""Shared building blocks: dense, convolution, BatchNorm, pooling, activations, argument checks.

Each layer is an ``*_init`` function returning a dict of trainable arrays and an ``*_apply``
function; initializers take a ``normal(shape)`` sampler supplied by ``init_from_normals``. Parameterizations (for weights ``W`` and biases ``b`` of a layer with fan-in ``n``):

- ``"ntk"``: ``W ~ N(0, 1)``, ``b ~ N(0, 1)``; forward ``h = w_std/sqrt(n) * x @ W + b_std * b``
  (exactly neural-tangents' ``stax.Dense``/``stax.Conv`` in NTK parameterization).
- ``"standard"``: ``W ~ N(0, w_std^2/n)``, ``b ~ N(0, b_std^2)``; forward ``h = x @ W + b``.

Both give the same function at initialization in distribution; they differ in how gradient
descent (and L2) acts on the weights.

Mixed precision: ``dtype`` is the compute dtype (``None``: no cast). Inputs and weights are cast to
it inside ``apply``; parameters themselves stay float32. BatchNorm statistics are computed in
float32, or in float64 for float64 inputs (``stats_dtype``).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks

PARAMETERIZATIONS = ("ntk", "standard")
POOLS = ("max", "avg")

ACTIVATION_FNS: dict[str, Callable[[Any], Any]] = {
    "relu": jax.nn.relu,
    "linear": lambda x: x,
    "identity": lambda x: x,
    "tanh": jnp.tanh,
    "erf": jax.scipy.special.erf,
    "gelu": functools.partial(jax.nn.gelu, approximate=False),
}
ACTIVATIONS = tuple(ACTIVATION_FNS)
# Positively homogeneous of degree 1: act(a*x) = a*act(x) for a > 0.
HOMOGENEOUS_ACTIVATIONS = ("relu", "linear", "identity")


# ----------------------------------------------------------------------------- argument checks


def check_choice(what: str, value: Any, valid: Sequence[Any]) -> Any:
    """``value`` if it is one of ``valid``, else ``what=value: unknown what; valid: ...``."""
    return _checks.choice(what, value, tuple(valid))


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1: ``TypeError`` for a non-int (a bool, a float), ``ValueError``
    below 1, both naming the argument."""
    return _checks.positive_int(name, value)


def check_std(name: str, value: Any) -> float:
    """A weight or bias standard deviation: a finite float >= 0."""
    return _checks.real(name, value, low=0.0, fix="e.g. 2**0.5 (He) or 1.0")


def check_train(train: Any) -> bool:
    """``train`` must be a concrete Python bool (jit ``apply`` with ``static_argnames='train'``)."""
    if not isinstance(train, (bool, np.bool_)):
        raise _checks.bad("train", train, f"must be a Python bool, not {type(train).__name__}",
                          "when jitting apply, mark it static: "
                          "jax.jit(model.apply, static_argnames='train')", kind=TypeError)
    return bool(train)


def check_input_shape(input_shape: Any, ndim: int | None = None) -> tuple[int, ...]:
    """Input shape without the batch axis, as a tuple of positive ints."""
    try:
        shape = tuple(int(s) for s in input_shape)
    except (jax.errors.TracerIntegerConversionError, jax.errors.ConcretizationTypeError):
        raise _checks.bad("input_shape", _checks.Described("<traced>"),
                          "must be static Python ints",
                          "close over it instead, e.g. jax.eval_shape(lambda key: "
                          "model.init(key, (32, 32, 3)), key)", kind=TypeError) from None
    except TypeError:
        raise _checks.bad("input_shape", input_shape, "must be a tuple of ints without the batch "
                          "axis", "e.g. (28, 28, 1)", kind=TypeError) from None
    if not shape or any(s < 1 for s in shape):
        raise _checks.bad("input_shape", input_shape, "must be non-empty with positive sizes",
                          "e.g. (28, 28, 1)")
    if ndim is not None and len(shape) != ndim:
        raise _checks.bad("input_shape", input_shape, f"must have {ndim} axes (height, width, "
                          "channels) without the batch axis", "e.g. (32, 32, 3)")
    return shape


def get_activation(name: str) -> Callable[[Any], Any]:
    return ACTIVATION_FNS[check_choice("activation", name, ACTIVATIONS)]


def canonical_dtype(dtype: Any) -> Any:
    """``None`` or a numpy dtype (validates ``dtype`` early, at model construction)."""
    if dtype is None:
        return None
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        raise _checks.bad("dtype", dtype, "not a dtype", "e.g. jnp.bfloat16, or None",
                          kind=TypeError) from None
    if not jnp.issubdtype(dt, jnp.floating):
        raise _checks.bad("dtype", dtype, "must be a floating dtype", "e.g. jnp.bfloat16, or None")
    return dt


def cast(x: Any, dtype: Any) -> Any:
    return x if dtype is None else x.astype(dtype)


# ----------------------------------------------------------------------------- dense


def init_from_normals(key, build: Callable[[Callable[[Sequence[int]], Any]], Any]) -> Any:
    """Run ``build(normal)``, where ``normal(shape)`` returns standard normal float32 arrays.

    All the draws of one ``init`` are slices of a single ``jax.random.normal(key, (total,))``
    call: a first, abstract pass (``jax.eval_shape``, nothing computed) records the shapes. One
    random program instead of one per layer shape makes ``init`` compile several times faster
    (eagerly or under jit), which matters for deep networks on CPU.
    """
    shapes = []

    def record(shape):
        shapes.append(tuple(shape))
        return jnp.zeros(shape, jnp.float32)

    jax.eval_shape(lambda: build(record))
    sizes = [math.prod(shape) for shape in shapes]
    flat = jax.random.normal(key, (sum(sizes),), jnp.float32)
    pieces = iter(jnp.split(flat, np.cumsum(sizes)[:-1].tolist()))

    def take(shape):
        return next(pieces).reshape(shape)

    return build(take)


def _weight_init(normal, shape, fan_in, parameterization, w_std):
    z = normal(shape)
    return z if parameterization == "ntk" else (w_std / math.sqrt(fan_in)) * z


def _bias_init(normal, shape, parameterization, b_std):
    z = normal(shape)
    return z if parameterization == "ntk" else b_std * z


def dense_init(normal, fan_in: int, fan_out: int, *, bias: bool, parameterization: str,
               w_std: float, b_std: float) -> dict:
    """``{"w": [fan_in, fan_out]}`` plus ``"b": [fan_out]`` when ``bias``.

    ``normal(shape)`` supplies standard normal draws (see ``init_from_normals``).
    """
    p = {"w": _weight_init(normal, (fan_in, fan_out), fan_in, parameterization, w_std)}
    if bias:
        p["b"] = _bias_init(normal, (fan_out,), parameterization, b_std)
    return p


def dense_apply(p: dict, x, *, parameterization: str, w_std: float, b_std: float, dtype=None):
    x = cast(x, dtype)
    w = cast(p["w"], dtype)
    h = x @ w
    if parameterization == "ntk":
        h = (w_std / math.sqrt(w.shape[0])) * h
    if "b" in p:
        b = cast(p["b"], dtype)
        h = h + (b_std * b if parameterization == "ntk" else b)
    return h


# ----------------------------------------------------------------------------- convolution


def conv_init(normal, kernel_size: int, c_in: int, c_out: int, *, bias: bool,
              parameterization: str, w_std: float, b_std: float) -> dict:
    """``{"w": [k, k, c_in, c_out]}`` (HWIO) plus ``"b": [c_out]``; fan-in is ``k*k*c_in``."""
    fan_in = kernel_size * kernel_size * c_in
    shape = (kernel_size, kernel_size, c_in, c_out)
    p = {"w": _weight_init(normal, shape, fan_in, parameterization, w_std)}
    if bias:
        p["b"] = _bias_init(normal, (c_out,), parameterization, b_std)
    return p


PADDINGS = ("symmetric", "SAME")


def conv_apply(p: dict, x, *, stride: int = 1, parameterization: str = "standard",
               w_std: float = 2**0.5, b_std: float = 0.0, dtype=None,
               padding: str = "symmetric"):
    """NHWC convolution with zero padding. ``padding="symmetric"``: odd kernels pad ``(k-1)/2`` on
    every side (PyTorch's ``padding=k//2``, so a stride-2 3x3 conv maps 32x32 to 16x16 with
    windows centred on the even pixels), even kernels use ``"SAME"``. ``padding="SAME"``: XLA's
    (TensorFlow's, stax's) ``"SAME"``, which puts an odd total padding's extra pixel at the end:
    a stride-2 3x3 conv on 32x32 pads ``(0, 1)`` and centres its windows on the odd pixels."""
    x = cast(x, dtype)
    w = cast(p["w"], dtype)
    k = w.shape[0]
    if padding == "SAME" or k % 2 == 0:
        pads = "SAME"
    else:
        pads = [((k - 1) // 2, (k - 1) // 2)] * 2
    h = jax.lax.conv_general_dilated(
        x, w, window_strides=(stride, stride), padding=pads,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    if parameterization == "ntk":
        h = (w_std / math.sqrt(k * k * w.shape[2])) * h
    if "b" in p:
        b = cast(p["b"], dtype)
        h = h + (b_std * b if parameterization == "ntk" else b)
    return h


# ----------------------------------------------------------------------------- batchnorm


def batchnorm_init(channels: int) -> tuple[dict, dict]:
    """Trainable ``{"scale": 1, "offset": 0}`` and state ``{"mean": 0, "var": 1}`` per channel."""
    params = {"scale": jnp.ones((channels,), jnp.float32),
              "offset": jnp.zeros((channels,), jnp.float32)}
    state = {"mean": jnp.zeros((channels,), jnp.float32),
             "var": jnp.ones((channels,), jnp.float32)}
    return params, state


def check_group_size(group_size: Any, batchnorm: bool) -> int | None:
    """``bn_group_size``: ``None`` or an int >= 1, and only for a model with BatchNorm."""
    group_size = _checks.optional_int(
        "bn_group_size", group_size,
        fix="pass the examples per BatchNorm group (e.g. 128), or None for the whole batch")
    if group_size is not None and not batchnorm:
        raise _checks.bad("bn_group_size", group_size, "has no effect without BatchNorm",
                          "pass batchnorm=True, or leave bn_group_size unset (None)")
    return group_size


def stats_dtype(dtype) -> Any:
    """The dtype BatchNorm computes in: float32, or float64 for float64 inputs."""
    return jnp.promote_types(dtype, jnp.float32)


def _group_statistics(x32, group_size: int):
    """``x32`` ``[B, ..., C]`` as ``[B / g, g, ..., C]`` with the mean and biased variance of each
    group of ``g = group_size`` consecutive examples (``[B / g, 1, ..., 1, C]``)."""
    batch = x32.shape[0]
    if batch % group_size:
        raise _checks.bad("bn_group_size", group_size, f"does not divide the batch of {batch} "
                          "examples (BatchNorm groups are consecutive slices of the batch)",
                          "pass a batch whose size is a multiple of it, or bn_group_size=None")
    xg = x32.reshape((batch // group_size, group_size) + x32.shape[1:])
    axes = tuple(range(1, xg.ndim - 1))
    mean = jnp.mean(xg, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(xg - mean), axis=axes, keepdims=True)
    return xg, mean, var


def batch_normalize(p: dict, x, *, group_size: int | None = None, eps: float = 1e-5):
    """BatchNorm with batch statistics only (``jax.example_libraries.stax.BatchNorm``), in
    ``stats_dtype`` (float32, or float64 for float64 inputs).

    ``y = (x - mu) / sqrt(var + eps) * scale + offset`` with ``mu``, ``var`` the mean and biased
    variance over all axes but the last (channels) of each group of ``group_size`` consecutive
    examples (``None``: the whole batch is one group). A batch of ``G g`` examples in groups of
    ``g`` gives exactly the outputs of ``G`` separate batches of ``g`` ("ghost" BatchNorm: one
    device's batch of a data-parallel step). Returns ``(y in x.dtype, mu, var)`` with ``mu`` and
    ``var`` of shape ``[G, C]`` (``G = 1`` without groups).
    """
    x32 = x.astype(stats_dtype(x.dtype))
    if group_size is None:
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x32, axis=axes)
        var = jnp.mean(jnp.square(x32 - mean), axis=axes)
        y = (x32 - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["offset"]
        return y.astype(x.dtype), mean[None], var[None]
    xg, mean, var = _group_statistics(x32, group_size)
    y = ((xg - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["offset"]).reshape(x.shape)
    c = x.shape[-1]
    return y.astype(x.dtype), mean.reshape(-1, c), var.reshape(-1, c)


def batchnorm_apply(p: dict, s: dict | None, x, *, train: bool, momentum: float = 0.9,
                    eps: float = 1e-5, group_size: int | None = None):
    """BatchNorm over all axes but the last (channels), in ``stats_dtype``, with running
    averages.

    ``y = (x - mu) / sqrt(var + eps) * scale + offset``. ``train=True``: ``mu, var`` are the batch
    mean and (biased) variance - per group of ``group_size`` consecutive examples when it is set
    (``batch_normalize``) - and the running averages become ``momentum * running + (1 - momentum)
    * batch``, ``batch`` the mean over the groups of their statistics (``momentum=0.9`` is
    PyTorch's 0.1). ``train=False``: the running averages are used and ``s`` is returned
    unchanged.

    Returns ``(y in x.dtype, new_s)``.
    """
    if s is None:
        raise _checks.bad("state", s, "this model uses BatchNorm and the state lacks its "
                          "running averages", "pass the state returned by init, e.g. "
                          "apply_fn(model, state)")
    if train:
        y, mean, var = batch_normalize(p, x, group_size=group_size, eps=eps)
        bm = jax.lax.stop_gradient(jnp.mean(mean, axis=0))
        bv = jax.lax.stop_gradient(jnp.mean(var, axis=0))
        new_s = {"mean": (momentum * s["mean"] + (1.0 - momentum) * bm).astype(s["mean"].dtype),
                 "var": (momentum * s["var"] + (1.0 - momentum) * bv).astype(s["var"].dtype)}
        return y, new_s
    x32 = x.astype(stats_dtype(x.dtype))
    y = (x32 - s["mean"]) * jax.lax.rsqrt(s["var"] + eps) * p["scale"] + p["offset"]
    return y.astype(x.dtype), s


# ----------------------------------------------------------------------------- pooling


def pool(x, kind: str, window: int = 2):
    """``window x window`` max/avg pooling with stride ``window`` (VALID) over NHWC.

    Written as a reshape and a reduction rather than ``lax.reduce_window``: the latter's init
    value becomes a traced constant under ``jit``, and ``jit(grad(...))`` then fails to linearize.
    """
    b, h, w, c = x.shape
    h2, w2 = h // window, w // window
    x = x[:, : h2 * window, : w2 * window, :].reshape(b, h2, window, w2, window, c)
    if kind == "max":
        return jnp.max(x, axis=(2, 4))
    return jnp.mean(x, axis=(2, 4))


def global_pool(x, kind: str | None):
    """``"avg"``/``"max"`` over the spatial axes -> ``[batch, channels]``; ``None`` flattens."""
    if kind == "avg":
        return jnp.mean(x, axis=(1, 2))
    if kind == "max":
        return jnp.max(x, axis=(1, 2))
    return x.reshape(x.shape[0], -1)
