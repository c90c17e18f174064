"""The ``Model`` interface shared by every network family, and helpers over it."""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax


class Model(NamedTuple):
    """A network as a pair of pure functions over parameter pytrees.

    Attributes:
      init: ``init(key, input_shape) -> (params, state)``. ``input_shape`` excludes the batch axis,
        e.g. ``(28, 28, 1)``. ``params`` is a (nested) dict of float32 arrays holding every
        *trainable* array - the L2 term ``lam/2 ||theta||^2`` is applied to all of them, BatchNorm
        scale and offset included. ``state`` is a (nested) dict holding only non-trainable
        BatchNorm running averages; it is ``{}`` for a model without BatchNorm.
      apply: ``apply(params, state, x, train) -> (out, new_state)`` with ``x`` of shape
        ``[batch, *input_shape]`` and ``out`` of shape ``[batch, out_dim]`` (float32 unless the
        parameters are float64). ``train`` must be a Python bool, so ``apply`` can be jitted with
        ``static_argnames="train"``. ``train=True``: BatchNorm uses batch statistics and
        ``new_state`` holds the updated running averages. ``train=False``: BatchNorm uses the
        running averages and ``new_state`` is ``state`` unchanged.
      name: short, filesystem-safe description, e.g. ``"fc-d3-w512-relu-ntk"`` or ``"wrn-28-10"``.
      degree: the homogeneity degree ``L`` when ``f(x; a*theta) = a^L f(x; theta)`` holds for all
        ``a > 0`` and all parameters (bias-free ReLU/linear networks without BatchNorm), else
        ``None``. Then Euler's identity ``theta . grad_theta f = L f`` holds too.
    """

    init: Callable[..., Any]
    apply: Callable[..., Any]
    name: str
    degree: int | None


def apply_fn(model: Model, state: Any = None) -> Callable[[Any, Any], Any]:
    """Evaluation-mode closure ``f(params, x) -> out`` of a model.

    Uses ``train=False`` (BatchNorm running averages from ``state``), so the result is a plain
    function of the parameters, usable by ``empirical_ntk(apply_fn, params, x)`` and by
    ``jax.jacobian``.

    Args:
      model: a ``Model``.
      state: the model state from ``init`` (or from training). ``None`` means ``{}``, which is only
        valid for models without BatchNorm.

    Returns:
      ``f(params, x) = model.apply(params, state, x, False)[0]``.
    """
    state = {} if state is None else state

    def f(params, x):
        return model.apply(params, state, x, False)[0]

    return f


def param_count(params: Any) -> int:
    """Number of scalars in a parameter pytree.

    Works on concrete arrays and on the ``jax.ShapeDtypeStruct`` leaves returned by
    ``jax.eval_shape(lambda key: model.init(key, input_shape), key)`` (``input_shape`` must stay
    static), so large models can be counted without allocating them.
    """
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params)))
