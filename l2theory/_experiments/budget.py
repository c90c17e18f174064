"""Step budgets and the optimal lam: fixed budget vs budget proportional to 1/lam, and the
prediction ``lam_opt(T) = c / (lr T)`` from one short run at a large lam.

docs/conventions.md, empirical relations 2 and 3. Time counts steps; the natural clock is
``lam lr t``. A "best" lam is chosen on a metric the comparison does not score: pass a dataset
with a validation split (``data.hold_out``) and a ``val_*`` metric to choose on, the ``test_*``
one to report.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from l2theory import _checks
from l2theory._experiments.collapse import split_lanes
from l2theory._experiments.optimum import grid_optimum
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

    Returns ``{"lam", "steps", "mean", "std", "se", "per_seed", "by_seed", "seeds",
    "best_over_time_mean", "n_diverged"}`` with one entry per lam (lists; ``None`` where every
    lane of that lam diverged). ``per_seed`` holds the values of the lanes that did not diverge,
    ``by_seed`` one value per seed of ``seeds`` (the sorted seeds of ``rows``; None for a diverged
    lane). ``std`` is the spread over seeds (``ddof=0``), ``se`` the standard error of the
    mean, ``std(ddof=1) / sqrt(n_seeds)`` (``None`` with a single seed: no noise estimate). The
    value of a diverged lane is not used (its frozen parameters say nothing about the budget).
    ``best_over_time_mean`` is the mean over seeds of the lane's raw maximum over evaluations up
    to the end (the accuracy an oracle stopping at the best step would keep).
    """
    lanes = split_lanes(rows, metric)
    seeds = sorted({ln["seed"] for ln in lanes})
    out = {"lam": [], "steps": [], "mean": [], "std": [], "se": [], "per_seed": [],
           "by_seed": [], "seeds": seeds, "best_over_time_mean": [], "n_diverged": []}
    for lam in lams:
        mine = [ln for ln in lanes if math.isclose(ln["lam"], lam, rel_tol=1e-6, abs_tol=1e-30)]
        if not mine:
            raise _checks.bad("lams", lams, f"rows have no lane with lam={lam!r}",
                              "pass lams of the sweep that made rows")
        finals, bests, steps, by_seed = [], [], [], {}
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
                by_seed[ln["seed"]] = float(v[-1])
        out["lam"].append(float(lam))
        out["steps"].append(max(steps))
        out["per_seed"].append(finals)
        out["by_seed"].append([by_seed.get(sd) for sd in seeds])
        out["mean"].append(float(np.mean(finals)) if finals else None)
        out["std"].append(float(np.std(finals)) if finals else None)
        out["se"].append(standard_error(finals))
        out["best_over_time_mean"].append(float(np.mean(bests)) if bests else None)
        out["n_diverged"].append(len(mine) - len(finals))
    return out


def _argbest(values: Sequence[float | None], mode: str = "max") -> int | None:
    scored = [(v if mode == "max" else -v, i) for i, v in enumerate(values) if v is not None]
    return max(scored)[1] if scored else None


def best_lam(lams: Sequence[float], mean: Sequence[float | None], mode: str) -> float | None:
    """The lam of the best ``mean`` (largest for ``mode="max"``, smallest for ``"min"``; None
    entries skipped; None when every one is)."""
    i = _argbest(mean, mode)
    return None if i is None else lams[i]


