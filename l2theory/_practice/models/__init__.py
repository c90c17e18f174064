"""Finite-width networks as pure ``init``/``apply`` functions over parameter pytrees.

See ``l2theory.models`` for the public interface. One file per family; ``_layers`` holds the shared
dense / convolution / BatchNorm pieces and ``_model`` the ``Model`` tuple.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from l2theory._practice.models import _layers
from l2theory._practice.models._model import Model, apply_fn, param_count
from l2theory._practice.models.cnn import cnn
from l2theory._practice.models.fully_connected import fully_connected
from l2theory._practice.models.wide_resnet import wide_resnet

_FAMILIES: dict[str, Callable[..., Model]] = {
    "fc": fully_connected,
    "fully_connected": fully_connected,
    "cnn": cnn,
    "wrn": wide_resnet,
    "wide_resnet": wide_resnet,
}
_WRN_NAME = re.compile(r"wrn-(\d+)-(\d+)")


def get(name: str, **kwargs: Any) -> Model:
    """Build a model by family name.

    Args:
      name: ``"fc"``/``"fully_connected"``, ``"cnn"``, ``"wrn"``/``"wide_resnet"``, or
        ``"wrn-{depth}-{widen}"`` (e.g. ``"wrn-28-10"``), which sets ``depth`` and ``widen``.
      **kwargs: keyword arguments of the family's constructor.

    Raises:
      ValueError: for an unknown name (the message lists the valid ones).

    Example:
      >>> get("fc", depth=2, width=16).degree
      2
      >>> get("wrn-16-4").name
      'wrn-16-4'
    """
    if isinstance(name, str):
        match = _WRN_NAME.fullmatch(name.lower())
        if match:
            clash = sorted({"depth", "widen"} & set(kwargs))
            if clash:
                raise ValueError(f"{name!r} already sets depth and widen; drop {clash} or use 'wrn'")
            return wide_resnet(depth=int(match[1]), widen=int(match[2]), **kwargs)
        key = name.lower().replace("-", "_")
    else:
        key = name
    if key not in _FAMILIES:
        raise _layers.unknown_option_error("model", name, tuple(_FAMILIES) + ("wrn-28-10",))
    return _FAMILIES[key](**kwargs)


__all__ = ["Model", "apply_fn", "cnn", "fully_connected", "get", "param_count", "wide_resnet"]
