"""Step budgets and the optimal lam: fixed budget vs budget proportional to 1/lam, and the
prediction ``lam_opt(T) = c / (lr T)`` from one short run at a large lam.

docs/conventions.md, empirical relations 2 and 3. Time counts steps; the natural clock is
``lam lr t``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from l2theory import _checks
from l2theory._experiments.collapse import split_lanes
from l2theory._experiments.peak import DEFAULT_SMOOTH, t_star
from l2theory._experiments.stats import standard_error
from l2theory._experiments.sweeps import quiet_sweep


def _for_steps(config, steps: int):
    """``config`` for runs of ``steps`` steps; with rows every ``eval_every`` steps, those at
    most ``steps`` apart (lanes trained longer, by a natural time, keep that spacing)."""
    config = config.replace(steps=steps)
    if config.evals_per_decade is not None:
        return config
    return config.replace(eval_every=min(config.setting("eval_every"), steps))


def per_lam(rows: dict, lams: Sequence[float], *, metric: str = "test_acc",
            at_step: int | None = None) -> dict[str, Any]:
    """``metric`` at the end of each lane (or at step ``at_step``), grouped by lam over seeds.

    Returns ``{"lam", "steps", "mean", "std", "se", "per_seed", "best_over_time_mean",
    "n_diverged"}`` with one entry per lam (lists; ``None`` where every lane of that lam
    diverged). ``std`` is the spread over seeds (``ddof=0``), ``se`` the standard error of the
    mean, ``std(ddof=1) / sqrt(n_seeds)`` (``None`` with a single seed: no noise estimate). The
    value of a diverged lane is not used (its frozen parameters say nothing about the budget).
    ``best_over_time_mean`` is the mean over seeds of the lane's raw maximum over evaluations up
    to the end (the accuracy an oracle stopping at the best step would keep).
    """
    lanes = split_lanes(rows, metric)
    out = {"lam": [], "steps": [], "mean": [], "std": [], "se": [], "per_seed": [],
           "best_over_time_mean": [], "n_diverged": []}
    for lam in lams:
        mine = [ln for ln in lanes if math.isclose(ln["lam"], lam, rel_tol=1e-6, abs_tol=1e-30)]
        if not mine:
            raise _checks.bad("lams", lams, f"rows have no lane with lam={lam!r}",
                              "pass lams of the sweep that made rows")
        finals, bests, steps = [], [], []
        for ln in mine:
            s, v = ln["step"], ln["values"]
            if at_step is not None:
                keep = s <= at_step
                s, v = s[keep], v[keep]
                if not len(s) or s[-1] != at_step:
                    raise _checks.bad("at_step", at_step, f"lane run={ln['run']} has no "
                                      f"evaluation at step {at_step}",
                                      "make eval_every divide every budget")
            steps.append(int(s[-1]))
            if not ln["diverged"]:
                finals.append(float(v[-1]))
                bests.append(float(np.max(v)))
        out["lam"].append(float(lam))
        out["steps"].append(max(steps))
        out["per_seed"].append(finals)
        out["mean"].append(float(np.mean(finals)) if finals else None)
        out["std"].append(float(np.std(finals)) if finals else None)
        out["se"].append(standard_error(finals))
        out["best_over_time_mean"].append(float(np.mean(bests)) if bests else None)
        out["n_diverged"].append(len(mine) - len(finals))
    return out


def _argbest(values: Sequence[float | None], mode: str = "max") -> int | None:
    scored = [(v if mode == "max" else -v, i) for i, v in enumerate(values) if v is not None]
    return max(scored)[1] if scored else None


def best_within_noise(mean: Sequence[float | None], se: Sequence[float | None],
                      mode: str) -> list[int]:
    """Indices of the entries tied with the best mean within the seed noise.

    The best entry is the largest (``mode="max"``) or smallest (``"min"``) ``mean``; entry ``i``
    ties with it when ``|mean_i - mean_best| <= sqrt(se_i^2 + se_best^2)``, one standard error of
    the difference (``se`` ``None``: no noise estimate, counted as 0). Returns the best first,
    then the tied ones in index order; ``[]`` when every mean is ``None``.
    """
    best = _argbest(mean, mode)
    if best is None:
        return []
    se0 = se[best] or 0.0
    tied = [i for i, m in enumerate(mean) if i != best and m is not None
            and abs(m - mean[best]) <= math.hypot(se[i] or 0.0, se0)]
    return [best] + tied


def lam_opt_row(budget: int, lam_pred: float, lams: Sequence[float], got: dict,
                mode: str) -> dict[str, Any]:
    """The prediction ``lam_pred`` for one budget against the grid's results ``got`` (a
    ``per_lam`` dict): the fields of one row of ``predict_lam_opt``'s table (see there)."""
    tied = best_within_noise(got["mean"], got["se"], mode)
    ib = tied[0] if tied else None
    # the member of the tied set nearest to the prediction (in log lam)
    it = min(tied, key=lambda i: abs(math.log(lam_pred / lams[i]))) if tied else None
    near = int(np.argmin(np.abs(np.log(np.array(lams)) - np.log(lam_pred))))
    best_val = None if ib is None else got["mean"][ib]
    near_val = got["mean"][near]
    regret = None
    if best_val is not None and near_val is not None:
        regret = (best_val - near_val) if mode == "max" else (near_val - best_val)
    return {
        "budget": budget, "lam_pred": lam_pred, "lam_best": None if ib is None else lams[ib],
        "log10_ratio": None if ib is None else float(np.log10(lam_pred / lams[ib])),
        "lam_best_set": [lams[i] for i in tied],
        "log10_ratio_set": None if it is None else float(np.log10(lam_pred / lams[it])),
        "metric_best": best_val,
        "metric_se_best": None if ib is None else got["se"][ib],
        "lam_grid_nearest_pred": lams[near],
        "metric_at_nearest_pred": near_val, "regret": regret,
        "metric_by_lam": {repr(m): v for m, v in zip(lams, got["mean"])},
        "metric_se_by_lam": {repr(m): v for m, v in zip(lams, got["se"])}}


