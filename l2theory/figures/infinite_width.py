"""Infinite-width test accuracy against the natural time ``lam lr t`` on the whole training set,
optionally beside finite networks trained by the collapse figure.

What it shows (docs/conventions.md, infinite width): the exact MSE gradient flow with L2 of the
infinitely wide depth-3 bias-free ReLU net (NTK parameterization, ``kernels.fc_relu_fn``,
``degree = 3``, centered one-hot targets, zero initial outputs: the ensemble mean) on all 60,000
standardized Fashion-MNIST training images, its test accuracy on the 10,000 test images at 200
log-spaced natural times ``lam lr t`` in ``[1e-3, 10]`` for the lams of the collapse figure's
paper FC panel (1.25e-4 .. 2e-3), solved by ``L2GradientFlow(method="krylov")``: the train
kernel held in float32 (14.4 GB), the test kernel never stored (``kernels.kernel_operator``:
applied once to the Krylov basis), one Krylov basis for all lams (``L2GradientFlow.replace``).
In ``lam lr t`` the flow depends on lr only through ``lr t``, so one theory curve per lam serves
every lr.

Finite nets beside it (config key ``finite``, option ``--finite DIR``; None: theory only): a
collapse output folder (``DIR/collapse.json`` with an FC panel ranked by test accuracy, e.g. the
collapse figure's paper preset), read, not retrained: the peak ``lam lr t*`` and test accuracy
of each lane, and their curves when the folder has ``collapse_curves.csv``. The theory is the
MSE flow of the depth-3 ReLU kernel, whatever loss the nets were trained with.

Panels: (a) test accuracy against ``lam lr t`` (theory curves, finite nets' peaks, mean +-
standard error over seeds); (b) ``lam lr t*`` against lam; (c) peak test accuracy against lam.
``t*`` by ``experiments.t_star`` (local-linear smoothing in log-time, bandwidth 0.2), as for the
finite nets.

Presets: ``paper``: the above (6.5 min and 16 GB of memory on 2 CPU cores). ``quick`` (CPU, 5 s
on 2 CPU cores): the shipped subset (2,000 train / 1,000 test images), the same code path.
Both draw no finite nets unless ``finite`` names a folder. ``replot(folder)`` redraws a finished
run's figure from its JSON and CSV, computing nothing. Measured numbers: ``docs/figures.md``.

Must hold: the theory's ``lam lr t*`` spreads by at most ``_report.SPREAD_MAX`` across at least
a decade of lam, and the Krylov error estimate is within its tolerance at every lam.

Files in ``DIR/infinite_width/`` (``--out DIR``): ``infinite_width.png/.pdf``,
``infinite_width_curves.csv`` (theory: test accuracy per lam vs ``lam lr t``),
``infinite_width_peaks.csv`` (``lam lr t*`` and peak accuracy, theory and finite nets),
``infinite_width.json`` (config, per-lam solver info, timings, peak memory, machine).
"""
from __future__ import annotations

import csv
import json
import resource
import time
from pathlib import Path

import numpy as np

from l2theory.figures import _common, _report, make_all

NAME = "infinite_width"

# units: lam (L2 coefficient), lr (per step; the flow depends on lr t only), natural times
# lam lr t (dimensionless), sizes in images; tol: the Krylov solver's relative error target;
# finite: a collapse output folder whose FC panel is drawn beside the theory (None: not drawn)
CONFIGS = {
    "quick": {"dataset": "fashion_mnist_subset", "n_train": None, "n_test": None,
              "depth": 3, "lams": [1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3], "lr": 1.0,
              "tau_range": [1e-3, 10.0], "grid_points": 200, "dtype": "float32", "tol": 1e-4,
              "block_size": 2048, "finite": None},
    "paper": {"dataset": "fashion_mnist", "n_train": None, "n_test": None,
              "depth": 3, "lams": [1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3], "lr": 1.0,
              "tau_range": [1e-3, 10.0], "grid_points": 200, "dtype": "float32", "tol": 1e-4,
              "block_size": 2048, "finite": None},
}
TINY = {"n_train": 200, "n_test": 100, "lams": [1e-3, 4e-3], "grid_points": 40,
        "block_size": 128}

SMOOTH = 0.2  # experiments.t_star's bandwidth in ln t (the collapse figure's)


