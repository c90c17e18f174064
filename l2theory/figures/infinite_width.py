"""Infinite-width test accuracy against the natural time ``lam lr t`` on the whole training set,
beside the finite networks of the collapse figure.

What it shows (docs/conventions.md, infinite width): the exact MSE gradient flow with L2 of the
infinitely wide depth-3 bias-free ReLU net (NTK parameterization, ``kernels.fc_relu_fn``,
``degree = 3``, centered one-hot targets, zero initial outputs: the ensemble mean) on all 60,000
standardized Fashion-MNIST training images, its test accuracy on the 10,000 test images at 200
log-spaced natural times ``lam lr t`` in ``[1e-3, 10]`` for the lams of the collapse figure's
paper FC panel (1.25e-4 .. 2e-3), solved by ``L2GradientFlow(method="krylov")``: the train
kernel held in float32 (14.4 GB), the test kernel never stored (``kernels.kernel_operator``:
applied once to the Krylov basis), one Krylov basis for all lams (``L2GradientFlow.replace``).
Beside it, the finite FC-512x3 networks of the collapse figure's paper preset (bias-free, NTK
parameterization, trained with *cross-entropy* by SGD, batch 128, lr 0.25 and 1, 3 seeds), read
from a collapse output folder (not retrained): their peak ``lam lr t*`` and test accuracy per
lane (``collapse.json``), and their curves when the folder has ``collapse_curves.csv``. The
theory is the MSE flow of the same architecture's kernel, not the cross-entropy the nets were
trained with. In ``lam lr t`` the flow depends on lr only through ``lr t``, so one theory curve
per lam serves both lrs.

Panels: (a) test accuracy against ``lam lr t`` (theory curves, finite nets' peaks, mean +-
standard error over seeds); (b) ``lam lr t*`` against lam; (c) peak test accuracy against lam.
``t*`` by ``experiments.t_star`` (local-linear smoothing in log-time, bandwidth 0.2), as for the
finite nets.

Presets: ``paper``: the above (``collapse_dir`` is the recorded
``paper_figures/results/paper-collapse-fc-fashion_mnist-cpu-amd-epyc-2cores``, searched from
the working directory, then from the repository root). ``quick``: the shipped subset (2,000
train / 1,000 test images), theory only (the quick collapse figure trains other nets with MSE
and ranks them by test loss: nothing to compare accuracies with), the same code path.
Options beyond the common ones: ``--collapse-dir DIR`` (a collapse output folder to compare
with; ``none``: theory only), ``--n-train N`` (a class-stratified subset of the training set),
``--replot`` (redraw the figure in ``--out`` from its JSON and CSV, computing nothing).

Hardware / runtime (2 shared CPU cores, AMD EPYC, jax 0.10.2): quick 6-11 s; paper 6.5 min
(train kernel 234 s, the five solves 33 s of which 17 s is the one test-kernel application,
peak memory 16.0 GB; 13 block Lanczos steps, error estimate <= 6e-5 at tol 1e-4; theory
``lam lr t*`` 0.248-0.287, spread x1.16 over 16x in lam, peak test accuracy 0.848 at lam
1.25e-4 to 0.784 at 2e-3); the report:
``paper_figures/results/REPORT-paper-infinite_width-fashion_mnist-cpu-amd-epyc-2cores.md``.
Outputs (``--out``, default ``out/figures/infinite_width/``): ``infinite_width.png/.pdf``,
``infinite_width_curves.csv`` (theory: test accuracy per lam vs ``lam lr t``),
``infinite_width_peaks.csv`` (``lam lr t*`` and peak accuracy, theory and finite nets),
``infinite_width.json`` (config, per-lam solver info, timings, peak memory, machine).
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import resource
import time
from pathlib import Path

import numpy as np

from l2theory.figures import _common

NAME = "infinite_width"

_COLLAPSE_PAPER = "paper_figures/results/paper-collapse-fc-fashion_mnist-cpu-amd-epyc-2cores"

# units: lam (L2 coefficient), lr (per step; the flow depends on lr t only), natural times
# lam lr t (dimensionless), sizes in images; tol: the Krylov solver's relative error target
CONFIGS = {
    "quick": {"dataset": "fashion_mnist_subset", "n_train": None, "n_test": None,
              "depth": 3, "lams": [1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3], "lr": 1.0,
              "tau_range": [1e-3, 10.0], "grid_points": 200, "dtype": "float32", "tol": 1e-4,
              "block_size": 2048, "collapse_dir": None},
    "paper": {"dataset": "fashion_mnist", "n_train": None, "n_test": None,
              "depth": 3, "lams": [1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3], "lr": 1.0,
              "tau_range": [1e-3, 10.0], "grid_points": 200, "dtype": "float32", "tol": 1e-4,
              "block_size": 2048, "collapse_dir": _COLLAPSE_PAPER},
}
TINY = {"n_train": 200, "n_test": 100, "lams": [1e-3, 4e-3], "grid_points": 40,
        "block_size": 128}

SMOOTH = 0.2  # experiments.t_star's bandwidth in ln t (the collapse figure's)


def _find_folder(path: str | None) -> Path | None:
    """``path`` as given, else relative to the repository root; None when absent."""
    if path is None or str(path).lower() == "none":
        return None
    for candidate in (Path(path), Path(__file__).resolve().parents[2] / path):
        if candidate.is_dir():
            return candidate
    return None


def finite_networks(folder: str | Path | None) -> dict | None:
    """The collapse figure's FC-panel lanes in a collapse output folder: ``{"lanes": [...],
    "curves": [...] or None, "title", "folder", "config"}`` (``lanes``: lam, lr, seed,
    lam_lr_t_star, test_acc at t*, excluded; ``curves``: rows of ``collapse_curves.csv``). None
    when the folder has no FC panel ranked by test accuracy."""
    found = _find_folder(folder)
    if found is None or not (found / "collapse.json").is_file():
        return None
    summary = json.loads((found / "collapse.json").read_text())
    panel = next((p for p in summary["results"]["panels"] if p["key"] == "fc"), None)
    if panel is None or panel.get("metric") != "test_acc":
        return None
    # lam and lr as configured (the sweep stores them in float32: 0.00012500001)
    lanes = [{"lam": float(f"{ln['lam']:.6g}"), "lr": float(f"{ln['lr']:.6g}"), "seed": ln["seed"],
              "lam_lr_t_star": ln["lam_lr_t_star"], "test_acc": ln["value"],
              "excluded": ln["excluded"]} for ln in panel["lanes"]]
    curves = None
    if (found / "collapse_curves.csv").is_file():
        with open(found / "collapse_curves.csv") as fh:
            curves = [{k: (float(f"{float(v):.6g}") if k in ("lam", "lr") else float(v))
                       if k in ("lam", "lr", "lam_lr_t", "test_acc") else v
                       for k, v in row.items()} for row in csv.DictReader(fh)
                      if row.get("panel") == "fc" and row.get("test_acc")]
    fc_config = next((p for p in summary["config"]["panels"] if p["key"] == "fc"), {})
    return {"lanes": lanes, "curves": curves or None, "title": panel["title"],
            "folder": str(found), "config": fc_config}


def finite_peaks(lanes: list[dict]) -> list[dict]:
    """Per (lam, lr): mean +- standard error over seeds of ``lam lr t*`` and of the test
    accuracy at t* (lanes excluded by the collapse analysis are left out)."""
    from l2theory import experiments as ex

    groups: dict[tuple[float, float], list[dict]] = {}
    for ln in lanes:
        if ln["excluded"] is None:
            groups.setdefault((ln["lam"], ln["lr"]), []).append(ln)
    out = []
    for (lam, lr), group in sorted(groups.items()):
        row = {"source": "finite", "lam": lam, "lr": lr, "n_seeds": len(group)}
        for key, name in (("lam_lr_t_star", "lam_lr_t_star"), ("test_acc", "peak_test_acc")):
            v = np.array([g[key] for g in group], float)
            row[name] = float(v.mean())
            row[f"{name}_se"] = ex.standard_error(v)
        out.append(row)
    return out


def theory_curves(config: dict, ds) -> dict:
    """Test accuracy of the infinite-width MSE flow per lam on ``config``'s natural-time grid,
    with the kernel and solver timings and each solve's ``info``."""
    import jax

    from l2theory import data, experiments, kernels, solvers

    dtype = np.dtype(config["dtype"])
    x_tr = ds.x_train.reshape(ds.n_train, -1)
    x_te = ds.x_test.reshape(ds.n_test, -1)
    y_tr = data.one_hot(ds.y_train, ds.num_classes, centered=True, dtype=dtype)
    y_te = data.one_hot(ds.y_test, ds.num_classes, centered=True, dtype=dtype)
    fn = kernels.fc_relu_fn(depth=config["depth"])
    start = time.perf_counter()
    k_tr = jax.block_until_ready(kernels.kernel_matrix(fn, x_tr, block_size=config["block_size"],
                                                       dtype=dtype))
    kernel_s = time.perf_counter() - start
    print(f"   train kernel {ds.n_train} x {ds.n_train} ({k_tr.nbytes / 1e9:.2f} GB, "
          f"{dtype.name}) in {kernel_s:.1f} s", flush=True)
    k_te = _Timed(kernels.kernel_operator(fn, x_te, x_tr, block_size=config["block_size"],
                                          dtype=dtype))
    lams = sorted(config["lams"])  # the smallest lam needs the largest basis: first
    lr = config["lr"]
    tau = np.geomspace(*config["tau_range"], config["grid_points"])
    flow = solvers.L2GradientFlow(k_tr, y_tr, lam=lams[0], lr=lr, degree=config["depth"],
                                  dtype=dtype, method="krylov", tol=config["tol"])
    per_lam, rows = [], []
    for lam in lams:
        t0 = time.perf_counter()
        flow = flow.replace(lam=lam)
        t = tau / (lam * lr)
        acc = solvers.test_metric(flow.predict_test(t, k_te), y_te, "accuracy")
        seconds = time.perf_counter() - t0
        peak = experiments.t_star(t, acc, mode="max", smooth=SMOOTH)
        info = flow.info
        per_lam.append({
            "lam": lam, "lr": lr, "lam_lr_t_star": lam * lr * peak.t_star,
            "peak_test_acc": peak.value, "raw_max_test_acc": float(acc.max()),
            "lam_lr_t_raw_max": float(tau[int(np.argmax(acc))]), "at_boundary": peak.at_boundary,
            "final_test_acc": float(acc[-1]), "seconds": seconds,
            "converged": info["converged"], "error_estimate": info["error_estimate"],
            "tol": info["tol"], "iterations": info["iterations"],
            "basis_size": info["basis_size"], "test_products": info["test_products"]})
        rows += [{"lam": lam, "lr": lr, "step": float(s), "lam_lr_t": float(a),
                  "test_acc": float(b)} for s, a, b in zip(t, tau, acc)]
        print(f"   lam {lam:g}: lam lr t* = {lam * lr * peak.t_star:.3g}, peak test accuracy "
              f"{peak.value:.4f} (raw max {acc.max():.4f}); Krylov: {info['iterations']} block "
              f"steps, basis {info['basis_size']}, error estimate {info['error_estimate']:.2g} "
              f"(tol {info['tol']:g}), {info['test_products']} test-kernel application(s); "
              f"{seconds:.1f} s", flush=True)
    return {"per_lam": per_lam, "rows": rows, "kernel_s": kernel_s, "test_kernel_s": k_te.seconds,
            "solver_s": float(sum(r["seconds"] for r in per_lam)),
            "kernel_gb": k_tr.nbytes / 1e9, "n_train": ds.n_train, "n_test": ds.n_test,
            "dataset": ds.name}


