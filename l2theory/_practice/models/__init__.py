"""Finite-width networks as pure ``init``/``apply`` functions over parameter pytrees.

See ``l2theory.models`` for the public interface. One file per family; ``_layers`` holds the shared
dense / convolution / BatchNorm pieces and ``_model`` the ``Model`` tuple.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from l2theory import _checks
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
      ValueError: for an unknown name (the message lists the valid ones); ``TypeError`` for a
        name that is not a string.

    Example:
      >>> get("fc", depth=2, width=16).degree
      2
      >>> get("cnn").name   # the family's defaults
      'cnn-d3-w64'
      >>> get("wrn-16-4").name
      'wrn-16-4'
    """
    factory, fixed = resolve(name)
    clash = sorted(set(fixed) & set(kwargs))
    if clash:
        raise _checks.bad(clash[0], kwargs[clash[0]], f"{name!r} already sets depth and widen",
                          f"drop {clash[0]}, or use the name 'wrn'")
    return factory(**fixed, **kwargs)


def resolve(name: str, *, arg: str = "name") -> tuple[Callable[..., Model], dict[str, int]]:
    """The family constructor of a model name and the arguments the name fixes (``"wrn-28-10"``:
    ``depth=28, widen=10``); errors name the argument as ``arg``."""
    if not isinstance(name, str):
        raise _checks.bad(arg, name, f"must be a model family name, not {type(name).__name__}",
                          "e.g. 'fc', 'cnn' or 'wrn-16-4'", kind=TypeError)
    match = _WRN_NAME.fullmatch(name.lower())
    if match:
        return wide_resnet, {"depth": int(match[1]), "widen": int(match[2])}
    key = name.lower().replace("-", "_")
    if key not in _FAMILIES:
        raise _checks.bad(arg, name, "unknown model", "valid: " + ", ".join(
            repr(k) for k in tuple(_FAMILIES) + ("wrn-28-10",)))
    return _FAMILIES[key], {}


__all__ = ["Model", "apply_fn", "cnn", "fully_connected", "get", "param_count", "wide_resnet"]
