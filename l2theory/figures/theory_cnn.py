"""Theory for convolutional networks: predicted against measured ``t*`` and the output distance
to the exact L2 gradient flow, by channel count (``experiments.cnn_theory_vs_practice``).

What it shows: (a) measured ``t*`` (step of the minimum test loss of the network trained by
full-batch GD) against the ``t*`` the flow predicts from the same initial outputs, per seed,
with ``c = lam lr t*`` on the second axes: the CNN family ``depth x [conv 3x3 (channels) -
ReLU] - flatten - dense`` (NTK parameterization, bias-free, degree ``L = depth + 1``) predicted
by its analytic infinite-channel kernel (``kernels.conv_relu``), the max-pooling network(s)
by their own empirical NTK at initialization; (b) the relative distance of the network's test
outputs from the flow's, mean over ``lam lr t`` in the window, against the channel count
(log-log; mean +- standard error over seeds; the ``channels^-1/2`` guide; the discretization
floor, GD vs the flow of the same kernel); (c) test loss of network and flow against the
natural time ``lam lr t`` (seed 0).

Presets. ``quick`` (CPU, 35 s on 2 CPU cores): depth 1, flatten, 16 / 64 / 256 channels, 128
train / 256 test points of the shipped Fashion-MNIST subset averaged to 14x14, lam 0.04, lr 0.5
(100 steps to ``lam lr t = 2``), seeds 0 and 1; the max-pooling stand-in for the collapse
figure's CNN panel (conv 16 - maxpool - conv 32 - maxpool - GAP - dense) at lr 0.1, lam 0.2
(same ``lam lr``) with its empirical NTK. The GAP variant is off in quick: its analytic kernel
costs ``(H W)^2`` per image pair. ``paper`` (GPU): CIFAR-10, 512 train / 512 test, depth 2, 64 /
256 / 1024 channels (flatten at 32x32, GAP at 16x16), 3 seeds; the collapse figure's CNN panel
network (depth 4, 64-128-256-256 channels, max pooling, bias-free) and its WRN-16-4 *without
BatchNorm* (``residual_scale = 1/sqrt(6)``), both by their empirical NTK, each at half its
lazy-regime bound ``lr lambda_max / n = 1`` (``lr_stability = 0.5``). The WRN is not homogeneous
(residual sums, readout bias): its flow uses the rounded effective degree at initialization
(``degree="euler"``, about 6), an approximation, and its ``t*`` comparison says how good; with
BatchNorm (the collapse panel's WRN) the theory does not apply at all
(``experiments.predict_network``). Measured numbers: ``docs/figures.md``.

Must hold, each decided by a 95% t-interval over seeds: predicted vs measured ``t*`` within
``TOLERANCE`` for the CNN family at each channel count ``>= MIN_CHANNELS`` (the mean ratio; a
measured ``t*`` at the run's edge is no peak and is left out), and the distance falling with the
channels (the per-seed exponent of distance against channels below 0).

Files in ``DIR/theory_cnn/`` (``--out DIR``): ``theory_cnn.png/.pdf``, ``theory_cnn_tstar.csv``
(per network and seed: t* net/flow, c, ratio, distance, lr, lam, ``lr lambda_max / n``),
``theory_cnn_curves.csv`` (test loss net/flow and distance vs step and ``lam lr t``, seed 0),
``theory_cnn.json``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from l2theory.figures import _common, _report, make_all

NAME = "theory_cnn"
TOLERANCE = 0.25       # predicted vs measured t*: |t*_net / t*_flow - 1| <= TOLERANCE
MIN_CHANNELS = 64      # ... for the CNN family at >= this many channels

_PAPER_CNN = {"name": "CNN panel (max pool)",
              "model": {"model": "cnn", "depth": 4, "width": [64, 128, 256, 256], "bias": False,
                        "model_kwargs": {"pool": "max"}},
              "lr_stability": 0.5, "ntk_batch_size": 64}
_PAPER_WRN = {"name": "WRN-16-4 (no BN)",
              "model": {"model": "wrn", "depth": 16,
                        "model_kwargs": {"widen": 4, "batchnorm": False,
                                         "residual_scale": 6 ** -0.5}},
              "lr_stability": 0.5, "degree": "euler", "ntk_batch_size": 32}

# units: lam (L2 coefficient, loss + lam/2 ||theta||^2), lr (per step), window in lam lr t,
# sizes in examples; "gap": overrides for a second family with the GAP readout (None: off);
# "networks": more networks by their empirical NTK (cnn_theory_vs_practice's networks=).
CONFIGS = {
    "quick": {"dataset": "fashion_mnist_subset", "channels": [16, 64, 256], "depth": 1,
              "lam": 0.04, "lr": 0.5, "stand_in": True, "stand_in_lr": 0.1, "n_train": 128,
              "n_test": 256, "seeds": [0, 1], "downsample": 2, "window": [0.05, 2.0],
              "n_records": 48, "gap": None, "networks": []},
    "paper": {"dataset": "cifar10", "channels": [64, 256, 1024], "depth": 2,
              "lam": 0.08, "lr": 0.25, "stand_in": False, "stand_in_lr": 0.1, "n_train": 512,
              "n_test": 512, "seeds": [0, 1, 2], "downsample": 1, "window": [0.05, 2.0],
              "n_records": 64, "gap": {"downsample": 2},
              "networks": [_PAPER_CNN, _PAPER_WRN]},
}
TINY = {"channels": [8, 64], "n_train": 16, "n_test": 32, "seeds": [0], "downsample": 4,
        "n_records": 8, "stand_in": False}

CAPTION = (
    "(a) Measured t* (step of the minimum test loss of the network trained by full-batch GD) "
    "against the t* predicted by the exact L2 gradient flow from the same initial outputs, per "
    "seed, with c = lam lr t* on the second axes; shaded: within {tol:.0%}. CNN family: depth-"
    "{depth} ReLU CNN, flatten readout, NTK parameterization, predicted by the analytic "
    "infinite-channel kernel (kernels.conv_relu){gap}; {others}. (b) Relative distance of the "
    "test outputs from the flow's (mean over lam lr t in {lo:g}..{hi:g}) against channels, mean "
    "+- standard error over seeds, with the channels^-1/2 guide and the discretization floor "
    "(GD vs the flow of the same kernel). (c) Test loss of network (solid) and flow (dashed) "
    "against the natural time lam lr t, seed 0. Data: {n_train} train / {n_test} test points of "
    "{data} ({shape}); lam {lam:g}, lr {lr:g}; seeds {seeds}.")


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out``; ``progress``: one line per network on stdout."""
    with _common.x64():
        return _run(_common.FigureRun(NAME, config, out), progress)


