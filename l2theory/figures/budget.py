"""Fixed vs scaled step budget, and the optimal lam of a budget predicted from one short run.

What it shows (docs/conventions.md, relations 2 and 3): (a) the final test metric against lam for
a fixed budget of T steps (peaks at some lam) and for a budget ``T = tau / (lam lr)``
proportional to 1/lam (improves as lam falls, then saturates), with lam = 0 as a baseline: in
the fixed arm at T steps; the scaled arm has no budget at lam = 0, so lam = 0 is run for the
arm's longest budget (that of the smallest lam) and drawn as a reference line at that step
count; the plateau the largest lams reach is the loss (accuracy) of ``f = 0``: L2 has shrunk
those nets to zero outputs; (b) for several budgets T, the validation metric against lam with
the optimum of a parabola in ``ln lam`` fitted around its best grid point, and the prediction
``lam_opt = c / (lr T)`` (c = ``lam lr t*`` of one short run at a large lam;
``experiments.predict_lam_opt``).

Metric (``metric``, stated before the run and kept): ``"loss"`` or ``"accuracy"``; t* of the
short run and every "best" lam come from the validation split (``n_val`` examples held out of
the training set, never trained on); the test set is reported beside. The short run is
evaluated on a log grid (``short_model``: 20 per decade), its ``t*`` (about ten steps in quick)
resolved to a few percent.

Presets: ``quick`` (CPU, about a minute on 2 CPU cores): FC-128x3, MSE, on 1000 training points
of the shipped Fashion-MNIST subset (500 more held out for validation), batch 100, 4 seeds; the
loss. ``paper`` (GPU, about an hour): FC-512x3 with cross-entropy on MNIST, 3 seeds, the
accuracy. Measured numbers: ``docs/figures.md``.

Must hold, at every budget: the predicted ``lam_opt`` within ``_report.LAM_OPT_FACTOR`` of the
fitted optimum (``experiments.lam_opt_claim``: per-seed ratios, a 95% t-interval in log; an
optimum at the grid's edge is a ``TIE``).

Files in ``DIR/budget/`` (``--out DIR``): ``budget.png/.pdf``, ``budget_fixed_vs_scaled.csv``,
``budget_lam_opt.csv`` (final metrics per budget and lam, predicted and fitted optimum),
``budget.json``.
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

# units: lam (L2 coefficient), lr (per step), budgets in steps, natural_time = lam lr T;
# "lams": the fixed vs scaled comparison; "opt_lams": the grid around lam_opt (every budget's
# optimum inside it)
CONFIGS = {
    "quick": {"dataset": "fashion_mnist_subset", "n_train": 1000, "n_val": 500, "n_test": 1000,
              "model": _FC, "lr": 1.0, "seeds": [0, 1, 2, 3], "metric": "loss",
              "lams": [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2, 6.4e-2],
              "budget_steps": 300, "natural_time": 2.0,
              "opt_lams": [2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2],
              "lam_large": 6.4e-2, "short_natural_time": 3.0, "budgets": [150, 300, 600],
              # the short run's t* (~10 steps) resolved on a log grid, not every 5 steps
              "short_model": {"eval_every": None, "evals_per_decade": 20}},
    "paper": {"dataset": "mnist", "n_train": 55000, "n_val": 5000, "n_test": None,
              "model": dict(_FC, width=512, loss="xent", batch_size=128, eval_every=100,
                            train_eval_size=10000),
              "lr": 0.3, "seeds": [0, 1, 2], "metric": "accuracy",
              "lams": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
              "budget_steps": 5000, "natural_time": 1.0,
              "opt_lams": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
              "lam_large": 3e-2, "short_natural_time": 3.0,
              "budgets": [2000, 5000, 20000, 50000],
              "short_model": {"eval_every": None, "evals_per_decade": 20}},
}
TINY = {"n_train": 200, "n_val": 100, "n_test": 200,
        "model": dict(_FC, width=16, batch_size=50, eval_every=5, train_eval_size=100),
        "seeds": [0, 1], "lams": [0.01, 0.04], "budget_steps": 20, "natural_time": 0.3,
        "opt_lams": [0.005, 0.01, 0.02, 0.04], "lam_large": 0.04, "short_natural_time": 1.0,
        "budgets": [10, 20]}
METRICS = {"loss": ("val_loss", "test_loss", "min"), "accuracy": ("val_acc", "test_acc", "max")}


def zero_baseline(bc: dict) -> dict:
    """The lam = 0 runs of ``budget_comparison``'s arms against the best positive lam of the
    same arm (chosen on its ``select_metric``): ``{arm: {steps, mean, se, best_lam, best_mean,
    best_se, best_steps, claim}}``, ``claim`` (an ``experiments.Claim`` as a dict) deciding
    whether L2 helps: the best lam against lam = 0, paired by seed (they share initialization
    and minibatches), in the direction of better ``metric``."""
    from l2theory import experiments as ex

    sign = -1.0 if "loss" in bc["metric"] else 1.0
    out = {}
    if 0.0 not in bc["lam"]:
        return out
    i0 = bc["lam"].index(0.0)
    for arm, best in (("fixed", bc["best_lam_fixed"]), ("proportional",
                                                        bc["best_lam_proportional"])):
        a = bc[arm]
        if a["mean"][i0] is None or best is None:
            continue
        ib = bc["lam"].index(best)
        claim = ex.claim_greater([None if v is None else sign * v for v in a["by_seed"][ib]],
                                 [None if v is None else sign * v for v in a["by_seed"][i0]])
        out[arm] = {"steps": a["steps"][i0], "mean": a["mean"][i0], "se": a["se"][i0],
                    "best_lam": best, "best_mean": a["mean"][ib], "best_se": a["se"][ib],
                    "best_steps": a["steps"][ib], "claim": claim.to_json()}
    return out


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out``; ``progress``: a progress bar per sweep (stderr)."""
    from l2theory import experiments as ex

    select, score, mode = METRICS[config["metric"]]
    job = _common.FigureRun(NAME, config, out)
    print(f"   t* and the best lams from `{select}` (validation split, {config['n_val']} "
          f"examples held out of training); `{score}` beside")
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
                              metric=score, select_metric=select, zero_steps=zero_steps,
                              progress=progress)
    t1 = time.perf_counter()
    table = ex.predict_lam_opt(cfg, ds, lam_large=config["lam_large"], lr=config["lr"],
                               budgets=config["budgets"], lams=config["opt_lams"],
                               seeds=config["seeds"],
                               short_natural_time=config["short_natural_time"],
                               metric=select, shown_metric=score, progress=progress,
                               short_config=cfg.replace(**config.get("short_model", {})))
    t2 = time.perf_counter()
    fig = _plot(plt, config, bc, table, ds.name, mode)
    job.save_figure(fig)
    rows = []
    for arm in ("fixed", "proportional"):
        a = bc[arm]
        for i, lam in enumerate(bc["lam"]):
            rows.append({"arm": arm, "lam": lam, "steps": a["steps"][i],
                         "final_mean": a["mean"][i], "final_std": a["std"][i],
                         "final_se": a["se"][i], "validation_mean": a["select"]["mean"][i],
                         "metric": score})
    job.save_csv("fixed_vs_scaled", rows)
    lam_rows = []
    for row in table:
        for k, v in row["metric_by_lam"].items():
            lam_rows.append({"budget": row["budget"], "lam": float(k), f"final_{select}": v,
                             f"final_{select}_se": row["metric_se_by_lam"][k],
                             f"final_{score}": row["shown_by_lam"][k],
                             "lam_pred": row["lam_pred"], "lam_opt_fitted": row["lam_opt"],
                             "at_edge": row["at_edge"]})
    job.save_csv("lam_opt", lam_rows)
    zero = zero_baseline(bc)
    result = {"budget_comparison": bc, "lam_opt": table, "zero_baseline": zero,
              "metric": config["metric"],
              "seconds": {"budget_comparison": t1 - t0, "predict_lam_opt": t2 - t1}}
    for claim in _claims(result):
        print(f"   {claim.line()[2:]}")
    return job.finish(result)


