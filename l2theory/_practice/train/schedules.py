"""Learning-rate and L2 schedules as pure, jittable functions of the step (time in steps).

The lr schedule is a function of the step alone. The lam schedule has state: AutoL2 (Lewkowycz &
Gur-Ari 2020, section 4; ``docs/conventions.md`` section 3, relation 4) decides from the measured
training loss and accuracy, so its state (``LamState``) rides in the training state and
``autol2_update`` is the pure rule, unit-testable on a scripted sequence of measurements.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax.numpy as jnp

from l2theory import _checks


def step_boundaries(total_steps: int, decay_at: Sequence[float]) -> list[int]:
    """Steps at which a ``"step"`` schedule decays: ``floor(f * total_steps)`` for each fraction.

    Computed on the host in float64 (with a 1e-9 relative slack, so ``0.7 * 10`` is 7, not 6) and
    then carried as integers, so the decay steps are exact whatever the compute dtype.
    """
    return [int(math.floor(f * total_steps * (1 + 1e-9))) for f in decay_at]


def lr_at(kind: str, base_lr, step, total_steps, boundaries, decay_factor: float):
    """Learning rate used for the step ``step -> step + 1``.

    - ``"constant"``: ``base_lr``.
    - ``"step"``: ``base_lr * decay_factor ** (number of boundaries <= step)``.
    - ``"cosine"``: ``base_lr * (1 + cos(pi * step / total_steps)) / 2``.

    ``base_lr``, ``step``, ``total_steps`` and ``boundaries`` (int array, from ``step_boundaries``)
    may be traced, so one compiled program serves lanes of different lengths.
    """
    if kind == "constant":
        return base_lr
    if kind == "step":
        passed = jnp.sum(jnp.asarray(step) >= jnp.asarray(boundaries))
        return base_lr * jnp.asarray(decay_factor, jnp.result_type(base_lr)) ** passed
    if kind == "cosine":
        frac = jnp.asarray(step, jnp.result_type(base_lr)) / total_steps
        return base_lr * (0.5 * (1.0 + jnp.cos(jnp.pi * jnp.minimum(frac, 1.0))))
    raise _checks.bad("kind", kind, "unknown lr schedule", "valid: 'constant', 'step', 'cosine'")


class LamState(NamedTuple):
    """State of the lam schedule (scalars; a leading lane axis in a sweep).

    Attributes:
      lam: current L2 coefficient (parameter dtype).
      best_loss: lowest measured training loss so far (``+inf`` before the first measurement).
      best_acc: highest measured training accuracy so far (``-inf`` before the first).
      stale: int32, number of consecutive latest measurements no better than the best before them.
      last_change: int32, step of the last change of lam (0 at the start).
      loss_sum, acc_sum: sums of the minibatch training loss / accuracy since the last measurement.
    """

    lam: jnp.ndarray
    best_loss: jnp.ndarray
    best_acc: jnp.ndarray
    stale: jnp.ndarray
    last_change: jnp.ndarray
    loss_sum: jnp.ndarray
    acc_sum: jnp.ndarray


def lam_init(lam, dtype) -> LamState:
    """Initial ``LamState`` for base coefficient ``lam``."""
    dtype = jnp.dtype(dtype)
    zero = jnp.zeros((), dtype)
    return LamState(
        lam=jnp.asarray(lam, dtype),
        best_loss=jnp.full((), jnp.inf, dtype),
        best_acc=jnp.full((), -jnp.inf, dtype),
        stale=jnp.zeros((), jnp.int32),
        last_change=jnp.zeros((), jnp.int32),
        loss_sum=zero,
        acc_sum=zero,
    )


def autol2_update(state: LamState, loss, acc, step, *, factor: float = 10.0,
                  refractory: int = 100) -> LamState:
    """AutoL2's rule for one measurement ``(loss, acc)`` of the training loss and accuracy.

    The measurement taken after ``step`` steps is *no better* when its loss is not below the
    lowest loss measured before it, or its accuracy is not above the highest accuracy measured
    before it (the first measurement is always better). Then::

        if the last two measurements were both no better and step - last_change >= refractory:
            lam <- lam / factor;  last_change <- step

    The refractory period runs from the start too (``last_change = 0``), so lam never changes
    before step ``refractory``. ``loss_sum``/``acc_sum`` pass through unchanged.

    Example:
      >>> s = lam_init(0.1, "float32")
      >>> for i, (loss, acc) in enumerate([(1.0, 0.5), (0.9, 0.6), (0.95, 0.7), (0.92, 0.6)]):
      ...     s = autol2_update(s, loss, acc, 10 * (i + 1), refractory=20)
      >>> round(float(s.lam), 6), int(s.last_change)
      (0.01, 40)
    """
    loss = jnp.asarray(loss, state.best_loss.dtype)
    acc = jnp.asarray(acc, state.best_acc.dtype)
    step = jnp.asarray(step, jnp.int32)
    no_better = (loss >= state.best_loss) | (acc <= state.best_acc)
    stale = jnp.where(no_better, state.stale + 1, 0)
    decay = (stale >= 2) & (step - state.last_change >= refractory)
    return state._replace(
        lam=jnp.where(decay, state.lam / jnp.asarray(factor, state.lam.dtype), state.lam),
        best_loss=jnp.minimum(state.best_loss, loss),
        best_acc=jnp.maximum(state.best_acc, acc),
        stale=stale.astype(jnp.int32),
        last_change=jnp.where(decay, step, state.last_change),
    )


def lam_observe(state: LamState, loss, acc, step, *, kind: str, measure_every: int,
                factor: float, refractory: int) -> LamState:
    """Feed one training step's minibatch ``(loss, acc)``; ``step`` counts the steps done,
    this one included. Every ``measure_every`` steps the means since the last measurement go to
    ``autol2_update``. A ``"constant"`` schedule returns ``state`` unchanged."""
    if kind == "constant":
        return state
    if kind != "autol2":
        raise _checks.bad("kind", kind, "unknown lam schedule", "valid: 'constant', 'autol2'")
    loss_sum = state.loss_sum + loss.astype(state.loss_sum.dtype)
    acc_sum = state.acc_sum + acc.astype(state.acc_sum.dtype)
    measured = autol2_update(state, loss_sum / measure_every, acc_sum / measure_every, step,
                             factor=factor, refractory=refractory)
    zero = jnp.zeros_like(loss_sum)
    now = (jnp.asarray(step) % measure_every) == 0
    return LamState(
        *(jnp.where(now, m, s) for m, s in zip(measured[:5], state[:5])),
        loss_sum=jnp.where(now, zero, loss_sum),
        acc_sum=jnp.where(now, zero, acc_sum),
    )
