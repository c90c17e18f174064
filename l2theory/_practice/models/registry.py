"""The model families by name: the one place a model name is resolved (``get``,
``TrainConfig(model=...)``, the theory's family lookup and the command line's choices)."""

from __future__ import annotations

import re
import types
from typing import Any, Callable, Mapping, NamedTuple

from l2theory import _checks
from l2theory._practice.models._model import Model
from l2theory._practice.models.cnn import cnn
from l2theory._practice.models.fully_connected import fully_connected
from l2theory._practice.models.wide_resnet import wide_resnet


class Family(NamedTuple):
    """A model family: its ``name``, its ``constructor`` (keyword arguments only, returns a
    ``Model``) and the other names (``aliases``) that ``get`` accepts for it."""

    name: str
    constructor: Callable[..., Model]
    aliases: tuple[str, ...] = ()


FAMILIES: Mapping[str, Family] = types.MappingProxyType({f.name: f for f in (
    Family("fc", fully_connected, ("fully_connected",)),
    Family("cnn", cnn),
    Family("wrn", wide_resnet, ("wide_resnet",)),
)})
"""The families by name. ``"wrn-{depth}-{widen}"`` (e.g. ``"wrn-28-10"``) names ``"wrn"`` with
``depth`` and ``widen`` set, ``"wrn-{depth}-{widen}-autol2"`` also ``variant="autol2"``."""

_BY_NAME = {n: f for f in FAMILIES.values() for n in (f.name, *f.aliases)}
_WRN_NAME = re.compile(r"wrn-(\d+)-(\d+)(-autol2)?")


def _lookup(name: str, arg: str) -> tuple[Family, dict[str, Any]]:
    if not isinstance(name, str):
        raise _checks.bad(arg, name, f"must be a model family name, not {type(name).__name__}",
                          "e.g. 'fc', 'cnn' or 'wrn-16-4'", kind=TypeError)
    match = _WRN_NAME.fullmatch(name.lower())
    if match:
        fixed: dict[str, Any] = {"depth": int(match[1]), "widen": int(match[2])}
        if match[3]:
            fixed["variant"] = "autol2"
        return FAMILIES["wrn"], fixed
    key = name.lower().replace("-", "_")
    if key not in _BY_NAME:
        raise _checks.bad(arg, name, "unknown model", "valid: " + ", ".join(
            repr(k) for k in tuple(_BY_NAME) + ("wrn-28-10",)))
    return _BY_NAME[key], {}


def resolve(name: str, *, arg: str = "name") -> tuple[Callable[..., Model], dict[str, Any]]:
    """The family constructor of a model name and the arguments the name fixes (``"wrn-28-10"``:
    ``depth=28, widen=10``; ``"wrn-28-10-autol2"``: also ``variant="autol2"``); errors name the
    argument as ``arg``."""
    found, fixed = _lookup(name, arg)
    return found.constructor, fixed


def family(name: str, *, arg: str = "name") -> str:
    """The family a model name belongs to: ``"fc"``, ``"cnn"`` or ``"wrn"`` (a key of
    ``FAMILIES``); errors name the argument as ``arg``.

    Example:
      >>> family("fully_connected"), family("wrn-16-4")
      ('fc', 'wrn')
    """
    return _lookup(name, arg)[0].name


def get(name: str, **kwargs: Any) -> Model:
    """Build a model by family name.

    Args:
      name: ``"fc"``/``"fully_connected"``, ``"cnn"``, ``"wrn"``/``"wide_resnet"``, or
        ``"wrn-{depth}-{widen}"`` (e.g. ``"wrn-28-10"``), which sets ``depth`` and ``widen``, or
        ``"wrn-{depth}-{widen}-autol2"``, which also sets ``variant="autol2"`` (the model's own
        ``name`` then reads back to it).
      **kwargs: keyword arguments of the family's constructor.

    Raises:
      ValueError: for an unknown name (the message lists the valid ones); ``TypeError`` for a
        name that is not a string.

    Example:
      >>> get("fc", depth=2, width=16).degree
      2
      >>> get("cnn").name   # the family's defaults
      'cnn-d3-w64'
      >>> get("wrn-16-4").name, get("wrn-16-4-autol2").name
      ('wrn-16-4', 'wrn-16-4-autol2')
    """
    constructor, fixed = resolve(name)
    clash = sorted(set(fixed) & set(kwargs))
    if clash:
        raise _checks.bad(clash[0], kwargs[clash[0]],
                          f"{name!r} already sets {', '.join(sorted(fixed))}",
                          f"drop {clash[0]}, or use the name 'wrn'")
    return constructor(**fixed, **kwargs)
