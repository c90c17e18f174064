"""The lazy limit for networks that are not homogeneous: Wide ResNets without BatchNorm and
fully connected nets with biases, trained by full-batch GD at growing width, against the lazy
limit of the L2 gradient flow from each network's own two-scale NTKs
(``experiments.lazy_limit_vs_practice``; docs/conventions.md sec. 2), and against the
homogeneous flow with the rounded Euler degree (the approximation the lazy limit replaces).

What it shows, one row per family: (a) measured ``t*`` (step of the minimum test loss) against
the predicted one, per seed and width: lazy limit (filled), Euler-degree flow (open); (b) the
relative RMS distance of the test outputs from each prediction over the ``lam lr t`` window,
against the width (mean +- standard error over seeds), with the lazy limit's own interpolation
error (one scale node fewer against all of them) as a floor; (c) test loss of the net, the lazy
limit and the Euler flow against ``lam lr t`` at the widest width (seed 0), with the loss of
``f = 0``.

Presets. ``quick`` (CPU; measured runtime in docs/figures.md): WRN-10-1 and WRN-10-2 without
BatchNorm on 64 + 64 Fashion-MNIST images averaged to 7x7; depth-3 ReLU FC nets with biases
(``b_std = 1``, NTK parameterization) of width 64 / 256 / 1024 on 128 + 128 images at 14x14; 9
scale nodes, 3 seeds; each network at ``lr = 0.8 n / lambda_max`` (``lr_stability = 0.4``), ``lam
lr = 2e-3``. ``paper`` (CPU, hours): the WRN at widen 1 / 2 / 4 on 128 train + 64 test images,
the FC nets at 128 / 512 / 2048 on 256 + 256 images.

Must hold, per family: the predicted ``t*`` (lazy limit) within ``TOLERANCE`` of the trained
net's at the widest width (the 95 % t-interval over seeds of ``t*_net / t*_lazy`` inside ``[1 -
TOLERANCE, 1 + TOLERANCE]``: PASS; outside it: FAIL; across its edge: TIE); the output distance
to the lazy limit falling with width at each step (paired by seed, 95 % t-interval of the fall
above 0); the net learning (95 % interval of its minimum test loss below the loss of ``f = 0``);
the lazy limit's interpolation error (one scale node fewer) below ``INTERPOLATION_SHARE`` of its
distance to the net; the lazy limit closer to the net than the Euler-degree flow (paired by
seed). Sanity line: the lazy regime, ``lr lambda_max / n < 2`` for every net.

Files in ``DIR/lazy_limit/`` (``--out DIR``): ``lazy_limit.png/.pdf``, ``lazy_limit_tstar.csv``
(per family, width and seed), ``lazy_limit_curves.csv`` (test loss of net, lazy limit and Euler
flow against the step and ``lam lr t``, seed 0), ``lazy_limit.json``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from l2theory.figures import _common, _report, make_all

NAME = "lazy_limit"
TOLERANCE = 0.25            # t*_net / t*_lazy in [1 - TOLERANCE, 1 + TOLERANCE] at the widest
INTERPOLATION_SHARE = 0.25  # the interpolation error below this share of the distance to the net

_WRN = {"name": "WRN-10-k without BatchNorm",
        "model": {"model": "wrn", "depth": 10, "model_kwargs": {"batchnorm": False}},
        "width_field": "widen", "widths": [1, 2], "n_train": 64, "n_test": 64,
        "downsample": 4, "nodes": 9}
_FC = {"name": "FC depth 3 with biases",
       "model": {"model": "fc", "depth": 3, "bias": True, "b_std": 1.0},
       "width_field": "width", "widths": [64, 256, 1024], "n_train": 128, "n_test": 128,
       "downsample": 2, "nodes": 9}

# units: lam_lr = lam * lr (natural clock, per step), window in lam lr t, sizes in examples;
# lr_stability q: lr = 2 q n / lambda_max of the seed-0 network's NTK at initialization
CONFIGS = {
    # the main job's stand-in: the FC family alone, on fewer images (about a minute)
    "quick": {"dataset": "fashion_mnist_subset",
              "families": [{**_FC, "n_train": 64, "n_test": 64, "nodes": 5}],
              "seeds": [0, 1, 2], "lam_lr": 2e-3, "lr_stability": 0.4, "window": [0.02, 1.0],
              "n_records": 24},
    # the evidence on 2 CPU cores (WRN-10-1/2 without BatchNorm and the FC family; recorded in
    # paper_figures/results/, about an hour: the WRN-10-2's kernels dominate)
    "cpu": {"dataset": "fashion_mnist_subset", "families": [_WRN, _FC], "seeds": [0, 1, 2],
            "lam_lr": 2e-3, "lr_stability": 0.4, "window": [0.02, 1.0], "n_records": 32},
    "paper": {"dataset": "fashion_mnist_subset",
              "families": [{**_WRN, "widths": [1, 2, 4], "n_train": 128, "n_test": 64},
                           {**_FC, "widths": [128, 512, 2048], "n_train": 256,
                            "n_test": 256}],
              "seeds": [0, 1, 2], "lam_lr": 2e-3, "lr_stability": 0.4, "window": [0.02, 1.0],
              "n_records": 40},
}
# tiny: the FC family only (the WRN's lazy limit is tested in tests/test_lazy_limit.py)
TINY = {"families": [{**_FC, "widths": [16, 64], "n_train": 16, "n_test": 16, "nodes": 3}],
        "seeds": [0, 1], "n_records": 10}

CAPTION = (
    "Lazy limit vs trained networks that are not homogeneous. Rows: {families}. (a) Measured t* "
    "(minimum test loss of the net trained by full-batch GD) against the predicted t*, per seed "
    "and width: lazy limit from the network's own two-scale NTKs (filled), homogeneous flow with "
    "the rounded Euler degree (open); shaded: within {tol:.0%}. (b) Relative RMS distance of the "
    "test outputs from each prediction over lam lr t in {lo:g}..{hi:g}, mean +- standard error "
    "over seeds {seeds}; dotted: the lazy limit's interpolation error (one scale node fewer "
    "against all). (c) Test loss against lam lr t at the widest width (seed 0); grey: f = 0. "
    "lam lr = {lam_lr:g}, lr = {q:g} x the lazy bound 2 n / lambda_max.")


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out``; ``progress``: one line per network on stdout."""
    with _common.x64():
        return _run(_common.FigureRun(NAME, config, out), progress)


