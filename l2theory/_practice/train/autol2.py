"""AutoL2 (Lewkowycz & Gur-Ari 2020, section 4) as the authors ran it (google/autol2,
``jax_wideresnet_exps.py``), and the conversion of their flags to our conventions.

- ``autol2_rule``: the rule in plain numpy over a recorded sequence of measurements - the
  reference, documented line by line against the authors' loop.
- ``autol2_update``: the same rule in-graph (``lax`` ops, one measurement per call, ``vmap``-able
  over lanes); ``lam_observe`` calls it at every ``measure_every``-th step of a run.
- ``from_autol2_flags`` / ``to_autol2_flags``: their ``-lr``/``-L2`` <-> our ``lr``/``lam``.

Units: steps count gradient steps; ``delay`` is the authors' (``delay / L2`` steps in their units
is ``2 k delay / lam`` steps in ours, ``docs/conventions.md`` section 4).

Both statements do the same float operations in the same dtype - multiplications and comparisons
only (XLA's float division on CPU is not correctly rounded, its multiplication is) - so a run
replayed from its recorded measurements gives its recorded ``lam`` bit for bit (tested on CPU).
"""
from __future__ import annotations

import decimal
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks

# A refractory threshold that is a whole number of steps in exact arithmetic (round lam and
# delay) is a tie: the authors' strict ``i > delay / L2 + i_last`` then does not decay, and float
# rounding must not flip that. The threshold carries a relative slack of TIE_ULPS ulps of the
# dtype, far above the rounding of lam after tens of decays, far below one step in 10^4 (float32).
TIE_ULPS = 128


def rule_constants(num_classes: int, delay: float, decay: float, dtype) -> tuple[Any, Any]:
    """``(threshold, shrink)`` in ``dtype``: the refractory period is over at step ``i`` when
    ``(i - i_last) * lam > threshold``, ``threshold = 2 k delay (1 + TIE_ULPS eps)``; a decay
    multiplies lam by ``shrink = 1 / decay``. Computed in float64, then rounded to ``dtype``."""
    dt = np.dtype(dtype)
    slack = 1.0 + TIE_ULPS * float(np.finfo(dt).eps)
    return dt.type(2.0 * num_classes * delay * slack), dt.type(1.0 / decay)


def _check_rule_args(lam0, num_classes, delay, decay) -> None:
    _checks.positive("lam0", lam0, allow_zero=True)
    _checks.positive_int("num_classes", num_classes)
    _checks.positive("delay", delay, allow_zero=True)
    if _checks.positive("decay", decay) <= 1:
        raise _checks.bad("decay", decay, "must be > 1", "e.g. 10 (the authors' L2dec)")


