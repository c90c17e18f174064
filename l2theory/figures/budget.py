"""Fixed vs scaled step budget, and the optimal lam of a budget predicted from one short run.

What it shows (docs/conventions.md, relations 2 and 3): (a) final test accuracy against lam for a
fixed budget of T steps (peaks at some lam) and for a budget ``T = tau / (lam lr)`` proportional to
1/lam (improves as lam falls, then saturates); (b) for several budgets T, final test accuracy
against lam, with the prediction ``lam_opt = c / (lr T)`` (c = ``lam lr t*`` of one short run at a
large lam; ``experiments.predict_lam_opt``) marked on each curve.

Hardware / runtime: quick 67 s measured on 2 shared CPU cores (AMD EPYC, jax 0.10.2; FC-128x3,
MSE, on 1000 points of the shipped Fashion-MNIST subset, batch 100; the quick preset ranks lam
by final test *loss*; lam_opt predicted / swept best = 1.09 at T = 150, 300, 600); paper: FC on MNIST (GPU, ~1 h; not yet run).
Outputs (``--out``, default ``out/figures/budget/``): ``budget.png/.pdf``, ``budget_fixed_vs_scaled.csv``,
``budget_lam_opt.csv`` (final accuracy per budget and lam, predicted and best lam), ``budget.json``.
"""
from __future__ import annotations

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


def run(config: dict, out: Path, progress: bool = False) -> dict:
    """The figure into ``out``; ``progress``: a progress bar per sweep (stderr)."""
    plt = _common.setup_matplotlib()
    from l2theory import experiments as ex

    _common.print_config(NAME, config)
    start = time.perf_counter()
    ds = _common.load_dataset(config["dataset"], n_train=config["n_train"],
                              n_test=config["n_test"])
    cfg = _common.train_config(config["model"]).replace(lr=config["lr"])
    t0 = time.perf_counter()
    bc = ex.budget_comparison(cfg, ds, lams=config["lams"], lr=config["lr"],
                              budget_steps=config["budget_steps"],
                              natural_time=config["natural_time"], seeds=config["seeds"],
                              metric=config["metric"], progress=progress)
    t1 = time.perf_counter()
    table = ex.predict_lam_opt(cfg, ds, lam_large=config["lam_large"], lr=config["lr"],
                               budgets=config["budgets"], lams=config["lams"],
                               seeds=config["seeds"],
                               short_natural_time=config["short_natural_time"],
                               metric=config["metric"], progress=progress)
    t2 = time.perf_counter()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    lams = np.array(bc["lam"])
    rows = []
    for arm, label in (("fixed", f"fixed budget T = {config['budget_steps']} steps"),
                       ("proportional", f"T = {config['natural_time']:g} / (lam lr)")):
        mean = np.array([np.nan if v is None else v for v in bc[arm]["mean"]])
        std = np.array([np.nan if v is None else v for v in bc[arm]["std"]])
        axes[0].errorbar(lams, mean, yerr=std, marker="o", capsize=2, label=label)
        for lam, m, s, st in zip(lams, mean, std, bc[arm]["steps"]):
            rows.append({"arm": arm, "lam": float(lam), "steps": st, "final_mean": m,
                         "final_std": s, "metric": config["metric"]})
    axes[0].set_xscale("log")
    axes[0].set_xlabel("lam")
    axes[0].set_ylabel(f"final {config['metric']}")
    axes[0].set_title("fixed vs 1/lam-scaled budget", fontsize=9)
    axes[0].legend(fontsize=7)
    lam_rows = []
    for row in table:
        by = {float(k): v for k, v in row["metric_by_lam"].items()}
        ks = sorted(by)
        line, = axes[1].plot(ks, [by[k] for k in ks], "o-", label=f"T = {row['budget']}")
        axes[1].axvline(row["lam_pred"], color=line.get_color(), ls="--", lw=1)
        for k in ks:
            lam_rows.append({"budget": row["budget"], "lam": k, f"final_{config['metric']}": by[k],
                             "lam_pred": row["lam_pred"], "lam_best": row["lam_best"]})
    axes[1].set_xscale("log")
    axes[1].set_xlabel("lam")
    axes[1].set_ylabel(f"{config['metric']} after T steps")
    axes[1].set_title(f"dashed: predicted lam_opt = c/(lr T), c = {table[0]['c']:.3g} "
                      f"(short run at lam = {config['lam_large']:g})", fontsize=9)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"Step budgets, FC on {ds.name} (preset {config['preset']})")
    fig.tight_layout()
    files = _common.save_figure(fig, out, NAME)
    files.append(_common.save_csv(out / f"{NAME}_fixed_vs_scaled.csv", rows))
    files.append(_common.save_csv(out / f"{NAME}_lam_opt.csv", lam_rows))
    for row in table:
        print(f"   T = {row['budget']:>6}: lam_pred {row['lam_pred']:.3g}, lam_best "
              f"{row['lam_best']:.3g} (ratio {10 ** row['log10_ratio']:.2f}), regret "
              f"{row['regret']:.4f}")
    print(f"   best lam fixed {bc['best_lam_fixed']}, proportional {bc['best_lam_proportional']}")
    lam_opt = [{k: row[k] for k in ("budget", "lam_pred", "lam_best", "log10_ratio",
                                    "metric_best", "lam_grid_nearest_pred",
                                    "metric_at_nearest_pred", "regret", "c", "c_per_seed",
                                    "short_at_boundary")} for row in table]
    return _common.save_summary(out, NAME, config, {
        "budget_comparison": bc, "lam_opt": lam_opt,
        "seconds": {"budget_comparison": t1 - t0, "predict_lam_opt": t2 - t1}}, start, files)


def main(argv=None) -> int:
    return _common.main_for(__name__, NAME, __doc__, CONFIGS, TINY, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
