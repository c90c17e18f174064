"""AutoL2 against the best fixed lam at the same step budget, with the statistics that tell a
win from seed noise.

docs/conventions.md, relation 4: AutoL2 starts at a large lam and divides it by ``autol2_factor``
when, after a refractory period of ``2 k autol2_delay / lam`` steps, the best training loss or
accuracy before the last two measurements is at least as good as both of them - the authors' rule
(``l2theory.train.autol2_rule``; the schedule runs in ``l2theory.train``:
``TrainConfig(lam_schedule="autol2", autol2_*)``). Time counts steps.

Statistics (``docs/conventions.md`` section 7): means over seeds with their standard errors; a
claim holds only beyond one standard error (``verdict``), else it is a tie. Runs of one seed share
the initialization, the minibatch order and the augmentation draws in every arm (``train.sweep``:
a lane's seed fixes all three whatever its lam), so AutoL2 and a fixed lam are compared *paired by
seed* (``paired_difference``): the seed-to-seed spread common to both arms cancels.
"""
from __future__ import annotations

from typing import Any, Sequence

import math

import numpy as np

from l2theory import _checks
from l2theory._experiments.budget import best_within_noise, per_lam
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


def paired_difference(a: Sequence[float | None], b: Sequence[float | None]) -> dict[str, Any]:
    """``a_s - b_s`` over the seeds ``s`` where both are present (paired by seed).

    Returns ``{"mean", "se", "n", "per_seed"}``: the mean difference, its standard error
    ``std(d, ddof=1) / sqrt(n)`` (None with fewer than 2 pairs), the number of pairs and the
    differences (None where either is missing)."""
    if len(a) != len(b):
        raise _checks.bad("b", b, f"has {len(b)} entries, a has {len(a)}", "pass one per seed")
    per = [None if x is None or y is None else float(x) - float(y) for x, y in zip(a, b)]
    d = np.array([v for v in per if v is not None], np.float64)
    n = len(d)
    return {"mean": float(d.mean()) if n else None,
            "se": standard_error(d),
            "n": n, "per_seed": per}


def verdict(mean: float | None, se: float | None, *, higher_is_better: bool = True,
            words: tuple[str, str] = ("better", "worse")) -> str | None:
    """``"better"`` when ``mean`` is above 0 by more than one standard error ``se`` (below, with
    ``higher_is_better=False``), ``"worse"`` when beyond it the other way, else ``"tie"``;
    ``None`` without an estimate (``mean`` or ``se`` None). ``words`` renames the first two."""
    if mean is None or se is None:
        return None
    x = mean if higher_is_better else -mean
    return words[0] if x > se else (words[1] if x < -se else "tie")


def speedup(steps_ref: Sequence[int | None], steps_new: Sequence[int | None], *, budget: int,
            n_boot: int = 2000, ci: float = 0.95, rng_seed: int = 0) -> dict[str, Any]:
    """Speed-up ``mean_s steps_ref / mean_s steps_new`` over seeds (paired), with a bootstrap
    over seeds.

    ``steps_*[s]``: steps to reach the target in seed ``s``; ``None`` = not reached within the
    ``budget``: counted as ``budget`` (a lower bound on its steps, so the speed-up is then an
    upper bound, and ``n_reached`` says so). The uncertainty: ``n_boot`` resamples of the seeds
    with replacement (pairs kept together), the ratio of means of each; ``se`` is their standard
    deviation, ``ci`` their percentile interval.

    Returns ``{"speedup", "se", "ci", "steps_ref_mean", "steps_ref_se", "steps_new_mean",
    "steps_new_se", "n", "n_reached_ref", "n_reached_new", "verdict"}``; ``verdict`` is
    ``"faster"`` (speed-up above 1 by more than ``se`` and every seed reached the target),
    ``"slower"`` (below 1 by more than ``se``) or ``"tie"``.
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
    ratio = float(ref.mean() / max(new.mean(), 1.0))
    se = lo = hi = None
    if n > 1:
        idx = np.random.default_rng(rng_seed).integers(0, n, size=(n_boot, n))
        boot = ref[idx].mean(1) / np.maximum(new[idx].mean(1), 1.0)
        se = float(np.std(boot))
        lo, hi = (float(v) for v in np.quantile(boot, [(1 - ci) / 2, (1 + ci) / 2]))
    reached_new = sum(v is not None for v in steps_new)
    word = verdict(None if se is None else ratio - 1.0, se, words=("faster", "slower"))
    if word == "faster" and reached_new < n:
        word = "tie"  # an upper bound cannot show a speed-up
    return {"speedup": ratio, "se": se, "ci": None if lo is None else [lo, hi],
            "steps_ref_mean": float(ref.mean()), "steps_ref_se": standard_error(ref),
            "steps_new_mean": float(new.mean()), "steps_new_se": standard_error(new), "n": n,
            "n_reached_ref": sum(v is not None for v in steps_ref),
            "n_reached_new": reached_new, "verdict": word}


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
    that ``paired_difference`` pairs."""
    lanes = split_lanes(rows, metric)
    return [[_final(ln) for ln in _by_seed(lanes, seeds, lam)] for lam in lams]


