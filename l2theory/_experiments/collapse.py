"""The t*-collapse: ``t* ~ c / (lam lr)`` measured on a sweep, and its power-law fit.

docs/conventions.md, empirical relation 1: the step of peak test accuracy scales as
``t* = c / (lam lr)`` over a wide range of ``lam`` and ``lr``; equivalently the curves of accuracy
against the natural clock ``lam lr t`` collapse, with their peaks at ``lam lr t* = c``. ``collapse``
measures ``t*`` per lane of a sweep (``t_star``'s rule) and fits

    log t* = log c - s log(lam lr)

by least squares (``s = 1`` is the paper's law), with a bootstrap over seeds for the uncertainty.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from l2theory import _checks
from l2theory._experiments.peak import DEFAULT_SMOOTH, t_star

LANE_NEEDED = ("run", "step", "diverged")


def lane_columns(rows: dict) -> tuple[str, str]:
    """Names of the per-lane ``lam`` and ``lr`` columns: a sweep's ``run_lam``/``run_lr`` (the
    lane's base values) when present, else ``lam``/``lr``."""
    lam = "run_lam" if "run_lam" in rows else "lam"
    lr = "run_lr" if "run_lr" in rows else "lr"
    return lam, lr


def split_lanes(rows: dict, metric: str) -> list[dict[str, Any]]:
    """One dict per lane (``run``) of a sweep table: ``run``, ``lam``, ``lr``, ``seed``,
    ``diverged`` and the lane's sorted ``step``/``values`` arrays (every row, step 0 included).

    Raises ``ValueError`` when a lane's ``lam``/``lr`` column is not constant (pass
    ``run_lam``/``run_lr`` for scheduled runs)."""
    lam_col, lr_col = lane_columns(rows)
    needed = LANE_NEEDED + (metric, lam_col, lr_col)
    cols = _checks.columns(rows, needed)
    seed = cols["seed"] if "seed" in cols else np.zeros(len(cols["run"]), np.int64)
    lanes = []
    for run in np.unique(cols["run"]):
        m = cols["run"] == run
        order = np.argsort(cols["step"][m], kind="stable")
        lam, lr = cols[lam_col][m], cols[lr_col][m]
        for name, v in ((lam_col, lam), (lr_col, lr)):
            if not np.allclose(v, v[0], rtol=1e-6, atol=0):
                raise _checks.bad("rows", rows, f"lane run={run} has a varying {name!r} column "
                                  "and the collapse needs each lane's base lam and lr",
                                  "pass a sweep's table (its run_lam / run_lr columns)")
        lanes.append({
            "run": int(run), "lam": float(lam[0]), "lr": float(lr[0]),
            "seed": int(seed[m][0]), "diverged": bool(np.any(cols["diverged"][m])),
            "step": cols["step"][m][order].astype(np.float64),
            "values": cols[metric][m][order].astype(np.float64),
        })
    return lanes


