"""Finite-width networks: pure ``init``/``apply`` functions over parameter pytrees (pure JAX).

Interface (every family returns a ``Model``)::

    params, state = model.init(key, input_shape)          # input_shape excludes the batch axis
    out, new_state = model.apply(params, state, x, train)  # out: [batch, out_dim]; train: Python bool

``params`` holds every trainable array (BatchNorm scale/offset included), so the L2 term
``lam/2 ||theta||^2`` of the training loss is applied to all of it; ``state`` holds only the
BatchNorm running averages (``{}`` without BatchNorm). ``model.degree`` is the homogeneity degree
``L`` (``f(a*theta) = a^L f(theta)``) of bias-free ReLU/linear networks without BatchNorm, else
``None``.

Families (``get(name, **kwargs)`` builds one by name): ``fully_connected`` (``"fc"``), ``cnn``
(``"cnn"``), ``wide_resnet`` (``"wrn"``, or ``"wrn-28-10"`` for depth 28 and widening 10).
"""

from l2theory._practice.models import Model
from l2theory._practice.models import apply_fn
from l2theory._practice.models import cnn
from l2theory._practice.models import fully_connected
from l2theory._practice.models import get
from l2theory._practice.models import param_count
from l2theory._practice.models import wide_resnet

__all__ = [
    "Model",
    "apply_fn",
    "cnn",
    "fully_connected",
    "get",
    "param_count",
    "wide_resnet",
]
