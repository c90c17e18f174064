"""The plan of a run or a sweep without training it: what each run will do (one JSON line per
run) and what it will cost (steps x seconds per step, measured or given)."""

from __future__ import annotations

import json
import time
from typing import Any, Sequence

import jax
import numpy as np

from l2theory import _checks
from l2theory._practice.models._model import param_count
from l2theory._practice.train.config import TrainConfig, check_config


def run_plan(config: TrainConfig, *, n_train: int, input_shape: Sequence[int] | None = None,
             num_classes: int = 10, lam: Sequence[float] | None = None,
             lr: Sequence[float] | None = None, seeds: Sequence[int] | None = None,
             natural_time: float | None = None) -> list[dict[str, Any]]:
    """The plan of every run of ``sweep(config, ..., lam=, lr=, seeds=, natural_time=)`` (the
    grid's order), or of ``train(config, ...)`` when the grid is left out, without training.

    Args:
      config: the runs' shared settings.
      n_train: the number of training examples (it sets the epoch and the full batch).
      input_shape: one example's shape; given, the plan counts the model's parameters.
      num_classes: the model's outputs.
      lam, lr, seeds: the grid (default: the config's own ``lam``, ``lr``, ``seed``).
      natural_time: as in ``sweep``: each run takes ``ceil(natural_time / (lam lr))`` steps.

    Returns:
      One JSON-ready dict per run: ``run`` (its index), ``model`` (``family``: the config's model
      name, ``name``: the model's, ``settings``: the constructor settings in effect, ``params``:
      the parameter count or None), ``n_train``, ``batch_size`` (examples per step),
      ``bn_group_size``, ``steps``, ``steps_per_epoch`` (``n_train // batch_size``), ``epochs``
      (``steps / steps_per_epoch``), ``evaluations`` (rows), ``lr``, ``lam``, ``momentum``,
      ``lr_schedule``, ``lam_schedule``, ``autol2`` (``factor``, ``measure_every``, ``delay``
      with AutoL2, else None), ``seed``, ``init_seed``, and ``config``: the run's complete
      ``TrainConfig`` (``TrainConfig(**plan["config"])`` rebuilds it).
    """
    from l2theory._practice.train.sweep import _plan_lanes

    check_config(config)
    n_train = _checks.positive_int("n_train", n_train)
    lanes = _plan_lanes(config, None, lam=[config.lam] if lam is None else lam,
                        lr=[config.lr] if lr is None else lr,
                        seeds=[config.seed] if seeds is None else seeds,
                        natural_time=natural_time)
    model = config.build_model(num_classes)
    params = None
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        params = param_count(jax.eval_shape(lambda k: model.init(k, shape)[0],
                                            jax.random.key(0)))
    batch = n_train if config.batch_size is None else min(config.batch_size, n_train)
    per_epoch = n_train // batch
    plans = []
    for run, ((lam_i, lr_i, seed), steps) in enumerate(zip(lanes.grid, lanes.steps)):
        cfg = config.replace(lam=lam_i, lr=lr_i, seed=seed, steps=steps).resolved()
        autol2 = None
        if cfg.lam_schedule == "autol2":
            autol2 = {"factor": cfg.autol2_factor, "measure_every": cfg.autol2_measure_every,
                      "delay": cfg.autol2_delay}
        plans.append({
            "run": run,
            "model": {"family": cfg.model, "name": model.name,
                      "settings": cfg.model_settings(), "params": params},
            "n_train": n_train, "batch_size": batch, "bn_group_size": cfg.bn_group_size,
            "steps": steps, "steps_per_epoch": per_epoch, "epochs": steps / per_epoch,
            "evaluations": evaluations(cfg, steps), "lr": lr_i, "lam": lam_i,
            "momentum": cfg.momentum, "lr_schedule": cfg.lr_schedule,
            "lam_schedule": cfg.lam_schedule, "autol2": autol2, "seed": seed,
            "init_seed": cfg.init_seed, "config": cfg.to_dict(),
        })
    return _checks.to_json(plans)


def evaluations(config: TrainConfig, steps: int) -> int:
    """The rows of a run of ``steps`` steps (step 0, then ``config.next_eval_step`` to the end)."""
    t, n = 0, 1
    while t < steps:
        t, n = config.next_eval_step(t, steps), n + 1
    return n


def plan_lines(plans: Sequence[dict[str, Any]]) -> str:
    """The plans as JSON lines: one run per line, keys in plan order."""
    return "\n".join(json.dumps(p) for p in plans)


def measure_step_seconds(config: TrainConfig, dataset, *, steps: int = 20) -> dict[str, Any]:
    """Seconds per training step and per evaluation of one run of ``config`` on ``dataset``,
    measured on this machine's first device: a segment of ``steps`` steps and an evaluation are
    run twice, the first time compiling, the second timed.

    Returns:
      ``{"step_seconds", "eval_seconds", "compile_seconds", "device"}``: the second segment's
      time per step, the second evaluation's time, the time the first calls took beyond the
      second ones (compilation, about), and the device's kind. On a shared machine the numbers
      carry its load.
    """
    from l2theory._practice.train.engine import Engine

    steps = _checks.positive_int("steps", steps)
    engine = Engine(config.replace(steps=2 * steps), dataset, 1)
    state = engine.init(engine.hyper([config.lr], [config.lam], [config.seed], [2 * steps]))
    times = []
    for i in range(2):
        start = time.perf_counter()
        state = engine.segment(state, i * steps, steps)
        jax.block_until_ready(state)
        mid = time.perf_counter()
        jax.block_until_ready(engine.evaluate(state, (i + 1) * steps))
        times.append((mid - start, time.perf_counter() - mid))
    (seg1, ev1), (seg2, ev2) = times
    return {"step_seconds": seg2 / steps, "eval_seconds": ev2,
            "compile_seconds": max(0.0, seg1 - seg2) + max(0.0, ev1 - ev2),
            "device": jax.devices()[0].device_kind}


def cost_estimate(plans: Sequence[dict[str, Any]], step_seconds: float, *,
                  eval_seconds: float = 0.0, compile_seconds: float = 0.0) -> dict[str, Any]:
    """Estimated seconds of the planned runs, one after the other: ``sum(steps) * step_seconds +
    sum(evaluations) * eval_seconds + compile_seconds`` (an upper bound when a sweep runs lanes
    side by side on one device).

    Args:
      plans: from ``run_plan``.
      step_seconds: seconds per training step (``measure_step_seconds`` on the target device, or
        an estimate).
      eval_seconds: seconds per evaluation row (test set and training subset).
      compile_seconds: added once.

    Returns:
      ``{"runs", "steps", "evaluations", "seconds", "hours", "step_seconds", "eval_seconds",
      "compile_seconds"}``.
    """
    step_seconds = _checks.positive("step_seconds", step_seconds, fix="e.g. 0.01")
    eval_seconds = _checks.positive("eval_seconds", eval_seconds, allow_zero=True, fix="e.g. 1.0")
    compile_seconds = _checks.positive("compile_seconds", compile_seconds, allow_zero=True,
                                       fix="e.g. 45")
    steps = int(np.sum([p["steps"] for p in plans]))
    evals = int(np.sum([p["evaluations"] for p in plans]))
    seconds = steps * step_seconds + evals * eval_seconds + compile_seconds
    return {"runs": len(plans), "steps": steps, "evaluations": evals, "seconds": seconds,
            "hours": seconds / 3600, "step_seconds": step_seconds, "eval_seconds": eval_seconds,
            "compile_seconds": compile_seconds}


__all__ = ["run_plan", "plan_lines", "evaluations", "measure_step_seconds", "cost_estimate"]
