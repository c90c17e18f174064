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

Presets: ``quick`` (CPU, 20 s on 2 CPU cores): FC-32x3 (784-32-32-10, 26432 parameters), NTK
parameterization, MSE, full-batch GD at lr 1 on 100 points of the shipped Fashion-MNIST subset
(d = 784 > n = 100), lam 1e-3 .. 0.1, k = 6, 100 Lanczos steps. ``paper`` (GPU): FC-256x3 on
500 MNIST points, lam 3e-4 .. 3e-2, natural times up to 100, k = 8, 300 Lanczos steps.
Measured numbers: ``docs/figures.md``.

Files in ``DIR/hessian/`` (``--out DIR``): ``hessian.png/.pdf``, ``hessian_rows.csv`` (per lam
and natural time: steps, data loss, gradient norm, ``||theta||^2``, the flat direction's
curvature over lam, the lowest Ritz value over lam, negatives), ``hessian_eigs.csv`` (every Ritz
value with its residual), ``hessian.json``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from l2theory.figures import _common, _report, make_all

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
    job = _common.FigureRun(NAME, config, out)
    plt = job.plt
    from l2theory import experiments as ex

    with _common.x64():
        ds = job.dataset(n_test=min(100, config["n_train"]))
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
    job.save_figure(fig)
    job.save_csv("rows", [
        {k: row[k] for k in ("lam", "late_tau", "steps", "train_loss", "zero_output_loss",
                             "collapsed", "grad_norm", "param_norm_sq", "flat_ratio",
                             "min_ratio", "n_negative", "n_at_lam")} for row in rows])
    job.save_csv("eigs", [
        {"lam": row["lam"], "late_tau": row["late_tau"], "index": i, "eigenvalue": v,
         "ratio": v / row["lam"], "residual": res}
        for row in rows for i, (v, res) in enumerate(zip(row["eigenvalues"], row["residuals"]))])
    for row in last:
        print(f"   lam {row['lam']:<7g} at lam lr t = {row['late_tau']:g} ({row['steps']} steps): "
              f"data loss {row['train_loss']:.4f}{' (collapsed)' if row['collapsed'] else ''}, "
              f"lowest Ritz values / lam {_common.numbers(row['ratio'], '.3f')}")
    return job.finish({**r, "rows": rows})


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: the lowest Ritz values per lam and time; must
    hold: flat directions at curvature lam (``FLAT_RTOL``), collapsed nets' lowest eigenvalues at
    lam (``AT_LAM_RTOL``)."""
    num, numbers = _common.num, _common.numbers
    r, cfg = summary["results"], summary["config"]
    rows = r["rows"]
    lines = [f"### Hessian late in training ({cfg.get('title')})\n",
             "*Caption:* the lowest Ritz values (Lanczos on Hessian-vector products, "
             f"{cfg.get('num_lanczos')} steps, float64) of the Hessian of the L2-regularized "
             "training loss, in units of lam, after full-batch GD to natural times lam lr t = "
             f"{numbers(r['late_taus'], 'g')}; 'flat' is v.Hv/lam along a first-layer "
             "direction orthogonal to every training input (flat for the data loss); a net has "
             f"collapsed when its data loss is within {COLLAPSE_RTOL:g} (relative) of the loss "
             "of f = 0. Lanczos from one start vector sees a repeated eigenvalue once: a "
             "collapsed net (H = lam I) shows one value.\n",
             "| lam | lam lr t | steps | data loss | grad norm | flat: v.Hv/lam - 1 | lowest Ritz "
             "values / lam |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        flat = row.get("flat_ratio")
        lines.append(f"| {row['lam']:g} | {row['late_tau']:g} | {row['steps']} | "
                     f"{row['train_loss']:.4f}{' (collapsed)' if row['collapsed'] else ''} | "
                     f"{row['grad_norm']:.2g} | {num(None if flat is None else flat - 1, '.1e')} | "
                     f"{numbers(row['ratio'], '.3f')} |")
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
                     f"{numbers([row['lam'] for row in dead])}; there every lowest Ritz "
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
    return _report.Report(lines, [
        _report.Claim("L2 lifts the flat data directions to curvature lam exactly (v.Hv = lam "
                      "along a first-layer direction orthogonal to the training inputs, every "
                      "lam and time)", _report.pass_fail(None if dev is None else
                                                         dev <= FLAT_RTOL),
                      f"max |v.Hv/lam - 1| = {num(dev, '.1e')} over {len(flats)} points"),
        _report.Claim(f"late in training (lam lr t = {r['late_taus'][-1]:g}), once the net has "
                      f"collapsed to f = 0, the lowest Hessian eigenvalues equal lam (the "
                      f"{cfg.get('k')} lowest Ritz values within {AT_LAM_RTOL:g})",
                      _report.pass_fail(None if worst is None else worst <= AT_LAM_RTOL),
                      f"max |eigenvalue/lam - 1| = {num(worst, '.1e')} over {len(dead)} "
                      "collapsed nets; not collapsed (bottom below lam, see Numbers): "
                      f"{len(live)}")])


def main(argv=None) -> int:
    """``python -m l2theory.figures.hessian``: the figures command for this figure alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
