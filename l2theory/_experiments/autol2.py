"""AutoL2 against the best fixed lam at the same step budget.

docs/conventions.md, relation 4: AutoL2 starts at a large lam and divides it by ``autol2_factor``
when, after a refractory period of ``2 k autol2_delay / lam`` steps, the best training loss or
accuracy before the last two measurements is at least as good as both of them - the authors' rule
(``l2theory.train.autol2_rule``; the schedule runs in ``l2theory.train``:
``TrainConfig(lam_schedule="autol2", autol2_*)``). Time counts steps.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from l2theory import _checks
from l2theory._experiments.budget import _argbest, _sweep, per_lam
from l2theory._experiments.collapse import split_lanes


def steps_to_target(steps, values, target: float, *, mode: str = "max") -> int | None:
    """First evaluated step at which ``values`` reaches ``target`` (``>=`` for ``mode="max"``,
    ``<=`` for ``"min"``), or None if it never does."""
    steps, values = np.asarray(steps), np.asarray(values)
    hit = values >= target if mode == "max" else values <= target
    i = np.flatnonzero(hit)
    return int(steps[i[0]]) if len(i) else None


def autol2_comparison(config, dataset, *, budget: int, lams: Sequence[float],
                      lam_start: float | None = None, seeds: Sequence[int] = (0,),
                      target: float | None = None, target_fraction: float = 0.98,
                      metric: str = "test_acc") -> dict[str, Any]:
    """AutoL2 vs a grid of fixed lam, all for ``budget`` steps with ``config``'s other settings.

    - Fixed arm: one sweep over ``lams`` with ``lam_schedule="constant"``.
    - AutoL2 arm: one sweep from ``lam_start`` (default ``max(lams)``) with
      ``lam_schedule="autol2"`` and ``config``'s ``autol2_factor``/``autol2_measure_every``/
      ``autol2_delay`` (the authors' units: refractory period ``2 k delay / lam`` steps).

    Reported for both: the final ``metric`` (mean and per seed) and the steps to reach a target
    (first evaluation with ``metric >= target``; ``<=`` for a loss). The target defaults to
    ``target_fraction`` times the best fixed lam's mean final metric (so "steps to target" asks
    how fast each run gets close to the best fixed-lam result). And AutoL2's ``lam(t)`` trace at
    every evaluation (the ``lam`` column: the value in force at that step), per seed, with the
    steps at which lam changed.

    Args:
      config: an ``l2theory.train.TrainConfig`` (``lr``, ``autol2_*`` and model settings are used;
        ``lam``, ``seed``, ``steps``, ``lam_schedule`` are replaced).
      dataset: an ``l2theory.data.Dataset``.
      budget: steps of every run.
      lams: the fixed grid (``>= 0``).
      lam_start: AutoL2's initial lam (``> 0``); default ``max(lams)``.
      seeds: seeds of both arms.
      target, target_fraction: the target metric (see above).
      metric: the column compared (``"test_acc"``).

    Returns:
      JSON-ready dict: ``fixed`` (``lam``, ``final_mean``, ``final_std``, ``final_per_seed``,
      ``steps_to_target`` (per lam, per seed)), ``best_fixed`` (``lam``, ``final_mean``,
      ``steps_to_target``), ``autol2`` (``lam_start``, ``final_mean``, ``final_std``,
      ``final_per_seed``, ``steps_to_target``, ``final_lam`` per seed, ``lam_trace``:
      ``{"step": [...], "lam": [[per evaluation] per seed]}``, ``lam_changes``: per seed, the
      evaluation steps at which lam had just been divided, ``decay_steps``: per seed, the
      measurement steps at which AutoL2 divided lam, from its record), ``target``, ``budget``,
      ``seeds``,
      ``metric``, ``autol2_beats_best_fixed`` (final mean strictly better).
    """
    budget = _checks.positive_int("budget", budget)
    lams = sorted(_checks.lams("lams", lams))
    seeds = _checks.seeds("seeds", seeds)
    if lam_start is None:
        lam_start = max(lams)
    lam_start = _checks.lam("lam_start", lam_start, allow_zero=False)
    target_fraction = _checks.real("target_fraction", target_fraction, low=0.0, high=1.0,
                                   low_open=True, fix="e.g. 0.98")
    mode = "min" if "loss" in metric else "max"
    base = config.replace(steps=budget, eval_every=min(config.eval_every, budget))

    fixed_rows = _sweep(base.replace(lam_schedule="constant"), dataset, lam=lams,
                        lr=[config.lr], seeds=seeds)
    fixed = per_lam(fixed_rows, lams, metric=metric)
    auto_rows = _sweep(base.replace(lam_schedule="autol2", lam=lam_start), dataset,
                       lam=[lam_start], lr=[config.lr], seeds=seeds)
    auto_lanes = split_lanes(auto_rows, metric)
    auto_lam_lanes = {ln["run"]: ln for ln in split_lanes(
        {**auto_rows, "run_lam": auto_rows.get("run_lam", auto_rows["lam"])}, "lam")}

    ib = _argbest(fixed["mean"], mode)
    if ib is None:
        raise ValueError("every fixed-lam run diverged; lower config.lr")
    if target is None:
        best = fixed["mean"][ib]
        target = best * target_fraction if mode == "max" else best / target_fraction
    target = float(target)

    fixed_lanes = split_lanes(fixed_rows, metric)
    fixed_hits = []
    for lam in lams:
        fixed_hits.append([None if ln["diverged"] else
                           steps_to_target(ln["step"], ln["values"], target, mode=mode)
                           for ln in fixed_lanes if np.isclose(ln["lam"], lam, rtol=1e-6)])
    rec = auto_rows["autol2"]
    finals, hits, trace, changes, final_lam, decays = [], [], [], [], [], []
    for ln in auto_lanes:
        mine = rec["run"] == ln["run"]
        lam_m = np.concatenate([np.asarray([lam_start], rec["lam"].dtype), rec["lam"][mine]])
        decays.append(rec["step"][mine][lam_m[1:] < lam_m[:-1]].tolist())
        lam_t = auto_lam_lanes[ln["run"]]["values"]
        trace.append(lam_t.tolist())
        changed = np.flatnonzero(lam_t[1:] < lam_t[:-1] * (1 - 1e-6)) + 1
        changes.append([int(ln["step"][i]) for i in changed])
        final_lam.append(float(lam_t[-1]))
        if ln["diverged"]:
            finals.append(None)
            hits.append(None)
        else:
            finals.append(float(ln["values"][-1]))
            hits.append(steps_to_target(ln["step"], ln["values"], target, mode=mode))
    ok = [f for f in finals if f is not None]
    auto_mean = float(np.mean(ok)) if ok else None
    best_mean = fixed["mean"][ib]
    beats = None
    if auto_mean is not None:
        beats = auto_mean > best_mean if mode == "max" else auto_mean < best_mean
    return _checks.to_json({
        "fixed": {"lam": lams, "final_mean": fixed["mean"], "final_std": fixed["std"],
                  "final_per_seed": fixed["per_seed"], "steps_to_target": fixed_hits},
        "best_fixed": {"lam": lams[ib], "final_mean": best_mean,
                       "steps_to_target": fixed_hits[ib]},
        "autol2": {"lam_start": lam_start, "final_mean": auto_mean,
                   "final_std": float(np.std(ok)) if ok else None, "final_per_seed": finals,
                   "steps_to_target": hits, "final_lam": final_lam,
                   "lam_trace": {"step": auto_lanes[0]["step"].tolist(), "lam": trace},
                   "lam_changes": changes, "decay_steps": decays},
        "autol2_beats_best_fixed": beats, "target": target, "budget": budget, "seeds": seeds,
        "metric": metric, "lr": config.lr})
