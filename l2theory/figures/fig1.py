"""Figure 1: (a) test accuracy vs step for several lam; (b) t* vs lam with ``c / (lam lr)``;
(c) final test accuracy after a budget of T steps vs lam, the predicted ``lam_opt = c / (lr T)``
and AutoL2.

What it shows (docs/conventions.md, relations 1, 3, 4): (a) larger lam peaks earlier; (b) the step
of peak test accuracy follows ``t* = c / (lam lr)``; (c) one short run at the largest lam gives c
and hence ``lam_opt`` for a budget T, close to the best lam of a sweep; AutoL2 (start at the largest
lam, divide by 10 when training stalls) matches the best fixed lam without a sweep.

``--preset paper`` (GPU): WRN-28-10 on CIFAR-10, SGD with momentum 0.9, lr 0.2, batch 128, data
augmentation (random crop + flip), constant lr. ``--preset quick`` (CPU): an FC-128x3 net (MSE,
plain SGD, lr 1) on 1000 points of the shipped Fashion-MNIST subset stands in for the WRN
(said so in the title): a small CNN on CPU learned too little in the minutes available (0.56
test accuracy after 300 steps); the CNN stand-in is in the collapse figure. In the quick preset
t* is the step of minimum test loss (with MSE the test accuracy of large lam keeps creeping up
after the loss minimum, so its peak sits at the end of the run); panel (c) compares final test
accuracy.

Hardware / runtime: quick 37 s measured on 2 shared CPU cores (AMD EPYC, jax 0.10.2; s = 0.98,
lam_opt 1.1e-3 predicted vs 1e-3 best, AutoL2 0.737 vs best fixed 0.731 test accuracy); paper: many GPU-hours (WRN-28-10, 7 lam x
physical time 2 plus the budget sweep; not yet run). Outputs (``--out``, default
``out/figures/fig1/``): ``fig1.png/.pdf``, ``fig1_curves.csv`` (panel a), ``fig1_tstar.csv``
(panel b), ``fig1_budget.csv`` (panel c, AutoL2 rows included), ``fig1.json``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from l2theory.figures import _common

NAME = "fig1"

# Quick stand-in for the WRN. (A small CNN on CPU, 300 steps, learned too little - best 0.56 test
# accuracy, AutoL2 0.39 - in ~5 min, so the quick preset uses an FC net; the CNN stand-in is in
# the collapse figure.) AutoL2 measures every 5 steps; delay 8e-3 (the authors' units) is a
# refractory period of 2 k delay / lam = 20 steps at the start lam 8e-3: with a 100-step period
# the start lam (t* ~ 40-80 steps) collapsed the net before the first division and AutoL2 ended
# at 0.50 test accuracy vs 0.73 for the best fixed lam.
_FC = dict(model="fc", depth=3, width=128, bias=False, parameterization="ntk", loss="mse",
           batch_size=100, eval_every=5, train_eval_size=200,
           autol2_measure_every=5, autol2_delay=8e-3)
# units: lam (L2 coefficient), lr (per step), natural_time = lam lr t, budget in steps
CONFIGS = {
    "quick": {"title": "quick stand-in for WRN-28-10/CIFAR-10: FC-128x3 (MSE, plain SGD) on "
                       "Fashion-MNIST subset",
              "dataset": "fashion_mnist_subset", "n_train": 1000, "n_test": 1000,
              "model": _FC, "lr": 1.0, "seeds": [0, 1], "metric": "test_loss",
              "lams": [2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2], "natural_time": 2.0,
              "budget": 600, "budget_lams": [5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2],
              "autol2_start": 8e-3},
    "paper": {"title": "WRN-28-10 on CIFAR-10 (momentum 0.9, lr 0.2, augmentation)",
              "dataset": "cifar10", "n_train": None, "n_test": None,
              "metric": "test_acc", "model": dict(model="wrn-28-10", loss="xent", batch_size=128, eval_every=200,
                            momentum=0.9, augment=True, train_eval_size=10000,
                            autol2_measure_every=10, autol2_delay=0.1,
                            compute_dtype="bfloat16"),
              "lr": 0.2, "seeds": [0],
              "lams": [1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3], "natural_time": 2.0,
              "budget": 40000, "budget_lams": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3]},
}
TINY = {"n_train": 200, "n_test": 200,
        "model": dict(_FC, width=16, batch_size=50, train_eval_size=100,
                      autol2_measure_every=5, autol2_delay=0.04),
        "seeds": [0], "lams": [0.02, 0.08], "natural_time": 0.1, "budget": 30,
        "budget_lams": [0.02, 0.08]}


def run(config: dict, out: Path, progress: bool = False) -> dict:
    """The figure into ``out``; ``progress``: a progress bar per sweep (stderr)."""
    plt = _common.setup_matplotlib()
    from l2theory import experiments as ex
    from l2theory import train

    _common.print_config(NAME, config)
    start = time.perf_counter()
    ds = _common.load_dataset(config["dataset"], n_train=config["n_train"],
                              n_test=config["n_test"], downsample=config.get("downsample", 1))
    lr, seeds = config["lr"], config["seeds"]
    cfg = _common.train_config(config["model"]).replace(lr=lr)
    t0 = time.perf_counter()
    rows = train.sweep(cfg, ds, lam=config["lams"], lr=[lr], seeds=seeds,
                       natural_time=config["natural_time"], progress=progress,
                       chunk_size=len(config["lams"]) * len(seeds), desc="fig1 t* sweep")
    col = ex.collapse(rows, metric=config["metric"], n_boot=200)
    t1 = time.perf_counter()
    # c from the short run(s) at the largest lam (the paper's recipe for lam_opt)
    lam_large = max(config["lams"])
    large = [ln for ln in col["lanes"]
             if np.isclose(ln["lam"], lam_large, rtol=1e-5) and ln["t_star"] is not None]
    c_large = float(np.exp(np.mean(np.log([ln["lam_lr_t_star"] for ln in large]))))
    budget = config["budget"]
    lam_pred = c_large / (lr * budget)
    blams = sorted(config["budget_lams"])
    bcfg = cfg.replace(steps=budget, eval_every=min(cfg.eval_every * 4, budget))
    # one compiled program for every lane (they are small; lanes of equal length)
    fixed = ex.per_lam(train.sweep(bcfg, ds, lam=blams, lr=[lr], seeds=seeds, progress=progress,
                                   chunk_size=len(blams) * len(seeds), desc="fig1 fixed lam"),
                       blams)
    lam_start = config.get("autol2_start") or max(blams)
    auto_rows = train.sweep(bcfg.replace(lam_schedule="autol2"), ds, lam=[lam_start], lr=[lr],
                            seeds=seeds, progress=progress, chunk_size=len(seeds),
                            desc="fig1 AutoL2")
    auto_final = []
    auto_lam_final = []
    for run_id in np.unique(auto_rows["run"]):
        m = auto_rows["run"] == run_id
        if not np.any(auto_rows["diverged"][m]):
            auto_final.append(float(auto_rows["test_acc"][m][-1]))
            auto_lam_final.append(float(auto_rows["lam"][m][-1]))
    t2 = time.perf_counter()

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    ex.plot_collapse(axes[0], rows, clock="steps", metric="test_acc",
                     mark_peaks=config["metric"] == "test_acc")
    axes[0].set_title("(a) test accuracy vs step (color: lam)", fontsize=9)
    used = [ln for ln in col["lanes"] if ln["excluded"] is None]
    axes[1].plot([ln["lam"] for ln in used], [ln["t_star"] for ln in used], "o",
                 label="t* per lane")
    c = col["fit"]["c_slope1"] if col["fit"] else c_large
    xl = np.geomspace(min(config["lams"]), max(config["lams"]), 30)
    if np.isfinite(c) and c > 0:
        axes[1].plot(xl, c / (xl * lr), "k--", label=f"c / (lam lr), c = {c:.3g}")
    if used or (np.isfinite(c) and c > 0):  # log axes need positive data
        axes[1].set_xscale("log")
        axes[1].set_yscale("log")
    axes[1].set_xlabel("lam")
    axes[1].set_ylabel(f"t* (steps to {'min' if 'loss' in config['metric'] else 'max'} "
                       f"{config['metric']})")
    axes[1].set_title("(b) steps to peak (t*) vs lam", fontsize=9)
    axes[1].legend(fontsize=7)
    mean = [np.nan if v is None else v for v in fixed["mean"]]
    std = [np.nan if v is None else v for v in fixed["std"]]
    axes[2].errorbar(blams, mean, yerr=std, marker="o", capsize=2,
                     label=f"fixed lam, T = {budget} steps")
    if np.isfinite(lam_pred):
        axes[2].axvline(lam_pred, color="g", ls="--",
                        label=f"predicted lam_opt = {lam_pred:.3g}")
    if auto_final:
        am = float(np.mean(auto_final))
        axes[2].axhline(am, color="r", ls=":", label=f"AutoL2 (start {lam_start:g}): {am:.3f}")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("lam")
    axes[2].set_ylabel(f"test accuracy after {budget} steps")
    axes[2].set_title("(c) optimal lam and AutoL2", fontsize=9)
    axes[2].legend(fontsize=7)
    fig.suptitle(f"Figure 1 - {config['title']} (preset {config['preset']})", fontsize=10)
    fig.tight_layout()
    files = _common.save_figure(fig, out, NAME)
    files.append(_common.save_csv(out / f"{NAME}_curves.csv", _common.lane_curves(rows)))
    files.append(_common.save_csv(out / f"{NAME}_tstar.csv", [
        {k: ln[k] for k in ("run", "lam", "lr", "seed", "t_star", "lam_lr_t_star", "value",
                            "excluded")} for ln in col["lanes"]]))
    brows = [{"arm": "fixed", "lam": lam, "final_test_acc_mean": m, "final_test_acc_std": s}
             for lam, m, s in zip(blams, mean, std)]
    brows += [{"arm": "autol2", "lam": lam_f, "seed": s, "final_test_acc_mean": a}
              for s, a, lam_f in zip(seeds, auto_final, auto_lam_final)]
    files.append(_common.save_csv(out / f"{NAME}_budget.csv", brows))
    ib = int(np.nanargmax(mean))
    best = {"lam": blams[ib], "final_mean": mean[ib], "final_std": std[ib]}
    auto = {"final_mean": float(np.mean(auto_final)) if auto_final else None,
            "final_std": float(np.std(auto_final)) if auto_final else None,
            "final_per_seed": auto_final, "final_lam": auto_lam_final,
            "lam_start": lam_start}
    print(f"   c (lam = {lam_large:g}) = {c_large:.3g}; lam_pred {lam_pred:.3g}, best lam "
          f"{best['lam']:.3g} ({best['final_mean']:.4f}); AutoL2 {auto['final_mean']}")
    return _common.save_summary(out, NAME, config, {
        "collapse": {k: col[k] for k in ("fit", "lam_lr_t_star", "excluded", "n_included")},
        "lanes": col["lanes"], "c_large": c_large, "lam_large": lam_large, "lam_pred": lam_pred,
        "budget": budget, "fixed": fixed, "best_fixed": best, "autol2": auto,
        "seconds": {"sweep": t1 - t0, "budget": t2 - t1}}, start, files)


def main(argv=None) -> int:
    return _common.main_for(__name__, NAME, __doc__, CONFIGS, TINY, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