def lam_opt_row(budget: int, lam_pred: Sequence[float], lams: Sequence[float], got: dict,
                mode: str, shown: dict | None = None) -> dict[str, Any]:
    """One budget of ``predict_lam_opt``'s table: the per-seed predictions ``lam_pred`` (one per
    seed of ``got``) against the optimum of ``got`` (a ``per_lam`` dict of the metric chosen on,
    e.g. the validation loss at step ``budget``), by ``grid_optimum``; ``shown``: the
    ``per_lam`` dict of a metric reported beside (e.g. the test loss)."""
    opt = grid_optimum(lams, got["by_seed"], mode=mode)
    pred = float(np.exp(np.mean(np.log(lam_pred))))
    near = int(np.argmin(np.abs(np.log(np.array(lams)) - np.log(pred))))
    row = {"budget": budget, "lam_pred": pred, "lam_pred_per_seed": list(lam_pred),
           "seeds": got["seeds"], "optimum": opt, "lam_best": lams[opt["best"]],
           "lam_opt": opt["lam_opt"], "at_edge": opt["at_edge"],
           "lam_grid_nearest_pred": lams[near],
           "metric_by_lam": {repr(m): v for m, v in zip(lams, got["mean"])},
           "metric_se_by_lam": {repr(m): v for m, v in zip(lams, got["se"])}}
    if shown is not None:
        row["shown_by_lam"] = {repr(m): v for m, v in zip(lams, shown["mean"])}
        row["shown_se_by_lam"] = {repr(m): v for m, v in zip(lams, shown["se"])}
    return row