def _run(job: _common.FigureRun, progress: bool) -> dict:
    from l2theory import experiments as ex

    config, plt = job.config, job.plt
    ds = job.dataset(standardize=False)
    families = []
    for fam in config["families"]:
        if progress:
            print(f"   {fam['name']}", flush=True)
        r = ex.lazy_limit_vs_practice(
            ds, model=fam["model"], widths=fam["widths"], width_field=fam["width_field"],
            lam_lr=config["lam_lr"], lr_stability=config["lr_stability"],
            n_train=fam["n_train"], n_test=fam["n_test"], seeds=config["seeds"],
            downsample=fam["downsample"], window=tuple(config["window"]),
            n_records=config["n_records"], nodes=fam["nodes"], progress=progress)
        families.append({"name": fam["name"], **r})
    fig, axes = plt.subplots(len(families), 3, figsize=(17, 5.2 * len(families)),
                             layout="constrained", squeeze=False)
    for row, fam in zip(axes, families):
        _plot_tstar(row[0], fam)
        _plot_distance(row[1], fam)
        _plot_curves(row[2], fam)
    fig.suptitle("The lazy limit of the L2 flow for networks that are not homogeneous "
                 f"({families[0]['config']['data']}, full-batch GD)", fontsize=11)
    job.save_figure(fig)
    job.save_csv("tstar", [
        {"family": fam["name"], "width": w["width"], "seed": seed, "params": w["params"],
         "lr": w["lr"], "lam": w["lam"],
         **{key: w[f"{key}_per_seed"][i] for key in (
             "lr_lambda_max_over_n", "t_star_net", "t_star_lazy", "t_star_euler", "ratio_lazy",
             "ratio_euler", "distance_lazy", "distance_euler", "coarse_ratio",
             "coarse_distance", "min_loss_net", "min_loss_lazy", "initial_loss",
             "euler_ratio", "kernel_seconds", "train_seconds")}}
        for fam in families for w in fam["per_width"] for i, seed in enumerate(config["seeds"])])
    job.save_csv("curves", [
        {"family": fam["name"], "width": width, "step": int(s), "lam_lr_t": float(tau),
         "test_loss_net": c["test_loss_net"][i], "test_loss_lazy": c["test_loss_lazy"][i],
         "test_loss_euler": c["test_loss_euler"][i], "distance_lazy": c["distance_lazy"][i]}
        for fam in families for width, c in fam["curves"].items()
        for i, (s, tau) in enumerate(zip(c["steps"], c["tau"]))])
    return job.finish({"families": families})


def _widest(fam: dict) -> dict:
    return fam["per_width"][-1]


