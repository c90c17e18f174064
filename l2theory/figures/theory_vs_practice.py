"""Theory vs practice: finite-width ReLU nets trained by GD against the exact infinite-width L2
gradient flow, by width; the linearized network beside them.

What it shows: (a) the relative distance between the network's and the flow's test outputs
(``experiments.theory_vs_practice``: same f0, over ``lam lr t`` in a window) falls with width,
about like ``width^(-1/2)``; the linearized network (empirical NTK at init, constant kernel) is
shown too; (b) the network's test loss against ``lam lr t`` for each width, with the exact flow
(the theory); (c) the late-time contrast of infinite-width theory with f0 = 0 (ensemble mean):
the L2 flow with kernel decay collapses (test loss back to the loss of f = 0) while the
linearized flow (constant kernel) tends to a ridge-like fixed point.

Must hold: the distance falls with width (the per-seed exponent of ``distance ~ width^p`` below
0, a 95% t-interval over seeds).

Presets: ``quick`` (CPU, 45 s on 2 CPU cores): widths 128-2048, 64 train / 256 test points of
the shipped Fashion-MNIST subset, depth 3, lam 1e-2, lr 0.5, 2 seeds; ``paper``: widths up to
8192 on MNIST points (GPU, minutes).
Files in ``DIR/theory_vs_practice/`` (``--out DIR``): ``theory_vs_practice.png/.pdf``,
``theory_vs_practice_distance.csv`` (distances by width), ``theory_vs_practice_curves.csv``
(test loss net/flow vs ``lam lr t``), ``theory_vs_practice_late.csv`` (flow vs linearized,
f0 = 0), ``theory_vs_practice.json``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from l2theory.figures import _common, _report, make_all

NAME = "theory_vs_practice"

# units: lam (L2 coefficient), lr (per step), window/late_tau in lam lr t, sizes in examples
CONFIGS = {
    "quick": {"dataset": "fashion_mnist_subset", "widths": [128, 512, 2048], "depth": 3,
              "lam": 1e-2, "lr": 0.5, "n_train": 64, "n_test": 256, "seeds": [0, 1],
              "window": [0.05, 4.0], "n_records": 48, "late_tau_max": 30.0},
    "paper": {"dataset": "mnist", "widths": [256, 1024, 4096, 8192], "depth": 3,
              "lam": 1e-2, "lr": 0.5, "n_train": 256, "n_test": 1000, "seeds": [0, 1, 2],
              "window": [0.05, 4.0], "n_records": 64, "late_tau_max": 30.0},
}
TINY = {"widths": [16, 64], "n_train": 16, "n_test": 32, "seeds": [0], "n_records": 8,
        "window": [0.05, 1.0]}


def late_contrast(config: dict, ds) -> list[dict]:
    """Infinite-width test loss vs ``lam lr t`` with f0 = 0: L2 flow (kernel decay) and the
    linearized flow (constant kernel)."""
    from l2theory import data, kernels, solvers
    from l2theory.experiments import prepare_data

    x_tr, l_tr, x_te, l_te, k, _ = prepare_data(ds, n_train=config["n_train"],
                                                n_test=config["n_test"])
    y_tr = data.one_hot(l_tr, k, centered=True).astype(np.float64)
    y_te = data.one_hot(l_te, k, centered=True).astype(np.float64)
    depth, lam, lr = config["depth"], config["lam"], config["lr"]
    _, k_tt = kernels.fc_relu(x_tr.astype(np.float64), depth=depth)
    _, k_st = kernels.fc_relu(x_te.astype(np.float64), x_tr.astype(np.float64), depth=depth)
    k_tt, k_st = np.asarray(k_tt, np.float64), np.asarray(k_st, np.float64)
    tau = np.geomspace(1e-2, config["late_tau_max"], 80)
    t = tau / (lam * lr)
    flow = solvers.L2GradientFlow(k_tt, y_tr, lam=lam, lr=lr, degree=depth)
    lin = solvers.LinearizedL2Flow(k_tt, y_tr, np.zeros_like(y_tr), lam=lam, lr=lr,
                                   degree=depth)
    f_flow = np.asarray(flow.predict_test(t, k_st))
    f_lin = np.asarray(lin.predict_test(t, k_st, f0_test=np.zeros_like(y_te)))
    loss = lambda f: np.mean(0.5 * np.sum((f - y_te) ** 2, -1), -1)  # noqa: E731
    acc = lambda f: np.mean(np.argmax(f, -1) == l_te, -1)  # noqa: E731
    return [{"lam_lr_t": float(a), "test_loss_flow": float(b), "test_loss_linearized": float(c),
             "test_acc_flow": float(d), "test_acc_linearized": float(e)}
            for a, b, c, d, e in zip(tau, loss(f_flow), loss(f_lin), acc(f_flow), acc(f_lin))]


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out``; ``progress``: one line per width and seed on stderr."""
    with _common.x64():
        return _run(_common.FigureRun(NAME, config, out), progress)


