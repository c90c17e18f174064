"""Finite-width networks as pure ``init``/``apply`` functions over parameter pytrees (private;
the public names are re-exported by ``l2theory.models``).

One file per family (``fully_connected``, ``cnn``, ``wide_resnet``); ``_layers`` holds the shared
dense / convolution / BatchNorm pieces and the activation and parameterization names, ``_model``
the ``Model`` tuple, ``registry`` the families by name (``get``, ``resolve``, ``family``).
"""

from l2theory._practice.models._layers import ACTIVATIONS, PARAMETERIZATIONS
from l2theory._practice.models._model import Model, apply_fn, param_count
from l2theory._practice.models.cnn import cnn
from l2theory._practice.models.fully_connected import fully_connected
from l2theory._practice.models.registry import FAMILIES, Family, family, get, resolve
from l2theory._practice.models.wide_resnet import wide_resnet

__all__ = ["ACTIVATIONS", "FAMILIES", "Family", "Model", "PARAMETERIZATIONS", "apply_fn", "cnn",
           "family", "fully_connected", "get", "param_count", "resolve", "wide_resnet"]
