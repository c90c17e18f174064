"""``t_star``: the step of peak performance of a noisy learning curve, by smoothing in log-time.

Rule (one rule, used by every experiment): with ``u = ln(step)``, the curve is smoothed by
local-linear Gaussian kernel regression in ``u`` (bandwidth ``smooth``, in units of ``ln step``):
at a point ``u0`` the smoothed value is the intercept ``a`` of the weighted least-squares line
``a + b (u - u0)`` with weights ``w_i = exp(-(u_i - u0)^2 / (2 smooth^2))``. It is evaluated on a
fine uniform grid of ``grid`` points in ``u`` between the first and the last evaluation, and
``t*`` is the grid point of the maximum (``mode="max"``, accuracies) or minimum (``"min"``,
losses). Why this smoother:

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
      at_boundary: the peak is at the first or the last evaluation (then ``t_star`` is a bound).
      raw_value: raw value of the evaluation nearest to ``t_star`` (in log-time).
      index: index (into the sorted ``steps``) of that evaluation.
    """

    t_star: float
    value: float
    at_boundary: bool
    raw_value: float
    index: int


def _curve(steps, values) -> tuple[np.ndarray, np.ndarray]:
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if steps.ndim != 1 or values.ndim != 1:
        raise bad("steps", steps, f"steps and values must be 1-D, got shapes {steps.shape} and "
                  f"{values.shape}", "pass one learning curve (one lane of a sweep)")
    if len(steps) != len(values):
        raise bad("values", values, f"length {len(values)} differs from len(steps)={len(steps)}",
                  "pass one value per evaluated step")
    if len(steps) < 3:
        raise bad("steps", steps, f"too few points ({len(steps)}) to locate a peak",
                  "pass a curve with at least 3 evaluations")
    if not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise bad("steps", steps, "must be finite and > 0 (peaks are located in log-time)",
                  "drop the step-0 evaluation, e.g. keep = steps > 0")
    if not np.all(np.isfinite(values)):
        raise bad("values", values, "has non-finite entries (a diverged run?)",
                  "drop diverged runs or the non-finite evaluations first")
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    if np.any(np.diff(steps) == 0):
        raise bad("steps", steps, "has repeated steps", "pass each evaluated step once")
    return steps, values


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


def t_star(steps, values, *, mode: str = "max", smooth: float | None = DEFAULT_SMOOTH,
           grid: int = DEFAULT_GRID) -> TStar:
    """Step of peak performance of a (noisy) learning curve.

    Smooths ``values`` in log-time by local-linear Gaussian kernel regression with bandwidth
    ``smooth`` (in ``ln step``) and returns the step of the maximum (``mode="max"``) or minimum
    (``"min"``) of the smoothed curve; see the module docstring for the rule and why.

    Example:
      >>> import numpy as np
      >>> steps = np.arange(10, 2001, 10)
      >>> acc = 0.8 - 0.1 * np.log(steps / 300.0) ** 2   # peak at step 300
      >>> r = t_star(steps, acc)
      >>> round(r.t_star), r.at_boundary
      (300, False)
      >>> t, v = t_star(steps, acc)[:2]

    Args:
      steps: ``[n]`` evaluated steps, all ``> 0`` (drop the step-0 evaluation), distinct; any
        order.
      values: ``[n]`` the metric at those steps (finite).
      mode: ``"max"`` (accuracy) or ``"min"`` (loss).
      smooth: Gaussian bandwidth in ``ln(step)`` (``0.2``: about +-20 % in t); ``0``/``None``:
        no smoothing, the first evaluated step of the raw extremum.
      grid: number of points of the fine log-time grid on which the smoothed curve is maximized.

    Returns:
      ``TStar(t_star, value, at_boundary, raw_value, index)``; ``t_star`` in steps.

    Raises:
      ValueError: length mismatch, fewer than 3 points, non-positive or repeated steps,
        non-finite values, unknown ``mode``, negative ``smooth``.
    """
    if mode not in MODES:
        raise bad("mode", mode, "unknown mode", "pass 'max' (accuracy) or 'min' (loss)")
    steps, values = _curve(steps, values)
    sign = 1.0 if mode == "max" else -1.0
    if smooth is None or smooth == 0:
        i = int(np.argmax(sign * values))
        return TStar(float(steps[i]), float(values[i]), i in (0, len(steps) - 1),
                     float(values[i]), i)
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
    return TStar(t, float(fit[j]), j in (0, len(u_grid) - 1), float(values[i]), i)
