"""The bottom of the Hessian spectrum against lam: the paper's statement scored where it applies
(nets that learned, at their t*), and the cases where it holds by construction.

The paper's statement (docs/figures.md, "The paper's Hessian statement"; docs/conventions.md,
relation 5): late in training many directions of the data loss are flat; L2 lifts them to
curvature ``lam``, so the slowest relaxation time of gradient descent is ``1/(lr lam)`` steps:
the bottom of the Hessian spectrum of the regularized loss is ``+lam``.

- Scored (``experiments.hessian_at_t_star``): bias-free ReLU FC nets trained by full-batch GD at
  ``>= 3`` lam and ``>= 3`` seeds; at each run's ``t*`` (the step of its peak test accuracy,
  searched at ``lam lr t >= tau_min``, where L2 governs), if the net has learned (training data
  loss at most half that of ``f = 0``), the ``k`` lowest eigenvalues of the Hessian of the
  regularized training loss (Lanczos on Hessian-vector products, float64). Must hold, per lam:
  the lowest eigenvalue over lam in ``[1/2, 2]`` (a 95% t-interval over seeds): the bottom is
  ``+lam`` within a factor 2, with its sign.
- Sanity checks (hold by construction; listed apart, not evidence; ``experiments.hessian_vs_lam``
  after full-batch GD to natural times ``late_taus``): a direction that changes the first layer
  orthogonally to every training input (flat for the data loss to all orders; ``width (d - n)``
  of them) has curvature ``v.Hv = lam`` exactly; a net that has collapsed to ``f = 0`` (data loss
  within 0.1% of ``f = 0``'s) has ``H = lam I``.

Panels: (a) at t*: the lowest eigenvalue over lam per seed against lam (sign kept; open: nets
that did not learn or whose t* is at the window's edge), with ``+1`` (the statement) and 0;
(b) the late-time runs: the lowest Ritz value over lam against the natural time; (c) their data
loss (the loss of ``f = 0`` dashed: collapsed).

Presets: ``quick`` (CPU, about 40 s on 2 CPU cores): at t*: FC-32x3 (NTK parameterization,
cross-entropy, whose test loss and accuracy peak inside the run; MSE nets of this size approach
``f = 0``'s test loss from above and peak at the end) on 100 points of the shipped Fashion-MNIST
subset averaged to 14x14, 200 test points, lr 2, lam 5e-4, 1e-3, 2e-3, 5 seeds; late times:
FC-32x3 (MSE) on 100 points at 28x28 (``d = 784 > n = 100``), lam 1e-2 .. 0.1 to ``lam lr t`` =
30. ``paper`` (GPU): FC-256x3 on 500 MNIST points. Measured numbers: ``docs/figures.md``.

Files in ``DIR/hessian/`` (``--out DIR``): ``hessian.png/.pdf``, ``hessian_t_star.csv`` (per lam
and seed at t*: steps, t*, losses, accuracy, learned, the lowest eigenvalues over lam),
``hessian_rows.csv`` (the late-time runs: per lam and natural time: steps, data loss, gradient
norm, ``||theta||^2``, the flat direction's curvature over lam, the lowest Ritz value over lam,
negatives), ``hessian_eigs.csv`` (every late-time Ritz value with its residual),
``hessian.json``.
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

_T_STAR = {"n_train": 100, "n_test": 200, "downsample": 2, "model": dict(_FC, loss="xent"),
           "lr": 2.0, "lams": [5e-4, 1e-3, 2e-3], "seeds": [0, 1, 2, 3, 4], "tau_min": 0.3,
           "tau_max": 4.0, "metric": "test_acc", "smooth": 0.2, "n_records": 40, "k": 6,
           "num_lanczos": 80}
CONFIGS = {
    "quick": {"title": "FC-32x3 (bias-free ReLU, NTK param., full-batch GD, float64) on 100 "
                       "Fashion-MNIST subset points",
              "dataset": "fashion_mnist_subset", "n_train": 100, "model": _FC, "lr": 1.0,
              "lams": [1e-2, 3e-2, 0.1], "late_taus": [3.0, 10.0, 30.0],
              "k": 6, "num_lanczos": 100, "t_star": _T_STAR},
    "paper": {"title": "FC-256x3 (bias-free ReLU, NTK param., full-batch GD, lr 1, float64) "
                       "on 500 MNIST points",
              "dataset": "mnist", "n_train": 500, "model": dict(_FC, width=256), "lr": 1.0,
              "lams": [3e-3, 1e-2, 3e-2], "late_taus": [3.0, 10.0, 30.0, 100.0], "k": 8,
              "num_lanczos": 300,
              "t_star": dict(_T_STAR, n_train=500, n_test=1000, downsample=1,
                             model=dict(_FC, width=256, loss="xent"), lr=1.0,
                             lams=[3e-4, 1e-3, 3e-3], seeds=[0, 1, 2], k=8, num_lanczos=300)},
}
TINY = {"n_train": 20, "model": dict(_FC, width=8), "lams": [0.01, 0.1],
        "late_taus": [1.0, 5.0], "k": 3, "num_lanczos": 30,
        "t_star": dict(_T_STAR, n_train=20, n_test=20, model=dict(_FC, width=8, loss="xent"),
                       lams=[0.01, 0.03], seeds=[0, 1], tau_max=2.0, n_records=8, k=3,
                       num_lanczos=20)}
BAND = (0.5, 2.0)  # the lowest eigenvalue over lam at t*: +lam within a factor 2


def collapsed(row: dict) -> bool:
    """The run has collapsed to ``f = 0``: its data loss is within ``COLLAPSE_RTOL`` of the
    loss of zero outputs."""
    return abs(row["train_loss"] - row["zero_output_loss"]) <= COLLAPSE_RTOL * row[
        "zero_output_loss"]


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out`` (``progress`` unused)."""
    job = _common.FigureRun(NAME, config, out)
    plt = job.plt
    from l2theory import experiments as ex

    ts = config["t_star"]
    print(f"   t* from `{ts['metric']}` (lam lr t in [{ts['tau_min']:g}, {ts['tau_max']:g}]); "
          f"must hold: lowest eigenvalue / lam in [{BAND[0]:g}, {BAND[1]:g}] at t*")
    with _common.x64():
        ds = _common.load_dataset(config["dataset"], n_train=ts["n_train"],
                                  n_test=ts["n_test"], downsample=ts["downsample"])
        cfg = _common.train_config(ts["model"]).replace(lr=ts["lr"])
        at = ex.hessian_at_t_star(cfg, ds, lams=ts["lams"], seeds=ts["seeds"],
                                  tau_min=ts["tau_min"], tau_max=ts["tau_max"],
                                  n_records=ts["n_records"], metric=ts["metric"],
                                  smooth=ts["smooth"], k=ts["k"], method="lanczos",
                                  num_lanczos=ts["num_lanczos"])
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
    job.save_figure(_plot(plt, config, at, r))
    job.save_csv("t_star", [
        {**{k: row[k] for k in ("lam", "seed", "steps", "t_star", "lam_lr_t_star", "at_boundary",
                                "test_loss", "test_acc", "train_loss", "zero_output_loss",
                                "learned", "min_ratio", "n_negative", "grad_norm")},
         "ratios": " ".join(f"{v:.4g}" for v in row["ratio"])} for row in at["rows"]])
    job.save_csv("rows", [
        {k: row[k] for k in ("lam", "late_tau", "steps", "train_loss", "zero_output_loss",
                             "collapsed", "grad_norm", "param_norm_sq", "flat_ratio",
                             "min_ratio", "n_negative", "n_at_lam")} for row in rows])
    job.save_csv("eigs", [
        {"lam": row["lam"], "late_tau": row["late_tau"], "index": i, "eigenvalue": v,
         "ratio": v / row["lam"], "residual": res}
        for row in rows for i, (v, res) in enumerate(zip(row["eigenvalues"], row["residuals"]))])
    result = {**r, "rows": rows, "at_t_star": at}
    for claim in _claims(result):
        print(f"   {claim.line()[2:]}")
    return job.finish(result)