def _plot(plt, config, bc, table, data_name, mode):
    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    lams = np.array(bc["lam"])
    pos = lams > 0
    metric = bc["metric"].replace("_", " ")
    for arm, label in (("fixed", f"fixed budget T = {config['budget_steps']} steps"),
                       ("proportional", f"T = {config['natural_time']:g}"
                                        r"$/(\lambda\eta)$ steps")):
        mean = np.array([np.nan if v is None else v for v in bc[arm]["mean"]])
        se = np.array([np.nan if v is None else v for v in bc[arm]["se"]])
        line = axes[0].errorbar(lams[pos], mean[pos], yerr=np.nan_to_num(se[pos]), marker="o",
                                capsize=2, label=label)[0]
        if not pos.all() and np.isfinite(mean[~pos][0]):  # lam = 0: a line (no log position)
            m0, e0 = mean[~pos][0], np.nan_to_num(se[~pos][0])
            steps0 = bc[arm]["steps"][int(np.flatnonzero(~pos)[0])]
            axes[0].axhline(m0, color=line.get_color(), ls=":" if arm == "fixed" else "-.",
                            lw=1, label=rf"$\lambda$ = 0, {steps0} steps (+-SE band)")
            axes[0].axhspan(m0 - e0, m0 + e0, color=line.get_color(), alpha=0.12)
    # the plateau of the largest lams: the nets have collapsed to f = 0 (zero outputs)
    top = [v for v in bc["fixed"]["mean"][-2:] if v is not None]
    if len(top) == 2 and abs(top[0] - top[1]) <= 1e-3 * max(abs(top[1]), 1e-12):
        axes[0].annotate(f"plateau {top[-1]:.3g}: the nets have collapsed to $f = 0$\n(L2 "
                         "shrank their outputs to zero)", xy=(lams[-2], top[-2]),
                         xytext=(0.45, 0.7 if mode == "min" else 0.3),
                         textcoords="axes fraction", fontsize=8,
                         bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"},
                         arrowprops={"arrowstyle": "->", "lw": 0.8})
    axes[0].set_xscale("log")
    axes[0].set_xlabel(_common.label("lam"))
    axes[0].set_ylabel(f"final {metric}")
    axes[0].set_title("(a) fixed vs 1/$\\lambda$-scaled budget (mean +- SE over seeds)",
                      fontsize=9)
    axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    for row in table:
        by = {float(k): v for k, v in row["metric_by_lam"].items()}
        se = {float(k): v for k, v in row["metric_se_by_lam"].items()}
        ks = sorted(by)
        line = axes[1].errorbar(ks, [by[k] for k in ks], yerr=[se[k] or 0.0 for k in ks],
                                marker="o", capsize=2, label=f"T = {row['budget']}")[0]
        axes[1].axvline(row["lam_pred"], color=line.get_color(), ls="--", lw=1)
        opt = row["optimum"]
        if opt["window"]:
            x = np.geomspace(opt["window"][0], opt["window"][-1], 40)
            xs = np.log(opt["window"])
            coef = np.polyfit(xs, [by[k] for k in opt["window"]], 2)
            axes[1].plot(x, np.polyval(coef, np.log(x)), color=line.get_color(), lw=2.5,
                         alpha=0.35)
            axes[1].plot([row["lam_opt"]], [np.polyval(coef, np.log(row["lam_opt"]))], "*",
                         ms=11, color=line.get_color(), mec="k", mew=0.5)
    axes[1].plot([], [], "k--", lw=1, label=r"predicted $\lambda_{opt} = c/(\eta T)$")
    axes[1].plot([], [], "k-", lw=2.5, alpha=0.35, label=r"parabola in $\ln\lambda$ (fit)")
    axes[1].plot([], [], "k*", ms=9, label="fitted optimum")
    axes[1].set_xscale("log")
    axes[1].set_xlabel(_common.label("lam"))
    axes[1].set_ylabel(f"validation {metric.split()[-1]} after T steps (mean +- SE)")
    axes[1].set_title(f"(b) c = {table[0]['c']:.3g} (short run at "
                      rf"$\lambda$ = {config['lam_large']:g}); optimum on the validation split",
                      fontsize=9)
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    fig.suptitle(f"Step budgets, FC on {data_name} (preset {config['preset']})")
    fig.tight_layout()
    return fig