def budget_comparison(config, dataset, *, lams: Sequence[float], lr: float, budget_steps: int,
                      natural_time: float, seeds: Sequence[int] = (0,),
                      metric: str = "test_acc", select_metric: str | None = None,
                      zero_steps: int | None = None, progress: bool = False) -> dict[str, Any]:
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
      dataset: an ``l2theory.data.Dataset`` (with a validation split for ``select_metric``
        ``val_*``).
      lams: L2 coefficients (``>= 0``).
      lr: learning rate (constant unless ``config`` schedules it).
      budget_steps: ``T`` of the fixed arm (steps).
      natural_time: ``tau = lam lr T`` of the proportional arm (dimensionless).
      seeds: seeds, averaged over.
      metric: the column reported (``"test_acc"``).
      select_metric: the column the best lam of each arm is chosen on (default ``metric``;
        ``"val_acc"`` chooses on the validation split, so ``metric`` on the test set scores it).
      zero_steps: steps of ``lam = 0`` in the proportional arm (``None``: not run there).
      progress: a progress bar per sweep (stderr).

    Returns:
      JSON-ready dict: ``lam`` (sorted), ``fixed`` and ``proportional`` (each ``per_lam``'s dict
      of ``metric``: ``steps``, ``mean``, ``std``, ``se``, ``per_seed``, ``by_seed``,
      ``best_over_time_mean``, ``n_diverged`` per lam, and ``select``: ``per_lam``'s dict of
      ``select_metric``), ``best_lam_fixed``, ``best_lam_proportional`` (lam of the best mean
      final ``select_metric``; the proportional arm ranks its positive lams only),
      ``budget_steps``, ``natural_time``, ``lr``, ``seeds``, ``metric``, ``select_metric``,
      ``zero_steps`` (steps of the lam = 0 reference in the proportional arm, or None).
    """
    lams = sorted(_checks.lams("lams", lams))
    lr = _checks.lr("lr", lr)
    budget_steps = _checks.positive_int("budget_steps", budget_steps)
    natural_time = _checks.positive("natural_time", natural_time)
    seeds = _checks.seeds("seeds", seeds)
    select_metric = metric if select_metric is None else select_metric
    cfg = _for_steps(config.replace(lr=lr), budget_steps)

    def arm(rows, grid):
        got = per_lam(rows, grid, metric=metric)
        got["select"] = per_lam(rows, grid, metric=select_metric)
        return got

    fixed = arm(quiet_sweep(cfg, dataset, lam=lams, lr=[lr], seeds=seeds, progress=progress),
                lams)
    positive = [m for m in lams if m > 0]
    prop = {k: [] for k in fixed if k not in ("select", "seeds")}
    prop["select"] = {k: [] for k in fixed["select"] if k != "seeds"}

    def put(got, i):
        for k in prop:
            if k != "select":
                prop[k].append(None if got is None else got[k][i])
        for k in prop["select"]:
            prop["select"][k].append(None if got is None else got["select"][k][i])

    if positive:
        got = arm(quiet_sweep(cfg, dataset, lam=positive, lr=[lr], seeds=seeds,
                              natural_time=natural_time, progress=progress), positive)
    for lam in lams:
        put(got if lam > 0 else None, positive.index(lam) if lam > 0 else 0)
    prop["lam"] = list(lams)
    if zero_steps is not None and 0.0 in lams:
        zero_steps = _checks.positive_int("zero_steps", zero_steps)
        # only its final value is reported: evaluated at step 0 and at the end
        zcfg = cfg.replace(steps=zero_steps, eval_every=zero_steps, evals_per_decade=None)
        got = arm(quiet_sweep(zcfg, dataset, lam=[0.0], lr=[lr], seeds=seeds,
                              progress=progress), [0.0])
        i = lams.index(0.0)
        for k in prop:
            if k != "select":
                prop[k][i] = got[k][0]
        for k in prop["select"]:
            prop["select"][k][i] = got["select"][k][0]
    prop["seeds"] = prop["select"]["seeds"] = fixed["seeds"]
    mode = "min" if "loss" in select_metric else "max"
    # the lam = 0 reference (zero_steps) has no scaled budget: not ranked in that arm
    return _checks.to_json({
        "lam": lams, "fixed": fixed, "proportional": prop,
        "best_lam_fixed": best_lam(lams, fixed["select"]["mean"], mode),
        "best_lam_proportional": best_lam(
            lams, [None if lam == 0 else m for lam, m in zip(lams, prop["select"]["mean"])],
            mode),
        "budget_steps": budget_steps, "natural_time": natural_time, "lr": lr, "seeds": seeds,
        "metric": metric, "select_metric": select_metric,
        "zero_steps": zero_steps if 0.0 in lams else None})


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
                    metric: str = "test_acc", shown_metric: str | None = None,
                    short_config=None, progress: bool = False) -> list[dict[str, Any]]:
    """Predict the optimal lam of a step budget from one short run at a large lam, and measure it.

    docs/conventions.md, relation 3: ``t* = c / (lam lr)``, so a budget of ``T`` steps is best used
    by the lam whose peak falls at ``T``: ``lam_opt(T) = c / (lr T)``. Procedure:

    1. Short run(s) at ``lam_large`` for ``ceil(short_natural_time / (lam_large lr))`` steps
       (one per seed); ``t*`` = step of peak ``metric`` (``t_star``, smoothing ``smooth``) and
       ``c_s = lam_large lr t*`` per seed: ``lam_pred_s = c_s / (lr T)``.
    2. A sweep over ``lams`` trained for ``T`` steps; the measured optimum is the vertex of a
       parabola in ``ln lam`` through the best grid point of the mean final ``metric`` and its
       two neighbours, fitted to the mean and to each seed (``grid_optimum``); a best at the
       grid's edge is flagged (``at_edge``: the grid does not contain the optimum). With a
       constant lr and lam schedule one sweep to ``max(budgets)`` serves every budget (a run's
       first ``T`` steps do not depend on its length); ``eval_every`` is then set to the gcd of
       the budgets so every ``T`` is evaluated. Otherwise there is one sweep per budget.

    ``metric`` is what both the prediction and the optimum are measured on: a ``val_*`` column
    of a dataset with a validation split (``data.hold_out``) keeps the test set out of them;
    ``shown_metric`` (e.g. ``"test_loss"``) is reported beside per lam. The claim that the
    prediction is within a factor of the optimum is ``lam_opt_claim(row["lam_pred_per_seed"],
    row["optimum"])`` (seed by seed).

    Args:
      config: an ``l2theory.train.TrainConfig``.
      dataset: an ``l2theory.data.Dataset``.
      lam_large: lam of the short run (``> 0``, large: its ``t*`` is then short).
      lr: learning rate of every run.
      budgets: step budgets ``T`` (ints).
      lams: the grid compared against (``> 0``).
      seeds: seeds (short runs and sweeps; >= 2 for an interval).
      short_natural_time: natural time ``lam lr t`` of the short run (default 3); must exceed
        ``c``.
      smooth: ``t_star``'s bandwidth in ``ln step``.
      metric: the column whose peak/final value is used (``"test_acc"``; ``"val_loss"``...).
      shown_metric: a column reported beside (None: none).
      short_config: the short run's ``TrainConfig`` (default ``config``), e.g. with
        ``evals_per_decade`` so that its short ``t*`` is resolved to a few percent.
      progress: a progress bar per sweep (stderr).

    Returns:
      A table, one JSON-ready dict per budget (sorted by budget): ``budget``, ``lam_pred`` (the
      geometric mean over seeds) and ``lam_pred_per_seed``, ``optimum`` (``grid_optimum``'s dict:
      ``lam_opt``, ``lam_opt_per_seed``, ``at_edge``, ``window``...), ``lam_best`` (the best grid
      lam of the mean), ``lam_opt``, ``at_edge``, ``lam_grid_nearest_pred``, ``metric_by_lam``
      and ``metric_se_by_lam`` (``{repr(lam): mean}``, ``{repr(lam): SE}``), ``shown_by_lam``
      and ``shown_se_by_lam`` (with ``shown_metric``), and the short run's ``c``,
      ``c_per_seed``, ``t_star_large`` (per seed), ``lam_large``, ``short_at_boundary`` (True if
      any short run peaked at its first/last evaluation: then ``c`` is only a bound; increase
      ``short_natural_time``), ``metric``, ``shown_metric``.
    """
    lam_large = _checks.lam("lam_large", lam_large, allow_zero=False)
    lr = _checks.lr("lr", lr)
    budgets = sorted(set(_checks.sequence("budgets", budgets, _checks.positive_int,
                                          example="[200, 800]")))
    lams = sorted(_checks.lams("lams", lams, allow_zero=False))
    seeds = _checks.seeds("seeds", seeds)
    short_natural_time = _checks.positive("short_natural_time", short_natural_time)
    mode = "min" if "loss" in metric else "max"

    short = short_run_c(config if short_config is None else short_config, dataset,
                        lam_large=lam_large, lr=lr, seeds=seeds,
                        short_natural_time=short_natural_time, smooth=smooth, metric=metric,
                        progress=progress)
    c, t_stars, boundary = (short[k] for k in ("c", "t_star", "at_boundary"))
    c_seed = dict(zip(short["seeds"], short["c_per_seed"]))

    constant = config.lr_schedule == "constant" and config.lam_schedule == "constant"
    results: dict[int, tuple[dict, dict | None]] = {}

    def read(rows, at_step=None):
        return (per_lam(rows, lams, metric=metric, at_step=at_step),
                None if shown_metric is None else per_lam(rows, lams, metric=shown_metric,
                                                          at_step=at_step))

    if constant:
        every = math.gcd(*budgets) if len(budgets) > 1 else budgets[0]
        every = math.gcd(every, config.setting("eval_every"))
        rows = quiet_sweep(config.replace(steps=budgets[-1], lr=lr, eval_every=every,
                                          evals_per_decade=None), dataset,
                           lam=lams, lr=[lr], seeds=seeds, progress=progress)
        for b in budgets:
            results[b] = read(rows, b)
    else:
        for b in budgets:
            results[b] = read(quiet_sweep(_for_steps(config.replace(lr=lr), b), dataset,
                                          lam=lams, lr=[lr], seeds=seeds, progress=progress))

    table = []
    for b in budgets:
        got, shown = results[b]
        preds = [c_seed[sd] / (lr * b) for sd in got["seeds"]]
        table.append(_checks.to_json({
            **lam_opt_row(b, preds, lams, got, mode, shown),
            "c": c, "c_per_seed": short["c_per_seed"], "t_star_large": t_stars,
            "lam_large": lam_large, "lr": lr, "short_at_boundary": bool(boundary),
            "metric": metric, "shown_metric": shown_metric}))
    return table