def _run(job: _common.FigureRun, progress: bool) -> dict:
    import matplotlib.ticker as mpl_ticker

    from l2theory import experiments as ex

    config, plt = job.config, job.plt
    subset = config["dataset"] == "fashion_mnist_subset"
    ds = job.dataset(standardize=False, n_train=None if subset else 10 * config["n_train"],
                     n_test=None if subset else 10 * config["n_test"])
    r = ex.theory_vs_practice(ds, widths=config["widths"], depth=config["depth"],
                              lam=config["lam"], lr=config["lr"], n_train=config["n_train"],
                              n_test=config["n_test"], seeds=config["seeds"],
                              window=tuple(config["window"]), n_records=config["n_records"],
                              progress=progress)
    late = late_contrast(config, ds)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    w = np.array([e["width"] for e in r["per_width"]])
    dist_rows = []
    for key, label, m in (("distance_mean", "net vs L2 flow (mean over window)", "o-"),
                          ("distance_max", "net vs L2 flow (max)", "s--"),
                          ("distance_linearized_mean", "net vs linearized (mean)", "^:")):
        axes[0].plot(w, [e[key] for e in r["per_width"]], m, label=label)
    d0 = r["per_width"][0]["distance_mean"]
    axes[0].plot(w, d0 * (w / w[0]) ** -0.5, "k-", lw=0.8, label=r"$\propto$ width$^{-1/2}$")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xticks(w, [str(int(x)) for x in w])  # the widths only: no overlapping labels
    axes[0].xaxis.set_minor_locator(mpl_ticker.NullLocator())
    axes[0].set_xlabel("width")
    axes[0].set_ylabel(r"$\|f_\mathrm{net} - f_\mathrm{theory}\| / \|f_\mathrm{theory}\|$"
                       " (test outputs)")
    axes[0].set_title("(a) distance to the theory vs width" + (
        f" (fitted exponent {r['width_exponent']['distance_mean']:.2f})"
        if r["width_exponent"] else ""), fontsize=9)
    _common.legend_outside(axes[0])
    for e in r["per_width"]:
        dist_rows.append({k: e[k] for k in ("width", "distance_mean", "distance_max",
                                            "distance_gd_limit_mean", "distance_linearized_mean",
                                            "distance_linearized_max", "t_star_net",
                                            "t_star_flow", "t_star_linearized")})
    tau = np.array(r["curves"]["tau"])
    curve_rows = []
    for i, width in enumerate(r["config"]["widths"]):
        c = r["curves"][str(width)]
        keep = tau > 0
        line, = axes[1].plot(tau[keep], np.array(c["test_loss_net"])[keep], lw=1,
                             label=f"network, width {width}")
        if i == len(r["config"]["widths"]) - 1:
            axes[1].plot(tau[keep], np.array(c["test_loss_flow"])[keep], "k--", lw=1.2,
                         label="infinite-width L2 flow (same f0)")
        for a, b, d in zip(tau, c["test_loss_net"], c["test_loss_flow"]):
            curve_rows.append({"width": width, "lam_lr_t": float(a), "test_loss_net": b,
                               "test_loss_flow": d})
    axes[1].set_xscale("log")
    axes[1].set_yscale("log")  # the minima (t*) are not squashed under the early losses
    axes[1].set_xlabel(_common.label("natural"))
    axes[1].set_ylabel("test loss (MSE, log scale)")
    axes[1].set_title("(b) networks (seed 0) and the infinite-width flow", fontsize=9)
    _common.legend_outside(axes[1])
    lt = [x["lam_lr_t"] for x in late]
    axes[2].plot(lt, [x["test_loss_flow"] for x in late], "k-", label="L2 flow (kernel decay)")
    axes[2].plot(lt, [x["test_loss_linearized"] for x in late], "r--",
                 label="linearized (constant kernel)")
    axes[2].set_xscale("log")
    axes[2].set_xlabel(_common.label("natural"))
    axes[2].set_ylabel(r"test loss (MSE), $f_0 = 0$")
    axes[2].set_title("(c) late times, infinite width: L2 flow vs linearized", fontsize=9)
    _common.legend_outside(axes[2])
    fig.suptitle(f"Theory vs practice: bias-free depth-{config['depth']} ReLU nets, "
                 f"$\\lambda$ = {config['lam']:g}, $\\eta$ = {config['lr']:g}, full-batch GD, "
                 f"{r['config']['data']}")
    fig.tight_layout()
    job.save_figure(fig)
    job.save_csv("distance", dist_rows)
    job.save_csv("curves", curve_rows)
    job.save_csv("late", late)
    for row in dist_rows:
        print(f"   width {row['width']:>6}: distance mean {row['distance_mean']:.3f} max "
              f"{row['distance_max']:.3f}; t* net {row['t_star_net']:.1f} flow "
              f"{row['t_star_flow']:.1f}")
    r.pop("curves", None)
    return job.finish({**r, "late_f0_zero": late[-1]})