def autol2_comparison(config, dataset, *, budget: int, lams: Sequence[float],
                      lam_start: float | None = None, seeds: Sequence[int] = (0, 1),
                      target: float | None = None, target_fraction: float = 1.0,
                      metric: str = "test_acc", n_boot: int = 2000,
                      chunk_size: int | None = None, progress: bool = False) -> dict[str, Any]:
    """AutoL2 vs a grid of fixed lam, all for ``budget`` steps with ``config``'s other settings,
    compared paired by seed.

    - Fixed arm: one sweep over ``lams`` with ``lam_schedule="constant"`` (``config``'s lr
      schedule).
    - AutoL2 arm: one sweep from ``lam_start`` (default ``max(lams)``) with
      ``lam_schedule="autol2"`` and ``config``'s ``autol2_factor``/``autol2_measure_every``/
      ``autol2_delay`` (the authors' units: refractory period ``2 k delay / lam`` steps; set on
      a config with ``lam_schedule="autol2"``, their defaults otherwise).

    Measured:

    - Final ``metric`` per lam and for AutoL2: mean over seeds +- standard error
      (``per_lam``). The best fixed lam is the best mean; ``best_fixed["tied"]`` lists the lams
      tied with it within one standard error (``best_within_noise``).
    - AutoL2 minus the best fixed lam, paired by seed (``paired_difference``), and its
      ``verdict``: ``"better"``/``"worse"`` beyond one standard error, else ``"tie"``. The same
      against every lam of the grid (``vs_fixed``).
    - Speed: in each seed, the steps for the best fixed lam and for AutoL2 to first reach
      (``>=``; ``<=`` for a loss) the target at an evaluation, the target being that seed's final
      ``metric`` of the best fixed lam (times ``target_fraction``; or ``target`` for every
      seed); ``speedup`` = mean steps of the best fixed lam / mean steps of AutoL2, with a
      bootstrap over seeds (``speedup()``). Evaluations are raw (not smoothed), so the step is
      resolved to the evaluation spacing.
    - AutoL2's ``lam`` at every evaluation and at every measurement (its record), per seed, with
      the steps at which it divided lam.

    Args:
      config: an ``l2theory.train.TrainConfig`` (``lr``, schedules, ``autol2_*`` and model
        settings are used; ``lam``, ``seed``, ``steps``, ``lam_schedule`` are replaced).
      dataset: an ``l2theory.data.Dataset``.
      budget: steps of every run.
      lams: the fixed grid (``>= 0``).
      lam_start: AutoL2's initial lam (``> 0``); default ``max(lams)``.
      seeds: seeds of both arms (>= 2 for standard errors).
      target, target_fraction: the speed target (see above).
      metric: the column compared (``"test_acc"``; a ``*loss*`` column is lower-is-better).
      n_boot: bootstrap resamples of the speed-up.
      chunk_size: lanes per compiled program of each sweep (``train.sweep``'s; default: as
        many as fit).
      progress: progress bars (stderr).

    Returns:
      JSON-ready dict: ``fixed`` (``per_lam``'s dict: ``lam``, ``mean``, ``se``, ``std``,
      ``per_seed``... with ``final_by_seed`` per lam, ``None`` for a diverged lane),
      ``best_fixed`` (``lam``, ``mean``, ``se``, ``tied``, ``final_by_seed``,
      ``steps_to_target``), ``autol2`` (``lam_start``, ``mean``, ``se``, ``std``,
      ``final_by_seed``, ``steps_to_target``, ``final_lam``, ``lam_trace`` ``{"step", "lam"}``
      per evaluation and seed, ``lam_changes`` (evaluation steps just after a decay),
      ``decay_steps`` (measurement steps of the decays, from the record), ``n_decays``,
      ``record`` (``step``, ``train_loss``, ``train_acc``, ``lam`` per seed)), ``difference``
      (``paired_difference`` of AutoL2 - best fixed, with ``verdict``), ``vs_fixed`` (per lam),
      ``speed`` (``speedup``'s dict, ``target_per_seed``), ``curves`` (``step`` and the
      ``metric`` per evaluation: ``fixed`` [lam][seed], ``autol2`` [seed]), ``budget``,
      ``seeds``, ``metric``, ``lr``, ``mode``.
    """
    budget = _checks.positive_int("budget", budget)
    lams = sorted(_checks.lams("lams", lams))
    seeds = _checks.seeds("seeds", seeds)
    if lam_start is None:
        lam_start = max(lams)
    lam_start = _checks.lam("lam_start", lam_start, allow_zero=False)
    target_fraction = _checks.real("target_fraction", target_fraction, low=0.0, low_open=True,
                                   fix="e.g. 1.0")
    mode = "min" if "loss" in metric else "max"
    higher = mode == "max"
    base = config.replace(steps=budget)
    # the fixed arm drops the AutoL2 settings of an AutoL2 config (they count only there)
    fixed_config = base.replace(lam_schedule="constant", autol2_factor=None,
                                autol2_measure_every=None, autol2_delay=None)

    fixed_rows = quiet_sweep(fixed_config, dataset, lam=lams,
                             lr=[config.lr], seeds=seeds, progress=progress,
                             chunk_size=chunk_size,
                             desc=f"fixed lam, {len(lams) * len(seeds)} runs")
    fixed = per_lam(fixed_rows, lams, metric=metric)
    auto_rows = quiet_sweep(base.replace(lam_schedule="autol2", lam=lam_start), dataset,
                            lam=[lam_start], lr=[config.lr], seeds=seeds, progress=progress,
                            chunk_size=chunk_size, desc=f"AutoL2, {len(seeds)} runs")
    auto = per_lam(auto_rows, [lam_start], metric=metric)
    fixed_lanes = split_lanes(fixed_rows, metric)
    auto_lanes = _by_seed(split_lanes(auto_rows, metric), seeds)
    auto_lam = _by_seed(split_lanes(
        {**auto_rows, "run_lam": auto_rows.get("run_lam", auto_rows["lam"])}, "lam"), seeds)

    tied = best_within_noise(fixed["mean"], fixed["se"], mode)
    if not tied:
        raise ValueError("every fixed-lam run diverged; lower config.lr")
    ib = tied[0]
    by_lam = final_by_seed(fixed_rows, lams, seeds, metric=metric)
    fixed["final_by_seed"] = by_lam
    best_lanes = _by_seed(fixed_lanes, seeds, lams[ib])
    auto_final = [_final(ln) for ln in auto_lanes]

    def diff(ref):
        d = paired_difference(auto_final, ref)
        d["verdict"] = verdict(d["mean"], d["se"], higher_is_better=higher)
        return d

    # steps to the target, per seed (the target: that seed's final metric of the best fixed lam)
    targets = [None if f is None else (target if target is not None else
                                       (f * target_fraction if higher else f / target_fraction))
               for f in by_lam[ib]]
    hit_fixed, hit_auto = [], []
    for tgt, fl, al in zip(targets, best_lanes, auto_lanes):
        ok = tgt is not None and al is not None and not al["diverged"]
        hit_fixed.append(steps_to_target(fl["step"], fl["values"], tgt, mode=mode)
                         if tgt is not None else None)
        hit_auto.append(steps_to_target(al["step"], al["values"], tgt, mode=mode) if ok
                        else None)
    pairs = [(f, a) for f, a, t in zip(hit_fixed, hit_auto, targets) if t is not None]
    speed = speedup([p[0] for p in pairs], [p[1] for p in pairs], budget=budget,
                    n_boot=n_boot) if pairs else None
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
    return _checks.to_json({
        "fixed": fixed,
        "best_fixed": {"lam": lams[ib], "mean": fixed["mean"][ib], "se": fixed["se"][ib],
                       "tied": [lams[i] for i in tied], "final_by_seed": by_lam[ib],
                       "steps_to_target": hit_fixed},
        "autol2": {"lam_start": lam_start, "mean": auto["mean"][0], "se": auto["se"][0],
                   "std": auto["std"][0], "final_by_seed": auto_final,
                   "steps_to_target": hit_auto, "final_lam": final_lam,
                   "lam_trace": {"step": auto_lanes[0]["step"].tolist(), "lam": trace},
                   "lam_changes": changes, "decay_steps": decays,
                   "n_decays": [len(d) for d in decays], "record": record},
        "difference": diff(by_lam[ib]),
        "vs_fixed": [{"lam": lam, **diff(f)} for lam, f in zip(lams, by_lam)],
        "speed": speed,
        "curves": {"step": step0.tolist(),
                   "fixed": [[None if ln is None else ln["values"].tolist()
                              for ln in _by_seed(fixed_lanes, seeds, lam)] for lam in lams],
                   "autol2": [None if ln is None else ln["values"].tolist()
                              for ln in auto_lanes]},
        "budget": budget, "seeds": seeds, "metric": metric, "mode": mode, "lr": config.lr})
