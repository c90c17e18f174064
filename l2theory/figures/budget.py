"""Fixed vs scaled step budget, and the optimal lam of a budget predicted from one short run.

What it shows (docs/conventions.md, relations 2 and 3): (a) final test accuracy against lam for a
fixed budget of T steps (peaks at some lam) and for a budget ``T = tau / (lam lr)`` proportional to
1/lam (improves as lam falls, then saturates), with lam = 0 as a baseline: in the fixed arm at T
steps; the scaled arm has no budget at lam = 0, so lam = 0 is run for the arm's longest budget
(that of the smallest lam) and drawn as a reference line at that step count; (b) for several
budgets T, final test accuracy against lam, with the prediction ``lam_opt = c / (lr T)`` (c =
``lam lr t*`` of one short run at a large lam; ``experiments.predict_lam_opt``) marked on each
curve.

Hardware / runtime: quick 41 s measured on 2 shared CPU cores (load 1.2-2; AMD EPYC, jax 0.10.2;
FC-128x3, MSE, on 1000 points of the shipped Fashion-MNIST subset, batch 100; the quick preset
ranks lam by final test *loss*; lam_opt predicted / swept best = 1.09 at T = 150, 300, 600; lam = 0
final test loss 0.3730 +- 0.0034 after 300 steps against 0.2632 +- 0.0016 at lam 2e-3, and
0.2708 +- 0.0022 after 2000 steps against 0.2373 +- 0.0009 at lam 1e-3 with its 1/lam budget of
the same 2000 steps); paper: FC on MNIST (GPU, ~1 h; not yet run).
Outputs (``--out``, default ``out/figures/budget/``): ``budget.png/.pdf``, ``budget_fixed_vs_scaled.csv``,
``budget_lam_opt.csv`` (final accuracy per budget and lam, predicted and best lam), ``budget.json``.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from l2theory.figures import _common

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
    out = _common.out_dir(NAME, out)  # created first: a bad --out fails before any work
    plt = _common.setup_matplotlib()
    from l2theory import experiments as ex

    _common.print_config(NAME, config)
    start = time.perf_counter()
    ds = _common.load_dataset(config["dataset"], n_train=config["n_train"],
                              n_test=config["n_test"])
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
    files = _common.save_figure(fig, out, NAME)
    files.append(_common.save_csv(out / f"{NAME}_fixed_vs_scaled.csv", rows))
    files.append(_common.save_csv(out / f"{NAME}_lam_opt.csv", lam_rows))
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
    return _common.save_summary(out, NAME, config, {
        "budget_comparison": bc, "lam_opt": lam_opt, "zero_baseline": zero,
        "seconds": {"budget_comparison": t1 - t0, "predict_lam_opt": t2 - t1}}, start, files)


def main(argv=None) -> int:
    return _common.main_for(__name__, NAME, __doc__, CONFIGS, TINY, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