def budget_comparison(config, dataset, *, lams: Sequence[float], lr: float, budget_steps: int,
                      natural_time: float, seeds: Sequence[int] = (0,),
                      metric: str = "test_acc", zero_steps: int | None = None,
                      progress: bool = False) -> dict[str, Any]:
    """Final test accuracy against lam for a fixed step budget and for a budget ``~ 1/lam``.

    docs/conventions.md, relation 2: with a fixed budget ``T`` the final accuracy peaks at some lam
    (too large a lam collapses before ``T``, too small a lam has not used its regularization yet);
    with ``T = tau / (lam lr)`` steps (the same natural time ``tau`` for every lam) it improves as
    lam decreases and saturates.

    Arms (one ``l2theory.train.sweep`` each, the same ``config`` otherwise):

    - ``fixed``: every lam trained for ``budget_steps`` steps.
    - ``proportional``: lam trained for ``ceil(natural_time / (lam lr))`` steps
      (``sweep(..., natural_time=natural_time)``); ``lam = 0`` has no such budget: it is left
      out of this arm (``None`` entries), or, with ``zero_steps``, trained for that many steps as
      a reference (e.g. the arm's longest budget, that of its smallest positive lam).

    Args:
      config: an ``l2theory.train.TrainConfig`` (its ``lam``, ``lr``, ``seed``, ``steps`` are
        replaced).
      dataset: an ``l2theory.data.Dataset``.
      lams: L2 coefficients (``>= 0``).
      lr: learning rate (constant unless ``config`` schedules it).
      budget_steps: ``T`` of the fixed arm (steps).
      natural_time: ``tau = lam lr T`` of the proportional arm (dimensionless).
      seeds: seeds, averaged over.
      metric: the column reported (``"test_acc"``).
      zero_steps: steps of ``lam = 0`` in the proportional arm (``None``: not run there).
      progress: a progress bar per sweep (stderr).

    Returns:
      JSON-ready dict: ``lam`` (sorted), ``fixed`` and ``proportional`` (each ``per_lam``'s dict:
      ``steps``, ``mean``, ``std``, ``se``, ``per_seed``, ``best_over_time_mean``, ``n_diverged``
      per lam), ``best_lam_fixed``, ``best_lam_proportional`` (lam of the best mean final
      ``metric``; the proportional arm ranks its positive lams only), ``best_lams_fixed``,
      ``best_lams_proportional`` (the lams tied with it within one standard error,
      ``best_within_noise``; the best first), ``budget_steps``, ``natural_time``, ``lr``,
      ``seeds``, ``metric``, ``zero_steps`` (steps of the lam = 0 reference in the proportional
      arm, or None).
    """
    lams = sorted(_checks.lams("lams", lams))
    lr = _checks.lr("lr", lr)
    budget_steps = _checks.positive_int("budget_steps", budget_steps)
    natural_time = _checks.positive("natural_time", natural_time)
    seeds = _checks.seeds("seeds", seeds)
    cfg = _for_steps(config.replace(lr=lr), budget_steps)
    fixed = per_lam(quiet_sweep(cfg, dataset, lam=lams, lr=[lr], seeds=seeds, progress=progress),
                    lams, metric=metric)
    positive = [m for m in lams if m > 0]
    prop = {k: [] for k in fixed}
    if positive:
        got = per_lam(quiet_sweep(cfg, dataset, lam=positive, lr=[lr], seeds=seeds,
                                  natural_time=natural_time, progress=progress), positive,
                      metric=metric)
        for lam in lams:
            if lam > 0:
                i = positive.index(lam)
                for k in prop:
                    prop[k].append(got[k][i])
            else:
                for k in prop:
                    prop[k].append(lam if k == "lam" else None)
    if zero_steps is not None and 0.0 in lams:
        zero_steps = _checks.positive_int("zero_steps", zero_steps)
        # only its final value is reported: evaluated at step 0 and at the end
        zcfg = cfg.replace(steps=zero_steps, eval_every=zero_steps, evals_per_decade=None)
        got = per_lam(quiet_sweep(zcfg, dataset, lam=[0.0], lr=[lr], seeds=seeds,
                                  progress=progress), [0.0], metric=metric)
        i = lams.index(0.0)
        for k in prop:
            prop[k][i] = got[k][0]
    mode = "min" if "loss" in metric else "max"
    tf = best_within_noise(fixed["mean"], fixed["se"], mode)
    # the lam = 0 reference (zero_steps) has no scaled budget: not ranked in that arm
    tp = best_within_noise([None if lam == 0 else m for lam, m in zip(lams, prop["mean"])],
                           prop["se"], mode)
    return _checks.to_json({
        "lam": lams, "fixed": fixed, "proportional": prop,
        "best_lam_fixed": lams[tf[0]] if tf else None,
        "best_lam_proportional": lams[tp[0]] if tp else None,
        "best_lams_fixed": [lams[i] for i in tf],
        "best_lams_proportional": [lams[i] for i in tp],
        "budget_steps": budget_steps, "natural_time": natural_time, "lr": lr, "seeds": seeds,
        "metric": metric, "zero_steps": zero_steps if 0.0 in lams else None})


