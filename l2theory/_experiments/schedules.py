"""Beyond the paper: does ``t*`` collapse in the *integrated* decay time under decoupled weight
decay and non-constant learning-rate schedules?

The infinite-width theory (docs/conventions.md) says learning stops once the weights have decayed:
the kernel falls as ``exp(-2 (L-1) D(t))`` with ``D(t)`` the accumulated log-decay of the weights.
For plain SGD with constant ``lr``, ``lam`` it is ``D = lam lr t``, the natural clock, hence
``t* = c / (lam lr)``. With a schedule or another placement of the decay, the natural generalization
is the integrated decay clock::

    D(t) = m * sum_{s < t} lr_s lam_s,    m = 1 / (1 - momentum) for coupled L2 (the L2 gradient
                                          goes through the momentum buffer, whose steady-state
                                          gain is 1 / (1 - momentum)),
                                          m = 1 for decoupled weight decay (AdamW-style: each step
                                          decays theta by lr_s lam_s, outside the momentum).

The prediction: ``D(t*) = c`` for every ``lam``, ``lr`` and schedule of the same family, i.e. the
peaks collapse in ``D`` while they need not in steps or in ``lam lr t``.
``decoupled_and_schedules`` measures ``t*`` on a sweep per variant and reports how well
``D(t*)`` collapses.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks
from l2theory._experiments.collapse import default_mode, fit_power_law, lane_peaks
from l2theory._experiments.peak import DEFAULT_SMOOTH
from l2theory._experiments.sweeps import quiet_sweep

DEFAULT_VARIANTS: dict[str, dict[str, Any]] = {
    "coupled": {},
    "decoupled": {"decoupled_weight_decay": True},
    "cosine": {"lr_schedule": "cosine"},
    "step": {"lr_schedule": "step"},
}


def lr_per_step(config, lr: float, steps: int) -> np.ndarray:
    """``[steps]`` learning rate of each step ``s -> s+1`` of a run of ``config``'s lr schedule
    with base ``lr`` (``l2theory.train.lr_at``, the engine's own schedule)."""
    from l2theory import train
    from l2theory._practice.train.schedules import step_boundaries

    bounds = jnp.asarray(step_boundaries(steps, config.setting("lr_decay_at")), jnp.int32)
    at = jax.vmap(lambda s: train.lr_at(config.lr_schedule, jnp.float32(lr), s, steps, bounds,
                                        config.setting("lr_decay_factor")))
    return np.asarray(at(jnp.arange(steps, dtype=jnp.int32)), np.float64)


def clock_factor(config) -> float:
    """``m``: ``1 / (1 - momentum)`` for coupled L2, 1 for decoupled weight decay."""
    if config.setting("decoupled_weight_decay"):
        return 1.0
    return 1.0 / (1.0 - config.momentum)


def decay_clock(config, lam: float, lr: float, steps: int) -> np.ndarray:
    """``[steps + 1]`` integrated decay time ``D(t) = m sum_{s<t} lr_s lam`` at ``t = 0..steps``
    (see the module docstring for ``m``); constant ``lam``."""
    return clock_factor(config) * lam * np.concatenate([[0.0], np.cumsum(lr_per_step(config, lr, steps))])


def _spread(log_values: np.ndarray) -> float:
    return float(np.std(log_values)) if len(log_values) > 1 else 0.0


def decoupled_and_schedules(config, dataset, *, lams: Sequence[float], lrs: Sequence[float],
                            steps: int, seeds: Sequence[int] = (0,),
                            variants: Mapping[str, Mapping[str, Any]] | None = None,
                            metric: str = "test_acc", smooth: float | None = DEFAULT_SMOOTH,
                            n_boot: int = 200, collapse_threshold: float = 0.25
                            ) -> dict[str, Any]:
    """t* in steps, in ``lam lr t`` and in the integrated decay clock ``D``, per variant.

    For each variant (``TrainConfig`` overrides; default ``DEFAULT_VARIANTS``: coupled L2,
    decoupled weight decay (which needs ``momentum > 0`` in ``config``: without momentum both
    placements are the same step), cosine and step lr schedules) one ``l2theory.train.sweep`` over
    ``lams x lrs x seeds`` of ``steps`` steps; per lane ``t*`` (``t_star``'s rule on ``metric``),
    ``lam lr t*`` and ``D(t*)`` (``decay_clock``, linear interpolation between steps).
    Diverged lanes, lanes peaking at the first/last evaluation and ``lam = 0`` are excluded.

    Collapse measure: ``collapse_ratio = std(ln D(t*)) / std(ln(lam lr))`` over the included
    lanes: 0 when ``D(t*)`` is the same for every lane (perfect collapse: ``t*`` moves exactly as
    the clock predicts), 1 when ``t*`` does not move with ``lam lr`` at all.
    ``collapses = collapse_ratio < collapse_threshold``. The same ratio for ``lam lr t*``
    (``naive_collapse_ratio``) shows what the constant-lr clock would say.

    Args:
      config: an ``l2theory.train.TrainConfig`` (constant lam: AutoL2 is not supported here).
      dataset: an ``l2theory.data.Dataset``.
      lams, lrs: the grid (``> 0``; several ``lam lr`` products are needed).
      steps: steps of every run (schedules refer to it).
      seeds: seeds.
      variants: ``{name: {TrainConfig field: value}}``.
      metric, smooth: ``t*``'s metric and smoothing.
      n_boot: bootstrap replicates of the power-law fit in steps.
      collapse_threshold: see above.

    Returns:
      JSON-ready dict: ``variants`` (per name: ``overrides``, ``lanes`` (each: ``run, lam, lr,
      seed, t_star, lam_lr_t_star, decay_time_star, excluded``), ``fit_steps`` (``fit_power_law``
      of ``t*`` against ``lam lr``: ``slope`` 1 for the constant-lr law), ``decay_time_star``
      (``geometric_mean``, ``log10_std``), ``collapse_ratio``, ``naive_collapse_ratio``,
      ``collapses``, ``n_included``, ``clock_factor`` (``m``)), ``steps``, ``metric``.
    """
    lams = _checks.lams("lams", lams, allow_zero=False)
    lrs = _checks.lrs("lrs", lrs)
    steps = _checks.positive_int("steps", steps, minimum=3)
    seeds = _checks.seeds("seeds", seeds)
    variants = dict(DEFAULT_VARIANTS if variants is None else variants)
    if not variants:
        raise _checks.bad("variants", variants, "is empty", "pass e.g. {'coupled': {}}")
    if len({m * r for m in lams for r in lrs}) < 2:
        raise _checks.bad("lams", lams, "the grid needs at least two distinct lam * lr",
                          "sweep over several lam or lr")
    mode = default_mode(metric)
    configs: dict[str, tuple[dict, Any]] = {}  # every variant checked before any training
    for name, overrides in variants.items():
        overrides = dict(overrides)
        if overrides.get("lam_schedule", config.lam_schedule) != "constant":
            raise _checks.bad(f"variants[{name!r}]", overrides,
                              "needs a constant lam schedule (the clock integrates lam)",
                              "drop lam_schedule='autol2' (see autol2_comparison)")
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(config)})
        if unknown:
            raise _checks.bad(f"variants[{name!r}]", overrides, f"unknown settings {unknown}",
                              "use TrainConfig field names")
        configs[name] = overrides, config.replace(**overrides, steps=steps)
    out: dict[str, Any] = {}
    for name, (overrides, cfg) in configs.items():
        rows = quiet_sweep(cfg, dataset, lam=lams, lr=lrs, seeds=seeds)
        lanes = lane_peaks(rows, metric=metric, mode=mode, smooth=smooth)
        clocks: dict[tuple[float, float], np.ndarray] = {}
        for ln in lanes:
            ln["decay_time_star"] = None
            if ln["t_star"] is None:
                continue
            key = (ln["lam"], ln["lr"])
            if key not in clocks:
                clocks[key] = decay_clock(cfg, ln["lam"], ln["lr"], steps)
            grid = np.arange(steps + 1)
            ln["decay_time_star"] = float(np.interp(ln["t_star"], grid, clocks[key]))
        used = [ln for ln in lanes if ln["excluded"] is None]
        entry: dict[str, Any] = {"overrides": overrides, "lanes": lanes, "n_included": len(used),
                                 "fit_steps": None, "decay_time_star": None,
                                 "collapse_ratio": None, "naive_collapse_ratio": None,
                                 "collapses": None,
                                 "clock_factor": clock_factor(cfg)}
        lam_lr = np.array([ln["lam"] * ln["lr"] for ln in used])
        if len(np.unique(lam_lr)) >= 2:
            entry["fit_steps"] = fit_power_law(lam_lr, [ln["t_star"] for ln in used],
                                               [ln["seed"] for ln in used], n_boot=n_boot)
            d = np.log([ln["decay_time_star"] for ln in used])
            naive = np.log([ln["lam_lr_t_star"] for ln in used])
            base = _spread(np.log(lam_lr))
            entry["decay_time_star"] = {"geometric_mean": float(np.exp(d.mean())),
                                        "log10_std": _spread(d) / np.log(10)}
            entry["collapse_ratio"] = _spread(d) / base
            entry["naive_collapse_ratio"] = _spread(naive) / base
            entry["collapses"] = entry["collapse_ratio"] < collapse_threshold
        out[name] = entry
    return _checks.to_json({"variants": out, "steps": steps, "metric": metric,
                            "lams": lams, "lrs": lrs, "seeds": seeds,
                            "collapse_threshold": collapse_threshold})
