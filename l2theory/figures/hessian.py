"""The bottom of the Hessian spectrum late in training against lam: where L2 lifts the flat
directions to curvature lam, and where it does not at finite time.

What it shows (docs/conventions.md, relation 5: late in training many directions of the data loss
are flat; L2 lifts them to curvature ``lam``, so the slowest relaxation time of gradient descent
is ``1/(lr lam)`` steps). A bias-free ReLU FC net is trained by full-batch GD at each lam; at
natural times ``lam lr t`` = 1, 3, 10, 30 (one run per lam, continued) the lowest ``k`` eigenvalues
of the Hessian of the regularized training loss are computed by Lanczos with full
reorthogonalization on Hessian-vector products (``experiments.hessian_vs_lam``; float64). Panels:
(a) the lowest Ritz value over lam against the natural time, (b) the training data loss (the loss
of ``f = 0`` dashed: a net there has collapsed), (c) the ``k`` lowest Ritz values at the latest
time against lam (absolute values; open markers: negative), with the line ``lam``.

Checks: (1) a direction that changes the first layer orthogonally to every training input (flat
for the data loss to all orders; there are ``width (d - n)`` of them) has curvature ``v.Hv = lam``
exactly; (2) once a net has collapsed to ``f = 0`` (data loss within 0.1% of ``f = 0``'s) the bottom
of the spectrum is ``lam``: the ``k`` lowest Ritz values within 1% of lam. Where a net has learned
and not collapsed, the lowest Ritz values are *below* lam, negative by an amount of order lam
at every time measured: the run drifts near a saddle of the regularized loss; the slowest
relaxation (or escape) time is then ``1/(lr |eigenvalue|)``, not ``1/(lr lam)``. The report
lists these numbers.

``--preset quick`` (CPU): FC-32x3 (784-32-32-10, 26432 parameters), NTK parameterization,
MSE, full-batch GD at lr 1 on 100 points of the shipped Fashion-MNIST subset (d = 784 > n = 100),
lam 1e-3 .. 0.1, k = 6, 100 Lanczos steps. ``--preset paper`` (GPU): FC-256x3 on 500 MNIST
points, lam 3e-4 .. 3e-2, natural times up to 100, k = 8, 300 Lanczos steps (not yet run).

Measured (``--preset quick``, 22 s on 2 shared CPU cores, load 1.2-2): flat directions v.Hv/lam -
1 <= 2.2e-16 at all 20 points; at lam lr t = 30 the nets at lam 1e-2, 3e-2, 0.1 have collapsed
(data loss 0.4500 = f = 0's) and their lowest Ritz values are lam to 2e-16 (H = lam I); the nets
at lam 1e-3 and 3e-3 have learned (data loss 0.024, 0.214) and all 6 lowest Ritz values are
negative, down to -1.00 lam and -0.84 lam (-2.4 lam and -1.6 lam at lam lr t = 1); on the way to
the collapse (lam lr t = 3) the bottom is 0.93 lam (lam 3e-2) and 0.98 lam (0.1).

Outputs (``--out``, default
``out/figures/hessian/``): ``hessian.png/.pdf``, ``hessian_rows.csv`` (per lam and natural time:
steps, data loss, gradient norm, ``||theta||^2``, the flat direction's curvature over lam, the
lowest Ritz value over lam, negatives), ``hessian_eigs.csv`` (every Ritz value with its residual),
``hessian.json``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from l2theory.figures import _common

NAME = "hessian"

_FC = dict(model="fc", depth=3, width=32, bias=False, parameterization="ntk", loss="mse",
           dtype="float64")
FLAT_RTOL = 1e-8      # v.Hv / lam - 1 along an exactly flat data direction
COLLAPSE_RTOL = 1e-3  # data loss within this of f = 0's: the net has collapsed
AT_LAM_RTOL = 0.01    # a collapsed net's k lowest Ritz values within this of lam

CONFIGS = {
    "quick": {"title": "FC-32x3 (bias-free ReLU, NTK param., MSE, full-batch GD, lr 1, float64) "
                       "on 100 Fashion-MNIST subset points",
              "dataset": "fashion_mnist_subset", "n_train": 100, "model": _FC, "lr": 1.0,
              "lams": [1e-3, 3e-3, 1e-2, 3e-2, 0.1], "late_taus": [1.0, 3.0, 10.0, 30.0],
              "k": 6, "num_lanczos": 100},
    "paper": {"title": "FC-256x3 (bias-free ReLU, NTK param., MSE, full-batch GD, lr 1, "
                       "float64) on 500 MNIST points",
              "dataset": "mnist", "n_train": 500, "model": dict(_FC, width=256), "lr": 1.0,
              "lams": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
              "late_taus": [1.0, 3.0, 10.0, 30.0, 100.0], "k": 8, "num_lanczos": 300},
}
TINY = {"n_train": 20, "model": dict(_FC, width=8), "lams": [0.01, 0.1],
        "late_taus": [1.0, 5.0], "k": 3, "num_lanczos": 30}


def collapsed(row: dict) -> bool:
    """The run has collapsed to ``f = 0``: its data loss is within ``COLLAPSE_RTOL`` of the
    loss of zero outputs."""
    return abs(row["train_loss"] - row["zero_output_loss"]) <= COLLAPSE_RTOL * row[
        "zero_output_loss"]


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out`` (``progress`` unused: one line per lam)."""
    out = _common.out_dir(NAME, out)  # created first: a bad --out fails before any work
    plt = _common.setup_matplotlib()
    from l2theory import experiments as ex
    from l2theory import x64

    _common.print_config(NAME, config)
    start = time.perf_counter()
    with x64():
        ds = _common.load_dataset(config["dataset"], n_train=config["n_train"],
                                  n_test=min(100, config["n_train"]))
        cfg = _common.train_config(config["model"]).replace(lr=config["lr"])
        r = ex.hessian_vs_lam(cfg, ds, lams=config["lams"], late_tau=config["late_taus"],
                              k=config["k"], method="lanczos",
                              num_lanczos=config["num_lanczos"])
    rows = r["rows"]
    for row in rows:
        row["collapsed"] = collapsed(row)
        row["flat_ratio"] = (None if row["flat_direction_curvature"] is None
                             else row["flat_direction_curvature"] / row["lam"])
    lams = sorted({row["lam"] for row in rows})
    taus = r["late_taus"]

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.4))
    cmap = plt.get_cmap("viridis")
    colors = {lam: cmap(i / max(1, len(lams) - 1)) for i, lam in enumerate(lams)}
    for lam in lams:
        mine = [row for row in rows if row["lam"] == lam]
        t = [row["late_tau"] for row in mine]
        axes[0].plot(t, [row["min_ratio"] for row in mine], "o-", color=colors[lam],
                     label=f"$\\lambda$ = {lam:g}")
        axes[0].fill_between(t, [row["min_ratio"] for row in mine],
                             [max(row["ratio"]) for row in mine], color=colors[lam], alpha=0.12)
        axes[1].plot(t, [row["train_loss"] for row in mine], "o-", color=colors[lam],
                     label=f"$\\lambda$ = {lam:g}")
    axes[0].axhline(1.0, color="k", ls="--", lw=1, label=r"eigenvalue = $\lambda$")
    axes[0].axhline(0.0, color="0.5", ls=":", lw=1)
    axes[0].set_xscale("log")
    axes[0].set_xlabel(r"$\lambda\,\eta\,t$")
    axes[0].set_ylabel(r"lowest Ritz value / $\lambda$ (band: the $k$ lowest)")
    axes[0].set_title("(a) bottom of the Hessian spectrum in units of $\\lambda$", fontsize=9)
    axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    axes[1].axhline(rows[0]["zero_output_loss"], color="k", ls="--", lw=1,
                    label="data loss of $f = 0$ (collapsed)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel(r"$\lambda\,\eta\,t$")
    axes[1].set_ylabel("training data loss (without L2)")
    axes[1].set_title("(b) which nets have collapsed to $f = 0$", fontsize=9)
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    last = [row for row in rows if row["late_tau"] == taus[-1]]
    for row in last:
        ev = np.asarray(row["eigenvalues"], np.float64)
        for sign, face in ((ev > 0, colors[row["lam"]]), (ev < 0, "none")):
            axes[2].plot(np.full(sign.sum(), row["lam"]), np.abs(ev[sign]), "o",
                         color=colors[row["lam"]], mfc=face, ls="none")
    x = np.geomspace(min(lams) / 1.5, max(lams) * 1.5, 20)
    axes[2].plot(x, x, "k--", lw=1, label=r"$\lambda$")
    axes[2].plot([], [], "o", color="0.3", label="positive Ritz value")
    axes[2].plot([], [], "o", color="0.3", mfc="none", label="negative Ritz value (|value|)")
    axes[2].set_xscale("log")
    axes[2].set_yscale("log")
    axes[2].set_xlabel(r"$\lambda$")
    axes[2].set_ylabel(f"|Ritz value|, the {r['k']} lowest")
    axes[2].set_title(f"(c) at $\\lambda\\,\\eta\\,t$ = {taus[-1]:g}", fontsize=9)
    axes[2].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    fig.suptitle(f"Lowest Hessian eigenvalues of the regularized loss - {config['title']} "
                 f"(preset {config['preset']})", fontsize=10)
    fig.tight_layout()
    files = _common.save_figure(fig, out, NAME)
    files.append(_common.save_csv(out / f"{NAME}_rows.csv", [
        {k: row[k] for k in ("lam", "late_tau", "steps", "train_loss", "zero_output_loss",
                             "collapsed", "grad_norm", "param_norm_sq", "flat_ratio",
                             "min_ratio", "n_negative", "n_at_lam")} for row in rows]))
    files.append(_common.save_csv(out / f"{NAME}_eigs.csv", [
        {"lam": row["lam"], "late_tau": row["late_tau"], "index": i, "eigenvalue": v,
         "ratio": v / row["lam"], "residual": res}
        for row in rows for i, (v, res) in enumerate(zip(row["eigenvalues"], row["residuals"]))]))
    for row in last:
        print(f"   lam {row['lam']:<7g} at lam lr t = {row['late_tau']:g} ({row['steps']} steps): "
              f"data loss {row['train_loss']:.4f}{' (collapsed)' if row['collapsed'] else ''}, "
              f"lowest Ritz values / lam {_common.numbers(row['ratio'], '.3f')}")
    return _common.save_summary(out, NAME, config, {**r, "rows": rows}, start, files)


def main(argv=None) -> int:
    return _common.main_for(__name__, NAME, __doc__, CONFIGS, TINY, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
