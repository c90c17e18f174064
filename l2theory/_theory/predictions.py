"""Predictions on top of a solver: the time of peak test performance ``t*``, ``c``, ``lam_opt``.

docs/conventions.md, empirical relations 1 and 3: ``t* ~ c / (lam lr)`` (steps), so
``c = lam * lr * t*`` and, for a budget of ``T`` steps, ``lam_opt = c / (lr * T)``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import optimize, special

from l2theory import _checks, _repr
from l2theory._theory import _validate

METRICS = ("accuracy", "loss")


class Peak(NamedTuple):
    """Peak of a predicted test curve.

    Fields: ``t_star`` (steps), ``value`` (the metric there), ``c = lam lr t_star`` (None when
    lam = 0), ``t`` (``[T]`` grid, steps) and ``curve`` (``[T]`` metric on the grid). The repr
    shows the arrays' size and range only:
    ``Peak(t_star=1200, value=0.8312, c=0.12, t=<400 times 0.1..1e+06>, curve=<400 values ...>)``.
    """
    t_star: float
    value: float
    c: float | None
    t: np.ndarray
    curve: np.ndarray

    def __repr__(self) -> str:
        return _repr.fields(self, {"t": "times"})


def default_times(lam: float, lr: float, *, num: int = 400, t_max: float | None = None):
    """Log-spaced steps covering ``lam lr t`` in ``[1e-4, 1e2]`` (``lam > 0``).

    With ``lam = 0`` there is no natural clock: pass ``t_max`` (steps).
    """
    lam, lr = _checks.lam("lam", lam), _checks.lr("lr", lr)
    num = _checks.integer("num", num, low=2, fix="e.g. 400")
    if t_max is None:
        if lam == 0:
            raise _checks.bad("lam", lam, "lam = 0 has no natural time scale",
                              "pass t (a grid of steps) or t_max")
        lo, hi = 1e-4 / (lam * lr), 1e2 / (lam * lr)
    else:
        hi = _validate.scalar("t_max", t_max, minimum=0.0, strict=True, fix="e.g. 1e4 (steps)")
        lo = hi * 1e-6
    return np.geomspace(lo, hi, num)


def test_metric(f_test, y_test, metric: str, loss: str = "mse"):
    """``[T]`` accuracy or loss of outputs ``f_test [T, m, k]`` against targets ``y_test [m, k]``.

    Accuracy: ``argmax f == argmax y`` (k > 1) or ``sign f == sign y`` (k = 1). Loss: mean over
    test points of ``1/2 ||f - y||^2`` (``loss="mse"``) or softmax cross-entropy (``"xent"``).
    """
    f = np.asarray(f_test, dtype=np.float64)
    y = np.asarray(y_test, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    metric = _checks.choice("metric", metric, METRICS)
    if f.shape[-2:] != y.shape:
        raise _checks.bad("y_test", y_test, f"must have shape {f.shape[-2:]} (test points x "
                          "outputs, those of f_test)", "pass one row of targets per test point")
    if metric == "accuracy":
        if y.shape[1] == 1:
            return np.mean(np.sign(f[..., 0]) == np.sign(y[None, :, 0]), axis=-1)
        return np.mean(np.argmax(f, -1) == np.argmax(y, -1)[None], axis=-1)
    if loss == "xent":
        return -np.mean(np.sum(y[None] * special.log_softmax(f, axis=-1), axis=-1), axis=-1)
    return np.mean(0.5 * np.sum((f - y[None]) ** 2, axis=-1), axis=-1)


def peak(flow, k_test_train, y_test, *, metric: str = "accuracy", t=None, f0_train=None,
         f0_test=None, refine: bool = True) -> Peak:
    """Predicted time of best test performance of ``flow`` (``L2GradientFlow`` or linearized).

    Rule: evaluate the metric on the grid ``t`` (default ``default_times``); ``t*`` is the first
    grid time at which the maximum accuracy (or minimum loss) is reached. For the loss, which is
    smooth in t, ``t*`` is then refined by a bounded scalar minimization in ``log t`` between
    the neighbouring grid points.
    """
    metric = _checks.choice("metric", metric, METRICS)
    if t is None and flow.lam == 0:
        raise _checks.bad("t", t, "flow.lam = 0 has no natural time scale for the default grid "
                          "of times", "pass t, a grid of steps (e.g. np.geomspace(1, 1e6, 400))")
    grid = default_times(flow.lam, flow.lr) if t is None else _validate.times(t)[0]
    grid = np.sort(grid)

    if f0_train is not None and hasattr(flow, "f0_train"):
        raise _checks.bad("f0_train", f0_train, "is part of a LinearizedL2Flow",
                          "do not pass it to peak")
    kwargs = {} if f0_train is None else {"f0_train": f0_train}

    def evaluate(times):
        f_test = flow.predict_test(times, k_test_train, f0_test=f0_test, **kwargs)
        return test_metric(f_test, y_test, metric, flow.loss)

    curve = evaluate(grid)
    idx = int(np.argmax(curve) if metric == "accuracy" else np.argmin(curve))
    t_star, value = float(grid[idx]), float(curve[idx])
    if refine and metric == "loss" and 0 < idx < len(grid) - 1 and grid[idx - 1] > 0:
        res = optimize.minimize_scalar(
            lambda s: float(evaluate(np.array([np.exp(s)]))[0]),
            bounds=(np.log(grid[idx - 1]), np.log(grid[idx + 1])), method="bounded",
            options={"xatol": 1e-6})
        if res.fun <= value:
            t_star, value = float(np.exp(res.x)), float(res.fun)
    c = flow.lam * flow.lr * t_star if flow.lam > 0 else None
    return Peak(t_star, value, c, grid, curve)


def c_from_t_star(t_star: float, *, lam: float, lr: float) -> float:
    """``c = lam * lr * t*`` (dimensionless; ``t*`` in steps)."""
    lam = _checks.lam("lam", lam, allow_zero=False)
    lr = _checks.lr("lr", lr)
    return lam * lr * _validate.scalar("t_star", t_star, minimum=0.0, fix="e.g. 1000 (steps)")


def lam_opt(c: float, *, lr: float, budget: float) -> float:
    """Optimal L2 coefficient for a budget of ``budget`` steps: ``lam_opt = c / (lr * T)``."""
    c = _validate.scalar("c", c, minimum=0.0, strict=True, fix="e.g. 1.0")
    lr = _checks.lr("lr", lr)
    budget = _validate.scalar("budget", budget, minimum=0.0, strict=True,
                              fix="e.g. 10000 (steps)")
    return c / (lr * budget)