def short_run_c(config, dataset, *, lam_large: float, lr: float, seeds: Sequence[int] = (0,),
                short_natural_time: float = 3.0, smooth: float | None = DEFAULT_SMOOTH,
                metric: str = "test_acc", progress: bool = False) -> dict[str, Any]:
    """``c = lam lr t*`` from one short run per seed at a large lam (the paper's recipe for
    ``lam_opt``; docs/conventions.md, relation 3).

    Each seed trains ``config`` at ``lam_large`` and ``lr`` for
    ``ceil(short_natural_time / (lam_large lr))`` steps (its lr and lam schedules as given: the
    authors' short run is at constant lr); ``t*`` is the step of peak ``metric`` (``t_star``,
    bandwidth ``smooth``; the minimum for a metric named ``*loss*``).

    Returns:
      JSON-ready dict: ``c`` (geometric mean of ``c_per_seed`` over seeds), ``c_se`` (its
      standard error, ``c * std(ln c_per_seed, ddof=1) / sqrt(n)``; None with one seed),
      ``c_per_seed``, ``t_star`` (per seed, steps), ``at_boundary`` (True if any seed peaked at
      its first or last evaluation: ``c`` is then only a bound; lengthen the run),
      ``lam_large``, ``lr``, ``steps``, ``short_natural_time``, ``metric``, ``seeds``.

    Raises:
      ValueError: a short run diverged (lower ``lr`` or ``lam_large``).
    """
    lam_large = _checks.lam("lam_large", lam_large, allow_zero=False)
    lr = _checks.lr("lr", lr)
    seeds = _checks.seeds("seeds", seeds)
    short_natural_time = _checks.positive("short_natural_time", short_natural_time)
    mode = "min" if "loss" in metric else "max"
    rows = quiet_sweep(config.replace(lr=lr), dataset, lam=[lam_large], lr=[lr], seeds=seeds,
                       natural_time=short_natural_time, progress=progress)
    t_stars, seed_of, boundary = [], [], False
    for ln in split_lanes(rows, metric):
        if ln["diverged"]:
            raise ValueError(f"the short run at lam_large={lam_large} (seed {ln['seed']}) "
                             "diverged; lower lr or lam_large")
        pk = t_star(ln["step"], ln["values"], mode=mode, smooth=smooth)  # step 0 left out
        t_stars.append(pk.t_star)
        seed_of.append(ln["seed"])
        boundary |= pk.at_boundary
    c_seed = [lam_large * lr * t for t in t_stars]
    logs = np.log(c_seed)
    c = float(np.exp(np.mean(logs)))
    se_log = standard_error(logs)  # of ln c: c's relative standard error
    c_se = None if se_log is None else c * se_log
    return _checks.to_json({
        "c": c, "c_se": c_se, "c_per_seed": c_seed, "t_star": t_stars, "seeds": seed_of,
        "at_boundary": bool(boundary), "lam_large": lam_large, "lr": lr,
        "steps": int(np.max(rows["run_steps"])) if "run_steps" in rows else None,
        "short_natural_time": short_natural_time, "metric": metric})


