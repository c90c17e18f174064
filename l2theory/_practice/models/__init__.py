"""Finite-width networks as pure ``init``/``apply`` functions over parameter pytrees.

See ``l2theory.models`` for the public interface. One file per family; ``_layers`` holds the shared
dense / convolution / BatchNorm pieces and ``_model`` the ``Model`` tuple.
"""

from __future__ import annotations

from typing import Any, Callable

from l2theory._practice.models import _layers
from l2theory._practice.models._model import Model, apply_fn, param_count
from l2theory._practice.models.fully_connected import fully_connected

_FAMILIES: dict[str, Callable[..., Model]] = {
    "fc": fully_connected,
    "fully_connected": fully_connected,
}


def get(name: str, **kwargs: Any) -> Model:
    """Build a model by family name.

    Args:
      name: ``"fc"``/``"fully_connected"``.
      **kwargs: keyword arguments of the family's constructor.

    Raises:
      ValueError: for an unknown name (the message lists the valid ones).

    Example:
      >>> get("fc", depth=2, width=16).degree
      2
    """
    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    if key not in _FAMILIES:
        raise _layers.unknown_option_error("model", name, tuple(_FAMILIES))
    return _FAMILIES[key](**kwargs)


__all__ = ["Model", "apply_fn", "fully_connected", "get", "param_count"]
