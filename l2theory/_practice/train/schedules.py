"""Learning-rate schedules as pure, jittable functions of the step (time in steps).

The lam schedule (AutoL2) has state and lives in ``l2theory._practice.train.autol2``.
"""

from __future__ import annotations

import math
from typing import Sequence

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
    - ``"step"``: ``base_lr * decay_factor ** (number of boundaries <= step)``. The authors'
      WRN schedule (google/autol2 ``-std_wrn_sch``) is ``decay_factor=0.2`` at 30%, 60% and 90%
      of the run (``TrainConfig``'s defaults); their ``piecewise_constant`` counts boundaries
      ``< step``, so each of their drops comes one step later than here.
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