def predict_lam_opt(config, dataset, *, lam_large: float, lr: float, budgets: Sequence[int],
                    lams: Sequence[float], seeds: Sequence[int] = (0,),
                    short_natural_time: float = 3.0, smooth: float | None = DEFAULT_SMOOTH,
                    metric: str = "test_acc", progress: bool = False) -> list[dict[str, Any]]:
    """Predict the optimal lam of a step budget from one short run at a large lam, and check it.

    docs/conventions.md, relation 3: ``t* = c / (lam lr)``, so a budget of ``T`` steps is best used
    by the lam whose peak falls at ``T``: ``lam_opt(T) = c / (lr T)``. Procedure:

    1. Short run(s) at ``lam_large`` for ``ceil(short_natural_time / (lam_large lr))`` steps
       (one per seed); ``t*`` = step of peak ``metric`` (``t_star``, smoothing ``smooth``) and
       ``c = lam_large lr t*``, the geometric mean over seeds.
    2. For each budget ``T``: ``lam_pred = c / (lr T)``.
    3. A sweep over ``lams`` trained for ``T`` steps; ``lam_best`` = the lam with the best mean
       (over seeds) final ``metric``, and ``lam_best_set`` = every lam tied with it within the
       seed noise (``best_within_noise``: means within one standard error of the difference), so
       that a tie between two grid points is reported as a tie, not as a winner. With a
       constant lr and lam schedule one sweep to ``max(budgets)`` serves every budget (a run's
       first ``T`` steps do not depend on its length); ``eval_every`` is then set to the gcd of
       the budgets so every ``T`` is evaluated. Otherwise there is one sweep per budget.

    Args:
      config: an ``l2theory.train.TrainConfig``.
      dataset: an ``l2theory.data.Dataset``.
      lam_large: lam of the short run (``> 0``, large: its ``t*`` is then short).
      lr: learning rate of every run.
      budgets: step budgets ``T`` (ints).
      lams: the grid compared against (``> 0``).
      seeds: seeds (short runs and sweeps).
      short_natural_time: natural time ``lam lr t`` of the short run (default 3); must exceed
        ``c``.
      smooth: ``t_star``'s bandwidth in ``ln step``.
      metric: the column whose peak/final value is used (``"test_acc"``).
      progress: a progress bar per sweep (stderr).

    Returns:
      A table, one JSON-ready dict per budget (sorted by budget): ``budget``, ``lam_pred``,
      ``lam_best``, ``log10_ratio`` (``log10(lam_pred / lam_best)``; the grid's spacing bounds
      its resolution), ``lam_best_set`` (the lams tied with ``lam_best``, best first) and
      ``log10_ratio_set`` (``log10(lam_pred / lam)`` for the member of that set nearest to
      ``lam_pred``), ``metric_best`` (mean final metric of ``lam_best``) and ``metric_se_best``
      (its standard error over seeds), ``lam_grid_nearest_pred`` (grid lam nearest ``lam_pred`` in
      log) and ``metric_at_nearest_pred``, ``regret`` (``metric_best - metric_at_nearest_pred``),
      ``metric_by_lam`` and ``metric_se_by_lam`` (``{repr(lam): mean}``, ``{repr(lam): SE}``),
      and the short run's ``c``, ``c_per_seed``, ``t_star_large`` (per seed), ``lam_large``,
      ``short_at_boundary`` (True if any short run peaked at its first/last evaluation: then
      ``c`` is only a bound; increase ``short_natural_time``).
    """
    lam_large = _checks.lam("lam_large", lam_large, allow_zero=False)
    lr = _checks.lr("lr", lr)
    budgets = sorted(set(_checks.sequence("budgets", budgets, _checks.positive_int,
                                          example="[200, 800]")))
    lams = sorted(_checks.lams("lams", lams, allow_zero=False))
    seeds = _checks.seeds("seeds", seeds)
    short_natural_time = _checks.positive("short_natural_time", short_natural_time)
    mode = "min" if "loss" in metric else "max"

    short = short_run_c(config, dataset, lam_large=lam_large, lr=lr, seeds=seeds,
                        short_natural_time=short_natural_time, smooth=smooth, metric=metric,
                        progress=progress)
    c, c_seed, t_stars, boundary = (short[k] for k in ("c", "c_per_seed", "t_star",
                                                       "at_boundary"))

    constant = config.lr_schedule == "constant" and config.lam_schedule == "constant"
    results: dict[int, dict] = {}
    if constant:
        every = math.gcd(*budgets) if len(budgets) > 1 else budgets[0]
        every = math.gcd(every, config.setting("eval_every"))
        rows = quiet_sweep(config.replace(steps=budgets[-1], lr=lr, eval_every=every,
                                     evals_per_decade=None), dataset,
                      lam=lams, lr=[lr], seeds=seeds, progress=progress)
        for b in budgets:
            results[b] = per_lam(rows, lams, metric=metric, at_step=b)
    else:
        for b in budgets:
            rows = quiet_sweep(_for_steps(config.replace(lr=lr), b), dataset, lam=lams, lr=[lr],
                          seeds=seeds, progress=progress)
            results[b] = per_lam(rows, lams, metric=metric)

    table = []
    for b in budgets:
        table.append(_checks.to_json({
            **lam_opt_row(b, c / (lr * b), lams, results[b], mode),
            "c": c, "c_per_seed": c_seed, "t_star_large": t_stars, "lam_large": lam_large,
            "lr": lr, "short_at_boundary": bool(boundary), "metric": metric}))
    return table
