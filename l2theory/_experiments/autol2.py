"""AutoL2 against the best fixed lam at the same step budget, with the statistics that tell a
win from noise.

docs/conventions.md, relation 4: AutoL2 starts at a large lam and divides it by ``autol2_factor``
when, after a refractory period of ``2 k autol2_delay / lam`` steps, the best training loss or
accuracy before the last two measurements is at least as good as both of them - the authors' rule
(``l2theory.train.autol2_rule``; the schedule runs in ``l2theory.train``:
``TrainConfig(lam_schedule="autol2", autol2_*)``). Time counts steps.

Statistics (``l2theory._experiments.claims``): runs of one seed share the initialization, the
minibatch order and the augmentation draws in every arm (``train.sweep``: a lane's seed fixes
all three whatever its lam), so AutoL2 and a fixed lam are compared *paired by seed*. The best
fixed lam is chosen on a validation split held out of the training set, and for each seed
without that seed (leave one seed out), so neither the test images nor the seed that scores it
chose it. The score on the test set counts two sources of noise: the seeds and the finite test
set (``claim_greater_crossed``: a bootstrap over seeds and over test images).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from l2theory import _checks
from l2theory._experiments.budget import _argbest, per_lam
from l2theory._experiments.claims import (bootstrap_claim, claim_greater,
                                          claim_greater_crossed)
from l2theory._experiments.collapse import split_lanes
from l2theory._experiments.stats import standard_error
from l2theory._experiments.sweeps import quiet_sweep


def steps_to_target(steps, values, target: float, *, mode: str = "max") -> int | None:
    """First evaluated step at which ``values`` reaches ``target`` (``>=`` for ``mode="max"``,
    ``<=`` for ``"min"``), or None if it never does."""
    steps, values = np.asarray(steps), np.asarray(values)
    hit = values >= target if mode == "max" else values <= target
    i = np.flatnonzero(hit)
    return int(steps[i[0]]) if len(i) else None


def speedup(steps_ref: Sequence[int | None], steps_new: Sequence[int | None], *, budget: int,
            n_boot: int = 2000, level: float = 0.95, rng_seed: int = 0) -> dict[str, Any]:
    """Speed-up ``mean_s steps_ref / mean_s steps_new`` over seeds (paired), with a bootstrap
    over seeds.

    ``steps_*[s]``: steps to reach the target in seed ``s``; ``None`` = not reached within the
    ``budget``: counted as ``budget`` (a lower bound on its steps, so the speed-up is then an
    upper bound, and ``n_reached`` says so). The uncertainty: ``n_boot`` resamples of the seeds
    with replacement (pairs kept together), the ratio of means of each (``bootstrap_claim``: a
    ratio of means has no t-interval); ``ci`` is their percentile interval at ``level``.

    Returns ``{"speedup", "ci", "claim", "steps_ref_mean", "steps_ref_se", "steps_new_mean",
    "steps_new_se", "n", "n_reached_ref", "n_reached_new"}``; ``claim`` (an ``experiments.Claim``
    as a dict) is the claim speed-up > 1: ``PASS`` when the interval lies above 1 and every seed
    reached the target (an upper bound cannot show a speed-up: ``TIE`` otherwise), ``FAIL`` when
    it lies below 1.
    """
    if len(steps_ref) != len(steps_new):
        raise _checks.bad("steps_new", steps_new, f"has {len(steps_new)} entries, steps_ref has "
                          f"{len(steps_ref)}", "pass one per seed")
    budget = _checks.positive_int("budget", budget)
    ref = np.array([budget if v is None else v for v in steps_ref], np.float64)
    new = np.array([budget if v is None else v for v in steps_new], np.float64)
    n = len(ref)
    if n == 0:
        raise _checks.bad("steps_ref", steps_ref, "is empty", "pass one entry per seed")
    claim = bootstrap_claim(lambda i: ref[i].mean() / max(new[i].mean(), 1.0), n, 1.0, math.inf,
                            level=level, n_boot=n_boot, rng_seed=rng_seed)
    reached_new = sum(v is not None for v in steps_new)
    if claim.verdict == "PASS" and reached_new < n:
        claim = type(claim)("TIE", claim.estimate, claim.ci, claim.n, claim.level, claim.method)
    return {"speedup": claim.estimate, "ci": None if claim.ci is None else list(claim.ci),
            "claim": claim.to_json(),
            "steps_ref_mean": float(ref.mean()), "steps_ref_se": standard_error(ref),
            "steps_new_mean": float(new.mean()), "steps_new_se": standard_error(new), "n": n,
            "n_reached_ref": sum(v is not None for v in steps_ref),
            "n_reached_new": reached_new}


def example_scores(config, outputs, labels, metric: str) -> np.ndarray:
    """Per-example scores of network ``outputs`` ``[..., n, k]`` on ``labels`` ``[n]``, higher
    is better: 1/0 for a correct/wrong example (``metric`` ``*acc*``), minus the example's loss
    in ``config``'s loss (``*loss*``): their mean is the accuracy, or minus the loss."""
    import jax.numpy as jnp

    from l2theory._practice.train.step import per_sample_loss

    loss, correct = per_sample_loss(config, jnp.asarray(outputs, jnp.float32),
                                    jnp.asarray(labels, jnp.int32))
    return np.asarray(-loss if "loss" in metric else correct, np.float64)


