"""Finite-width networks: pure ``init``/``apply`` functions over parameter pytrees (pure JAX).

Interface (every family returns a ``Model``)::

    params, state = model.init(key, input_shape)          # input_shape excludes the batch axis
    out, new_state = model.apply(params, state, x, train)  # out: [batch, out_dim]; train: Python bool

``params`` holds every trainable array (BatchNorm scale/offset included), so the L2 term
``lam/2 ||theta||^2`` of the training loss is applied to all of it; ``state`` holds only the
BatchNorm running averages (``{}`` without BatchNorm). ``model.degree`` is the homogeneity degree
``L`` (``f(a*theta) = a^L f(theta)``) of bias-free ReLU/linear networks without BatchNorm, else
``None``; ``model.scale_invariant`` lists the weight tensors that feed a BatchNorm (``f`` is
invariant to each one's scale) and ``model.eval_batch_stats`` says whether evaluation normalizes
with the evaluated batch's own statistics. ``apply_fn(model, state)`` is the evaluation-mode
``f(params, x)``; ``param_count`` counts a parameter pytree's scalars.

Families (``get(name, **kwargs)`` builds one by name; ``FAMILIES`` maps each name to its
``Family``: constructor and aliases): ``fully_connected`` (``"fc"``), ``cnn`` (``"cnn"``),
``wide_resnet`` (``"wrn"``, or ``"wrn-28-10"`` for depth 28 and widening 10; ``variant="autol2"``
is google/autol2's WRN, the paper's network). The BatchNorm families take ``bn_group_size``:
training statistics per group of that many consecutive examples (ghost BatchNorm: one GPU runs a
data-parallel step of ``batch / bn_group_size`` devices). The ``activation`` and
``parameterization`` arguments take one of ``ACTIVATIONS`` and ``PARAMETERIZATIONS``.
"""

from l2theory._practice.models import ACTIVATIONS
from l2theory._practice.models import FAMILIES
from l2theory._practice.models import PARAMETERIZATIONS
from l2theory._practice.models import Family
from l2theory._practice.models import Model
from l2theory._practice.models import apply_fn
from l2theory._practice.models import cnn
from l2theory._practice.models import fully_connected
from l2theory._practice.models import get
from l2theory._practice.models import param_count
from l2theory._practice.models import wide_resnet

__all__ = [
    "ACTIVATIONS",
    "FAMILIES",
    "Family",
    "Model",
    "PARAMETERIZATIONS",
    "apply_fn",
    "cnn",
    "fully_connected",
    "get",
    "param_count",
    "wide_resnet",
]