def _family_rows(r: dict, family: str) -> list[dict]:
    return [{"network": f"CNN-{e['channels']}" + (" GAP" if family == "gap" else ""),
             "family": family, "kernel": "analytic", "channels": e["channels"],
             "lr": r["config"]["lr"], "lam": r["config"]["lam"],
             "lr_lambda_max_over_n": r["config"]["lr_lambda_max_over_n"], **_stats(e)}
            for e in r["per_channels"]]


def _stats(e: dict) -> dict:
    """Per-seed values and mean +- standard error (``std(ddof=1) / sqrt(n)``; None with one
    seed) of what the report and the checks use."""
    from l2theory import experiments as ex

    out = {}
    for key in ("t_star_net", "t_star_flow", "c_net", "c_flow", "t_star_ratio",
                "distance_mean", "distance_max", "flow_vs_gd_limit_mean"):
        vals = [float(v) for v in e[f"{key}_per_seed"]]
        out[f"{key}_per_seed"] = vals
        out[key] = float(np.mean(vals))
        out[f"{key}_se"] = ex.standard_error(vals)
    out["t_star_net_at_boundary_per_seed"] = [bool(b) for b in
                                              e["t_star_net_at_boundary_per_seed"]]
    return out


def _run(job: _common.FigureRun, progress: bool) -> dict:
    from l2theory import experiments as ex

    config, plt = job.config, job.plt
    subset = config["dataset"] == "fashion_mnist_subset"
    ds = job.dataset(standardize=False, n_train=None if subset else 10 * config["n_train"],
                     n_test=None if subset else 10 * config["n_test"])
    common = dict(depth=config["depth"], lam=config["lam"], lr=config["lr"],
                  n_train=config["n_train"], n_test=config["n_test"], seeds=config["seeds"],
                  window=tuple(config["window"]), n_records=config["n_records"])
    r = ex.cnn_theory_vs_practice(ds, channels=config["channels"], readout="flatten",
                                  stand_in=config["stand_in"],
                                  stand_in_lr=config["stand_in_lr"],
                                  downsample=config["downsample"],
                                  networks=config["networks"], **common)
    rows = _family_rows(r, "flatten")
    if r["stand_in"]:
        rows.append({"network": "max-pool stand-in", "family": "empirical",
                     "channels": None, **_empirical_fields(r["stand_in"])})
    for e in r["networks"]:
        rows.append({"network": e["name"], "family": "empirical", "channels": None,
                     **_empirical_fields(e)})
    gap = None
    if config.get("gap"):
        g = {"channels": config["channels"], "downsample": config["downsample"],
             **config["gap"]}
        gap = ex.cnn_theory_vs_practice(ds, channels=g["channels"], readout="gap",
                                        stand_in=False, downsample=g["downsample"], **common)
        rows += _family_rows(gap, "gap")
    if progress:
        for row in rows:
            print(f"   {row['network']:<22} t* net {row['t_star_net']:.1f} flow "
                  f"{row['t_star_flow']:.1f} (ratio {row['t_star_ratio']:.3f}); distance "
                  f"{row['distance_mean']:.3f}", flush=True)

    tau_rate = config["lam"] * config["lr"]
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.8), layout="constrained")
    fig.get_layout_engine().set(wspace=0.08)
    _plot_tstar(axes[0], rows, tau_rate)
    _plot_distance(axes[1], rows)
    curve_rows = _plot_curves(axes[2], r, rows)
    fig.suptitle(f"Theory for CNNs: {r['config']['data']} "
                 f"({'x'.join(map(str, r['config']['image_shape']))}), "
                 f"{config['n_train']} training points, full-batch GD vs the exact L2 flow",
                 fontsize=11)
    job.save_figure(fig)
    job.save_csv("tstar", [
        {"network": row["network"], "kernel": row["kernel"], "channels": row["channels"],
         "seed": seed, "lr": row["lr"], "lam": row["lam"],
         "lr_lambda_max_over_n": row["lr_lambda_max_over_n"],
         "t_star_net": row["t_star_net_per_seed"][i],
         "t_star_flow": row["t_star_flow_per_seed"][i], "c_net": row["c_net_per_seed"][i],
         "c_flow": row["c_flow_per_seed"][i], "t_star_ratio": row["t_star_ratio_per_seed"][i],
         "distance_mean": row["distance_mean_per_seed"][i],
         "distance_max": row["distance_max_per_seed"][i]}
        for row in rows for i, seed in enumerate(config["seeds"])])
    job.save_csv("curves", curve_rows)
    results = {"rows": rows, "tau_rate": tau_rate, "config": r["config"],
               "channel_exponent": r["channel_exponent"], "ensemble": r["ensemble"],
               "gap_config": gap and gap["config"],
               "gap_channel_exponent": gap and gap["channel_exponent"]}
    return job.finish(results)