def finite_networks(folder: str | Path | None) -> dict | None:
    """The FC-panel lanes of a collapse output folder: ``{"lanes": [...], "curves": [...] or
    None, "title", "folder", "config"}`` (``lanes``: lam, lr, seed, lam_lr_t_star, test_acc at
    t*, excluded; ``curves``: rows of ``collapse_curves.csv``). None for ``folder`` None or
    ``"none"``; ``ValueError`` when the folder holds no FC panel ranked by test accuracy."""
    if folder is None or str(folder).lower() == "none":
        return None
    found = Path(folder)
    if not (found / "collapse.json").is_file():
        raise ValueError(f"finite={str(folder)!r}: no collapse.json in this folder; pass a "
                         "collapse output folder (the figure collapse's, e.g. run with --preset "
                         "paper --panels fc) or None for the theory only")
    summary = json.loads((found / "collapse.json").read_text())
    panel = next((p for p in summary["results"]["panels"] if p["key"] == "fc"), None)
    if panel is None or panel.get("metric") != "test_acc":
        raise ValueError(f"finite={str(folder)!r}: its collapse.json has no FC panel ranked by "
                         "test accuracy (the quick preset ranks by test loss); pass a folder of "
                         "the paper preset's FC panel or None for the theory only")
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
    # every solid curve is theory; the legend names only what is drawn
    handles = [mlines.Line2D([], [], color=color[lam], lw=2,
                             label=rf"theory, $\lambda$ = {lam:g}") for lam in lams]
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
                 f"(Krylov), {what}; markers: finite nets, {finite['title']}")
    else:
        title = (f"Infinite-width depth-{config['depth']} ReLU net, MSE gradient flow with L2 "
                 f"(Krylov), {what} - theory only")
    fig.suptitle(textwrap.fill(title, 150), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out`` (``progress``: unused; one line per lam is printed)."""
    job = _common.FigureRun(NAME, config, out)
    finite = finite_networks(config.get("finite"))  # a bad folder fails before any work
    t0 = time.perf_counter()
    ds = job.dataset()
    load_s = time.perf_counter() - t0
    theory = theory_curves(config, ds)
    peaks_finite = finite_peaks(finite["lanes"]) if finite else []
    job.save_figure(_plot(job.plt, config, theory, finite, peaks_finite))
    job.save_csv("curves", theory["rows"])
    peak_rows = [{"source": "theory", **{k: r[k] for k in ("lam", "lr", "lam_lr_t_star",
                                                           "peak_test_acc")}}
                 for r in theory["per_lam"]] + peaks_finite
    job.save_csv("peaks", peak_rows)
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
    return job.finish(results)


def replot(out: str | Path) -> list[str]:
    """Redraw ``infinite_width.png/.pdf`` in the figure's folder ``out`` from a finished run's
    ``infinite_width.json`` and ``infinite_width_curves.csv`` there (no kernel, no solve; the
    finite nets' curves, if any, are read again from the recorded collapse folder); returns the
    paths drawn."""
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
            + (f"Markers: the finite nets of the collapse FC panel in {finite['folder']} "
               f"({finite['title']}; mean +- standard error over seeds of lam lr t* and of the "
               "test accuracy there); the theory is the MSE flow of the same architecture's "
               "kernel, whatever loss they were trained with."
               if finite else "Theory only (no finite nets"
               + (": the quick collapse figure's nets are trained with MSE and ranked by test "
                  "loss)." if quick else ")."))
            + (" Quick preset: the shipped 2,000 / 1,000-image subset stands in for the full "
               "60,000 / 10,000 images." if quick else ""))


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: the theory's peaks per lam beside the finite
    nets'; must hold: the theory's peak natural time collapses (``_report.SPREAD_MAX`` over a
    decade of lam), and the Krylov error estimate is below its tolerance at every lam."""
    pm = _common.pm
    r = summary["results"]
    lines = ["### Infinite width on the whole training set (Krylov)\n",
             _report.caption_line(NAME, caption(summary)),
             f"- {r['n_train']:,} train / {r['n_test']:,} test images; train kernel "
             f"{r['kernel_gb']:.2f} GB in {r['kernel_s']:.0f} s; solves {r['solver_s']:.0f} s "
             f"(test-kernel operator {r['test_kernel_s']:.0f} s of it); peak memory "
             f"{r['peak_rss_gb']:.1f} GB\n",
             "| lam | lam lr t* (theory) | peak test acc (theory) | Krylov steps / basis | "
             "error estimate (tol) | test-kernel applications | lam lr t* (finite) | "
             "peak test acc (finite) |", "|---|---|---|---|---|---|---|---|"]
    by_lam: dict[float, list[dict]] = {}
    for p in (r.get("finite") or {}).get("peaks", []):
        by_lam.setdefault(p["lam"], []).append(p)

    def per_lr(peaks, key, fmt):
        return ", ".join(f"lr {p['lr']:g}: {pm(p[key], p[key + '_se'], fmt)}"
                         for p in peaks) or "-"

    for x in r["per_lam"]:
        fin = sorted(by_lam.get(x["lam"], []), key=lambda p: p["lr"])
        lines.append(
            f"| {x['lam']:g} | {x['lam_lr_t_star']:.3g} | {x['peak_test_acc']:.4f} | "
            f"{x['iterations']} / {x['basis_size']} | {x['error_estimate']:.2g} ({x['tol']:g}) | "
            f"{x['test_products']} | {per_lr(fin, 'lam_lr_t_star', '.3g')} | "
            f"{per_lr(fin, 'peak_test_acc', '.4f')} |")
    s = r["spread"]
    lines.append(f"\n- theory lam lr t*: geometric mean {s['geometric_mean']:.3g}, spread "
                 f"x{s['spread']:.2f} over x{s['lam_range']:.0f} lam\n")
    worst = max(x["error_estimate"] / x["tol"] for x in r["per_lam"])
    spread_max = _report.SPREAD_MAX
    from l2theory import experiments as ex

    wide = _report.spans_a_decade(s["lam_range"])
    return _report.Report(lines, [
        _report.Claim.of(f"infinite-width lam lr t* spread (max/min over lam) <= {spread_max} "
                         "across >= a decade of lam (exact MSE flow, Krylov)",
                         ex.claim_exact(s["spread"], 1.0, spread_max),
                         f"over x{s['lam_range']:.0f} lam; per lam "
                         + ", ".join(f"{x['lam_lr_t_star']:.3g}" for x in r["per_lam"]),
                         verdict=None if wide else "n/a",
                         note=None if wide else "the lams span less than a decade"),
        _report.Claim.sanity("Krylov error estimate <= tol at every lam (the solver's accuracy)",
                             _report.pass_fail(all(x["converged"] for x in r["per_lam"])),
                             f"largest estimate / tol = {worst:.2g}")])


def main(argv=None) -> int:
    """``python -m l2theory.figures.infinite_width``: the figures command for this figure
    alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