def leave_one_seed_out(lams: Sequence[float], by_seed: Sequence[Sequence[float | None]],
                       mode: str) -> list[float | None]:
    """For each seed ``s``, the lam whose mean over the *other* seeds of ``by_seed`` (``[lam]
    [seed]``, e.g. the final validation accuracy) is best: the choice that seed ``s`` is then
    scored at, made without it (with one seed: its own best)."""
    vals = np.array([[np.nan if v is None else v for v in row] for row in by_seed], np.float64)
    n = vals.shape[1]
    out = []
    for s in range(n):
        others = [j for j in range(n) if j != s] or [s]
        with np.errstate(invalid="ignore"):
            mean = [None if not np.any(np.isfinite(r[others])) else float(np.nanmean(r[others]))
                    for r in vals]
        i = _argbest(mean, mode)
        out.append(None if i is None else lams[i])
    return out


def _by_seed(lanes: list[dict], seeds: Sequence[int], lam: float | None = None) -> list[dict | None]:
    """The lane of each seed (of lam ``lam`` when given), or None."""
    out = []
    for s in seeds:
        mine = [ln for ln in lanes if ln["seed"] == s
                and (lam is None or math.isclose(ln["lam"], lam, rel_tol=1e-6, abs_tol=1e-30))]
        out.append(mine[0] if mine else None)
    return out


def _final(ln: dict | None) -> float | None:
    return None if ln is None or ln["diverged"] else float(ln["values"][-1])


def final_by_seed(rows: dict, lams: Sequence[float], seeds: Sequence[int], *,
                  metric: str = "test_acc") -> list[list[float | None]]:
    """``[lam][seed]``: the final ``metric`` of each lane of a sweep table (``None`` for a lane
    that diverged or is missing), in the order of ``lams`` and ``seeds``: the per-seed values
    that ``claim_greater`` pairs by seed."""
    lanes = split_lanes(rows, metric)
    return [[_final(ln) for ln in _by_seed(lanes, seeds, lam)] for lam in lams]