def _empirical_fields(e: dict) -> dict:
    return {"kernel": "empirical", "lr": e["lr"], "lam": e["lam"], "degree": e["degree"],
            "euler_ratio": e["euler_ratio"], "lr_lambda_max_over_n": e["lr_lambda_max_over_n"],
            **_stats(e)}


def _styles(rows):
    """One colour and marker per network: the flatten family in blues, GAP in greens, the
    empirical-NTK networks in warm colours."""
    import matplotlib

    fam = {f: [r for r in rows if r["family"] == f] for f in ("flatten", "gap", "empirical")}
    out = {}
    for f, cmap, marker in (("flatten", "Blues", "o"), ("gap", "Greens", "D")):
        for i, r in enumerate(fam[f]):
            shade = 0.45 + 0.5 * i / max(1, len(fam[f]) - 1)
            out[r["network"]] = (matplotlib.colormaps[cmap](shade), marker)
    warm = ["tab:red", "tab:orange", "tab:purple", "tab:brown"]
    for i, r in enumerate(fam["empirical"]):
        out[r["network"]] = (warm[i % len(warm)], "s^vP"[i % 4])
    return out


def _plot_tstar(ax, rows, tau_rate):
    styles = _styles(rows)
    vals = [v for r in rows for k in ("t_star_net_per_seed", "t_star_flow_per_seed")
            for v in r[k]]
    lo, hi = min(vals) / 1.3, max(vals) * 1.3
    grid = np.linspace(0, 2 * hi, 3)
    ax.fill_between(grid, grid * (1 - TOLERANCE), grid * (1 + TOLERANCE), color="0.9",
                    label=f"within {TOLERANCE:.0%}")
    ax.plot(grid, grid, "k-", lw=0.8, label="measured = predicted")
    for r in rows:
        color, marker = styles[r["network"]]
        ax.plot(r["t_star_flow_per_seed"], r["t_star_net_per_seed"], marker, color=color,
                ls="none", ms=6, mfc="none" if r["family"] == "empirical" else color,
                label=f"{r['network']} ({r['kernel']} NTK)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(r"predicted $t^*$ (steps)")
    ax.set_ylabel(r"measured $t^*$ (steps)")
    to_c = (lambda t: t * tau_rate, lambda c: c / tau_rate)
    ax.secondary_xaxis("top", functions=to_c).set_xlabel(r"predicted $c=\lambda\,\eta\,t^*$")
    ax.secondary_yaxis("right", functions=to_c).set_ylabel(r"measured $\lambda\,\eta\,t^*$")
    ax.set_title("(a) peak of the test loss: network vs flow", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
              frameon=False)


def _plot_distance(ax, rows):
    styles = _styles(rows)
    floor = []
    for fam, label in (("flatten", "flatten readout"), ("gap", "GAP readout")):
        fr = [r for r in rows if r["family"] == fam]
        if not fr:
            continue
        ch = np.array([r["channels"] for r in fr], float)
        d = np.array([r["distance_mean"] for r in fr])
        se = [r["distance_mean_se"] or 0.0 for r in fr]
        color = styles[fr[-1]["network"]][0]
        ax.errorbar(ch, d, yerr=se, fmt=styles[fr[0]["network"]][1] + "-", color=color,
                    capsize=3, label=f"CNN, {label} (mean +- SE)")
        for r in fr:
            ax.plot([r["channels"]] * len(r["distance_mean_per_seed"]),
                    r["distance_mean_per_seed"], ".", color=color, alpha=0.5)
        ax.plot(ch, d[0] * (ch / ch[0]) ** -0.5, "k:", lw=1,
                label=r"$\propto$ channels$^{-1/2}$" if fam == "flatten" else None)
        floor += [r["flow_vs_gd_limit_mean"] for r in fr]
    if floor:
        ax.axhline(float(np.mean(floor)), color="0.5", ls="--", lw=0.8,
                   label="GD vs flow, same kernel (discretization)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax.xaxis, sorted({r["channels"] for r in rows if r["channels"]}))
    _plain_log_ticks(ax.yaxis)
    ax.set_xlabel("channels")
    ax.set_ylabel(r"$\|f_{\rm net}-f_{\rm flow}\|\,/\,\|f_{\rm flow}\|$ (test outputs)")
    ax.set_title(r"(b) distance to the flow, mean over the $\lambda\,\eta\,t$ window",
                 fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1,
              frameon=False)


def _plain_log_ticks(axis, ticks=None) -> None:
    """Log-axis ticks as plain numbers (``ticks``, or 1-2-5 per decade), no minor labels."""
    from matplotlib import ticker

    if ticks is not None:
        axis.set_major_locator(ticker.FixedLocator(ticks))
    else:
        axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _plot_curves(ax, r, rows) -> list[dict]:
    """Test loss of net (solid) and flow (dashed) vs ``lam lr t`` for the smallest and largest
    flatten CNN and the empirical-NTK networks; returns the CSV rows of every curve."""
    styles = _styles(rows)
    steps = np.asarray(r["curves"]["steps"], float)
    tau = np.asarray(r["curves"]["tau"], float)
    keys = {f"CNN-{c}": str(c) for c in r["config"]["channels"]}
    keys.update({"max-pool stand-in": "stand_in"} if r["stand_in"] else {})
    keys.update({e["name"]: e["name"] for e in r["networks"]})
    flat = [f"CNN-{c}" for c in r["config"]["channels"]]
    shown = {flat[0], flat[-1], *[k for k in keys if k not in flat]}
    out = []
    keep = tau > 0
    for name, key in keys.items():
        c = r["curves"][key]
        for i in range(len(steps)):
            out.append({"network": name, "step": int(steps[i]), "lam_lr_t": float(tau[i]),
                        "test_loss_net": c["test_loss_net"][i],
                        "test_loss_flow": c["test_loss_flow"][i],
                        "distance": c["distance"][i]})
        if name not in shown:
            continue
        color = styles[name][0]
        ax.plot(tau[keep], np.asarray(c["test_loss_net"])[keep], "-", color=color, lw=1.2,
                label=f"{name}: network")
        ax.plot(tau[keep], np.asarray(c["test_loss_flow"])[keep], "--", color=color, lw=1.2,
                label=f"{name}: flow")
    ax.set_xscale("log")
    ax.set_yscale("log")  # the minima (t*) are not squashed under the early losses
    ax.set_xlabel(_common.label("natural"))
    ax.set_ylabel("test loss (MSE, log scale)")
    ax.set_title("(c) test loss, network vs flow (seed 0)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
              frameon=False)
    return out


def caption(summary: dict) -> str:
    """The REPORT.md caption of this figure (what is plotted, which stand-ins)."""
    cfg, res = summary["config"], summary["results"]
    others = [r["network"] for r in res["rows"] if r["family"] == "empirical"]
    if cfg.get("preset") == "quick" and cfg.get("stand_in"):
        desc = ("the max-pooling stand-in (quick stand-in for the collapse figure's CNN panel: "
                "conv 16 - maxpool - conv 32 - maxpool - GAP - dense) predicted by its own "
                "empirical NTK at initialization; no WRN in the quick preset")
    elif others:
        desc = (", ".join(others) + " predicted by their own empirical NTK at initialization "
                "(a WRN without BatchNorm is not homogeneous: its flow uses the effective degree "
                "at initialization, an approximation)")
    else:
        desc = "no empirical-NTK network in this run"
    gap = ", and the same CNN with global average pooling (GAP)" if res.get("gap_config") else ""
    rc = res["config"]
    return CAPTION.format(tol=TOLERANCE, depth=rc["depth"], gap=gap, others=desc,
                          lo=rc["window"][0], hi=rc["window"][1], n_train=rc["n_train"],
                          n_test=rc["n_test"], data=rc["data"],
                          shape="x".join(map(str, rc["image_shape"])), lam=rc["lam"],
                          lr=rc["lr"], seeds=", ".join(map(str, rc["seeds"])))


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: predicted vs measured t* per network and the
    distance by channel count; must hold: t* within ``TOLERANCE`` at ``>= MIN_CHANNELS``
    channels (every seed), and the distance falling with the channels beyond the seed noise."""
    r = summary["results"]
    rows = r["rows"]
    pm = _common.pm
    lines = ["### Theory for CNNs: predicted (L2 flow) vs measured (GD) t*\n",
             _report.caption_line(NAME, caption(summary)),
             "| network | NTK | lr | lam | lr lambda_max/n | t* net / flow per seed (steps) | "
             "t* ratio net / flow (mean +- SE) | c = lam lr t* net / flow | distance "
             "(mean +- SE) |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        per_seed = ", ".join(f"{a:.1f}{' (edge)' if e else ''} / {b:.1f}" for a, b, e in zip(
            row["t_star_net_per_seed"], row["t_star_flow_per_seed"],
            row["t_star_net_at_boundary_per_seed"]))
        lines.append(f"| {row['network']} | {row['kernel']} | {row['lr']:.3g} | {row['lam']:.3g} "
                     f"| {row['lr_lambda_max_over_n']:.2f} | {per_seed} | "
                     f"{pm(row['t_star_ratio'], row['t_star_ratio_se'], '.3f')} | "
                     f"{row['c_net']:.3f} / {row['c_flow']:.3f} | "
                     f"{pm(row['distance_mean'], row['distance_mean_se'], '.3f')} |")
    lines.append(f"\nchannel exponent of the mean distance (flatten CNN): "
                 f"{_common.num(r.get('channel_exponent'), '.2f')} (expected ~ -0.5); infinite "
                 f"ensemble (f0 = 0): c = {r['ensemble']['c']:.3f}; lr lambda_max/n < 2 is the "
                 "lazy (linearized) regime the flow describes; the distance is relative to the "
                 "flow's outputs, which decay like exp(-L lam lr t), so for deep or "
                 "non-homogeneous networks (empirical NTK rows) it can exceed 1 late in the "
                 "window: t* is their comparison\n")
    from l2theory import experiments as ex

    family = [row for row in rows if row["family"] == "flatten"]
    wide = [row for row in family if row["channels"] >= MIN_CHANNELS]
    claims = []
    for row in wide:
        # a measured t* at the first or last recorded step (edge) is no peak: left out
        ratios = [x for x, e in zip(row["t_star_ratio_per_seed"],
                                    row["t_star_net_at_boundary_per_seed"]) if not e]
        edge = len(row["t_star_ratio_per_seed"]) - len(ratios)
        claims.append(_report.Claim.of(
            f"predicted vs measured t* within {TOLERANCE:.0%} for the CNN at {row['channels']} "
            "channels (theory_cnn; t* net / flow per seed)",
            ex.claim_within(ratios, 1 - TOLERANCE, 1 + TOLERANCE),
            f"per seed {_common.numbers(ratios, '.3f')}"
            + (f"; {edge} seed(s) left out: measured t* at the run's edge" if edge else ""),
            fmt=".3f"))
    if not wide:
        claims.append(_report.Claim.of(
            f"predicted vs measured t* within {TOLERANCE:.0%} for the CNN at >= {MIN_CHANNELS} "
            "channels (theory_cnn)", ex.claim_within([], 0, 1),
            f"no CNN with >= {MIN_CHANNELS} channels"))
    claims.append(_report.distance_claim(family, "channels", "theory_cnn, flatten CNN"))
    return _report.Report(lines, claims)


def main(argv=None) -> int:
    """``python -m l2theory.figures.theory_cnn``: the figures command for this figure alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
