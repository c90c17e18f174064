"""Run every figure script of a preset and write ``REPORT.md``: predicted vs measured numbers and
a PASS/FAIL line for each relation that must hold.

Usage::

    l2theory figures --preset quick [--out out/figures] [--only fig1]
    python -m l2theory.figures.make_all --preset quick      # the same

Must hold (quick preset, CPU): (1) ``lam lr t*`` spreads by at most a factor 1.5 across at least
a decade of lam at fixed lr (FC collapse panel; also the infinite-width figure), and the fitted
slope ``s`` of ``t* = c (lam lr)^(-s)`` lies in [0.8, 1.2]; (2) ``lam_opt`` predicted from one
short run is within a factor 2 of the swept best lam at every budget (budget figure) and at
Figure 1's budget ("best" is the set of lams whose mean over seeds is within one standard error
of the best mean, so a tie within the seed noise is not decided by the noise); (3) AutoL2 ends
above the best fixed lam beyond the seed noise, and reaches the best fixed lam's final accuracy
in fewer steps beyond the noise (Figure 1; paired by seed; ``TIE`` when the difference is within
one standard error, ``FAIL`` when it is beyond it the other way); (4) the theory-vs-practice
distance decreases with width, and for CNNs with channels beyond the seed noise, with predicted
``t*`` within 25% of the trained CNNs' at >= 64 channels (theory_cnn); (5) L2 lifts exactly flat
data directions to curvature lam, and a net collapsed to f = 0 late in training has its lowest
Hessian eigenvalues at lam (Hessian figure); (6) the Krylov solver's error estimate is within
its tolerance (infinite-width figure). A line reads PASS, FAIL, TIE (a claim inside the seed
noise) or n/a.

Measured (``--preset quick`` from a fresh clone, 2-core AMD EPYC VM, jax 0.10.2, git b9a8aa1;
269 s in all: theory 9 s, theory_vs_practice 44 s, collapse 83 s, budget 42 s, fig1 33 s,
hessian 21 s, theory_cnn 33 s, infinite_width 4 s; the report is
``paper_figures/results/REPORT-quick-cpu-amd-epyc-2cores.md``): all 13 lines PASS. FC collapse
(t* = min test loss, 2000 subset points, 5 seeds): ``lam lr t*`` spread x1.32 (lr 0.5) and
x1.29 (lr 1) over lam 2e-3..3.2e-2, s = 0.947 (95% CI 0.930-0.963), c = 0.62; beside it, t*
from the test accuracy: s = 0.760 on all lanes (11 of 50 at the boundary, all at lam >= 1.6e-2,
where the MSE net shrinks to f ~ 0 before it learns), s = 0.917 (0.876-0.961) and spread
x1.24 / x1.12 over lam <= 8e-3. CNN stand-in panel (max pooling, MSE): s = 0.983 (CI
0.94-1.03), spread x1.16 over 8x in lam. lam_opt predicted / swept best = 1.09 at T = 150, 300,
600 (c = 0.654 from one run at lam = 0.064). Figure 1, 8 seeds: AutoL2 - best fixed = +0.0044
+- 0.0009 (paired), speed-up 1.11 +- 0.02, lam_opt ratio 1.20. Distance net vs theory 0.492 /
0.192 / 0.098 at width 128 / 512 / 2048 (exponent -0.58); CNNs 0.551 / 0.333 / 0.160 at 16 /
64 / 256 channels, t* net / flow 0.955 +- 0.011 (64) and 0.999 +- 0.007 (256). Hessian: flat
curvature = lam to 2e-16, collapsed nets H = lam I; the two nets that learned (lam 1e-3, 3e-3)
have all 6 lowest Ritz values negative (down to -1.0 lam) at lam lr t = 30. Infinite width:
spread x1.36 over 16x in lam.

``--preset paper`` (``--only collapse``, FC panel, ``--dataset fashion_mnist``), run on the same
2-core CPU for lack of a GPU: 1750 s; s = 1.009 (CI 0.988-1.046), ``lam lr t*`` = 0.54 with
spread x1.11 / x1.12 over 16x in lam at lr 0.25 / 1 (t* = max test accuracy); report
``paper_figures/results/REPORT-paper-collapse-fc-fashion_mnist-cpu-amd-epyc-2cores.md``.

``--report-only`` rewrites ``REPORT.md`` from the JSON summaries already in ``--out``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any, Sequence


from l2theory.figures import FIGURES, _common

SPREAD_MAX = 1.5          # max / min of lam lr t* across lam at fixed lr
LAM_RANGE_MIN = 10.0      # ... over at least a decade of lam
SLOPE_RANGE = (0.8, 1.2)
LAM_OPT_FACTOR = 2.0


def _mark(ok: bool | str | None) -> str:
    """``PASS``/``FAIL`` for a bool, ``TIE`` for ``"tie"`` (the claim is inside the seed noise:
    neither shown nor refuted), ``n/a`` for None."""
    if isinstance(ok, str):
        return ok.upper()
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _claim(word: str | None, good: str) -> bool | str | None:
    """A ``verdict`` as a must-hold outcome: ``good`` -> True, ``"tie"`` -> ``"tie"``, the other
    word -> False, None -> None."""
    return None if word is None else ("tie" if word == "tie" else word == good)


def _f(x, fmt=".3g") -> str:
    return "-" if x is None else format(x, fmt)


def _ci(ci) -> str:
    return "-" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _collapse_lines(o: dict, which: str) -> list[str]:
    """Report lines of one t*-collapse analysis (``collapse._brief``): slope with CI, lam lr t*
    per lam with its standard error and spread per lr, lanes at the boundary."""
    f = o["fit"]
    out = [f"- {which}: slope s = **{_f(f and f['slope'], '.3f')}** (95% CI "
           f"{_ci(f and f['slope_ci'])}), c (s = 1) = {_f(f and f['c_slope1'])}, "
           f"{o.get('n_included', '-')} of {o.get('n_lanes', '-')} lanes fitted"]
    for s in o["spread_by_lr"]:
        se = s.get("c_se_per_lam") or [None] * len(s["c_per_lam"])
        out.append(f"  - lr = {s['lr']:g}: lam lr t* per lam "
                   f"{', '.join(_common.pm(v, e, '.3g') for v, e in zip(s['c_per_lam'], se))} "
                   f"(lam {_common.numbers(s['lams'])}): spread **x{s['spread']:.2f}** over "
                   f"x{s['lam_range']:.0f} lam")
    bnd = [ln for ln in o.get("excluded_lanes", []) if ln["excluded"] == "at_boundary"]
    pairs = sorted({(ln["lam"], ln["lr"]) for ln in bnd})
    every = [ln for ln in o.get("t_star", [])]
    where = ", ".join(
        f"lam {a:g} at lr {b:g}: {sum(1 for ln in bnd if (ln['lam'], ln['lr']) == (a, b))} of "
        f"{sum(1 for ln in every if (ln['lam'], ln['lr']) == (a, b))} seeds" for a, b in pairs)
    out.append(f"  - lanes peaking at the boundary (t* only a bound, not fitted): {len(bnd)}"
               + (f" ({where})" if bnd else "")
               + f"; other exclusions: "
               f"{_common.excluded_text({k: v for k, v in o['excluded'].items() if k != 'at_boundary'})}")
    return out


def check_collapse(summary: dict) -> tuple[list[str], list[tuple[str, bool | None, str]]]:
    lines = ["### t*-collapse\n", "*Caption:* top row: the test metric of every lane against the "
             "natural time lam lr t (color: lam); bottom row: t* (steps to the peak, "
             "local-linear smoothing in log-time) against lam lr with the fit t* = c (lam lr)^-s "
             "and the line c/(lam lr); open gray circles: t* from the other metric, beside. "
             f"Preset {summary.get('config', {}).get('preset')}: "
             + ("FC-128x3 (MSE) on the shipped Fashion-MNIST subset stands in for FC on MNIST, "
                "and a small max-pooling CNN on 14x14 Fashion-MNIST for the CIFAR-10 WRN and CNN "
                "panels (the panel titles say so).\n"
                if summary.get("config", {}).get("preset") == "quick" else "the paper's panels.\n")]
    checks = []
    for p in summary["results"]["panels"]:
        lines.append(f"### Collapse panel `{p['key']}`: {p['title']}\n")
        lines.append(f"| lam | lr | seed | t* (steps) | lam lr t* | {p['metric']} at t* | excluded |")
        lines.append("|---|---|---|---|---|---|---|")
        for ln in p["lanes"]:
            lines.append(f"| {ln['lam']:.3g} | {ln['lr']:.3g} | {ln['seed']} | "
                         f"{_f(ln['t_star'], '.1f')} | {_f(ln['lam_lr_t_star'])} | "
                         f"{_f(ln['value'], '.4f')} | {ln['excluded'] or ''} |")
        lines.append("")
        for s in p["spread_by_lr"]:
            se = s.get("c_se_per_lam") or [None] * len(s["c_per_lam"])
            lines.append(f"- lr = {s['lr']:g}: lam lr t* (geometric mean over seeds +- standard "
                         "error) per lam "
                         f"{', '.join(_common.pm(v, e, '.3g') for v, e in zip(s['c_per_lam'], se))}"
                         " over lam "
                         f"{min(s['lams']):.3g}..{max(s['lams']):.3g} (x{s['lam_range']:.1f}): "
                         f"spread factor max/min = **{s['spread']:.2f}**")
        fit = p["fit"]
        if fit:
            ci = fit["slope_ci"]
            lines.append(f"- fit t* = c (lam lr)^(-s): s = **{fit['slope']:.3f}** (95% bootstrap CI "
                         f"{_ci(ci)}, {fit['bootstrap']} bootstrap, "
                         f"{fit['n_points']} lanes), c (s free) = {fit['c']:.3g}, c (s = 1) = "
                         f"{fit['c_slope1']:.3g}")
        lines.append(f"- t* from `{p['metric']}`; excluded lanes: "
                     f"{_common.excluded_text(p['excluded'])}; "
                     f"{p['seconds']:.0f} s")
        for metric, o in (p.get("other_metrics") or {}).items():
            lines.append("")
            lines.append(f"t* from `{metric}`, beside (not used by the checks):\n")
            lines += _collapse_lines(o, "all lanes")
            w = o.get("window")
            if w:
                lines += _collapse_lines(w, f"lanes with lam <= {w['lam_max']:g} (where the net "
                                            "learns before L2 shrinks it to f = 0)")
        lines.append("")
    fc = next((p for p in summary["results"]["panels"] if p["key"] == "fc"), None)
    if fc is not None:
        wide = [s for s in fc["spread_by_lr"] if s["lam_range"] >= LAM_RANGE_MIN * (1 - 1e-6)]
        ok = bool(wide) and all(s["spread"] <= SPREAD_MAX for s in wide)
        detail = ", ".join(f"lr {s['lr']:g}: x{s['spread']:.2f} over x{s['lam_range']:.0f} lam"
                           for s in fc["spread_by_lr"])
        checks.append((f"lam lr t* spread <= {SPREAD_MAX} across >= a decade of lam at fixed lr "
                       "(FC panel)", ok, detail or "no lanes"))
        s = fc["fit"]["slope"] if fc["fit"] else None
        checks.append((f"fitted slope s in [{SLOPE_RANGE[0]}, {SLOPE_RANGE[1]}] (FC panel)",
                       None if s is None else SLOPE_RANGE[0] <= s <= SLOPE_RANGE[1],
                       f"s = {_f(s, '.3f')}, 95% CI {_ci(fc['fit'] and fc['fit']['slope_ci'])}"))
    return lines, checks


def check_budget(summary: dict):
    r = summary["results"]
    lines = ["### Budgets (fixed vs 1/lam) and lam_opt\n",
             "*Caption:* left: the final metric against lam for a fixed budget of T steps and "
             "for a budget tau/(lam lr) steps (the same natural time for every lam), mean +- "
             "standard error over seeds, with lam = 0 as horizontal lines (the fixed budget; and "
             "the longest scaled budget, lam = 0 having none of its own); right: the metric "
             "after T steps against lam for several budgets T, with the predicted "
             "lam_opt = c/(lr T) dashed (c from a short run at a large lam). "
             f"Preset {summary.get('config', {}).get('preset')}"
             + (": FC-128x3 (MSE) on the shipped Fashion-MNIST subset stands in for FC on "
                "MNIST; lams are ranked by the final test loss.\n"
                if summary.get("config", {}).get("preset") == "quick" else ".\n")]
    bc = r["budget_comparison"]
    lines.append(f"metric: `{bc['metric']}`, mean +- standard error over seeds "
                 f"{_common.numbers(bc['seeds'], 'd')}; "
                 "lams whose mean is within one standard error (of the difference) of the best "
                 "mean tie with it\n")
    lines.append("| lam | fixed budget: final | steps | scaled budget: final | steps |")
    lines.append("|---|---|---|---|---|")
    fx, pr = bc["fixed"], bc["proportional"]
    none = [None] * len(bc["lam"])  # summaries written before the standard errors existed
    for i, lam in enumerate(bc["lam"]):
        lines.append(f"| {lam:.3g} | {_common.pm(fx['mean'][i], (fx.get('se') or none)[i])} | "
                     f"{fx['steps'][i]} | {_common.pm(pr['mean'][i], (pr.get('se') or none)[i])}"
                     f" | {pr['steps'][i]} |")
    for arm, z in (r.get("zero_baseline") or {}).items():
        what = ("fixed budget" if arm == "fixed" else
                "scaled arm (no natural budget at lam = 0: run for the longest scaled budget, "
                "that of the smallest lam)")
        lines.append(f"{'' if arm != 'fixed' else chr(10)}- lam = 0 baseline, {what}: "
                     f"{_common.pm(z['mean'], z['se'])} after {z['steps']} steps; best positive "
                     f"lam {z['best_lam']:.3g} ({z['best_steps']} steps) "
                     f"{_common.pm(z['best_mean'], z['best_se'])}: L2 helps by "
                     f"{_common.pm(z['diff'], z['diff_se'])} ({z['verdict'] or 'one seed'})")
    lines.append(f"\nbest lam: fixed budget {_f(bc['best_lam_fixed'])} (tied within noise: "
                 f"{_common.numbers(bc.get('best_lams_fixed', []))}), scaled budget "
                 f"{_f(bc['best_lam_proportional'])} (tied: "
                 f"{_common.numbers(bc.get('best_lams_proportional', []))})\n")
    lines.append("| budget T | predicted lam_opt = c/(lr T) | swept best lam (ties) | "
                 "pred / nearest tied lam | metric at best | metric at grid lam nearest "
                 "prediction |")
    lines.append("|---|---|---|---|---|---|")
    ok, ratios = True, []
    for row in r["lam_opt"]:
        log_ratio = row.get("log10_ratio_set", row["log10_ratio"])
        ratio = None if log_ratio is None else 10 ** log_ratio
        ok &= ratio is not None and 1 / LAM_OPT_FACTOR <= ratio <= LAM_OPT_FACTOR
        tied = row.get("lam_best_set") or [row["lam_best"]]
        best = _f(row["lam_best"]) + (f" (tie: {_common.numbers(tied)})" if len(tied) > 1 else "")
        near = row["lam_grid_nearest_pred"]
        se_near = (row.get("metric_se_by_lam") or {}).get(repr(near))
        lines.append(f"| {row['budget']} | {row['lam_pred']:.3g} | {best} | {_f(ratio, '.2f')} | "
                     f"{_common.pm(row['metric_best'], row.get('metric_se_best'))} | "
                     f"{_common.pm(row['metric_at_nearest_pred'], se_near)} |")
        if ratio is not None:
            ratios.append(f"T={row['budget']}: {ratio:.2f}" + (" (tie)" if len(tied) > 1 else ""))
    c = r["lam_opt"][0]
    lines.append(f"\nc = {c['c']:.3g} from the short run(s) (per seed "
                 f"{_common.numbers(c['c_per_seed'])}; peak at the boundary: "
                 f"{'yes' if c['short_at_boundary'] else 'no'})\n")
    return lines, [(f"lam_opt predicted within a factor {LAM_OPT_FACTOR:g} of the swept best lam "
                    "(budget figure, every budget; best = any lam tied with the best mean within "
                    "one standard error over seeds)", ok,
                    f"pred/best: {', '.join(ratios) or '-'}")]


def check_fig1(summary: dict):
    r, cfg = summary["results"], summary["config"]
    pm = _common.pm
    comp, short, lam_opt = r["comparison"], r["short"], r["lam_opt"]
    metric = r["metric"]
    n = len(comp["seeds"])
    lines = [f"### Figure 1 ({cfg.get('title')})\n",
             "*Caption:* (a) the final test metric after the budget against lam (mean +- "
             "standard error; open circles: tied with the best within one standard error), the "
             "predicted lam_opt and AutoL2's final value as a band; (b) the test metric against "
             "the step for AutoL2 and the best fixed lam (mean +- standard error bands) and the "
             "mean steps each needs to reach the best fixed lam's final value; (c) AutoL2's lam "
             "per seed against c/(lr t). "
             + ("Quick preset: an FC-128x3 net (MSE, plain SGD, constant lr) on 1000 points of "
                "the shipped Fashion-MNIST subset stands in for WRN-28-10 on CIFAR-10; c from "
                "the step of minimum test loss of the short run.\n"
                if cfg.get("preset") == "quick" else f"Preset {cfg.get('preset')}.\n"),
             f"Budget T = {r['budget']} steps, lr {r['lr']:g}; `{metric}` at the end of the "
             f"budget, mean +- standard error over {n} seeds "
             f"({_common.numbers(comp['seeds'], 'd')}); AutoL2 and a fixed lam are compared "
             "paired by seed (shared initialization, minibatch order and augmentation); a "
             "difference within one standard error is a tie.\n"]
    arms = r["arms"]
    names = [a for a in ("constant", "step", "scaled") if a in arms]
    heads = {"constant": "constant lr, T steps", "step": "step schedule, T steps",
             "scaled": "step schedule, tau/(lam lr) steps"}
    lines.append("| lam | " + " | ".join(heads[a] for a in names) + " |")
    lines.append("|---|" + "---|" * len(names))
    all_lams = sorted({lam for a in names for lam in arms[a]["lam"]})
    for lam in all_lams:
        cells = []
        for a in names:
            arm = arms[a]
            if lam in arm["lam"]:
                i = arm["lam"].index(lam)
                cell = pm(arm["mean"][i], arm["se"][i])
                if a == "scaled":
                    cell += f" ({arm['steps'][i]} steps)"
                cell += " (best)" if lam == arm["best"] else (" (tie)" if lam in arm["tied"]
                                                              else "")
            else:
                cell = ""
            cells.append(cell)
        lines.append(f"| {lam:.3g} | " + " | ".join(cells) + " |")
    row = lam_opt["row"]
    ratio = None if row["log10_ratio_set"] is None else 10 ** row["log10_ratio_set"]
    lines.append("")
    lines.append(f"- c = lam lr t* = {pm(short['c'], short['c_se'], '.3g')} from short runs at "
                 f"lam = {short['lam_large']:g} ({short['steps']} steps, t* from "
                 f"`{short['metric']}`; per seed {_common.numbers(short['c_per_seed'])}; peak at "
                 f"the boundary: {'yes' if short['at_boundary'] else 'no'})")
    preds = lam_opt["predictions"]
    lines.append("- predicted lam_opt: " + ", ".join(
        {"short": f"c/(lr T) = {preds['short']:.3g}",
         "scaled": f"tau/(lr T) = {preds.get('scaled', 0):.3g} (the lam whose 1/lam budget is T)"
         }[k] for k in preds)
        + f"; swept best ({lam_opt['arm']} arm) {row['lam_best']:.3g}, tied within one standard "
          f"error: {_common.numbers(row['lam_best_set'])}; prediction ({lam_opt['from']}) / "
          f"nearest tied lam = {_f(ratio, '.2f')}")
    best, auto, d = comp["best_fixed"], comp["autol2"], comp["difference"]
    lines.append(f"- final `{metric}`: best fixed lam {best['lam']:g} {pm(best['mean'], best['se'])}"
                 f"; AutoL2 (from lam {auto['lam_start']:g}) {pm(auto['mean'], auto['se'])}; "
                 f"AutoL2 - best fixed, paired by seed: **{pm(d['mean'], d['se'])}** "
                 f"({d['n']} pairs): {d['verdict']}")
    vs = r.get("autol2_vs_step_best")
    if vs:
        lines.append(f"- AutoL2 (constant lr) - best step-schedule lam {vs['lam']:g}, paired: "
                     f"{pm(vs['mean'], vs['se'])}: {vs['verdict']}")
    sp = comp["speed"]
    if sp:
        ci = sp["ci"]
        lines.append(f"- steps to reach the best fixed lam's final `{metric}` (per seed, raw "
                     f"evaluations): best fixed {pm(sp['steps_ref_mean'], sp['steps_ref_se'], '.0f')}"
                     f", AutoL2 {pm(sp['steps_new_mean'], sp['steps_new_se'], '.0f')} (reached in "
                     f"{sp['n_reached_new']} of {sp['n']} seeds); speed-up **"
                     f"{pm(sp['speedup'], sp['se'], '.2f')}** (95% bootstrap interval "
                     f"{_ci(ci)}): {sp['verdict']}")
    finals = auto["final_lam"]
    lines.append(f"- AutoL2 divisions per seed: {_common.numbers(auto['n_decays'], 'd')} (at "
                 "steps " + "; ".join(_common.numbers(s, "d") for s in auto["decay_steps"])
                 + f"); final lam {_common.numbers(sorted(set(finals)))}")
    est = r.get("cost_estimate")
    if est:
        lines.append(f"- estimated cost on one H200 (not measured): {est['seconds']:.0f} s "
                     f"({est['hours']:.2f} h)")
    lines.append("")
    checks = [
        (f"AutoL2 >= the best fixed lam beyond the seed noise (Figure 1c; final `{metric}`, "
         "paired by seed; a difference within one standard error is a tie)",
         _claim(d["verdict"], "better"),
         f"AutoL2 - best fixed (lam {best['lam']:g}) = {pm(d['mean'], d['se'])} over {d['n']} "
         f"seeds ({pm(auto['mean'], auto['se'])} vs {pm(best['mean'], best['se'])})"),
        ("AutoL2 reaches the best fixed lam's final accuracy in fewer steps, beyond the noise "
         "(speed-up > 1 by more than its bootstrap standard error)",
         None if not sp else _claim(sp["verdict"], "faster"),
         "-" if not sp else f"speed-up {pm(sp['speedup'], sp['se'], '.2f')} (95% interval "
         f"{_ci(sp['ci'])}; steps {sp['steps_ref_mean']:.0f} vs {sp['steps_new_mean']:.0f})"),
        (f"lam_opt predicted within a factor {LAM_OPT_FACTOR:g} of the swept best lam (Figure 1; "
         "best = any lam tied with the best mean within one standard error)",
         None if ratio is None else 1 / LAM_OPT_FACTOR <= ratio <= LAM_OPT_FACTOR,
         f"predicted {preds[lam_opt['from']]:.3g}, tied best {_common.numbers(row['lam_best_set'])}"
         f", ratio {_f(ratio, '.2f')}")]
    return lines, checks


def check_tvp(summary: dict):
    r = summary["results"]
    lines = ["### Theory vs practice (finite width vs exact infinite-width flow)\n",
             "| width | distance mean | distance max | vs infinite-width GD | vs linearized | "
             "t* net | t* flow |", "|---|---|---|---|---|---|---|"]
    d = []
    for e in r["per_width"]:
        d.append(e["distance_mean"])
        lines.append(f"| {e['width']} | {e['distance_mean']:.3f} | {e['distance_max']:.3f} | "
                     f"{e['distance_gd_limit_mean']:.3f} | "
                     f"{_f(e.get('distance_linearized_mean'))} | {e['t_star_net']:.1f} | "
                     f"{e['t_star_flow']:.1f} |")
    if r.get("width_exponent"):
        lines.append(f"\nwidth exponent of the mean distance: "
                     f"{r['width_exponent']['distance_mean']:.2f} (expected ~ -0.5)\n")
    ok = all(b < a for a, b in zip(d, d[1:]))
    return lines, [("theory-vs-practice distance decreases with width", ok,
                    " > ".join(f"{x:.3f}" for x in d))]


def check_theory(summary: dict):
    r = summary["results"]
    lines = ["### Theory (infinite width)\n",
             "- c = lam lr t* per lam (depth "
             f"{r['lams'][0]['depth']}): " + ", ".join(f"lam {x['lam']:g}: {x['c']:.3g}"
                                                       for x in r["lams"]),
             "- per depth (lam " f"{r['depths'][0]['lam']:g}): " + ", ".join(
                 f"L={x['depth']}: c {x['c']:.3g}, best acc {x['best_test_acc']:.3f}"
                 for x in r["depths"])]
    last = r["kernel_decay"][-1]
    lines.append(f"- kernel decay at lam lr t = {last['lam_lr_t']:.2f}: measured tr Theta_t / "
                 f"tr Theta_0 = {last['trace_ratio_measured']:.3g}, predicted "
                 f"{last['predicted']:.3g}\n")
    return lines, []


def check_theory_cnn(summary: dict):
    """CNN theory (``theory_cnn``): predicted vs measured t* per network, and the distance by
    channel count; must hold: t* within ``TOLERANCE`` at >= ``MIN_CHANNELS`` channels (every
    seed), and the distance falling with the channels beyond the seed noise."""
    from l2theory.experiments import best_within_noise
    from l2theory.figures import theory_cnn as tc

    r = summary["results"]
    rows = r["rows"]
    lines = ["### Theory for CNNs: predicted (L2 flow) vs measured (GD) t*\n",
             "| network | NTK | lr | lam | lr lambda_max/n | t* net / flow per seed (steps) | "
             "t* ratio net / flow (mean +- SE) | c = lam lr t* net / flow | distance "
             "(mean +- SE) |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        per_seed = ", ".join(f"{a:.1f}{' (edge)' if e else ''} / {b:.1f}" for a, b, e in zip(
            row["t_star_net_per_seed"], row["t_star_flow_per_seed"],
            row["t_star_net_at_boundary_per_seed"]))
        lines.append(f"| {row['network']} | {row['kernel']} | {row['lr']:.3g} | {row['lam']:.3g} "
                     f"| {row['lr_lambda_max_over_n']:.2f} | {per_seed} | "
                     f"{_common.pm(row['t_star_ratio'], row['t_star_ratio_se'], '.3f')} | "
                     f"{row['c_net']:.3f} / {row['c_flow']:.3f} | "
                     f"{_common.pm(row['distance_mean'], row['distance_mean_se'], '.3f')} |")
    exp = r.get("channel_exponent")
    lines.append(f"\nchannel exponent of the mean distance (flatten CNN): {_f(exp, '.2f')} "
                 "(expected ~ -0.5); infinite ensemble (f0 = 0): c = "
                 f"{r['ensemble']['c']:.3f}; lr lambda_max/n < 2 is the lazy (linearized) "
                 "regime the flow describes; the distance is relative to the flow's outputs, "
                 "which decay like exp(-L lam lr t), so for deep or non-homogeneous networks "
                 "(empirical NTK rows) it can exceed 1 late in the window: t* is their "
                 "comparison\n")
    family = [row for row in rows if row["family"] == "flatten"]
    wide = [row for row in family if row["channels"] >= tc.MIN_CHANNELS]
    # a measured t* at the first or last recorded step (edge) is no peak: it cannot pass
    ok = None if not wide else all(
        abs(x - 1) <= tc.TOLERANCE and not e for row in wide
        for x, e in zip(row["t_star_ratio_per_seed"], row["t_star_net_at_boundary_per_seed"]))
    detail = "; ".join(
        f"{row['channels']} ch.: " + ", ".join(
            f"{x:.3f}" + (" (measured t* at the run's edge)" if e else "")
            for x, e in zip(row["t_star_ratio_per_seed"], row["t_star_net_at_boundary_per_seed"]))
        + f" (mean {_common.pm(row['t_star_ratio'], row['t_star_ratio_se'], '.3f')})"
        for row in wide) or f"no CNN with >= {tc.MIN_CHANNELS} channels"
    checks = [(f"predicted vs measured t* within {tc.TOLERANCE:.0%} for the CNN at >= "
               f"{tc.MIN_CHANNELS} channels (theory_cnn; every seed, t* net / flow)", ok, detail)]
    steps, falls = [], True
    for a, b in zip(family, family[1:]):
        tied = best_within_noise([a["distance_mean"], b["distance_mean"]],
                                 [a["distance_mean_se"], b["distance_mean_se"]], "min")
        verdict = ("falls" if tied == [1] else "rises" if tied == [0] else
                   "tie within the seed noise")
        falls &= tied == [1]
        steps.append(f"{a['channels']} -> {b['channels']}: "
                     f"{_common.pm(a['distance_mean'], a['distance_mean_se'], '.3f')} -> "
                     f"{_common.pm(b['distance_mean'], b['distance_mean_se'], '.3f')} "
                     f"({verdict})")
    one_seed = family and family[0]["distance_mean_se"] is None
    checks.append(("distance falls as channels grow, beyond the seed noise (theory_cnn, "
                   "flatten CNN)", None if len(family) < 2 else falls,
                   "; ".join(steps) + ("; 1 seed: no noise estimate" if one_seed else "")
                   or "fewer than 2 channel counts"))
    return lines, checks


def check_infinite_width(summary: dict):
    """Infinite width on the whole training set: the theory's peaks per lam beside the finite
    nets'; must hold: the theory's peak natural time collapses, and the Krylov error estimate is
    below its tolerance at every lam."""
    r = summary["results"]
    finite = r.get("finite")
    lines = ["### Infinite width on the whole training set (Krylov)\n",
             f"- {r['n_train']:,} train / {r['n_test']:,} test images; train kernel "
             f"{r['kernel_gb']:.2f} GB in {r['kernel_s']:.0f} s; solves {r['solver_s']:.0f} s "
             f"(test-kernel operator {r['test_kernel_s']:.0f} s of it); peak memory "
             f"{r['peak_rss_gb']:.1f} GB\n",
             "| lam | lam lr t* (theory) | peak test acc (theory) | Krylov steps / basis | "
             "error estimate (tol) | test-kernel applications | lam lr t* (finite) | "
             "peak test acc (finite) |", "|---|---|---|---|---|---|---|---|"]
    by_lam = {}
    for p in (finite or {}).get("peaks", []):
        by_lam.setdefault(p["lam"], []).append(p)
    def per_lr(peaks, key, fmt):
        return ", ".join(f"lr {p['lr']:g}: {_common.pm(p[key], p[key + '_se'], fmt)}"
                         for p in peaks) or "-"

    for x in r["per_lam"]:
        fin = sorted(by_lam.get(x["lam"], []), key=lambda p: p["lr"])
        lines.append(
            f"| {x['lam']:g} | {x['lam_lr_t_star']:.3g} | {x['peak_test_acc']:.4f} | "
            f"{x['iterations']} / {x['basis_size']} | {x['error_estimate']:.2g} ({x['tol']:g}) | "
            f"{x['test_products']} | {per_lr(fin, 'lam_lr_t_star', '.3g')} | "
            f"{per_lr(fin, 'peak_test_acc', '.4f')} |")
    s = r["spread"]
    lines.append(f"\n- theory lam lr t*: geometric mean {s['geometric_mean']:.3g}, spread "
                 f"x{s['spread']:.2f} over x{s['lam_range']:.0f} lam\n")
    wide = s["lam_range"] >= LAM_RANGE_MIN * (1 - 1e-6)
    worst = max(x["error_estimate"] / x["tol"] for x in r["per_lam"])
    return lines, [
        (f"infinite-width lam lr t* spread <= {SPREAD_MAX} across >= a decade of lam (MSE "
         "flow, Krylov)", (s["spread"] <= SPREAD_MAX) if wide else None,
         f"x{s['spread']:.2f} over x{s['lam_range']:.0f} lam"),
        ("Krylov error estimate <= tol at every lam (infinite-width figure)",
         all(x["converged"] for x in r["per_lam"]),
         f"largest estimate / tol = {worst:.2g}")]



def check_hessian(summary: dict):
    from l2theory.figures import hessian as fig

    r, cfg = summary["results"], summary["config"]
    rows = r["rows"]
    lines = [f"### Hessian late in training ({cfg.get('title')})\n",
             "*Caption:* the lowest Ritz values (Lanczos on Hessian-vector products, "
             f"{cfg.get('num_lanczos')} steps, float64) of the Hessian of the L2-regularized "
             "training loss, in units of lam, after full-batch GD to natural times lam lr t = "
             f"{_common.numbers(r['late_taus'], 'g')}; 'flat' is v.Hv/lam along a first-layer "
             "direction orthogonal to every training input (flat for the data loss); a net has "
             f"collapsed when its data loss is within {fig.COLLAPSE_RTOL:g} (relative) of the loss "
             "of f = 0. Lanczos from one start vector sees a repeated eigenvalue once: a "
             "collapsed net (H = lam I) shows one value.\n",
             "| lam | lam lr t | steps | data loss | grad norm | flat: v.Hv/lam - 1 | lowest Ritz "
             "values / lam |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        flat = row.get("flat_ratio")
        lines.append(f"| {row['lam']:g} | {row['late_tau']:g} | {row['steps']} | "
                     f"{row['train_loss']:.4f}{' (collapsed)' if row['collapsed'] else ''} | "
                     f"{row['grad_norm']:.2g} | {_f(None if flat is None else flat - 1, '.1e')} | "
                     f"{_common.numbers(row['ratio'], '.3f')} |")
    last = [row for row in rows if row["late_tau"] == r["late_taus"][-1]]
    live = [row for row in last if not row["collapsed"]]
    dead = [row for row in last if row["collapsed"]]
    early = [row for row in rows if row["collapsed"] and row not in last]
    lines.append("")
    if live:
        lines.append("- not collapsed at the latest time (lam " + ", ".join(
            f"{row['lam']:g}: lowest Ritz value {row['min_ratio']:.3f} lam, {row['n_negative']} "
            f"of {len(row['eigenvalues'])} negative" for row in live)
            + "): the bottom of the spectrum is *below* lam, negative by an amount of order lam "
            "- L2 does not lift every direction to lam at finite time; the slowest relaxation "
            "(escape) time there is 1/(lr |eigenvalue|), e.g. "
            + ", ".join(f"{1 / abs(row['min_ratio']):.2g} x 1/(lr lam)" for row in live
                        if row["min_ratio"] != 0))
    if dead:
        lines.append(f"- collapsed to f = 0 at the latest time: lam "
                     f"{_common.numbers([row['lam'] for row in dead])}; there every lowest Ritz "
                     "value is lam within "
                     f"{max(max(abs(v - 1) for v in row['ratio']) for row in dead):.1e} "
                     "(relative): H = lam I, slowest relaxation time 1/(lr lam)")
    if early:
        lines.append("- earlier, with the data loss already at f = 0's but the weights still "
                     "shrinking, the bottom is below lam: " + ", ".join(
                         f"lam {row['lam']:g} at lam lr t = {row['late_tau']:g}: "
                         f"{row['min_ratio']:.3f} lam" for row in early if row["min_ratio"] < 0.99))
    lines.append("")
    flats = [row["flat_ratio"] for row in rows if row.get("flat_ratio") is not None]
    dev = max((abs(v - 1) for v in flats), default=None)
    worst = max((max(abs(v - 1) for v in row["ratio"]) for row in dead), default=None)
    return lines, [
        ("L2 lifts the flat data directions to curvature lam exactly (v.Hv = lam along a "
         "first-layer direction orthogonal to the training inputs, every lam and time)",
         None if dev is None else dev <= fig.FLAT_RTOL,
         f"max |v.Hv/lam - 1| = {_f(dev, '.1e')} over {len(flats)} points"),
        (f"late in training (lam lr t = {r['late_taus'][-1]:g}), once the net has collapsed to "
         f"f = 0, the lowest Hessian eigenvalues equal lam (the {cfg.get('k')} lowest Ritz "
         f"values within {fig.AT_LAM_RTOL:g})",
         None if worst is None else worst <= fig.AT_LAM_RTOL,
         f"max |eigenvalue/lam - 1| = {_f(worst, '.1e')} over {len(dead)} collapsed nets; "
         f"not collapsed (bottom below lam, see Numbers): {len(live)}")]



CHECKS = {"collapse": check_collapse, "budget": check_budget, "fig1": check_fig1,
          "theory_vs_practice": check_tvp, "theory": check_theory, "hessian": check_hessian,
          "theory_cnn": check_theory_cnn, "infinite_width": check_infinite_width}


def run_all(preset: str = "quick", out: str | Path = "out/figures",
            only: Sequence[str] | None = None, tiny: bool = False, progress: bool = False
            ) -> Path:
    """Run the figures (all, or ``only``) of ``preset`` into ``out/<name>/`` and write
    ``out/REPORT.md``; returns the report's path. ``tiny`` shrinks every config (tests).

    Prints one line per figure as it starts (``[2/5] theory_vs_practice``) and ends (its time);
    ``progress`` adds progress bars in the figures' sweeps and per-width lines (stderr). A figure
    whose dataset is not on disk is reported and skipped; after the report is written, ``run_all``
    then raises ``DatasetMissing`` naming the figures not run (the report says where each
    dataset was searched and how to get it)."""
    names = list(FIGURES if not only else only)
    bad = [n for n in names if n not in FIGURES]
    if bad:
        raise ValueError(f"only={bad!r}: unknown figure(s); valid: {', '.join(FIGURES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    summaries: dict[str, Any] = {}
    errors: dict[str, str] = {}
    missing: dict[str, str | None] = {}
    for i, name in enumerate(names, 1):
        tag = f"[{i}/{len(names)}] {name}"
        print(tag, flush=True)
        t0 = time.perf_counter()
        mod = importlib.import_module(f"l2theory.figures.{name}")
        if preset not in mod.CONFIGS:  # a preset only some figures have (e.g. fig1's gpu)
            errors[name] = (f"{name} has no {preset!r} preset (its presets: "
                            f"{', '.join(mod.CONFIGS)})")
            print(f"{tag}: not run: no {preset!r} preset", file=sys.stderr, flush=True)
            continue
        config = _common.get_config(mod.CONFIGS, preset, mod.TINY, tiny)
        try:
            summaries[name] = mod.run(config, _common.out_dir(name, out / name),
                                      progress=progress)
            print(f"{tag}: done in {time.perf_counter() - t0:.0f} s", flush=True)
        except _common.DatasetMissing as e:
            errors[name], missing[name] = str(e), e.dataset
            print(f"{tag}: not run: dataset {e.dataset!r} is not on disk", file=sys.stderr,
                  flush=True)
    total = time.perf_counter() - start
    report = write_report(out, preset, names, summaries, errors, total, tiny)
    if missing:
        raise _common.DatasetMissing(
            f"{len(missing)} of {len(names)} figures not run, their datasets are not on disk: "
            + ", ".join(f"{n} ({d!r})" for n, d in missing.items())
            + f"; {report} lists where each was searched and how to get it (or use --preset "
            "quick, which needs only the subset shipped with l2theory)",
            dataset=", ".join(sorted({str(d) for d in missing.values()})))
    return report


def presets(names: Sequence[str] = FIGURES) -> tuple[str, ...]:
    """Every preset of the figures ``names`` (``quick``, ``paper``, then the figures' own)."""
    found = list(_common.PRESETS)
    for name in names:
        for p in importlib.import_module(f"l2theory.figures.{name}").CONFIGS:
            if p not in found:
                found.append(p)
    return tuple(found)


def load_summaries(out: str | Path, names: Sequence[str] = FIGURES) -> dict[str, Any]:
    """The ``<name>.json`` summaries of an earlier run in ``out`` (for ``--report-only``)."""
    import json

    found = {}
    for name in names:
        path = Path(out) / name / f"{name}.json"
        if path.is_file():
            found[name] = json.loads(path.read_text())
    return found


def caption(name: str, summary: dict) -> str | None:
    """The figure's caption for ``REPORT.md``: its module's ``caption(summary)`` (what is plotted,
    and which stand-ins the preset uses), or None."""
    mod = importlib.import_module(f"l2theory.figures.{name}")
    return mod.caption(summary) if hasattr(mod, "caption") else None


def write_report(out: Path, preset: str, names: Sequence[str], summaries: dict[str, Any],
                 errors: dict[str, str], total: float, tiny: bool = False) -> Path:
    """Write ``out/REPORT.md`` from the figures' summaries; returns its path."""
    env = _common.machine()
    lines = [f"# Paper figures: predicted vs measured (preset `{preset}`"
             f"{', tiny' if tiny else ''})\n",
             f"Machine: {_common.hardware_line(env)}; host {env.get('hostname')}; git "
             f"{env.get('git')}; {env.get('time')}.",
             f"Total runtime: {total:.0f} s ({total / 60:.1f} min); per figure: " + ", ".join(
                 f"{n} {s['runtime_s']:.0f} s" for n, s in summaries.items()) + ".\n"]
    if tiny:
        lines.append("**Tiny settings (tests): the numbers below are not meaningful.**\n")
    checks: list[tuple[str, bool | None, str]] = []
    body: list[str] = []
    for name in names:
        if name in errors:
            body += [f"### {name}: not run\n", "```", errors[name], "```", ""]
            continue
        if name not in summaries:
            continue
        more, chk = CHECKS[name](summaries[name])
        text = caption(name, summaries[name])
        if text:  # under the section's heading
            more = more[:1] + [f"*Figure `{name}`.* {text}\n"] + more[1:]
        body += more
        checks += chk
    lines.append("## Must hold\n")
    for what, ok, detail in checks:
        lines.append(f"- **{_mark(ok)}** {what}: {detail}")
    if not checks:
        lines.append("- (no checks: their figures were not run)")
    lines.append("")
    lines += ["## Numbers\n"] + body
    lines.append("## Figures\n")
    for name, s in summaries.items():
        lines.append(f"- `{name}`: " + ", ".join(f"`{Path(f).name}`" for f in s["files"]))
    report = Path(out) / "REPORT.md"
    report.write_text("\n".join(lines) + "\n")
    print(f"wrote {report} ({total:.0f} s)")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l2theory.figures.make_all", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=presets(), default="quick",
                        help="a preset runs the figures that have it (quick and paper: all)")
    parser.add_argument("--out", default="out/figures")
    parser.add_argument("--only", nargs="+", choices=FIGURES, default=None)
    parser.add_argument("--tiny", action="store_true", help="tiny settings (tests)")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite REPORT.md from the JSON summaries already in --out")
    args = parser.parse_args(argv)
    if args.report_only:
        names = list(args.only or FIGURES)
        found = load_summaries(args.out, names)
        write_report(Path(args.out), args.preset, names, found, {},
                     sum(s["runtime_s"] for s in found.values()), args.tiny)
        return 0
    try:
        run_all(args.preset, args.out, args.only, args.tiny, progress=not args.tiny)
    except _common.DatasetMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
