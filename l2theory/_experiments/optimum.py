"""The optimum of a metric over a grid of lam: a smooth fit around the best grid point, per seed,
and the claim that a predicted lam is within a factor of it.

A "best lam" read off a grid is the maximum of noisy means at the grid's spacing. Here the optimum
is the vertex of a parabola in ``ln lam`` through the best grid point of the mean curve and its
two neighbours (three points: the parabola is exact), fitted to the mean over seeds (the
estimate) and to each seed alone (the spread that gives the interval). An optimum at the grid's
edge has no neighbour on one side: it is only a bound, and a claim about it is a ``TIE``.
The metric should be measured on data the claim does not score (a validation split held out of
the training set, ``data.hold_out``).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from l2theory import _checks
from l2theory._experiments.claims import NA, TIE, Claim, claim_within


def _vertex(x: np.ndarray, y: np.ndarray, mode: str) -> float:
    """``x`` of the best point of the parabola through three points ``(x, y)`` (``mode``
    ``"max"``/``"min"``), clipped to ``[x[0], x[2]]``; where the three points do not bend the
    right way (no interior optimum) or are flat, the best of the three points."""
    sign = 1.0 if mode == "max" else -1.0
    a, b, _ = np.polyfit(x, sign * y, 2)
    if a < -1e-15 * max(1.0, float(np.max(np.abs(y)))):
        return float(np.clip(-b / (2 * a), x[0], x[2]))
    return float(x[int(np.argmax(sign * y))])


def grid_optimum(lams: Sequence[float], per_seed: Sequence[Sequence[float | None]], *,
                 mode: str = "max") -> dict[str, Any]:
    """The optimum over ``lams`` of a metric measured per lam and seed.

    Args:
      lams: the grid (``> 0``, increasing).
      per_seed: ``[lam][seed]`` values (None: a diverged run; a seed missing at any of the
        three lams of the fit is left out of the per-seed fits).
      mode: ``"max"`` (accuracy) or ``"min"`` (loss).

    Returns:
      JSON-ready dict: ``mean`` per lam (over the seeds present), ``best`` (index of the best
      mean), ``at_edge`` (the best is the first or last lam: no interior optimum on this grid),
      ``window`` (the three lams of the fit, or None at an edge), ``lam_opt`` (the vertex of the
      mean curve's parabola in ``ln lam``, clipped to the window; the best lam at an edge),
      ``lam_opt_per_seed`` (each seed's vertex on the same window; None where missing or at an
      edge), ``mode``.
    """
    lams = np.asarray(_checks.lams("lams", lams, allow_zero=False), np.float64)
    if np.any(np.diff(lams) <= 0):
        raise _checks.bad("lams", lams.tolist(), "must increase", "sort the grid")
    if len(per_seed) != len(lams):
        raise _checks.bad("per_seed", per_seed, f"has {len(per_seed)} rows for {len(lams)} lams",
                          "pass one row of per-seed values per lam")
    if mode not in ("max", "min"):
        raise _checks.bad("mode", mode, "unknown mode", "pass 'max' or 'min'")
    n_seeds = max(len(row) for row in per_seed)
    vals = np.full((len(lams), n_seeds), np.nan)
    for i, row in enumerate(per_seed):
        vals[i, :len(row)] = [np.nan if v is None else v for v in row]
    with np.errstate(invalid="ignore"):
        mean = np.array([np.nanmean(r) if np.any(np.isfinite(r)) else np.nan for r in vals])
    if not np.any(np.isfinite(mean)):
        raise _checks.bad("per_seed", per_seed, "holds no value", "pass finished runs")
    sign = 1.0 if mode == "max" else -1.0
    best = int(np.nanargmax(sign * mean))
    at_edge = best == 0 or best == len(lams) - 1
    x = np.log(lams)
    out = {"mean": [None if not np.isfinite(m) else float(m) for m in mean], "best": best,
           "at_edge": bool(at_edge), "window": None, "lam_opt": float(lams[best]),
           "lam_opt_per_seed": [None] * n_seeds, "mode": mode}
    if at_edge:
        return out
    w = slice(best - 1, best + 2)
    out["window"] = lams[w].tolist()
    out["lam_opt"] = math.exp(_vertex(x[w], mean[w], mode))
    for s in range(n_seeds):
        y = vals[w, s]
        if np.all(np.isfinite(y)):
            out["lam_opt_per_seed"][s] = math.exp(_vertex(x[w], y, mode))
    return out


def lam_opt_claim(lam_pred: Sequence[float | None] | float, optimum: dict[str, Any], *,
                  factor: float = 2.0, level: float = 0.95) -> tuple[Claim, str | None]:
    """Is the predicted ``lam_opt`` within ``factor`` of the measured optimum, beyond the noise?

    ``claim_within`` of the per-seed ratios ``lam_pred_s / lam_opt_s`` (seed by seed: a seed's
    prediction, e.g. from its own short run, against its own fitted optimum; one ``lam_pred``
    for every seed when a number is given) in ``[1/factor, factor]``, in log. Returns
    ``(claim, note)``: at a grid edge the claim carries the ratio to the edge lam and the
    verdict ``TIE`` with ``note`` ``"optimum at the grid edge"`` (the grid cannot show the
    optimum); else ``note`` is None."""
    per_seed = optimum["lam_opt_per_seed"]
    preds = (list(lam_pred) if isinstance(lam_pred, (list, tuple, np.ndarray))
             else [lam_pred] * len(per_seed))
    if len(preds) != len(per_seed):
        raise _checks.bad("lam_pred", lam_pred, f"has {len(preds)} values for {len(per_seed)} "
                          "seeds", "pass one prediction per seed, or one number")
    if optimum["at_edge"]:
        edge = optimum["lam_opt"]
        ratios = [p / edge for p in preds if p is not None]
        c = claim_within(ratios, 1 / factor, factor, level=level, log=True)
        return Claim(TIE if c.verdict != NA else NA, c.estimate, c.ci, c.n, c.level,
                     c.method), "optimum at the grid edge"
    ratios = [p / o for p, o in zip(preds, per_seed) if p is not None and o is not None]
    return claim_within(ratios, 1 / factor, factor, level=level, log=True), None