def caption(summary: dict) -> str:
    """What the figure shows, for ``REPORT.md``."""
    cfg, r = summary["config"], summary["results"]
    d = ", ".join(f"{e['distance_mean']:.3f} at width {e['width']}" for e in r["per_width"])
    return (f"Bias-free depth-{cfg['depth']} ReLU nets (NTK parameterization, MSE on centred "
            f"one-hot targets) trained by full-batch GD on {cfg['n_train']} {cfg['dataset']} "
            f"points (lam {cfg['lam']:g}, lr {cfg['lr']:g}, seeds {_common.numbers(cfg['seeds'])})"
            f" against the exact infinite-width L2 flow started from each network's own "
            f"outputs. (a) relative distance of the test outputs over lam lr t in "
            f"[{cfg['window'][0]:g}, {cfg['window'][1]:g}] (mean over seeds): {d}; the linearized "
            f"network (empirical NTK at init) beside it. (b) test loss of each network (seed 0) "
            f"and of the flow. (c) infinite width with f0 = 0: the L2 flow collapses at late "
            f"times, the linearized flow (constant kernel) does not.")


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: the distances and t* by width; must hold: the
    distance falls with width."""
    r = summary["results"]
    lines = ["### Theory vs practice (finite width vs exact infinite-width flow)\n",
             _report.caption_line(NAME, caption(summary)),
             "| width | distance mean | distance max | vs infinite-width GD | vs linearized | "
             "t* net | t* flow |", "|---|---|---|---|---|---|---|"]
    for e in r["per_width"]:
        lines.append(f"| {e['width']} | {e['distance_mean']:.3f} | {e['distance_max']:.3f} | "
                     f"{e['distance_gd_limit_mean']:.3f} | "
                     f"{_common.num(e.get('distance_linearized_mean'))} | "
                     f"{e['t_star_net']:.1f} | {e['t_star_flow']:.1f} |")
    if r.get("width_exponent"):
        lines.append(f"\nwidth exponent of the mean distance: "
                     f"{r['width_exponent']['distance_mean']:.2f} (expected ~ -0.5)\n")
    return _report.Report(lines, [_report.distance_claim(r["per_width"], "widths",
                                                         "theory_vs_practice")])


def main(argv=None) -> int:
    """``python -m l2theory.figures.theory_vs_practice``: the figures command for this figure
    alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