def autol2_rule(steps, train_loss, train_acc, *, lam0: float, num_classes: int,
                delay: float = 0.1, decay: float = 10.0, dtype=None) -> np.ndarray:
    """The lam in force after each AutoL2 measurement (our lam, ``docs/conventions.md`` §4).

    The authors' loop (``jax_wideresnet_exps.py``), in our units, one line per line of theirs.
    At every measurement step ``i`` (``i % meas_step == 0``, ``meas_step = 10``; here: the given
    ``steps``), *before* the update of step ``i``:

    1. ``train_lm += [loss]; train_accuracy += [acc]``: append the bare (L2-free) training loss and
       the accuracy of the minibatch of step ``i`` at the current parameters (``train_loss[n]``,
       ``train_acc[n]``).
    2. ``if i > delay/currL2 + idel0 and len(train_lm) > 2 and ((minloss <= train_lm[-1] and
       minloss <= train_lm[-2]) or (maxacc >= train_accuracy[-1] and maxacc >=
       train_accuracy[-2])):`` - the refractory period is over, there are at least 3
       measurements, and the best loss or the best accuracy seen *before the last two* is at least
       as good as both of the last two (``<=`` / ``>=``: a tie counts as no progress). The ``or``
       is inside parentheses: refractory AND count AND (loss stalled OR accuracy stalled).
    3. ``currL2 = currL2 / L2dec; idel0 = i``: divide lam by ``decay`` and restart the refractory
       period. The running min/max are *not* updated on this branch.
    4. ``elif len(train_lm) >= 2: maxacc = max(train_accuracy[-2], maxacc); minloss =
       min(train_lm[-2], minloss)``: fold the *second-to-last* measurement (not the last) into the
       running min loss / max accuracy. So the measurement just before a decay is never folded in.
       Before the second measurement ``minloss``/``maxacc`` do not exist; their ``except`` branch
       sets them to the first measurement, which is what ``+inf``/``-inf`` start values give.
       Python's ``min(a, b)`` is ``b if b < a else a`` (and ``max`` alike), kept as such (it
       decides what a NaN does).

    Refractory period: ``i > delay / L2 + i_last`` in their units is ``i - i_last > 2 k delay /
    lam`` in ours (``lam = 2 k L2``, k classes), computed as ``(i - i_last) * lam > 2 k delay``
    (see ``rule_constants``): it starts at ``i_last = steps[0]`` (their ``idel0 = i0``, the first
    step: 0 for a run) and grows ``decay``-fold after each decay. Where ``2 k delay / lam`` is a
    whole number of steps (round lam), no decay happens at exactly that many steps, as in the
    authors' float64 division, which is exact there for the first decays.

    Where this departs from the letter of their code (not from its decisions):

    - Their losses are ours divided by k (means over classes too, ``docs/conventions.md`` §4):
      the rule only compares losses with each other, so it is the same on our losses.
    - A decay multiplies lam by ``1/decay`` rounded to the dtype instead of dividing (exactly
      reproducible in XLA; the two differ in the last bit only), and a lam below the dtype's
      smallest normal number (1.2e-38 in float32, after ~37 decays from 1) is 0: XLA on CPU
      flushes subnormal numbers to zero, so both statements do it explicitly.
    - Their resume from a checkpoint restarts ``idel0`` and forgets ``minloss``/``maxacc``; our
      runs resume with the rule's state intact.

    Args:
      steps: ``[n]`` int steps of the measurements (increasing).
      train_loss: ``[n]`` measured bare training losses (any positive scale).
      train_acc: ``[n]`` measured training accuracies.
      lam0: lam at the start (our convention; ``2 k L2`` for their ``-L2``), ``>= 0``.
      num_classes: k, the number of classes (outputs).
      delay: the authors' ``delay`` flag (refractory period ``delay / L2`` steps in their units),
        ``>= 0``.
      decay: the authors' ``L2dec``, ``> 1``.
      dtype: float dtype of the arithmetic; default: that of ``train_loss`` when it is a float
        array (float32 for a float32 run, so its record replays exactly), else float64.

    Returns:
      ``[n]`` array (``dtype``): lam after the decision at each measurement, i.e. the lam that the
      update of that step uses.

    Example:
      >>> autol2_rule([0, 10, 20, 30, 40], [1.0, 0.9, 0.95, 0.93, 0.8], [0.1, 0.2, 0.3, 0.3, 0.4],
      ...             lam0=2.0, num_classes=10, dtype="float64").tolist()
      [2.0, 2.0, 2.0, 0.2, 0.2]
    """
    _check_rule_args(lam0, num_classes, delay, decay)
    loss_in = np.asarray(train_loss)
    if dtype is None:
        dtype = loss_in.dtype if np.issubdtype(loss_in.dtype, np.floating) else np.float64
    dt = np.dtype(dtype)
    steps = np.asarray(steps)
    loss, acc = loss_in.astype(dt), np.asarray(train_acc).astype(dt)
    if steps.ndim != 1 or (steps.size and not np.issubdtype(steps.dtype, np.integer)):
        raise _checks.bad("steps", steps, "must be a 1-D array of int steps", "pass rec['step']")
    if loss.shape != steps.shape or acc.shape != steps.shape:
        raise _checks.bad("train_loss", loss, f"train_loss {loss.shape}, train_acc {acc.shape} "
                          f"and steps {steps.shape} differ in shape", "pass one value per step")
    if np.any(np.diff(steps) <= 0):
        raise _checks.bad("steps", steps, "must be increasing", "pass the measurement steps")
    threshold, shrink = rule_constants(num_classes, delay, decay, dt)
    tiny = dt.type(np.finfo(dt).tiny)
    lam = dt.type(lam0)
    min_loss, max_acc = dt.type(np.inf), dt.type(-np.inf)  # their except branch, see 4.
    i_last = int(steps[0]) if steps.size else 0  # idel0 = i0
    out = np.empty(steps.shape, dt)
    for n in range(len(steps)):
        i = int(steps[n])
        count = n + 1  # len(train_lm) after 1.
        refractory_over = dt.type(i - i_last) * lam > threshold  # i > delay/L2 + idel0
        if (refractory_over and count > 2
                and ((min_loss <= loss[n] and min_loss <= loss[n - 1])
                     or (max_acc >= acc[n] and max_acc >= acc[n - 1]))):
            lam = lam * shrink  # currL2 /= L2dec
            lam = lam if lam >= tiny else dt.type(0)  # no subnormal lam (see above)
            i_last = i  # idel0 = i
        elif count >= 2:
            max_acc = max_acc if max_acc > acc[n - 1] else acc[n - 1]  # max(acc[-2], maxacc)
            min_loss = min_loss if min_loss < loss[n - 1] else loss[n - 1]  # min(lm[-2], minloss)
        out[n] = lam
    return out


