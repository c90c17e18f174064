"""Fixed vs scaled step budget, and the optimal lam of a budget predicted from one short run.

What it shows (docs/conventions.md, relations 2 and 3): (a) final test accuracy against lam for a
fixed budget of T steps (peaks at some lam) and for a budget ``T = tau / (lam lr)`` proportional to
1/lam (improves as lam falls, then saturates), with lam = 0 as a baseline: in the fixed arm at T
steps; the scaled arm has no budget at lam = 0, so lam = 0 is run for the arm's longest budget
(that of the smallest lam) and drawn as a reference line at that step count; (b) for several
budgets T, final test accuracy against lam, with the prediction ``lam_opt = c / (lr T)`` (c =
``lam lr t*`` of one short run at a large lam; ``experiments.predict_lam_opt``) marked on each
curve.

Presets: ``quick`` (CPU, 40 s on 2 CPU cores): FC-128x3, MSE, on 1000 points of the shipped
Fashion-MNIST subset, batch 100, 2 seeds; lams are ranked by the final test *loss*. ``paper``
(GPU, about an hour): FC-512x3 with cross-entropy on MNIST, 3 seeds, ranked by test accuracy.
Measured numbers: ``docs/figures.md``.

Must hold: the predicted ``lam_opt`` within ``_report.LAM_OPT_FACTOR`` of the swept best lam at
every budget (best = any lam whose mean is tied with the best mean within one standard error).

Files in ``DIR/budget/`` (``--out DIR``): ``budget.png/.pdf``, ``budget_fixed_vs_scaled.csv``,
``budget_lam_opt.csv`` (final metric per budget and lam, predicted and best lam), ``budget.json``.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from l2theory.figures import _common, _report, make_all

NAME = "budget"

_FC = dict(model="fc", depth=3, width=128, bias=False, parameterization="ntk", loss="mse",
           batch_size=100, eval_every=5, train_eval_size=200)

# units: lam (L2 coefficient), lr (per step), budgets in steps, natural_time = lam lr T
CONFIGS = {
    "quick": {"dataset": "fashion_mnist_subset", "n_train": 1000, "n_test": 1000,
              "model": _FC, "lr": 1.0, "seeds": [0, 1], "metric": "test_loss",
              "lams": [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2, 6.4e-2],
              "budget_steps": 300, "natural_time": 2.0,
              "lam_large": 6.4e-2, "short_natural_time": 3.0, "budgets": [150, 300, 600]},
    "paper": {"dataset": "mnist", "n_train": None, "n_test": None,
              "model": dict(_FC, width=512, loss="xent", batch_size=128, eval_every=100,
                            train_eval_size=10000),
              "lr": 0.3, "seeds": [0, 1, 2], "metric": "test_acc",
              "lams": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
              "budget_steps": 5000, "natural_time": 1.0,
              "lam_large": 3e-2, "short_natural_time": 3.0,
              "budgets": [2000, 5000, 20000, 50000]},
}
TINY = {"n_train": 200, "n_test": 200, "model": dict(_FC, width=16, batch_size=50,
                                                     eval_every=5, train_eval_size=100),
        "seeds": [0], "lams": [0.01, 0.04], "budget_steps": 20, "natural_time": 0.3,
        "lam_large": 0.04, "short_natural_time": 1.0, "budgets": [10, 20]}


def zero_baseline(bc: dict) -> dict:
    """The lam = 0 runs of ``budget_comparison``'s arms against the best positive lam of the
    same arm: ``{arm: {steps, mean, se, best_lam, best_mean, best_se, diff, diff_se, verdict}}``
    with ``diff`` = best - lam 0 (lam 0 - best for a loss: positive when L2 helps),
    ``diff_se`` = the two standard errors in quadrature (the seeds are not paired across lam
    here), ``verdict`` ``"better"``/``"worse"``/``"tie"`` beyond one ``diff_se``."""
    from l2theory._experiments.autol2 import verdict

    sign = -1.0 if "loss" in bc["metric"] else 1.0
    out = {}
    if 0.0 not in bc["lam"]:
        return out
    i0 = bc["lam"].index(0.0)
    for arm in ("fixed", "proportional"):
        a = bc[arm]
        if a["mean"][i0] is None:
            continue
        scored = [(sign * m, i) for i, (lam, m) in enumerate(zip(bc["lam"], a["mean"]))
                  if lam > 0 and m is not None]
        if not scored:
            continue
        ib = max(scored)[1]
        diff = sign * (a["mean"][ib] - a["mean"][i0])
        se = math.hypot(a["se"][ib] or 0.0, a["se"][i0] or 0.0) if (a["se"][ib] is not None and
                                                                 a["se"][i0] is not None) else None
        out[arm] = {"steps": a["steps"][i0], "mean": a["mean"][i0], "se": a["se"][i0],
                    "best_lam": bc["lam"][ib], "best_mean": a["mean"][ib], "best_se": a["se"][ib],
                    "best_steps": a["steps"][ib], "diff": diff, "diff_se": se,
                    "verdict": verdict(diff, se)}
    return out


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out``; ``progress``: a progress bar per sweep (stderr)."""
    from l2theory import experiments as ex

    job = _common.FigureRun(NAME, config, out)
    plt = job.plt
    ds = job.dataset()
    cfg = _common.train_config(config["model"]).replace(lr=config["lr"])
    t0 = time.perf_counter()
    # lam = 0 baseline: the fixed arm at T steps; the scaled arm has no natural budget at
    # lam = 0, so it is run for the longest scaled budget (that of the smallest lam) as a
    # reference at equal steps
    zero_steps = math.ceil(config["natural_time"] / (min(config["lams"]) * config["lr"])
                           * (1 - 1e-12))
    bc = ex.budget_comparison(cfg, ds, lams=[0.0, *config["lams"]], lr=config["lr"],
                              budget_steps=config["budget_steps"],
                              natural_time=config["natural_time"], seeds=config["seeds"],
                              metric=config["metric"], zero_steps=zero_steps,
                              progress=progress)
    t1 = time.perf_counter()
    table = ex.predict_lam_opt(cfg, ds, lam_large=config["lam_large"], lr=config["lr"],
                               budgets=config["budgets"], lams=config["lams"],
                               seeds=config["seeds"],
                               short_natural_time=config["short_natural_time"],
                               metric=config["metric"], progress=progress)
    t2 = time.perf_counter()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    lams = np.array(bc["lam"])
    pos = lams > 0
    rows = []
    for arm, label in (("fixed", f"fixed budget T = {config['budget_steps']} steps"),
                       ("proportional", f"T = {config['natural_time']:g}"
                                        r"$/(\lambda\eta)$ steps")):
        mean = np.array([np.nan if v is None else v for v in bc[arm]["mean"]])
        std = np.array([np.nan if v is None else v for v in bc[arm]["std"]])
        se = np.array([np.nan if v is None else v for v in bc[arm]["se"]])
        line = axes[0].errorbar(lams[pos], mean[pos], yerr=np.nan_to_num(se[pos]), marker="o",
                                capsize=2, label=label)[0]
        if not pos.all() and np.isfinite(mean[~pos][0]):  # lam = 0: a line (no log position)
            m0, e0 = mean[~pos][0], np.nan_to_num(se[~pos][0])
            steps0 = bc[arm]["steps"][int(np.flatnonzero(~pos)[0])]
            axes[0].axhline(m0, color=line.get_color(), ls=":" if arm == "fixed" else "-.",
                            lw=1, label=rf"$\lambda$ = 0, {steps0} steps (+-SE band)")
            axes[0].axhspan(m0 - e0, m0 + e0, color=line.get_color(), alpha=0.12)
        for lam, m, s, e, st in zip(lams, mean, std, se, bc[arm]["steps"]):
            rows.append({"arm": arm, "lam": float(lam), "steps": st, "final_mean": m,
                         "final_std": s, "final_se": e, "metric": config["metric"]})
    axes[0].set_xscale("log")
    axes[0].set_xlabel(r"$\lambda$")
    axes[0].set_ylabel(f"final {config['metric'].replace('_', ' ')}")
    axes[0].set_title("fixed vs 1/$\\lambda$-scaled budget (mean +- SE over seeds)", fontsize=9)
    axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    lam_rows = []
    for row in table:
        by = {float(k): v for k, v in row["metric_by_lam"].items()}
        se = {float(k): v for k, v in row["metric_se_by_lam"].items()}
        ks = sorted(by)
        line = axes[1].errorbar(ks, [by[k] for k in ks], yerr=[se[k] or 0.0 for k in ks],
                                marker="o", capsize=2, label=f"T = {row['budget']}")[0]
        axes[1].axvline(row["lam_pred"], color=line.get_color(), ls="--", lw=1)
        for k in ks:
            lam_rows.append({"budget": row["budget"], "lam": k, f"final_{config['metric']}": by[k],
                             f"final_{config['metric']}_se": se[k], "lam_pred": row["lam_pred"],
                             "lam_best": row["lam_best"],
                             "tied_with_best": k in row["lam_best_set"]})
    axes[1].set_xscale("log")
    axes[1].set_xlabel(r"$\lambda$")
    axes[1].set_ylabel(f"{config['metric'].replace('_', ' ')} after T steps (mean +- SE)")
    axes[1].set_title(r"dashed: predicted $\lambda_{opt} = c/(\eta T)$, "
                      f"c = {table[0]['c']:.3g} (short run at "
                      rf"$\lambda$ = {config['lam_large']:g})", fontsize=9)
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    fig.suptitle(f"Step budgets, FC on {ds.name} (preset {config['preset']})")
    fig.tight_layout()
    job.save_figure(fig)
    job.save_csv("fixed_vs_scaled", rows)
    job.save_csv("lam_opt", lam_rows)
    for row in table:
        tied, se = row["lam_best_set"], row["metric_se_by_lam"]
        ties = f" (tie within 1 SE: {_common.numbers(tied)})" if len(tied) > 1 else ""
        print(f"   T = {row['budget']:>6}: lam_pred {row['lam_pred']:.3g}, lam_best "
              f"{row['lam_best']:.3g}{ties}, pred / nearest tied lam "
              f"{10 ** row['log10_ratio_set']:.2f}, regret {row['regret']:.2g}")
        print(f"            final {config['metric']} (mean +- SE) by lam: " + ", ".join(
            f"{float(k):.3g}: {_common.pm(v, se[k])}" for k, v in row["metric_by_lam"].items()))
    zero = zero_baseline(bc)
    for arm, z in zero.items():
        print(f"   lam = 0 ({arm}, {z['steps']} steps): {_common.pm(z['mean'], z['se'])}; "
              f"best positive lam {z['best_lam']:.3g} minus it: {_common.pm(z['diff'], z['diff_se'])}"
              f" ({z['verdict'] or 'one seed: no noise estimate'})")
    print(f"   best lam fixed budget {_common.numbers(bc['best_lams_fixed'])}, scaled budget "
          f"{_common.numbers(bc['best_lams_proportional'])} (best first, then ties within 1 SE)")
    lam_opt = [{k: row[k] for k in ("budget", "lam_pred", "lam_best", "log10_ratio",
                                    "lam_best_set", "log10_ratio_set", "metric_best",
                                    "metric_se_best", "metric_by_lam", "metric_se_by_lam",
                                    "lam_grid_nearest_pred", "metric_at_nearest_pred", "regret",
                                    "c", "c_per_seed", "short_at_boundary")} for row in table]
    return job.finish({"budget_comparison": bc, "lam_opt": lam_opt, "zero_baseline": zero,
                       "seconds": {"budget_comparison": t1 - t0, "predict_lam_opt": t2 - t1}})


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: final metric per lam for both budgets, the lam = 0
    baseline, predicted vs swept best lam per budget; must hold: ``lam_opt`` within
    ``LAM_OPT_FACTOR`` of the swept best at every budget."""
    pm, num, numbers = _common.pm, _common.num, _common.numbers
    factor = _report.LAM_OPT_FACTOR
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
                 f"{numbers(bc['seeds'], 'd')}; "
                 "lams whose mean is within one standard error (of the difference) of the best "
                 "mean tie with it\n")
    lines.append("| lam | fixed budget: final | steps | scaled budget: final | steps |")
    lines.append("|---|---|---|---|---|")
    fx, pr = bc["fixed"], bc["proportional"]
    for i, lam in enumerate(bc["lam"]):
        lines.append(f"| {lam:.3g} | {pm(fx['mean'][i], fx['se'][i])} | {fx['steps'][i]} | "
                     f"{pm(pr['mean'][i], pr['se'][i])} | {pr['steps'][i]} |")
    for arm, z in (r.get("zero_baseline") or {}).items():
        what = ("fixed budget" if arm == "fixed" else
                "scaled arm (no natural budget at lam = 0: run for the longest scaled budget, "
                "that of the smallest lam)")
        lines.append(f"{'' if arm != 'fixed' else chr(10)}- lam = 0 baseline, {what}: "
                     f"{pm(z['mean'], z['se'])} after {z['steps']} steps; best positive "
                     f"lam {z['best_lam']:.3g} ({z['best_steps']} steps) "
                     f"{pm(z['best_mean'], z['best_se'])}: L2 helps by "
                     f"{pm(z['diff'], z['diff_se'])} ({z['verdict'] or 'one seed'})")
    lines.append(f"\nbest lam: fixed budget {num(bc['best_lam_fixed'])} (tied within noise: "
                 f"{numbers(bc['best_lams_fixed'])}), scaled budget "
                 f"{num(bc['best_lam_proportional'])} (tied: "
                 f"{numbers(bc['best_lams_proportional'])})\n")
    lines.append("| budget T | predicted lam_opt = c/(lr T) | swept best lam (ties) | "
                 "pred / nearest tied lam | metric at best | metric at grid lam nearest "
                 "prediction |")
    lines.append("|---|---|---|---|---|---|")
    ok, ratios = True, []
    for row in r["lam_opt"]:
        log_ratio = row["log10_ratio_set"]
        ratio = None if log_ratio is None else 10 ** log_ratio
        ok &= ratio is not None and 1 / factor <= ratio <= factor
        tied = row["lam_best_set"]
        best = num(row["lam_best"]) + (f" (tie: {numbers(tied)})" if len(tied) > 1 else "")
        near = row["lam_grid_nearest_pred"]
        se_near = row["metric_se_by_lam"].get(repr(near))
        lines.append(f"| {row['budget']} | {row['lam_pred']:.3g} | {best} | {num(ratio, '.2f')} | "
                     f"{pm(row['metric_best'], row['metric_se_best'])} | "
                     f"{pm(row['metric_at_nearest_pred'], se_near)} |")
        if ratio is not None:
            ratios.append(f"T={row['budget']}: {ratio:.2f}" + (" (tie)" if len(tied) > 1 else ""))
    c = r["lam_opt"][0]
    lines.append(f"\nc = {c['c']:.3g} from the short run(s) (per seed "
                 f"{numbers(c['c_per_seed'])}; peak at the boundary: "
                 f"{'yes' if c['short_at_boundary'] else 'no'})\n")
    return _report.Report(lines, [_report.Claim(
        f"lam_opt predicted within a factor {factor:g} of the swept best lam (budget figure, "
        "every budget; best = any lam tied with the best mean within one standard error over "
        "seeds)", _report.pass_fail(ok), f"pred/best: {', '.join(ratios) or '-'}")])


def main(argv=None) -> int:
    """``python -m l2theory.figures.budget``: the figures command for this figure alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