def _ols(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    """Weighted least squares ``y = a + b x`` -> ``(a, b)``."""
    w = np.ones_like(x) if w is None else w
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    sxx = np.sum(w * (x - xm) ** 2)
    b = np.sum(w * (x - xm) * (y - ym)) / sxx
    return float(ym - b * xm), float(b)


def fit_power_law(lam_lr, t_star, seeds=None, *, n_boot: int = 1000, ci: float = 0.95,
                  rng_seed: int = 0) -> dict[str, Any]:
    """Fit ``t* = c (lam lr)^(-s)``, i.e. ``log t* = log c - s log(lam lr)``, with bootstrap CIs.

    Least squares in ``log``-``log``. Uncertainty: a *seed* (cluster) bootstrap: each of
    ``n_boot`` replicates draws ``len(unique(seeds))`` seeds with replacement and refits on all
    points of the drawn seeds (with multiplicity), since points of one seed share the
    initialization and batch order and are not independent. With a single seed the seed bootstrap
    is degenerate and the points (lanes) are resampled instead (``"bootstrap": "points"`` in the
    result). Replicates with fewer than two distinct ``lam lr`` values cannot fit a slope and are
    skipped (counted in ``n_boot_skipped``). CIs are percentile intervals.

    ``c`` is the prefactor at ``lam lr = 1``, an extrapolation when the fitted slope is free (an
    error ``ds`` in the slope moves ``ln c`` by ``ds * |ln(lam lr)|``); ``c_slope1``, the paper's
    ``c``, is ``lam lr t*`` averaged in log (the fit with ``s = 1`` held fixed) and is far better
    determined.

    Example:
      >>> import numpy as np
      >>> lam_lr = np.array([1e-4, 1e-3, 1e-2] * 2)
      >>> fit = fit_power_law(lam_lr, 0.5 / lam_lr, seeds=[0, 0, 0, 1, 1, 1])
      >>> round(fit["c"], 6), round(fit["slope"], 6)
      (0.5, 1.0)

    Args:
      lam_lr: ``[n]`` products ``lam * lr`` (> 0), one per run.
      t_star: ``[n]`` steps of peak performance (> 0).
      seeds: ``[n]`` seed of each run (None: all one seed).
      n_boot: bootstrap replicates (0: no CIs).
      ci: confidence level of the intervals, in (0, 1).
      rng_seed: seed of the bootstrap's resampling (the result is deterministic).

    Returns:
      A JSON-ready dict: ``c``, ``slope`` (``s``), ``c_slope1`` (geometric mean of
      ``lam lr t*``), ``c_ci``, ``slope_ci``, ``c_slope1_ci`` (``[lo, hi]``, or None without
      bootstrap), ``log10_c_std``/``slope_std`` (bootstrap standard deviations),
      ``residual_std`` (of ``ln t*`` about the fit), ``n_points``, ``n_seeds``, ``n_boot``,
      ``n_boot_skipped``, ``bootstrap`` (``"seeds"`` or ``"points"``), ``ci``.
    """
    x = np.asarray(lam_lr, np.float64)
    y = np.asarray(t_star, np.float64)
    if x.ndim != 1 or y.shape != x.shape:
        raise _checks.bad("t_star", y, f"lam_lr and t_star must be 1-D of equal length, got "
                          f"shapes {x.shape} and {y.shape}", "pass one value per run")
    s = np.zeros(len(x), np.int64) if seeds is None else np.asarray(seeds)
    if s.shape != x.shape:
        raise _checks.bad("seeds", s, f"shape {s.shape} differs from lam_lr's {x.shape}",
                          "pass one seed per run, or None")
    for name, v in (("lam_lr", x), ("t_star", y)):
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise _checks.bad(name, v, "must be finite and > 0 (a log-log fit)",
                              "exclude lam = 0 and failed runs first")
    if len(np.unique(x)) < 2:
        raise _checks.bad("lam_lr", x, "needs at least two distinct values to fit a slope",
                          "sweep over several lam or lr")
    n_boot = _checks.positive_int("n_boot", n_boot, minimum=0)
    ci = _checks.real("ci", ci, low=0.0, high=1.0, low_open=True, high_open=True, fix="e.g. 0.95")
    lx, ly = np.log(x), np.log(y)
    a, b = _ols(lx, ly)
    resid = ly - (a + b * lx)
    unique = np.unique(s)
    by_seed = [np.flatnonzero(s == u) for u in unique]
    mode = "seeds" if len(unique) > 1 else "points"
    rng = np.random.default_rng(rng_seed)
    boots, skipped = [], 0
    for _ in range(n_boot):
        if mode == "seeds":
            pick = rng.integers(0, len(unique), len(unique))
            idx = np.concatenate([by_seed[p] for p in pick])
        else:
            idx = rng.integers(0, len(x), len(x))
        if len(np.unique(x[idx])) < 2:
            skipped += 1
            continue
        boots.append(_ols(lx[idx], ly[idx]) + (float(np.mean(lx[idx] + ly[idx])),))
    out = {"c": float(np.exp(a)), "slope": float(-b), "c_slope1": float(np.exp(np.mean(lx + ly))),
           "c_ci": None, "slope_ci": None, "c_slope1_ci": None,
           "log10_c_std": None, "slope_std": None,
           "residual_std": float(np.sqrt(np.mean(resid ** 2))), "n_points": int(len(x)),
           "n_seeds": int(len(unique)), "n_boot": int(len(boots)), "n_boot_skipped": skipped,
           "bootstrap": mode, "ci": float(ci)}
    if boots:
        ba = np.array(boots)
        q = [100 * (1 - ci) / 2, 100 * (1 + ci) / 2]
        out["c_ci"] = [float(v) for v in np.exp(np.percentile(ba[:, 0], q))]
        out["slope_ci"] = [float(v) for v in np.sort(-np.percentile(ba[:, 1], q))]
        out["c_slope1_ci"] = [float(v) for v in np.exp(np.percentile(ba[:, 2], q))]
        out["log10_c_std"] = float(np.std(ba[:, 0]) / np.log(10))
        out["slope_std"] = float(np.std(ba[:, 1]))
    return out


def default_mode(metric: str) -> str:
    return "min" if "loss" in metric else "max"


def lane_peaks(rows: dict, *, metric: str = "test_acc", mode: str | None = None,
               smooth: float | None = DEFAULT_SMOOTH) -> list[dict[str, Any]]:
    """``t*`` of every lane of a sweep table, with the reason a lane cannot enter a fit.

    Each lane: ``run, lam, lr, seed, diverged, t_star, value, at_boundary, lam_lr_t_star`` and
    ``excluded`` (``None``, ``"diverged"``, ``"at_boundary"``, ``"lam_zero"`` or
    ``"too_few_points"``). Step-0 rows are dropped (``t*`` lives in log-time).
    """
    mode = default_mode(metric) if mode is None else mode
    out = []
    for lane in split_lanes(rows, metric):
        keep = lane["step"] > 0
        info = {k: lane[k] for k in ("run", "lam", "lr", "seed", "diverged")}
        info.update(t_star=None, value=None, at_boundary=None, lam_lr_t_star=None,
                    excluded=None)
        if lane["diverged"]:
            info["excluded"] = "diverged"
        elif keep.sum() < 3:
            info["excluded"] = "too_few_points"
        if info["excluded"] is None:
            pk = t_star(lane["step"], lane["values"], mode=mode, smooth=smooth)
            info.update(t_star=pk.t_star, value=pk.value, at_boundary=pk.at_boundary,
                        lam_lr_t_star=lane["lam"] * lane["lr"] * pk.t_star)
            if pk.at_boundary:
                info["excluded"] = "at_boundary"
            elif lane["lam"] <= 0:
                info["excluded"] = "lam_zero"
        out.append(info)
    return out


def collapse(rows: dict, *, metric: str = "test_acc", mode: str | None = None,
             smooth: float | None = DEFAULT_SMOOTH, n_boot: int = 1000, ci: float = 0.95,
             rng_seed: int = 0) -> dict[str, Any]:
    """t*-collapse of a sweep: ``t*`` per lane, ``lam lr t*`` per lane, and the power-law fit.

    For every lane (``run``) of ``rows``, ``t*`` is the step of peak ``metric`` by ``t_star``'s
    rule (smoothing in log-time, step-0 rows dropped). Lanes enter the fit
    ``log t* = log c - s log(lam lr)`` (``fit_power_law``, bootstrap over seeds) unless they
    diverged, peaked at the first or last evaluation (``t*`` only a bound), or have ``lam = 0``;
    those are listed under ``excluded`` with the reason. ``lam``/``lr`` are the lanes' base values
    (a sweep's ``run_lam``/``run_lr`` columns, else ``lam``/``lr``).

    Args:
      rows: a sweep table (dict of equal-length 1-D arrays) with ``run``, ``step``, ``diverged``,
        the metric, ``run_lam``/``run_lr`` (or constant-per-lane ``lam``/``lr``) and ``seed``
        (optional: all one seed without it).
      metric: the column whose peak defines ``t*`` (``"test_acc"``; ``"test_loss"`` with
        ``mode="min"``).
      mode: ``"max"`` or ``"min"``; default ``"min"`` for a metric named ``*loss*``, else ``"max"``.
      smooth: ``t_star``'s bandwidth in ``ln step``.
      n_boot, ci, rng_seed: the bootstrap of ``fit_power_law``.

    Returns:
      A JSON-ready dict: ``lanes`` (one dict per lane, see ``lane_peaks``), ``fit`` (the
      ``fit_power_law`` result on the included lanes, or None with fewer than two distinct
      ``lam lr`` among them), ``lam_lr_t_star`` (``median``, ``geometric_mean``,
      ``log10_std`` over included lanes: the collapse's spread), ``n_included``, ``excluded``
      (``{reason: [run, ...]}``), ``metric``, ``mode``, ``smooth``.

    Raises:
      ValueError: missing columns, unequal lengths, varying lam/lr within a lane.
    """
    mode = default_mode(metric) if mode is None else mode
    lanes = lane_peaks(rows, metric=metric, mode=mode, smooth=smooth)
    used = [ln for ln in lanes if ln["excluded"] is None]
    excluded: dict[str, list[int]] = {}
    for ln in lanes:
        if ln["excluded"] is not None:
            excluded.setdefault(ln["excluded"], []).append(ln["run"])
    fit = None
    if len({ln["lam"] * ln["lr"] for ln in used}) >= 2:
        fit = fit_power_law([ln["lam"] * ln["lr"] for ln in used],
                            [ln["t_star"] for ln in used], [ln["seed"] for ln in used],
                            n_boot=n_boot, ci=ci, rng_seed=rng_seed)
    tau = np.array([ln["lam_lr_t_star"] for ln in used], np.float64)
    summary = None
    if len(tau):
        summary = {"median": float(np.median(tau)),
                   "geometric_mean": float(np.exp(np.mean(np.log(tau)))),
                   "log10_std": float(np.std(np.log10(tau)))}
    return _checks.to_json({"lanes": lanes, "fit": fit, "lam_lr_t_star": summary,
                            "n_included": len(used), "excluded": excluded, "metric": metric,
                            "mode": mode, "smooth": smooth})


def plot_collapse(ax, rows: dict, *, metric: str = "test_acc", clock: str = "natural",
                  include_diverged: bool = False, mark_peaks: bool = True,
                  smooth: float | None = DEFAULT_SMOOTH, cmap: str = "viridis",
                  colorbar: bool = True, focus: bool = True):
    """Plot ``metric`` against the natural clock ``lam lr t``, one curve per lane, colored by lam.

    Args:
      ax: a matplotlib ``Axes``.
      rows: a sweep table (see ``collapse``).
      metric: the column plotted.
      clock: ``"natural"`` (x = ``lam lr t``, log axis; lanes with lam = 0 are skipped) or
        ``"steps"`` (x = ``t``).
      include_diverged: also draw diverged lanes (dotted).
      mark_peaks: mark each lane's ``t*`` (``t_star`` with ``smooth``) with a dot.
      cmap: colormap over ``log10 lam``.
      colorbar: add a colorbar for lam to the axes' figure.
      focus: for a loss (minimized), cut the y-axis at 4x the largest value at a lane's ``t*``,
        so that the first steps (a loss spike of a large lr, say) do not flatten the region of
        the minima; ``False`` shows the full range.

    Returns:
      ``ax``.
    """
    import matplotlib as mpl

    if clock not in ("natural", "steps"):
        raise _checks.bad("clock", clock, "unknown clock", "pass 'natural' or 'steps'")
    lanes = split_lanes(rows, metric)
    lams = [ln["lam"] for ln in lanes if ln["lam"] > 0]
    lo, hi = (np.log10(min(lams)), np.log10(max(lams))) if lams else (0.0, 1.0)
    norm = mpl.colors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1)
    colors = mpl.colormaps[cmap]
    mode = default_mode(metric)
    peak_values, shown = [], []
    for ln in lanes:
        if ln["diverged"] and not include_diverged:
            continue
        keep = ln["step"] > 0
        if clock == "natural":
            if ln["lam"] <= 0:
                continue
            scale = ln["lam"] * ln["lr"]
        else:
            scale = 1.0
        color = colors(norm(np.log10(ln["lam"]))) if ln["lam"] > 0 else "k"
        ax.plot(scale * ln["step"][keep], ln["values"][keep], color=color, lw=1,
                ls=":" if ln["diverged"] else "-", alpha=0.8)
        if (mark_peaks or focus) and not ln["diverged"] and keep.sum() >= 3:
            pk = t_star(ln["step"], ln["values"], mode=mode, smooth=smooth)
            peak_values.append(pk.value)
            shown.append((np.nanmin(ln["values"][keep]), np.nanmax(ln["values"][keep])))
            if mark_peaks:
                ax.plot([scale * pk.t_star], [pk.value], "o", color=color, ms=4,
                        mec="k" if not pk.at_boundary else "r", mew=0.5)
    if focus and mode == "min" and peak_values and max(peak_values) > 0:
        top = 4.0 * max(peak_values)
        if max(hi for _, hi in shown) > top:
            lo = min(lo for lo, _ in shown)
            ax.set_ylim(lo - 0.05 * (top - lo), top)
    ax.set_xscale("log")
    ax.set_xlabel(r"natural time $\lambda\,\eta\,t$" if clock == "natural" else r"$t$ (steps)")
    ax.set_ylabel(metric.replace("_", " "))
    if colorbar and lams:
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=colors)
        ax.figure.colorbar(sm, ax=ax, label=r"$\log_{10}\lambda$")
    return ax

