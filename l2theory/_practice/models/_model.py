"""The ``Model`` interface shared by every network family, and helpers over it."""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

# A parameter's place in the params pytree: the dict keys from the root, e.g. ("conv_0", "w").
ParamPath = tuple[str, ...]

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
      scale_invariant: the paths (``ParamPath``, e.g. ``("conv_0", "w")``) of the weight tensors
        whose output goes straight into a BatchNorm (through nothing but a per-channel bias, which
        the BatchNorm's mean subtraction removes): ``f`` is unchanged when any one of them is
        multiplied by ``a > 0`` (up to BatchNorm's ``eps``), so its gradient is orthogonal to it
        and SGD moves it by an angle of order ``lr / ||w||^2`` (the training rows record these
        tensors' norm, ``docs/conventions.md`` section 8). ``()`` without BatchNorm.
      eval_batch_stats: ``True`` when evaluation (``train=False``) normalizes with the statistics
        of the evaluated batch itself (BatchNorm without running averages): an example's output
        then depends on the other examples of its batch, and a test set is evaluated in shards
        (``TrainConfig.eval_batch_size``).
    """

    init: Callable[..., Any]
    apply: Callable[..., Any]
    name: str
    degree: int | None
    scale_invariant: tuple[ParamPath, ...] = ()
    eval_batch_stats: bool = False


def apply_fn(model: Model, state: Any = None) -> Callable[[Any, Any], Any]:
    """Evaluation-mode closure ``f(params, x) -> out`` of a model.

    Uses ``train=False`` (BatchNorm running averages from ``state``; for a model with
    ``eval_batch_stats`` the statistics of the batch ``x``), so the result is a plain function of
    the parameters, usable by ``empirical_ntk(apply_fn, params, x)`` and by
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


def get_path(tree: Any, path: ParamPath) -> Any:
    """The leaf of a nested dict at ``path`` (``tree[path[0]][path[1]]...``)."""
    for key in path:
        tree = tree[key]
    return tree