# ------------------------------------------------------------------------------ in-graph


class LamState(NamedTuple):
    """State of the lam schedule (scalars; a leading lane axis in a sweep).

    Attributes:
      lam: the L2 coefficient in force (parameter dtype).
      best_loss: running min of the folded-in measured losses (``+inf`` before the first).
      best_acc: running max of the folded-in measured accuracies (``-inf`` before the first).
      last_loss, last_acc: the latest measurement (the second-to-last once the next arrives).
      count: int32, measurements so far.
      last_change: int32, step of the last decay (0, the first step, before any).
    """

    lam: jnp.ndarray
    best_loss: jnp.ndarray
    best_acc: jnp.ndarray
    last_loss: jnp.ndarray
    last_acc: jnp.ndarray
    count: jnp.ndarray
    last_change: jnp.ndarray


def lam_init(lam, dtype) -> LamState:
    """Initial ``LamState`` for base coefficient ``lam``."""
    dtype = jnp.dtype(dtype)
    nan = jnp.full((), jnp.nan, dtype)
    return LamState(
        lam=jnp.asarray(lam, dtype),
        best_loss=jnp.full((), jnp.inf, dtype),
        best_acc=jnp.full((), -jnp.inf, dtype),
        last_loss=nan,
        last_acc=nan,
        count=jnp.zeros((), jnp.int32),
        last_change=jnp.zeros((), jnp.int32),
    )


def autol2_update(state: LamState, loss, acc, step, *, num_classes: int, delay: float = 0.1,
                  factor: float = 10.0) -> LamState:
    """One AutoL2 measurement ``(loss, acc)`` taken at ``step``, in-graph: exactly
    ``autol2_rule`` (same steps, same dtype, same decisions and lam, bit for bit).

    Example:
      >>> s = lam_init(2.0, "float32")
      >>> for i, (loss, acc) in enumerate([(1.0, .1), (.9, .2), (.95, .3), (.93, .3), (.8, .4)]):
      ...     s = autol2_update(s, loss, acc, 10 * i, num_classes=10)
      >>> float(s.lam), int(s.last_change), int(s.count)
      (0.20000000298023224, 30, 5)
    """
    dt = state.lam.dtype
    threshold, shrink = rule_constants(num_classes, delay, factor, dt)
    loss, acc = jnp.asarray(loss, dt), jnp.asarray(acc, dt)
    step = jnp.asarray(step, jnp.int32)
    count = state.count + 1
    over = (step - state.last_change).astype(dt) * state.lam > jnp.asarray(threshold)
    stalled = (((state.best_loss <= loss) & (state.best_loss <= state.last_loss))
               | ((state.best_acc >= acc) & (state.best_acc >= state.last_acc)))
    decay = over & (count > 2) & stalled
    fold = ~decay & (count >= 2)
    smaller = state.lam * jnp.asarray(shrink)
    smaller = jnp.where(smaller >= jnp.finfo(dt).tiny, smaller, jnp.zeros((), dt))
    return LamState(
        lam=jnp.where(decay, smaller, state.lam),
        best_loss=jnp.where(fold & ~(state.best_loss < state.last_loss), state.last_loss,
                            state.best_loss),
        best_acc=jnp.where(fold & ~(state.best_acc > state.last_acc), state.last_acc,
                           state.best_acc),
        last_loss=loss,
        last_acc=acc,
        count=count,
        last_change=jnp.where(decay, step, state.last_change),
    )