def _plot_tstar(ax, fam):
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    vals = [v for w in fam["per_width"] for k in ("t_star_net", "t_star_lazy", "t_star_euler")
            for v in w[f"{k}_per_seed"]]
    lo, hi = min(vals) / 1.3, max(vals) * 1.3
    grid = np.array([0.0, 2 * hi])
    ax.fill_between(grid, grid * (1 - TOLERANCE), grid * (1 + TOLERANCE), color="0.9",
                    label=f"within {TOLERANCE:.0%}")
    ax.plot(grid, grid, "k-", lw=0.8)
    n = len(fam["per_width"])
    for i, w in enumerate(fam["per_width"]):
        color = cmap(0.15 + 0.7 * i / max(1, n - 1))
        ax.plot(w["t_star_lazy_per_seed"], w["t_star_net_per_seed"], "o", color=color,
                label=f"width {w['width']}: lazy limit")
        ax.plot(w["t_star_euler_per_seed"], w["t_star_net_per_seed"], "s", color=color,
                mfc="none", label=f"width {w['width']}: Euler degree")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"predicted $t^*$ (steps)")
    ax.set_ylabel(r"measured $t^*$ (steps)")
    ax.set_title(f"(a) {fam['name']}: peak of the test loss", fontsize=10)
    ax.legend(fontsize=7, ncol=2)


