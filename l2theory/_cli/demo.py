"""``l2theory demo``: the theory on real data in about a minute on a CPU.

Infinite-width depth-3 bias-free ReLU network (NTK parameterization, MSE on centered one-hot
targets) trained by gradient flow with L2 on a real Fashion-MNIST subset shipped with the package.
For several lam at fixed lr it prints the predicted time of peak test accuracy ``t*`` (steps),
``c = lam lr t*``, and ``lam_opt = c / (lr T)`` for a few step budgets T with a verdict on each
(``solvers.lam_opt_verdict``: meaningful only when it beats lam = 0 beyond the test noise on a
sharp, consistent peak), and writes a figure of the predicted test accuracy against the natural
clock ``lam lr t`` plus a CSV of the curves. ``l2theory predict`` does the same for any run of
``l2theory train``.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import time

from l2theory._cli._common import Parser, check_out

# one config, units in comments
CONFIG = {
    "dataset": "fashion_mnist_subset",  # shipped with the package (real Fashion-MNIST images)
    "n_train": 1000,                    # training points
    "n_test": 1000,                     # test points
    "depth": 3,                         # Dense layers = homogeneity degree L
    "lr": 1.0,                          # learning rate (time in steps; physical time lr*t)
    "lams": [1e-4, 1e-3, 1e-2, 1e-1],   # L2 coefficients (loss + lam/2 ||theta||^2)
    "budgets": [1e3, 1e4, 1e5],         # step budgets T for lam_opt
    "grid_points": 300,                 # log-spaced times per lam, lam lr t in [1e-4, 1e2]
}


def run(out_dir: str, config: dict = CONFIG) -> dict:
    """The demo in float64 (JAX x64 on for the call, the previous mode restored after)."""
    from l2theory import x64

    with x64():
        return _run(out_dir, config)


def _run(out_dir: str, config: dict) -> dict:
    import jax
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from l2theory import data, kernels, solvers

    start = time.perf_counter()
    ds = data.standardize(data.load(config["dataset"], n_train=config["n_train"],
                                    n_test=config["n_test"], seed=0))
    x_train = ds.x_train.reshape(len(ds.x_train), -1).astype(np.float64)
    x_test = ds.x_test.reshape(len(ds.x_test), -1).astype(np.float64)
    k = ds.num_classes
    y_train = data.one_hot(ds.y_train, k, centered=True).astype(np.float64)
    y_test = data.one_hot(ds.y_test, k, centered=True).astype(np.float64)
    k_train, k_test = kernels.ntk_matrices(kernels.fc_relu_fn(depth=config["depth"]), x_train, x_test)

    lr, rows, curves = config["lr"], [], {}
    base = solvers.L2GradientFlow(k_train, y_train, lam=config["lams"][0], lr=lr,
                                  degree=config["depth"])
    for lam in config["lams"]:
        flow = base.replace(lam=lam)  # one eigendecomposition for every lam
        t = solvers.default_times(lam, lr, num=config["grid_points"])
        acc = solvers.peak(flow, k_test, y_test, metric="accuracy", t=t)
        loss = solvers.peak(flow, k_test, y_test, metric="loss", t=t)
        curves[lam] = acc
        rows.append({"lam": lam, "t_star_acc": acc.t_star, "best_test_acc": acc.value,
                     "c_acc": acc.c, "t_star_loss": loss.t_star, "min_test_loss": loss.value,
                     "c_loss": loss.c})

    c_mean = float(np.exp(np.mean([np.log(r["c_acc"]) for r in rows])))
    verdicts = [solvers.lam_opt_verdict(flow, k_test, y_test, budget=budget, c=c_mean)
                for budget in config["budgets"]]
    os.makedirs(out_dir, exist_ok=True)
    print(f"Infinite-width depth-{config['depth']} ReLU net, MSE, {config['n_train']} train / "
          f"{config['n_test']} test Fashion-MNIST images, lr = {lr}")
    print(f"{'lam':>8} {'t* (steps)':>12} {'best acc':>9} {'c=lam lr t*':>12} "
          f"{'t*_loss':>10} {'min loss':>9}")
    for r in rows:
        print(f"{r['lam']:8.0e} {r['t_star_acc']:12.4g} {r['best_test_acc']:9.4f} "
              f"{r['c_acc']:12.4g} {r['t_star_loss']:10.4g} {r['min_test_loss']:9.4f}")
    print(f"\nc (geometric mean over lam) = {c_mean:.4g}")
    for budget, verdict in zip(config["budgets"], verdicts):
        print(f"  step budget T = {budget:8.0f}: lam_opt = c/(lr T) = {verdict.lam_opt:.3g}: "
              + ("meaningful" if verdict.meaningful else "NOT meaningful: "
                 + "; ".join(verdict.reasons)))

    fig, ax = plt.subplots(figsize=(6, 4))
    for lam, pk in curves.items():
        ax.plot(lam * lr * pk.t, pk.curve, label=f"lam = {lam:g}")
        ax.plot([lam * lr * pk.t_star], [pk.value], "k.", ms=6)
    ax.set_xscale("log")
    ax.set_xlabel("lam * lr * t")
    ax.set_ylabel("predicted test accuracy")
    ax.set_title(f"Infinite-width depth-{config['depth']} ReLU, L2 gradient flow (dots: t*)")
    ax.legend()
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(out_dir, f"demo_test_accuracy.{ext}"))
    with open(os.path.join(out_dir, "demo_curves.csv"), "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["lam", "lr", "t_steps", "lam_lr_t", "test_acc"])
        for lam, pk in curves.items():
            for ti, vi in zip(pk.t, pk.curve):
                writer.writerow([lam, lr, f"{ti:.8g}", f"{lam * lr * ti:.8g}", f"{vi:.6f}"])
    summary = {"config": config, "rows": rows, "c_geometric_mean": c_mean,
               "lam_opt": [v.summary() for v in verdicts],
               "runtime_s": time.perf_counter() - start, "machine": platform.platform(),
               "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    with open(os.path.join(out_dir, "demo_summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    print(f"\nwrote {out_dir}/demo_test_accuracy.png (.pdf), demo_curves.csv, demo_summary.json "
          f"in {summary['runtime_s']:.1f} s")
    return summary


def main(argv=None) -> int:
    parser = Parser(prog="l2theory demo", description=__doc__)
    parser.add_argument("--out", default="out/demo", metavar="DIR",
                        help="output folder for the figure, CSV and JSON [default: out/demo]")
    parser.add_argument("--n-train", type=int, default=CONFIG["n_train"], metavar="N",
                        help="training points (kernel matrices are N x N; at most 2000, the "
                             f"shipped subset) [default: {CONFIG['n_train']}]")
    args = parser.parse_args(argv)
    if not 10 <= args.n_train <= 2000:
        raise ValueError(f"--n-train={args.n_train}: must be in [10, 2000] (at least one image "
                         "per class, at most the shipped subset's 2000); e.g. --n-train 1000")
    check_out(args.out)  # tried before any work: nothing is computed for a folder not written
    config = dict(CONFIG, n_train=args.n_train)
    run(args.out, config)
    return 0