def _claims(r: dict) -> list[_report.Claim]:
    return [_report.lam_opt_claim(f"budget figure, T = {row['budget']}", row["lam_pred"],
                                  row["lam_pred_per_seed"], row["optimum"], row["metric"])
            for row in r["lam_opt"]]


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: final metric per lam for both budgets, the lam = 0
    baseline, predicted vs fitted optimum per budget; must hold: ``lam_opt`` within
    ``LAM_OPT_FACTOR`` of the fitted optimum at every budget, beyond the noise."""
    pm, num, numbers = _common.pm, _common.num, _common.numbers
    r = summary["results"]
    bc = r["budget_comparison"]
    lines = ["### Budgets (fixed vs 1/lam) and lam_opt\n",
             "*Caption:* left: the final test metric against lam for a fixed budget of T steps "
             "and for a budget tau/(lam lr) steps (the same natural time for every lam), mean +- "
             "standard error over seeds, with lam = 0 as horizontal lines (the fixed budget; and "
             "the longest scaled budget, lam = 0 having none of its own); the plateau of the "
             "largest lams is the metric of f = 0 (nets L2 has collapsed). Right: the "
             "validation metric after T steps against lam for several budgets T, the parabola "
             "in ln lam fitted around its best grid point (its vertex: the fitted optimum) and "
             "the predicted lam_opt = c/(lr T) dashed (c from a short run at a large lam). "
             f"Preset {summary.get('config', {}).get('preset')}"
             + (": FC-128x3 (MSE) on the shipped Fashion-MNIST subset stands in for FC on "
                "MNIST.\n" if summary.get("config", {}).get("preset") == "quick" else ".\n")]
    lines.append(f"Metric: the {r.get('metric')}, stated before the run and kept: t* of the "
                 f"short run and every best lam from `{bc['select_metric']}` (a validation split "
                 f"held out of the training set), `{bc['metric']}` reported; mean +- standard "
                 f"error over seeds {numbers(bc['seeds'], 'd')}\n")
    lines.append("| lam | fixed budget: test (validation) | steps | scaled budget: test "
                 "(validation) | steps |")
    lines.append("|---|---|---|---|---|")
    fx, pr = bc["fixed"], bc["proportional"]
    for i, lam in enumerate(bc["lam"]):
        lines.append(f"| {lam:.3g} | {pm(fx['mean'][i], fx['se'][i])} "
                     f"({num(fx['select']['mean'][i], '.4f')}) | {fx['steps'][i]} | "
                     f"{pm(pr['mean'][i], pr['se'][i])} ({num(pr['select']['mean'][i], '.4f')})"
                     f" | {pr['steps'][i]} |")
    for arm, z in (r.get("zero_baseline") or {}).items():
        what = ("fixed budget" if arm == "fixed" else
                "scaled arm (no natural budget at lam = 0: run for the longest scaled budget, "
                "that of the smallest lam)")
        c = z["claim"]
        lines.append(f"{'' if arm != 'fixed' else chr(10)}- lam = 0 baseline, {what}: "
                     f"{pm(z['mean'], z['se'])} after {z['steps']} steps; best positive "
                     f"lam on validation {z['best_lam']:.3g} ({z['best_steps']} steps) "
                     f"{pm(z['best_mean'], z['best_se'])}: L2 helps by "
                     f"{num(c['estimate'], '.4f')}, 95% CI {_common.interval(c['ci'])} paired "
                     f"by seed: {c['verdict']}")
    lines.append(f"\nbest lam on validation: fixed budget {num(bc['best_lam_fixed'])}, scaled "
                 f"budget {num(bc['best_lam_proportional'])}\n")
    lines.append("| budget T | predicted lam_opt = c/(lr T) (per seed) | fitted optimum "
                 "(per seed) | window | validation at the best grid lam | test at it |")
    lines.append("|---|---|---|---|---|---|")
    for row in r["lam_opt"]:
        opt = row["optimum"]
        best = repr(row["lam_best"])
        lines.append(f"| {row['budget']} | {row['lam_pred']:.3g} "
                     f"({numbers(row['lam_pred_per_seed'])}) | "
                     + ("edge of the grid: " + num(opt["lam_opt"]) if opt["at_edge"] else
                        f"{opt['lam_opt']:.3g} ({numbers(opt['lam_opt_per_seed'])})")
                     + f" | {numbers(opt['window'] or [])} | "
                     f"{pm(row['metric_by_lam'][best], row['metric_se_by_lam'][best])} | "
                     f"{pm(row['shown_by_lam'][best], row['shown_se_by_lam'][best])} |")
    c = r["lam_opt"][0]
    lines.append(f"\nc = {c['c']:.3g} from the short run(s) on `{c['metric']}` (per seed "
                 f"{numbers(c['c_per_seed'])}; peak at the boundary: "
                 f"{'yes' if c['short_at_boundary'] else 'no'})\n")
    return _report.Report(lines, _claims(r))


def main(argv=None) -> int:
    """``python -m l2theory.figures.budget``: the figures command for this figure alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