def _plot_distance(ax, fam):
    from matplotlib import ticker

    widths = np.array([w["width"] for w in fam["per_width"]], float)
    for key, label, style in (("distance_lazy", "lazy limit", "o-"),
                              ("distance_euler", "Euler-degree flow", "s--"),
                              ("coarse_distance", "lazy limit: interpolation error", "v:")):
        mean = [w[f"{key}_stats"]["mean"] for w in fam["per_width"]]
        se = [w[f"{key}_stats"]["se"] or 0.0 for w in fam["per_width"]]
        line = ax.errorbar(widths, mean, yerr=se, fmt=style, capsize=3, label=label,
                           mfc="none" if key != "distance_lazy" else None)
        for w in fam["per_width"]:
            ax.plot([w["width"]] * len(w[f"{key}_per_seed"]), w[f"{key}_per_seed"], ".",
                    color=line[0].get_color(), alpha=0.4)
    d0 = fam["per_width"][0]["distance_lazy_stats"]["mean"]
    ax.plot(widths, d0 * (widths / widths[0]) ** -0.5, "k:", lw=0.8,
            label=r"$\propto$ width$^{-1/2}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(widths, [f"{w:g}" for w in widths])
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("width" if fam["config"]["width_field"] == "width" else "widening factor k")
    ax.set_ylabel(r"$\|f_{\rm net}-f_{\rm pred}\|/\|f_{\rm pred}\|$ (test, RMS over window)")
    ax.set_title("(b) distance of the net's outputs from the prediction", fontsize=10)
    ax.legend(fontsize=7)


def _plot_curves(ax, fam):
    key = str(_widest(fam)["width"])
    c = fam["curves"][key]
    tau = np.asarray(c["tau"], float)
    keep = tau > 0
    for name, style in (("test_loss_net", "k-"), ("test_loss_lazy", "C0--"),
                        ("test_loss_euler", "C1:")):
        ax.plot(tau[keep], np.asarray(c[name])[keep], style, lw=1.3,
                label={"test_loss_net": "network", "test_loss_lazy": "lazy limit",
                       "test_loss_euler": "Euler-degree flow"}[name])
    ax.axhline(fam["config"]["plateau_loss"], color="0.6", lw=0.8, label="f = 0")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_common.label("natural"))
    ax.set_ylabel("test loss (MSE)")
    ax.set_title(f"(c) test loss at width {key} (seed 0)", fontsize=10)
    ax.legend(fontsize=7)


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md`` (a table per family) and its claims, per family
    (module docstring: what must hold)."""
    from l2theory.experiments import claim_greater, claim_within
    from l2theory._experiments.claims import combine

    lines = ["### The lazy limit for networks that are not homogeneous\n",
             _report.caption_line(NAME, caption(summary))]
    claims = []
    for fam in summary["results"]["families"]:
        cfg, name = fam["config"], fam["name"]
        lines += [f"**{name}** ({cfg['n_train']} train / {cfg['n_test']} test images "
                  f"{'x'.join(map(str, cfg['image_shape']))}, {cfg['nodes']} scale nodes in "
                  f"[{cfg['a_min']:.3g}, 1], lam lr = {cfg['lam_lr']:g}; loss of f = 0: "
                  f"{cfg['plateau_loss']:.3f})\n",
                  "| width | params | lr | lr lambda_max/n | t* net / lazy (mean +- SE) | "
                  "t* net / Euler | distance lazy | distance Euler | interpolation error | "
                  "min test loss net | lazy |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for w in fam["per_width"]:
            s = {k[:-6]: v for k, v in w.items() if k.endswith("_stats")}
            lines.append(
                f"| {w['width']} | {w['params']:,} | {w['lr']:.3g} | "
                f"{s['lr_lambda_max_over_n']['mean']:.2f} | {_pm(s['ratio_lazy'])} | "
                f"{_pm(s['ratio_euler'])} | {_pm(s['distance_lazy'])} | "
                f"{_pm(s['distance_euler'])} | {_pm(s['coarse_distance'])} | "
                f"{_pm(s['min_loss_net'])} | {_pm(s['min_loss_lazy'])} |")
        lines.append(f"\nwidth exponent of the lazy distance: "
                     f"{_common.num(fam['width_exponent'], '.2f')}\n")
        wide = _widest(fam)
        edge = any(wide["t_star_net_at_boundary_per_seed"])
        claims.append(_report.Claim.of(
            f"{name}: predicted t* (lazy limit) within {TOLERANCE:.0%} of the trained net's at "
            f"the widest width ({wide['width']}; t* net / lazy over seeds)",
            claim_within(wide["ratio_lazy_per_seed"], 1 - TOLERANCE, 1 + TOLERANCE),
            "per seed " + _common.numbers(wide["ratio_lazy_per_seed"]),
            verdict=_report.FAIL if edge else None,
            note="a measured t* at the run's edge (no peak)" if edge else None))
        steps, details = [], []
        for a, b in zip(fam["per_width"], fam["per_width"][1:]):
            c = claim_greater(a["distance_lazy_per_seed"], b["distance_lazy_per_seed"])
            steps.append(c)
            details.append(f"{a['width']} -> {b['width']}: {_pm(a['distance_lazy_stats'])} -> "
                           f"{_pm(b['distance_lazy_stats'])} ({c.verdict})")
        if steps:  # decided by the weakest step (lowest interval), the verdict by all
            weakest = min(steps, key=lambda c: -np.inf if c.ci is None else c.ci[0])
            claims.append(_report.Claim.of(
                f"{name}: output distance to the lazy limit falls with width beyond the seed "
                "noise (paired by seed; the weakest step's fall)", weakest, "; ".join(details),
                verdict=combine(steps)))
        claims.append(_report.Claim.of(
            f"{name}: the net learns (minimum test loss below the loss of f = 0, "
            f"{cfg['plateau_loss']:.4f}; widest width)",
            claim_within(wide["min_loss_net_per_seed"], -np.inf, cfg["plateau_loss"]),
            "per seed " + _common.numbers(wide["min_loss_net_per_seed"], ".4f")))
        lazy = max(v for w in fam["per_width"] for v in w["lr_lambda_max_over_n_per_seed"])
        claims.append(_report.Claim.sanity(
            f"{name}: lazy regime, lr lambda_max / n < 2 for every net (lr set from the seed-0 "
            "net's lambda_max)", _report.pass_fail(lazy < 2), f"largest {lazy:.2f}"))
        coarse, dist = wide["coarse_distance_per_seed"], wide["distance_lazy_per_seed"]
        claims.append(_report.Claim.of(
            f"{name}: the lazy limit's interpolation error is below {INTERPOLATION_SHARE:.0%} of "
            "its distance to the net (widest width; paired by seed: share x distance - error)",
            claim_greater([INTERPOLATION_SHARE * d for d in dist], coarse),
            f"one node fewer vs all: {_pm(wide['coarse_distance_stats'])}; net vs lazy: "
            f"{_pm(wide['distance_lazy_stats'])}"))
        claims.append(_report.Claim.of(
            f"{name}: the lazy limit is closer to the net than the Euler-degree flow (widest "
            "width, paired by seed: distance Euler - lazy)",
            claim_greater(wide["distance_euler_per_seed"], wide["distance_lazy_per_seed"]),
            f"{_pm(wide['distance_euler_stats'])} vs {_pm(wide['distance_lazy_stats'])}"))
    return _report.Report(lines, claims)


def _pm(stats: dict) -> str:
    return _common.pm(stats["mean"], stats["se"], ".3g")


def caption(summary: dict) -> str:
    """The REPORT.md caption of this figure."""
    cfg, fams = summary["config"], summary["results"]["families"]
    return CAPTION.format(families="; ".join(f["name"] for f in fams), tol=TOLERANCE,
                          lo=cfg["window"][0], hi=cfg["window"][1],
                          seeds=", ".join(map(str, cfg["seeds"])), lam_lr=cfg["lam_lr"],
                          q=2 * cfg["lr_stability"])


def main(argv=None) -> int:
    """``python -m l2theory.figures.lazy_limit``: the figures command for this figure alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