class _Timed:
    """A linear operator that adds up the seconds of its products (``seconds``)."""

    def __init__(self, op):
        self.op, self.shape, self.seconds = op, op.shape, 0.0

    def __matmul__(self, v):
        import jax

        start = time.perf_counter()
        out = jax.block_until_ready(self.op @ v)
        self.seconds += time.perf_counter() - start
        return out


def spread(per_lam: list[dict]) -> dict:
    """``max/min`` of the theory's ``lam lr t*`` over lam and the lam range it covers."""
    c = [r["lam_lr_t_star"] for r in per_lam]
    lams = [r["lam"] for r in per_lam]
    return {"spread": max(c) / min(c), "lam_range": max(lams) / min(lams),
            "geometric_mean": float(np.exp(np.mean(np.log(c))))}


def _plot(plt, config, theory, finite, peaks_finite):
    import textwrap

    import matplotlib.lines as mlines
    import matplotlib.ticker as mpl_ticker

    lams = sorted({r["lam"] for r in theory["per_lam"]}
                  | {r["lam"] for r in peaks_finite})
    cmap = plt.get_cmap("viridis")
    color = {lam: cmap(0.9 * i / max(len(lams) - 1, 1)) for i, lam in enumerate(lams)}
    markers = {lr: m for lr, m in zip(sorted({r["lr"] for r in peaks_finite}), "os^D")}
    fig, axes = plt.subplots(1, 3, figsize=(16.5, 5.2), gridspec_kw={"width_ratios": [1.5, 1, 1]})
    ax = axes[0]
    tau = np.geomspace(*config["tau_range"], config["grid_points"])
    by_lam: dict[float, list[float]] = {}
    for row in theory["rows"]:
        by_lam.setdefault(row["lam"], []).append(row["test_acc"])
    for lam, acc in by_lam.items():
        ax.plot(tau, acc, color=color[lam], lw=1.6)
    for r in theory["per_lam"]:
        ax.plot(r["lam_lr_t_star"], r["peak_test_acc"], "*", color=color[r["lam"]], ms=11,
                mec="k", mew=0.5)
    if finite and finite["curves"]:
        curves: dict[tuple, dict[float, list[float]]] = {}
        for row in finite["curves"]:
            curves.setdefault((row["lam"], row["lr"]), {}).setdefault(
                row["lam_lr_t"], []).append(row["test_acc"])
        for (lam, lr), pts in curves.items():
            x = sorted(k for k in pts if k > 0)
            ax.plot(x, [np.mean(pts[k]) for k in x], ls="--" if lr == max(markers) else ":",
                    color=color.get(lam, "grey"), lw=0.9, alpha=0.8)
    for r in peaks_finite:
        ax.errorbar(r["lam_lr_t_star"], r["peak_test_acc"], xerr=r["lam_lr_t_star_se"],
                    yerr=r["peak_test_acc_se"], fmt=markers[r["lr"]], color=color[r["lam"]],
                    mec="k", mew=0.5, ms=6, capsize=2)
    ax.set_xscale("log")
    ax.set_xlabel(r"$\lambda\,\eta\,t$")
    ax.set_ylabel("test accuracy")
    low = min(min(a) for a in by_lam.values())
    top = max([max(a) for a in by_lam.values()] + [r["peak_test_acc"] for r in peaks_finite])
    ax.set_ylim(max(low, top - 0.45) - 0.01, top + 0.02)
    handles = [mlines.Line2D([], [], color=color[lam], lw=2, label=rf"$\lambda$ = {lam:g}")
               for lam in lams]
    handles.append(mlines.Line2D([], [], color="k", lw=1.6, label="theory (MSE, inf. width)"))
    handles.append(mlines.Line2D([], [], color="k", marker="*", ls="none", ms=10,
                                 label=r"theory peak $\lambda\eta t^*$"))
    for lr, m in markers.items():
        handles.append(mlines.Line2D([], [], color="k", marker=m, ls="none",
                                     label=rf"finite nets' peak, $\eta$ = {lr:g}"))
    if finite and finite["curves"]:
        handles.append(mlines.Line2D([], [], color="k", ls="--", lw=0.9,
                                     label="finite nets (mean over seeds)"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.15),
              ncol=3, frameon=False)
    ax.set_title("(a) test accuracy against natural time", fontsize=9)
    th = theory["per_lam"]
    for ax, key, label in ((axes[1], "lam_lr_t_star", r"$\lambda\,\eta\,t^*$ (peak test accuracy)"),
                           (axes[2], "peak_test_acc", "peak test accuracy")):
        ax.plot([r["lam"] for r in th], [r[key] for r in th], "k*-", ms=9, label="theory")
        for lr, m in markers.items():
            pts = [r for r in peaks_finite if r["lr"] == lr]
            ax.errorbar([r["lam"] for r in pts], [r[key] for r in pts],
                        yerr=[r[f"{key}_se"] or 0.0 for r in pts], fmt=m, ls="none",
                        color="C3" if lr == max(markers) else "C0", capsize=2, ms=5,
                        label=rf"finite nets, $\eta$ = {lr:g}")
        ax.set_xscale("log")
        ax.set_xticks(lams, [f"{lam:g}" for lam in lams], rotation=30, fontsize=7)
        ax.xaxis.set_minor_locator(mpl_ticker.NullLocator())
        ax.set_xlabel(r"$\lambda$")
        ax.set_ylabel(label)
        if key == "lam_lr_t_star":
            ax.set_yscale("log")
            values = [r[key] for r in th] + [r[key] for r in peaks_finite]
            ax.set_ylim(min(values) / 1.3, max(values) * 1.3)  # room for labelled ticks
            ax.yaxis.set_major_formatter(mpl_ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(mpl_ticker.FormatStrFormatter("%g"))
            ax.tick_params(axis="y", which="minor", labelsize=7)
        # (b): the finite nets sit above the theory, (c): below it on the right
        ax.legend(fontsize=7, loc="center right" if key == "lam_lr_t_star" else "upper right",
                  frameon=False)
    axes[1].set_title(r"(b) peak natural time $\lambda\eta t^*$", fontsize=9)
    axes[2].set_title("(c) peak test accuracy", fontsize=9)
    what = (f"{theory['dataset']}, {theory['n_train']:,} train / {theory['n_test']:,} test "
            "images")
    if finite:
        title = (f"Infinite-width depth-{config['depth']} ReLU net, MSE gradient flow with L2 "
                 f"(Krylov), {what}; markers: finite FC-512x3 nets trained with cross-entropy "
                 "(collapse figure, paper preset)")
    else:
        title = (f"Infinite-width depth-{config['depth']} ReLU net, MSE gradient flow with L2 "
                 f"(Krylov), {what} - theory only")
    fig.suptitle(textwrap.fill(title, 150), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out`` (``progress``: unused; one line per lam is printed)."""
    out = _common.out_dir(NAME, out)  # created first: a bad --out fails before any work
    plt = _common.setup_matplotlib()
    _common.print_config(NAME, config)
    start = time.perf_counter()
    ds = _common.load_dataset(config["dataset"], n_train=config["n_train"],
                              n_test=config["n_test"])
    load_s = time.perf_counter() - start
    theory = theory_curves(config, ds)
    finite = finite_networks(config.get("collapse_dir"))
    if config.get("collapse_dir") and finite is None:
        print(f"   note: no collapse FC panel ranked by test accuracy in "
              f"{config['collapse_dir']!s}: theory only", flush=True)
    peaks_finite = finite_peaks(finite["lanes"]) if finite else []
    fig = _plot(plt, config, theory, finite, peaks_finite)
    files = _common.save_figure(fig, out, NAME)
    files.append(_common.save_csv(out / f"{NAME}_curves.csv", theory["rows"]))
    peak_rows = [{"source": "theory", **{k: r[k] for k in ("lam", "lr", "lam_lr_t_star",
                                                           "peak_test_acc")}}
                 for r in theory["per_lam"]] + peaks_finite
    files.append(_common.save_csv(out / f"{NAME}_peaks.csv", peak_rows))
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    results = {"per_lam": theory["per_lam"], "spread": spread(theory["per_lam"]),
               "load_s": load_s, "kernel_s": theory["kernel_s"],
               "test_kernel_s": theory["test_kernel_s"], "solver_s": theory["solver_s"],
               "kernel_gb": theory["kernel_gb"], "peak_rss_gb": rss_gb,
               "n_train": theory["n_train"], "n_test": theory["n_test"],
               "dataset": theory["dataset"], "finite": None}
    if finite:
        results["finite"] = {"folder": finite["folder"], "title": finite["title"],
                             "peaks": peaks_finite, "curves": finite["curves"] is not None,
                             "config": finite["config"]}
    s = results["spread"]
    print(f"   theory lam lr t*: spread x{s['spread']:.2f} over x{s['lam_range']:.0f} lam; "
          f"train kernel {theory['kernel_s']:.0f} s, solver {theory['solver_s']:.0f} s (of which "
          f"the test-kernel operator {theory['test_kernel_s']:.0f} s), peak memory {rss_gb:.1f} "
          "GB", flush=True)
    return _common.save_summary(out, NAME, config, results, start, files)


def replot(out: str | Path) -> list[str]:
    """Redraw ``infinite_width.png/.pdf`` in ``out`` from a finished run's
    ``infinite_width.json`` and ``infinite_width_curves.csv`` there (no kernel, no solve; the
    finite nets' curves, if any, are read again from the recorded collapse folder)."""
    plt = _common.setup_matplotlib()
    out = Path(out)
    summary = json.loads((out / f"{NAME}.json").read_text())
    r = summary["results"]
    with open(out / f"{NAME}_curves.csv") as fh:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    theory = {"per_lam": r["per_lam"], "rows": rows, "dataset": r["dataset"],
              "n_train": r["n_train"], "n_test": r["n_test"]}
    finite = finite_networks(r["finite"]["folder"]) if r.get("finite") else None
    fig = _plot(plt, summary["config"], theory, finite, r["finite"]["peaks"] if finite else [])
    return _common.save_figure(fig, out, NAME)

def caption(summary: dict) -> str:
    """What the figure shows, for ``REPORT.md``."""
    r, config = summary["results"], summary["config"]
    finite = r.get("finite")
    quick = config.get("dataset") == "fashion_mnist_subset"
    return (f"Test accuracy of the infinitely wide depth-{config['depth']} bias-free "
            f"ReLU net (NTK parameterization) trained by MSE gradient flow with L2 (exact flow, "
            f"solved by block Lanczos to a relative error tol {config['tol']:g}, "
            f"{config['dtype']}) on {r['n_train']:,} {r['dataset']} training images, on its "
            f"{r['n_test']:,} test images, against the natural time lam lr t, one curve per "
            "lam (in lam lr t the flow depends on lr only through lr t: one curve serves every "
            "lr); stars: its peak lam lr t* (experiments.t_star, smoothing 0.2 in ln t). "
            + (f"Markers: the finite FC-512x3 nets of the collapse figure's paper preset "
               f"({finite['title']}; mean +- standard error over seeds of lam lr t* and of the "
               "test accuracy there), trained with cross-entropy by SGD while the theory is "
               "the MSE flow of the same architecture's kernel."
               if finite else "Theory only (no finite nets"
               + (": the quick collapse figure's nets are trained with MSE and ranked by test "
                  "loss)." if quick else ")."))
            + (" Quick preset: the shipped 2,000 / 1,000-image subset stands in for the full "
               "60,000 / 10,000 images." if quick else ""))


def main(argv=None) -> int:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--collapse-dir", default=None)
    extra.add_argument("--n-train", type=int, default=None)
    extra.add_argument("--replot", action="store_true")
    known, rest = extra.parse_known_args(argv)
    if known.replot:
        paths = replot(_common.out_dir(NAME, _common.parse_args(NAME, __doc__, rest).out))
        print(f"   redrew {', '.join(paths)}")
        return 0
    configs = copy.deepcopy(CONFIGS)
    for config in configs.values():
        if known.collapse_dir is not None:
            config["collapse_dir"] = known.collapse_dir
        if known.n_train is not None:
            config["n_train"] = known.n_train
    return _common.main_for(__name__, NAME, __doc__, configs, TINY, run, rest)


if __name__ == "__main__":
    raise SystemExit(main())