def _used(row: dict) -> bool:
    """A run the statement applies to: it learned, and its t* is inside the window."""
    return row["learned"] and not row["at_boundary"]


def _plot(plt, config, at, r):
    import matplotlib.ticker as mpl_ticker

    rows = r["rows"]
    lams = sorted({row["lam"] for row in rows})
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.6))
    cmap = plt.get_cmap("viridis")
    # (a) at t*: lowest eigenvalue / lam per seed, sign kept
    ax = axes[0]
    t_lams = sorted({row["lam"] for row in at["rows"]})
    for j, lam in enumerate(t_lams):
        mine = [row for row in at["rows"] if row["lam"] == lam]
        for i, row in enumerate(mine):
            x = lam * 1.06 ** (i - (len(mine) - 1) / 2)
            ax.plot([x], [row["min_ratio"]], "o", color="C3" if row["min_ratio"] < 0 else "C2",
                    mfc=None if _used(row) else "none", ms=6)
        used = [row["min_ratio"] for row in mine if _used(row)]
        if len(used) > 1:
            ax.errorbar([lam], [np.mean(used)], yerr=[_half_width(used)], fmt="_", color="k",
                        ms=18, capsize=4, lw=1.2)
    ax.axhline(1.0, color="k", ls="--", lw=1, label=r"$+\lambda$: the paper's statement")
    ax.axhspan(*BAND, color="C2", alpha=0.08, label=f"must hold: [{BAND[0]:g}, {BAND[1]:g}]")
    ax.axhline(0.0, color="0.5", ls=":", lw=1)
    signs = {row["min_ratio"] < 0 for row in at["rows"]}
    if True in signs:  # a legend entry only for what is drawn
        ax.plot([], [], "o", color="C3", label="negative (per seed)")
    if False in signs:
        ax.plot([], [], "o", color="C2", label="positive (per seed)")
    if not all(_used(row) for row in at["rows"]):
        ax.plot([], [], "o", color="0.4", mfc="none", label="not learned / t* at the edge")
    ax.plot([], [], "_", color="k", ms=14, label="mean, 95% CI over seeds")
    ax.set_xscale("log")
    ax.set_xticks(t_lams, [f"{lam:g}" for lam in t_lams])
    ax.xaxis.set_minor_locator(mpl_ticker.NullLocator())
    ax.set_xlabel(_common.label("lam"))
    ax.set_ylabel(r"lowest eigenvalue / $\lambda$ at $t^*$")
    ts = config["t_star"]
    ax.set_title(f"(a) at each run's t* (peak {at['metric'].replace('_', ' ')}): FC-"
                 f"{ts['model']['width']}x{ts['model']['depth']}, {ts['model']['loss']}, "
                 f"{ts['n_train']} points", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    colors = {lam: cmap(i / max(1, len(lams) - 1)) for i, lam in enumerate(lams)}
    for lam in lams:
        mine = [row for row in rows if row["lam"] == lam]
        t = [row["late_tau"] for row in mine]
        axes[1].plot(t, [row["min_ratio"] for row in mine], "o-", color=colors[lam],
                     label=f"$\\lambda$ = {lam:g}")
        axes[1].fill_between(t, [row["min_ratio"] for row in mine],
                             [max(row["ratio"]) for row in mine], color=colors[lam], alpha=0.12)
        axes[2].plot(t, [row["train_loss"] for row in mine], "o-", color=colors[lam],
                     label=f"$\\lambda$ = {lam:g}")
    axes[1].axhline(1.0, color="k", ls="--", lw=1, label=r"eigenvalue = $\lambda$")
    axes[1].axhline(0.0, color="0.5", ls=":", lw=1)
    taus = r["late_taus"]
    for ax in axes[1:]:
        ax.set_xscale("log")
        ax.set_xticks(taus, [f"{t:g}" for t in taus])
        ax.xaxis.set_minor_locator(mpl_ticker.NullLocator())
    axes[1].set_xlabel(_common.label("natural"))
    axes[1].set_ylabel(r"lowest Ritz value / $\lambda$ (band: the $k$ lowest)")
    axes[1].set_title("(b) late times (sanity: collapsed nets have H = $\\lambda$ I)",
                      fontsize=9)
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    axes[2].axhline(rows[0]["zero_output_loss"], color="k", ls="--", lw=1,
                    label="data loss of $f = 0$ (collapsed)")
    axes[2].set_xlabel(_common.label("natural"))
    axes[2].set_ylabel("training data loss (without L2)")
    axes[2].set_title("(c) late times: which nets have collapsed to $f = 0$", fontsize=9)
    axes[2].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    fig.suptitle(f"Lowest Hessian eigenvalues of the regularized loss - {config['title']} "
                 f"(preset {config['preset']})", fontsize=10)
    fig.tight_layout()
    return fig


def _half_width(values) -> float:
    from l2theory import experiments as ex

    c = ex.claim_within(values, -np.inf, np.inf)
    return 0.0 if c.ci is None else (c.ci[1] - c.ci[0]) / 2


def _claims(r: dict) -> list[_report.Claim]:
    """Must hold: per lam, the lowest eigenvalue at t* over lam in ``BAND`` (nets that learned,
    t* inside the window; a 95% t-interval over seeds). Sanity checks: flat directions at
    curvature lam, collapsed nets at H = lam I."""
    from l2theory import experiments as ex

    num = _common.num
    at = r["at_t_star"]
    claims = []
    for lam in sorted({row["lam"] for row in at["rows"]}):
        mine = [row for row in at["rows"] if row["lam"] == lam]
        used = [row for row in mine if _used(row)]
        c = ex.claim_within([row["min_ratio"] for row in used], *BAND)
        neg = sum(row["n_negative"] for row in used)
        claims.append(_report.Claim.of(
            f"at t*, the lowest Hessian eigenvalue of the regularized loss is +lam (ratio to lam "
            f"in [{BAND[0]:g}, {BAND[1]:g}]; lam {lam:g}, nets that learned)", c,
            f"per seed {_common.numbers([row['min_ratio'] for row in used], '.2f')} "
            f"(lam lr t* {_common.numbers([row['lam_lr_t_star'] for row in used], '.2f')}); "
            f"{neg} of {sum(len(row['eigenvalues']) for row in used)} lowest eigenvalues "
            f"negative; left out: {len(mine) - len(used)} (not learned or t* at the edge)",
            fmt=".2f"))
    rows = r["rows"]
    flats = [row["flat_ratio"] for row in rows if row.get("flat_ratio") is not None]
    dev = max((abs(v - 1) for v in flats), default=None)
    last = [row for row in rows if row["late_tau"] == r["late_taus"][-1]]
    dead = [row for row in last if row["collapsed"]]
    worst = max((max(abs(v - 1) for v in row["ratio"]) for row in dead), default=None)
    claims += [
        _report.Claim.sanity(
            "an exactly flat data direction (first-layer change orthogonal to every training "
            "input) has curvature lam: v.Hv = lam", _report.pass_fail(
                None if dev is None else dev <= FLAT_RTOL),
            f"max |v.Hv/lam - 1| = {num(dev, '.1e')} over {len(flats)} points"),
        _report.Claim.sanity(
            f"a net collapsed to f = 0 (late, lam lr t = {r['late_taus'][-1]:g}) has H = lam I "
            f"(the lowest Ritz values within {AT_LAM_RTOL:g} of lam)",
            _report.pass_fail(None if worst is None else worst <= AT_LAM_RTOL),
            f"max |eigenvalue/lam - 1| = {num(worst, '.1e')} over {len(dead)} collapsed nets")]
    return claims


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: the lowest eigenvalues at t* per lam and seed, and
    the late-time runs; must hold: the lowest eigenvalue at t* is +lam within a factor 2 (per
    lam); sanity: flat directions and collapsed nets."""
    num, numbers = _common.num, _common.numbers
    r, cfg = summary["results"], summary["config"]
    at = r["at_t_star"]
    ts = cfg["t_star"]
    lines = [f"### Hessian ({cfg.get('title')})\n",
             "*Caption:* (a) at each run's t* (the step of peak "
             f"`{at['metric'] if 'metric' in at else ts['metric']}`, searched at lam lr t in "
             f"[{at['tau_min']:g}, {at['tau_max']:g}]) the lowest eigenvalue of the Hessian of "
             "the L2-regularized training loss over lam, per seed, sign kept (Lanczos on "
             f"Hessian-vector products, {ts['num_lanczos']} steps, float64): FC-"
             f"{ts['model']['width']}x{ts['model']['depth']} with {ts['model']['loss']} on "
             f"{ts['n_train']} points, lr {ts['lr']:g}; a net has learned when its training "
             f"data loss at t* is at most {at['learned_fraction']:g} times that of f = 0. "
             "(b, c) late-time runs (MSE) to lam lr t = "
             f"{numbers(r['late_taus'], 'g')}: lowest Ritz values over lam and the data loss; "
             "'flat' is v.Hv/lam along a first-layer direction orthogonal to every training "
             f"input; a net has collapsed when its data loss is within {COLLAPSE_RTOL:g} "
             "(relative) of the loss of f = 0. Lanczos from one start vector sees a repeated "
             "eigenvalue once: a collapsed net (H = lam I) shows one value.\n",
             "At t*:\n",
             "| lam | seed | steps | lam lr t* | test acc | data loss (f = 0) | learned | lowest "
             "eigenvalues / lam |", "|---|---|---|---|---|---|---|---|"]
    for row in at["rows"]:
        lines.append(f"| {row['lam']:g} | {row['seed']} | {row['steps']} | "
                     f"{row['lam_lr_t_star']:.3g}{' (edge)' if row['at_boundary'] else ''} | "
                     f"{row['test_acc']:.3f} | {row['train_loss']:.4f} "
                     f"({row['zero_output_loss']:.3f}) | {'yes' if row['learned'] else 'no'} | "
                     f"{numbers(row['ratio'], '.3f')} |")
    lines += ["", "Late times:\n",
              "| lam | lam lr t | steps | data loss | grad norm | flat: v.Hv/lam - 1 | lowest "
              "Ritz values / lam |", "|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        flat = row.get("flat_ratio")
        lines.append(f"| {row['lam']:g} | {row['late_tau']:g} | {row['steps']} | "
                     f"{row['train_loss']:.4f}{' (collapsed)' if row['collapsed'] else ''} | "
                     f"{row['grad_norm']:.2g} | {num(None if flat is None else flat - 1, '.1e')} | "
                     f"{numbers(row['ratio'], '.3f')} |")
    used = [row for row in at["rows"] if _used(row)]
    lines.append("")
    if used:
        neg = [row for row in used if row["min_ratio"] < 0]
        lines.append(f"- at t*, {len(neg)} of {len(used)} nets that learned have a negative "
                     "lowest eigenvalue (from "
                     f"{min(row['min_ratio'] for row in used):.2f} lam to "
                     f"{max(row['min_ratio'] for row in used):.2f} lam): there the run drifts "
                     "near a saddle of the regularized loss; the slowest escape time is "
                     "1/(lr |eigenvalue|), not the relaxation time 1/(lr lam) of the statement")
    lines.append("")
    return _report.Report(lines, _claims(r))


def main(argv=None) -> int:
    """``python -m l2theory.figures.hessian``: the figures command for this figure alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
