"""The equilibrium of scale-invariant (BatchNorm-preceded) weights under SGD with momentum and L2.

For a weight tensor ``w`` with ``f(a w) = f(w)`` (``a > 0``), the data gradient is orthogonal to
``w``, so only the L2 term changes ``||w||``; SGD with heavy-ball momentum ``mu`` (the package's
``optax.trace``, as google/autol2's ``optimizers.momentum``) on ``mean loss + lam/2 ||theta||^2``
drives the angle ``w`` turns per step to ``sqrt(2 lr lam / (1 + mu))`` radians (root-mean-square
over steps), whatever the gradients, and ``||w||^4`` relaxes to its equilibrium exponentially in
``(1 - mu) / (4 lr lam)`` steps. Derivation, assumptions and what the rows record:
``docs/conventions.md`` section 8.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

import numpy as np

from l2theory import _checks
from l2theory._practice.train.config import TrainConfig


class BNEquilibrium(NamedTuple):
    """``bn_equilibrium``'s result (``_asdict()`` is JSON-ready).

    Fields:
      angular_update: ``sqrt(2 lr lam / (1 + mu))``, radians per step: the root-mean-square over
        steps of the angle each scale-invariant tensor turns per step at equilibrium (the
        quantity of the rows' ``angular_update``).
      relaxation_steps: ``(1 - mu) / (4 lr lam)``: ``||w||^4`` (and ``1 / angle^2``) approaches
        its equilibrium as ``exp(-t / relaxation_steps)``, ``t`` in steps.
      relaxation_natural_time: the same in natural time ``lam lr t``: ``(1 - mu) / 4``.
      momentum_steps: ``1 / (1 - mu)``, the memory of the momentum buffer in steps; the
        relaxation time holds when it is much shorter than ``relaxation_steps``.
      adiabatic_ratio: ``momentum_steps / relaxation_steps = 4 lr lam / (1 - mu)^2``: the
        relative size of the neglected corrections to ``relaxation_steps`` (the equilibrium angle
        has none of that order; its corrections are ``O(lr lam)``).
      tensors: the scale-invariant tensors (``model.scale_invariant``, joined by ``/``); each
        has its own equilibrium, the same angle and time.
    """

    angular_update: float
    relaxation_steps: float
    relaxation_natural_time: float
    momentum_steps: float
    adiabatic_ratio: float
    tensors: tuple[str, ...]


def bn_equilibrium(config: TrainConfig) -> BNEquilibrium:
    """The predicted equilibrium angular update per step and equilibration time of the
    scale-invariant weights of ``config``'s network (``docs/conventions.md`` section 8).

    Covers SGD with heavy-ball momentum ``mu = config.momentum`` (0: plain SGD) and coupled L2
    (``lam/2 ||theta||^2`` in the loss, ``lam > 0``) at a constant lr and lam, on a model with
    scale-invariant weights (BatchNorm after a weight tensor with nothing but a per-channel bias
    in between; ``model.scale_invariant``). Minibatches, augmentation, mixup and BatchNorm groups
    do not enter. Anything else raises ``ValueError`` naming the setting and the fix.

    Returns:
      ``BNEquilibrium``: ``angular_update = sqrt(2 lr lam / (1 + mu))`` (radians per step),
      ``relaxation_steps = (1 - mu) / (4 lr lam)``, ``relaxation_natural_time = (1 - mu) / 4``,
      ``momentum_steps = 1 / (1 - mu)``, ``adiabatic_ratio = 4 lr lam / (1 - mu)^2`` and the
      tensors it applies to.

    Example:
      >>> from l2theory import train
      >>> cfg = train.TrainConfig(model="cnn", model_kwargs={"batchnorm": True}, lr=0.05,
      ...                         lam=0.02, momentum=0.9)
      >>> eq = bn_equilibrium(cfg)
      >>> round(eq.angular_update, 4), round(eq.relaxation_steps, 1)
      (0.0324, 25.0)
    """
    if not isinstance(config, TrainConfig):
        raise _checks.bad("config", config, f"must be a TrainConfig, not "
                          f"{_checks.type_name(config)}",
                          "e.g. train.TrainConfig(model='cnn', model_kwargs={'batchnorm': True}, "
                          "lam=0.01, momentum=0.9)", kind=TypeError)
    if config.lam <= 0:
        raise _checks.bad("lam", config.lam, "without L2 the norm of scale-invariant weights "
                          "only grows and the angular update decays: there is no equilibrium",
                          "pass lam > 0")
    if config.setting("decoupled_weight_decay") and config.momentum > 0:
        raise _checks.bad("decoupled_weight_decay", True, "the equilibrium is derived for L2 in "
                          "the loss (decay before momentum), not for decoupled weight decay",
                          "pass decoupled_weight_decay=None (coupled L2)")
    if config.lr_schedule != "constant":
        raise _checks.bad("lr_schedule", config.lr_schedule, "the equilibrium is derived for a "
                          "constant learning rate", "pass lr_schedule='constant'")
    if config.lam_schedule != "constant":
        raise _checks.bad("lam_schedule", config.lam_schedule, "the equilibrium is derived for "
                          "a constant lam", "pass lam_schedule='constant'")
    model = config.build_model(10)
    if not model.scale_invariant:
        raise _checks.bad("model", config.model, f"{model.name} has no scale-invariant weights "
                          "(no weight tensor followed by BatchNorm)",
                          "use a BatchNorm network, e.g. model='cnn' with "
                          "model_kwargs={'batchnorm': True}, or model='wrn-16-4'")
    lr, lam, mu = float(config.lr), float(config.lam), float(config.momentum)
    relax = (1.0 - mu) / (4.0 * lr * lam)
    return BNEquilibrium(
        angular_update=math.sqrt(2.0 * lr * lam / (1.0 + mu)),
        relaxation_steps=relax,
        relaxation_natural_time=(1.0 - mu) / 4.0,
        momentum_steps=1.0 / (1.0 - mu),
        adiabatic_ratio=1.0 / ((1.0 - mu) * relax),
        tensors=tuple("/".join(p) for p in model.scale_invariant))


def late_angular_update(rows: Mapping[str, Any], after: float) -> float:
    """The root-mean-square angular update over every step after step ``after``, from a run's
    rows (``train.train``'s table, or one lane of a sweep's): the rows' ``angular_update`` (each
    the RMS over the steps since the previous row) squared, weighted by those steps, averaged
    over the rows whose window starts at or after ``after``, and square-rooted. ``ValueError``
    when no such row has a window."""
    cols = _checks.columns(rows, ("step", "angular_update"))
    step = cols["step"].astype(np.float64)
    angle = cols["angular_update"].astype(np.float64)
    width = np.diff(step, prepend=step[:1])
    start = step - width
    use = (start >= after) & (width > 0) & np.isfinite(angle)
    if not use.any():
        raise _checks.bad("after", after, f"no row's window starts at or after it (last step "
                          f"{int(step.max()) if len(step) else None})",
                          "pass a step inside the run")
    return float(np.sqrt(np.sum(width[use] * angle[use] ** 2) / np.sum(width[use])))