def autol2_comparison(config, dataset, *, budget: int, lams: Sequence[float],
                      lam_start: float | None = None, seeds: Sequence[int] = (0, 1),
                      target: float | None = None, target_fraction: float = 1.0,
                      metric: str = "test_acc", select_metric: str | None = None,
                      n_boot: int = 2000, level: float = 0.95, chunk_size: int | None = None,
                      progress: bool = False) -> dict[str, Any]:
    """AutoL2 vs a grid of fixed lam, all for ``budget`` steps with ``config``'s other settings,
    compared paired by seed.

    - Fixed arm: one sweep over ``lams`` with ``lam_schedule="constant"`` (``config``'s lr
      schedule).
    - AutoL2 arm: one sweep from ``lam_start`` (default ``max(lams)``) with
      ``lam_schedule="autol2"`` and ``config``'s ``autol2_factor``/``autol2_measure_every``/
      ``autol2_delay`` (the authors' units: refractory period ``2 k delay / lam`` steps; set on
      a config with ``lam_schedule="autol2"``, their defaults otherwise).

    Measured:

    - Final ``metric`` (scored, e.g. ``"test_acc"``) and ``select_metric`` (chosen on, e.g.
      ``"val_acc"`` of a dataset with a validation split, ``data.hold_out``; default
      ``metric``, which then both chooses and scores) per lam and for AutoL2: means over seeds
      +- standard errors (``per_lam``).
    - The best fixed lam: ``best_fixed["lam"]`` has the best mean ``select_metric`` over all
      seeds (shown); the lam each seed is *scored* at is chosen without it
      (``leave_one_seed_out``, ``best_fixed["chosen_per_seed"]``).
    - AutoL2 minus the best fixed lam (``difference``): the mean over seeds and test examples
      of the per-example score difference (accuracy, or minus the loss), decided by
      ``claim_greater_crossed`` (a bootstrap over the seeds and over the test examples, from
      every lane's outputs on the test set at the end of the budget: a few test images are not
      a win); ``seed_claim``: the Student-t claim over seeds alone (the test set held fixed),
      beside. The same seed claim against every lam of the grid (``vs_fixed``).
    - Speed: in each seed, the steps for its best fixed lam and for AutoL2 to first reach
      (``>=``; ``<=`` for a loss) the target at an evaluation, the target being that seed's
      final ``metric`` of its best fixed lam (times ``target_fraction``; or ``target`` for every
      seed); ``speedup`` = mean steps of the best fixed lam / mean steps of AutoL2, with a
      bootstrap over seeds (``speedup()``). Evaluations are raw (not smoothed), so the step is
      resolved to the evaluation spacing; the test set's sampling is not in this interval.
    - AutoL2's ``lam`` at every evaluation and at every measurement (its record), per seed, with
      the steps at which it divided lam.

    Args:
      config: an ``l2theory.train.TrainConfig`` (``lr``, schedules, ``autol2_*`` and model
        settings are used; ``lam``, ``seed``, ``steps``, ``lam_schedule`` are replaced).
      dataset: an ``l2theory.data.Dataset``.
      budget: steps of every run.
      lams: the fixed grid (``>= 0``).
      lam_start: AutoL2's initial lam (``> 0``); default ``max(lams)``.
      seeds: seeds of both arms (>= 2 for intervals; >= 3 for a held-out choice per seed).
      target, target_fraction: the speed target (see above).
      metric: the column scored (``"test_acc"``; a ``*loss*`` column is lower-is-better).
      select_metric: the column the best fixed lam is chosen on (default ``metric``).
      n_boot: bootstrap resamples (difference and speed-up).
      level: the level of the intervals.
      chunk_size: lanes per compiled program of each sweep (``train.sweep``'s; default: as
        many as fit).
      progress: progress bars (stderr).

    Returns:
      JSON-ready dict: ``fixed`` (``per_lam``'s dict of ``metric``: ``lam``, ``mean``, ``se``,
      ``std``, ``by_seed``..., with ``select``: ``per_lam``'s dict of ``select_metric``),
      ``best_fixed`` (``lam``, ``mean``, ``se``, ``chosen_per_seed``, ``final_by_seed`` (at the
      chosen lam), ``steps_to_target``), ``autol2`` (``lam_start``, ``mean``, ``se``, ``std``,
      ``select_mean``, ``final_by_seed``, ``steps_to_target``, ``final_lam``, ``lam_trace``
      ``{"step", "lam"}`` per evaluation and seed, ``lam_changes`` (evaluation steps just after
      a decay), ``decay_steps`` (measurement steps of the decays, from the record),
      ``n_decays``, ``record`` (``step``, ``train_loss``, ``train_acc``, ``lam`` per seed)),
      ``difference`` (``claim``: the crossed claim as a dict, ``seed_claim``, ``per_seed``
      (AutoL2 - best fixed, in ``metric``'s units and sign), ``n_test``), ``vs_fixed`` (per
      lam: ``lam`` and the seed claim's dict), ``speed`` (``speedup``'s dict,
      ``target_per_seed``), ``curves`` (``step`` and the ``metric`` per evaluation: ``fixed``
      [lam][seed], ``autol2`` [seed]; for a BatchNorm net also ``bn_weight_norm`` and
      ``effective_lr``, each ``{"fixed", "autol2"}`` alike: ``docs/conventions.md`` section 8),
      ``budget``, ``seeds``, ``metric``, ``select_metric``, ``lr``, ``mode``.
    """
    budget = _checks.positive_int("budget", budget)
    lams = sorted(_checks.lams("lams", lams))
    seeds = sorted(_checks.seeds("seeds", seeds))
    if lam_start is None:
        lam_start = max(lams)
    lam_start = _checks.lam("lam_start", lam_start, allow_zero=False)
    target_fraction = _checks.real("target_fraction", target_fraction, low=0.0, low_open=True,
                                   fix="e.g. 1.0")
    select_metric = metric if select_metric is None else select_metric
    mode = "min" if "loss" in metric else "max"
    higher = mode == "max"
    sign = 1.0 if higher else -1.0
    base = config.replace(steps=budget)
    # the fixed arm drops the AutoL2 settings of an AutoL2 config (they count only there)
    fixed_config = base.replace(lam_schedule="constant", autol2_factor=None,
                                autol2_measure_every=None, autol2_delay=None)

    fixed_rows = quiet_sweep(fixed_config, dataset, lam=lams, lr=[config.lr], seeds=seeds,
                             progress=progress, chunk_size=chunk_size, record_outputs=True,
                             desc=f"fixed lam, {len(lams) * len(seeds)} runs")
    fixed = per_lam(fixed_rows, lams, metric=metric)
    fixed["select"] = per_lam(fixed_rows, lams, metric=select_metric)
    auto_rows = quiet_sweep(base.replace(lam_schedule="autol2", lam=lam_start), dataset,
                            lam=[lam_start], lr=[config.lr], seeds=seeds, progress=progress,
                            chunk_size=chunk_size, record_outputs=True,
                            desc=f"AutoL2, {len(seeds)} runs")
    auto = per_lam(auto_rows, [lam_start], metric=metric)
    auto_select = per_lam(auto_rows, [lam_start], metric=select_metric)
    fixed_lanes = split_lanes(fixed_rows, metric)
    auto_lanes = _by_seed(split_lanes(auto_rows, metric), seeds)
    auto_lam = _by_seed(split_lanes(
        {**auto_rows, "run_lam": auto_rows.get("run_lam", auto_rows["lam"])}, "lam"), seeds)

    select_mode = "min" if "loss" in select_metric else "max"
    ib = _argbest(fixed["select"]["mean"], select_mode)
    if ib is None:
        raise ValueError("every fixed-lam run diverged; lower config.lr")
    chosen = leave_one_seed_out(lams, fixed["select"]["by_seed"], select_mode)
    by_lam = final_by_seed(fixed_rows, lams, seeds, metric=metric)
    best_final = [None if lam is None else by_lam[lams.index(lam)][j]
                  for j, lam in enumerate(chosen)]
    auto_final = [_final(ln) for ln in auto_lanes]

    def seed_claim(ref):
        a = [None if v is None else sign * v for v in auto_final]
        b = [None if v is None else sign * v for v in ref]
        return claim_greater(a, b, level=level)

    # per-example scores on the test set at the end of the budget, paired by seed and example
    run_of = {(float(lam), int(sd)): int(r) for lam, sd, r in
              zip(fixed_rows["run_lam"], fixed_rows["seed"], fixed_rows["run"])}
    diverged = {int(r) for r in fixed_rows["run"][fixed_rows["diverged"]]}
    out_fixed, out_auto = fixed_rows["outputs"]["test"], auto_rows["outputs"]["test"]
    a_scores, b_scores = [], []
    for j, (sd, lam) in enumerate(zip(seeds, chosen)):
        if lam is None or auto_final[j] is None or run_of[(lam, sd)] in diverged:
            continue
        a_scores.append(example_scores(config, out_auto[j], dataset.y_test, metric))
        b_scores.append(example_scores(config, out_fixed[run_of[(lam, sd)]], dataset.y_test,
                                       metric))
    crossed = claim_greater_crossed(np.array(a_scores), np.array(b_scores), level=level,
                                    n_boot=n_boot) if a_scores else None
    per_seed = [None if a is None or b is None else a - b for a, b in zip(auto_final, best_final)]

    # steps to the target, per seed (the target: that seed's final metric of its best fixed lam)
    targets = [None if f is None else (target if target is not None else
                                       (f * target_fraction if higher else f / target_fraction))
               for f in best_final]
    hit_fixed, hit_auto = [], []
    for sd, lam, tgt, al in zip(seeds, chosen, targets, auto_lanes):
        fl = None if lam is None else _by_seed(fixed_lanes, [sd], lam)[0]
        ok = tgt is not None and al is not None and not al["diverged"]
        hit_fixed.append(steps_to_target(fl["step"], fl["values"], tgt, mode=mode)
                         if tgt is not None and fl is not None else None)
        hit_auto.append(steps_to_target(al["step"], al["values"], tgt, mode=mode) if ok
                        else None)
    pairs = [(f, a) for f, a, t in zip(hit_fixed, hit_auto, targets) if t is not None]
    speed = speedup([p[0] for p in pairs], [p[1] for p in pairs], budget=budget,
                    n_boot=n_boot, level=level) if pairs else None
    if speed is not None:
        speed["target_per_seed"] = targets

    rec = auto_rows["autol2"]
    trace, changes, final_lam, decays, record = [], [], [], [], []
    for ln, lam_ln in zip(auto_lanes, auto_lam):
        mine = rec["run"] == ln["run"]
        lam_m = np.concatenate([np.asarray([lam_start], rec["lam"].dtype), rec["lam"][mine]])
        decays.append(rec["step"][mine][lam_m[1:] < lam_m[:-1]].tolist())
        record.append({k: rec[k][mine].tolist() for k in ("step", "train_loss", "train_acc",
                                                         "lam")})
        lam_t = lam_ln["values"]
        trace.append(lam_t.tolist())
        changed = np.flatnonzero(lam_t[1:] < lam_t[:-1] * (1 - 1e-6)) + 1
        changes.append([int(ln["step"][i]) for i in changed])
        final_lam.append(float(lam_t[-1]))
    step0 = fixed_lanes[0]["step"]


    def arms(f_lanes, a_by_seed):  # a column's values per evaluation: [lam][seed] and [seed]
        values = lambda lanes: [None if ln is None else ln["values"].tolist()  # noqa: E731
                                for ln in lanes]
        return {"fixed": [values(_by_seed(f_lanes, seeds, lam)) for lam in lams],
                "autol2": values(a_by_seed)}

    curves = {"step": step0.tolist(), **arms(fixed_lanes, auto_lanes)}
    for col in ("bn_weight_norm", "effective_lr"):  # BatchNorm nets: the scale-invariant weights
        if col in fixed_rows and col in auto_rows:
            curves[col] = arms(split_lanes(fixed_rows, col),
                               _by_seed(split_lanes(auto_rows, col), seeds))
    return _checks.to_json({
        "fixed": fixed,
        "best_fixed": {"lam": lams[ib], "mean": fixed["mean"][ib], "se": fixed["se"][ib],
                       "select_mean": fixed["select"]["mean"][ib],
                       "chosen_per_seed": chosen, "final_by_seed": best_final,
                       "steps_to_target": hit_fixed},
        "autol2": {"lam_start": lam_start, "mean": auto["mean"][0], "se": auto["se"][0],
                   "std": auto["std"][0], "select_mean": auto_select["mean"][0],
                   "final_by_seed": auto_final,
                   "steps_to_target": hit_auto, "final_lam": final_lam,
                   "lam_trace": {"step": auto_lanes[0]["step"].tolist(), "lam": trace},
                   "lam_changes": changes, "decay_steps": decays,
                   "n_decays": [len(d) for d in decays], "record": record},
        "difference": {"claim": None if crossed is None else crossed.to_json(),
                       "seed_claim": seed_claim(best_final).to_json(), "per_seed": per_seed,
                       "n_test": int(dataset.n_test)},
        "vs_fixed": [{"lam": lam, "seed_claim": seed_claim(f).to_json()}
                     for lam, f in zip(lams, by_lam)],
        "speed": speed,
        "curves": curves,
        "budget": budget, "seeds": seeds, "metric": metric, "select_metric": select_metric,
        "lr": config.lr, "mode": mode})
