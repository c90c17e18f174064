"""``t_star``: the step of peak performance of a noisy learning curve, by smoothing in log-time.

Rule (one rule, used by every experiment): with ``u = ln(step)``, the curve is smoothed by
local-linear Gaussian kernel regression in ``u`` (bandwidth ``smooth``, in units of ``ln step``):
at a point ``u0`` the smoothed value is the intercept ``a`` of the weighted least-squares line
``a + b (u - u0)`` with weights ``w_i = exp(-(u_i - u0)^2 / (2 smooth^2))``. It is evaluated on a
fine uniform grid of ``grid`` points in ``u`` between the first and the last evaluation (step 0,
which has no log-time, is left out), and ``t*`` is the grid point of the maximum (``mode="max"``,
accuracies) or minimum (``"min"``, losses); the direction has no default. Why this smoother:

- Learning curves evaluated every ``eval_every`` steps are non-uniform in log-time (sparse
  early, dense late); ``TrainConfig(evals_per_decade=d)`` gives nearly log-uniform rows. Kernel
  regression needs no uniform grid (Savitzky-Golay does), and its local-linear form has no bias
  from a non-uniform density (a plain weighted mean is shifted towards the dense side by about
  ``smooth^2`` in ``ln t``).
- Evaluation noise (a finite test set, SGD) makes the raw argmax jump between nearby evaluations
  and biases the raw maximum upwards; smoothing over a window of relative width ``smooth`` in
  ``t`` (``smooth=0.2``: about +-20 %) averages it out, while a peak that is broad in log-time
  (as the paper's are: ``lam lr t*`` of order 0.1-1) is barely moved.
- The grid evaluation gives ``t*`` between evaluations (resolution ``smooth``-limited, not
  ``eval_every``-limited).

Where the weights of all evaluations underflow (a gap much wider than ``smooth``), the weights are
taken relative to the largest one, so the estimate falls back to the nearest evaluations; where
the local line is ill-determined (fewer than two distinct effective points), to their weighted
mean. ``smooth=0`` (or ``None``) skips smoothing: ``t*`` is then the first evaluated step of the
raw maximum (minimum).

The reported ``value`` is the *smoothed* curve at ``t*`` (the raw maximum of a noisy curve is
biased up by the noise); ``raw_value`` is the raw value of the evaluation nearest to ``t*`` in
log-time. ``at_boundary`` flags a peak on the first or last grid point: the curve is still rising
(falling) at the end of the run, or was already past its best at the first evaluation, so ``t*``
is only a bound.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from l2theory._checks import bad

MODES = ("max", "min")
DEFAULT_SMOOTH = 0.2  # Gaussian bandwidth in ln(step): about +-20 % in t
DEFAULT_GRID = 512    # points of the fine log-time grid


class TStar(NamedTuple):
    """Peak of a learning curve (``t_star``'s result; ``_asdict()`` is JSON-ready).

    Fields:
      t_star: step of the peak (float; between evaluations when smoothed).
      value: the smoothed curve at ``t_star`` (the raw value when ``smooth=0``).
      at_boundary: the peak is at the first (after step 0) or the last evaluation (then
        ``t_star`` is a bound).
      raw_value: raw value of the evaluation nearest to ``t_star`` (in log-time).
      index: index of that evaluation in ``steps``/``values`` as passed (``rows[k][index]``).
    """

    t_star: float
    value: float
    at_boundary: bool
    raw_value: float
    index: int


def _curve(steps, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The curve's evaluations at steps > 0, sorted by step, and their indices in the input."""
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if steps.ndim != 1 or values.ndim != 1:
        raise bad("steps", steps, f"steps and values must be 1-D, got shapes {steps.shape} and "
                  f"{values.shape}", "pass one learning curve (one lane of a sweep)")
    if len(steps) != len(values):
        raise bad("values", values, f"length {len(values)} differs from len(steps)={len(steps)}",
                  "pass one value per evaluated step")
    if not np.all(np.isfinite(steps)) or np.any(steps < 0):
        raise bad("steps", steps, "must be finite and >= 0 (steps of a run)",
                  "pass the evaluated steps, e.g. rows['step']")
    where = np.flatnonzero(steps > 0)  # step 0 has no log-time: never a candidate
    if len(where) < 3:
        raise bad("steps", steps, f"too few evaluations after step 0 ({len(where)}) to locate a "
                  "peak", "pass a curve with at least 3 evaluations at steps > 0")
    if not np.all(np.isfinite(values[where])):
        raise bad("values", values, "has non-finite entries (a diverged run?)",
                  "drop diverged runs or the non-finite evaluations first")
    where = where[np.argsort(steps[where], kind="stable")]
    steps, values = steps[where], values[where]
    if np.any(np.diff(steps) == 0):
        raise bad("steps", steps, "has repeated steps (several lanes of a sweep?)",
                  "pass one lane, e.g. m = rows['run'] == 0; t_star(rows['step'][m], "
                  "rows['test_acc'][m], mode='max')")
    return steps, values, where


def smooth_log_time(steps, values, u_grid, smooth: float) -> np.ndarray:
    """Local-linear Gaussian kernel regression of ``values`` against ``ln(steps)``, at ``u_grid``
    (``ln`` steps). See the module docstring."""
    u = np.log(np.asarray(steps, np.float64))
    y = np.asarray(values, np.float64)
    d = u[None, :] - np.asarray(u_grid, np.float64)[:, None]  # [grid, n]
    z = -0.5 * (d / smooth) ** 2
    w = np.exp(z - z.max(axis=1, keepdims=True))  # relative weights: the nearest has weight 1
    s0, s1, s2 = w.sum(1), (w * d).sum(1), (w * d * d).sum(1)
    t0, t1 = (w * y).sum(1), (w * d * y).sum(1)
    det = s0 * s2 - s1 * s1
    mean = t0 / s0
    # The local line needs >= 2 effective points: det relative to s0 * s2 measures that.
    ok = det > 1e-8 * s0 * np.maximum(s2, 1e-300)
    line = np.where(ok, (s2 * t0 - s1 * t1) / np.where(ok, det, 1.0), mean)
    return line


def t_star(steps, values, *, mode: str | None = None, smooth: float | None = DEFAULT_SMOOTH,
           grid: int = DEFAULT_GRID) -> TStar:
    """Step of peak performance of a (noisy) learning curve.

    Smooths ``values`` in log-time by local-linear Gaussian kernel regression with bandwidth
    ``smooth`` (in ``ln step``) and returns the step of the maximum (``mode="max"``) or minimum
    (``"min"``) of the smoothed curve; see the module docstring for the rule and why. The rows of
    ``l2theory.train.train`` (one lane of a ``sweep``) go in as they are: the step-0 evaluation
    has no log-time and is left out of the candidates.

    Example:
      >>> import numpy as np
      >>> steps = np.arange(0, 2001, 10)                   # step 0 included, as train() gives
      >>> acc = 0.8 - 0.1 * np.log(np.maximum(steps, 1) / 300.0) ** 2   # peak at step 300
      >>> r = t_star(steps, acc, mode="max")
      >>> round(r.t_star), r.at_boundary, int(steps[r.index])
      (300, False, 300)
      >>> t, v = t_star(steps, acc, mode="max")[:2]

    Args:
      steps: ``[n]`` evaluated steps, ``>= 0`` and distinct, in any order; entries at step 0 are
        ignored.
      values: ``[n]`` the metric at those steps (finite at steps > 0).
      mode: required, no default: ``"max"`` for an accuracy, ``"min"`` for a loss.
      smooth: Gaussian bandwidth in ``ln(step)`` (``0.2``: about +-20 % in t); ``0``/``None``:
        no smoothing, the first evaluated step of the raw extremum.
      grid: number of points of the fine log-time grid on which the smoothed curve is maximized.

    Returns:
      ``TStar(t_star, value, at_boundary, raw_value, index)``; ``t_star`` in steps, ``index``
      into ``steps``/``values`` as passed.

    Raises:
      TypeError: ``mode`` not given.
      ValueError: length mismatch, fewer than 3 evaluations after step 0, negative or repeated
        steps, non-finite values, unknown ``mode``, negative ``smooth``.
    """
    if mode is None:
        raise TypeError("mode=None: t_star has no default direction; pass mode='max' for an "
                        "accuracy curve or mode='min' for a loss curve")
    if mode not in MODES:
        raise bad("mode", mode, "unknown mode", "pass 'max' (accuracy) or 'min' (loss)")
    steps, values, where = _curve(steps, values)
    sign = 1.0 if mode == "max" else -1.0
    if smooth is None or smooth == 0:
        i = int(np.argmax(sign * values))
        return TStar(float(steps[i]), float(values[i]), i in (0, len(steps) - 1),
                     float(values[i]), int(where[i]))
    if not (np.isfinite(smooth) and smooth > 0):
        raise bad("smooth", smooth, "must be >= 0 (a bandwidth in ln(step))", "e.g. 0.2, or 0")
    if not isinstance(grid, (int, np.integer)) or grid < 3:
        raise bad("grid", grid, "must be an int >= 3", "e.g. 512")
    u = np.log(steps)
    u_grid = np.linspace(u[0], u[-1], int(grid))
    fit = smooth_log_time(steps, values, u_grid, float(smooth))
    j = int(np.argmax(sign * fit))
    t = float(np.exp(u_grid[j]))
    if j == len(u_grid) - 1:
        t = float(steps[-1])  # exact, not exp(log(.)) rounding
    elif j == 0:
        t = float(steps[0])
    i = int(np.argmin(np.abs(u - u_grid[j])))
    return TStar(t, float(fit[j]), j in (0, len(u_grid) - 1), float(values[i]), int(where[i]))