def lam_observe(state: LamState, loss, acc, step, *, kind: str, measure_every: int,
                num_classes: int, delay: float, factor: float) -> LamState:
    """The lam schedule at the start of step ``step`` (before its update), fed that step's
    minibatch loss and accuracy at the current parameters: a measurement (``autol2_update``) when
    ``step % measure_every == 0``, else ``state`` unchanged. ``"constant"``: ``state``."""
    if kind == "constant":
        return state
    if kind != "autol2":
        raise ValueError(f"unknown lam schedule {kind!r}; valid: 'constant', 'autol2'")
    new = autol2_update(state, loss, acc, step, num_classes=num_classes, delay=delay,
                        factor=factor)
    now = (jnp.asarray(step) % measure_every) == 0
    return jax.tree.map(lambda n, o: jnp.where(now, n, o), new, state)


# ------------------------------------------------------------------------------ their flags


def _decimal(name: str, value: Any, *, allow_zero: bool) -> decimal.Decimal:
    return decimal.Decimal(repr(_checks.positive(name, value, allow_zero=allow_zero)))


def from_autol2_flags(lr: float, l2: float, num_classes: int) -> tuple[float, float]:
    """The authors' ``-lr``, ``-L2`` flags as our ``(lr, lam) = (lr / k, 2 k L2)``.

    Their loss is a mean over the batch and the k classes plus ``L2 ||theta||^2`` (no 1/2): ours
    divided by k, for cross-entropy and for their MSE (``0.5 * mean``) alike
    (``docs/conventions.md`` section 4). Computed in decimal on the inputs' shortest decimal
    forms, so decimal flags give the double nearest the decimal result:
    ``from_autol2_flags(0.2, 5e-4, 10) == (0.02, 0.01)`` and ``from_autol2_flags(0.7, 3e-4, 10)
    == (0.07, 0.006)``, where float arithmetic gives ``0.06999999999999999`` and
    ``0.005999999999999999``.
    """
    k = _checks.positive_int("num_classes", num_classes)
    lr_d, l2_d = _decimal("lr", lr, allow_zero=False), _decimal("l2", l2, allow_zero=True)
    return float(lr_d / k), float(2 * k * l2_d)


def to_autol2_flags(lr: float, lam: float, num_classes: int) -> tuple[float, float]:
    """Our ``(lr, lam)`` as the authors' ``-lr``, ``-L2`` flags ``(k lr, lam / (2 k))``: the
    inverse of ``from_autol2_flags`` (decimal arithmetic too, so round trips of decimal values
    are exact)."""
    k = _checks.positive_int("num_classes", num_classes)
    lr_d, lam_d = _decimal("lr", lr, allow_zero=False), _decimal("lam", lam, allow_zero=True)
    return float(lr_d * k), float(lam_d / (2 * k))


__all__ = ["LamState", "TIE_ULPS", "autol2_rule", "autol2_update", "from_autol2_flags",
           "lam_init", "lam_observe", "rule_constants", "to_autol2_flags"]
