"""The t*-collapse: test accuracy against the natural clock ``lam lr t`` for a lam x lr grid, and
the steps to peak accuracy ``t*`` against ``lam lr`` with the fit ``t* = c (lam lr)^(-s)``.

What it shows (docs/conventions.md, relation 1): with plain SGD at constant lr, curves of different
lam and lr collapse when plotted against ``lam lr t``; their peaks sit at ``lam lr t* = c``, i.e.
``t* ~ c / (lam lr)`` (``s = 1``). Each lane of the sweep runs ``ceil(tau / (lam lr))`` steps
(``train.sweep(..., natural_time=tau)``); ``t*`` by ``experiments.t_star`` (local-linear smoothing
in log-time); the fit by ``experiments.fit_power_law`` with a bootstrap over seeds.

Panels (``--preset paper``): FC-512x3 on MNIST (lam 1.25e-4..2e-3 x lr 0.25, 1; 3 seeds;
xent, batch 128; ``--dataset fashion_mnist`` stands it on Fashion-MNIST); WRN-16-4 on CIFAR-10;
CNN on CIFAR-10 (plain SGD, no momentum, no augmentation, constant lr); ``--panels fc`` runs one.
Each panel's sweep shows a progress bar; paper sweeps keep a resumable results folder
``sweep_<panel>/`` in the figure's folder. The FC panel runs in about half an hour on 2 CPU cores.

``--preset quick`` (CPU, 85 s on 2 CPU cores): the FC panel on the shipped Fashion-MNIST subset
(all 2000 training points, 1000 test; FC-128x3, NTK parameterization, MSE, batch 100, lam
2e-3..3.2e-2, lr 0.5 and 1, 5 seeds, rows on a log grid of 20 per decade; t* = step of minimum
test loss). The t* of the test *accuracy* is reported beside, on all lanes and on the lanes with
lam <= 8e-3: at larger lam the MSE net shrinks to f ~ 0 before it has learned (its test loss
never gets far below f = 0's) and, the outputs shrinking in a frozen shape, its accuracy creeps
up to the end of the run (a peak at the boundary); the window keeps the lanes where the net
learns before it collapses. And a small CNN (conv 16 and 32 channels, each followed by 2x2 max
pooling, NTK parameterization, MSE, batch 50, 14x14 inputs, lam 4e-3..3.2e-2 at lr 0.3, 2 seeds,
tau 1.2) on the same subset standing in for both CIFAR-10 panels (WRN and CNN) - said so in the
panel titles. Measured numbers of both presets: ``docs/figures.md``.

Metric: each panel's ``metric`` defines t* (quick: the test loss; paper: the test accuracy),
stated in its title and kept; the other metric's t* is reported beside, never checked.

Must hold (FC panel), each decided by a 95% interval from a bootstrap over seeds
(``fc_claims``): ``lam lr t*`` spreads by at most ``_report.SPREAD_MAX`` across at least a decade
of lam at each lr, and the fitted slope ``s`` lies in ``SLOPE_RANGE`` (the line says whether the
interval contains the paper's ``s = 1``).

Files in ``DIR/collapse/`` (``--out DIR``): ``collapse.png/.pdf``, ``collapse_curves.csv`` (every
lane's test metric vs step and ``lam lr t``), ``collapse_tstar.csv`` (per-lane ``t*`` and ``lam lr
t*``), ``collapse.json`` (config, fits, runtime, machine).
"""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

import numpy as np

from l2theory.figures import _common, _report, make_all

NAME = "collapse"
SLOPE_RANGE = (0.8, 1.2)  # the fitted s of t* = c (lam lr)^(-s) (FC panel)

_FC = dict(model="fc", depth=3, width=128, bias=False, parameterization="ntk", loss="mse",
           batch_size=100, train_eval_size=500)
# the quick CNN stand-in: NTK parameterization and MSE like the FC panel; at lr 0.3 the test
# loss peaks inside the run for lam 4e-3 .. 3.2e-2; batch 50 keeps the panel near a minute on 2
# CPU cores (CPU convolutions are slow).
_CNN = dict(model="cnn", depth=2, width=[16, 32], bias=False, parameterization="ntk", loss="mse",
            model_kwargs={"pool": "max"}, batch_size=50, evals_per_decade=20,
            train_eval_size=200)

# one config per preset; units: lam (L2 coefficient, loss + lam/2 ||theta||^2), lr (per step),
# natural_time = lam * lr * t (dimensionless natural time each lane runs to), sizes in examples.
CONFIGS = {
    "quick": {
        "panels": [
            # 2000 training points (the whole shipped subset), 5 seeds, rows on a log grid (20
            # per decade: every step up to 17, then gaps of ~12%); one chunk per (lam, lr) on a
            # CPU (its 5 seeds have equal lengths, so no lane idles through a longer one's steps)
            {"key": "fc", "title": "FC (MNIST in the paper) - quick: FC-128x3, MSE, on 2000 "
                                   "Fashion-MNIST subset points; t* = min test loss",
             "dataset": "fashion_mnist_subset", "n_train": 2000, "n_test": 1000,
             "model": dict(_FC, eval_every=None, evals_per_decade=20, train_eval_size=200),
             "lams": [2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2], "lrs": [0.5, 1.0],
             "natural_time": 2.0, "seeds": [0, 1, 2, 3, 4], "metric": "test_loss",
             "also_metrics": ["test_acc"], "chunk_size": {"cpu": 5},
             # t* from the test accuracy is defined where the net learns before L2 shrinks it
             # to f = 0: at lam >= 1.6e-2 the MSE net's test loss never falls below ~0.37-0.41
             # (0.45 is f = 0's) and its accuracy creeps up to the end of the run
             "windows": {"test_acc": 8e-3}},
            {"key": "cnn", "title": "WRN / CNN on CIFAR-10 - quick stand-in: CNN-16,32 with max "
                                    "pooling, MSE, on 1000 Fashion-MNIST subset points (14x14); "
                                    "t* = min test loss",
             "dataset": "fashion_mnist_subset", "n_train": 1000, "n_test": 500,
             "downsample": 2, "model": _CNN,
             "lams": [4e-3, 8e-3, 1.6e-2, 3.2e-2], "lrs": [0.3],
             "natural_time": 1.2, "seeds": [0, 1], "metric": "test_loss",
             "also_metrics": ["test_acc"], "chunk_size": 2},
        ],
        "n_boot": 1000,
    },
    "paper": {
        "panels": [
            # Sized to run on 2 CPU cores in about half an hour and on one GPU in seconds:
            # lam x16 at two lr (x4), 3 seeds, lam lr from 3e-5 to 2e-3, i.e. 750 to 48,000
            # steps per lane at tau = 1.5 (the test accuracy peaks near lam lr t* = 0.5). On a
            # CPU (cost ~ lanes x steps) one chunk per (lam, lr): its 3 seeds have
            # equal lengths, so no lane idles through a longer lane's steps. On a GPU all 30
            # lanes in one program (a step of 30 small lanes costs about one of 3; a lane that
            # has ended still computes, masked, until the longest one ends):
            # benchmarks/bench_collapse.py times it. Rows on a log grid (20-40 per decade).
            {"key": "fc", "title": "FC-512x3 (NTK param., xent, SGD batch 128) on MNIST",
             "dataset": "mnist", "n_train": None, "n_test": None,
             "model": dict(model="fc", depth=3, width=512, bias=False, parameterization="ntk",
                           loss="xent", batch_size=128, evals_per_decade=20,
                           train_eval_size=2000),
             "lams": [1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3], "lrs": [0.25, 1.0],
             "natural_time": 1.5, "seeds": [0, 1, 2], "metric": "test_acc",
             "also_metrics": ["test_loss"], "chunk_size": {"cpu": 3}},
            {"key": "wrn", "title": "WRN-16-4 on CIFAR-10", "dataset": "cifar10",
             "n_train": None, "n_test": None,
             "model": dict(model="wrn", depth=16, model_kwargs={"widen": 4}, loss="xent",
                           batch_size=128, evals_per_decade=20, train_eval_size=10000),
             "lams": [1e-4, 3e-4, 1e-3, 3e-3], "lrs": [0.05, 0.1, 0.2],
             "natural_time": 1.0, "seeds": [0, 1], "metric": "test_acc"},
            {"key": "cnn", "title": "CNN on CIFAR-10", "dataset": "cifar10", "n_train": None,
             "n_test": None,
             "model": dict(model="cnn", depth=4, width=[64, 128, 256, 256], loss="xent",
                           model_kwargs={"pool": "max"}, batch_size=128, evals_per_decade=20,
                           train_eval_size=10000),
             "lams": [1e-4, 3e-4, 1e-3, 3e-3], "lrs": [0.01, 0.03, 0.1],
             "natural_time": 1.0, "seeds": [0, 1], "metric": "test_acc"},
        ],
        "n_boot": 1000,
    },
}
TINY = {
    "panels": [
        {"key": "fc", "title": "FC (tiny test settings)", "dataset": "fashion_mnist_subset",
         "n_train": 200, "n_test": 200,
         "model": dict(_FC, width=16, batch_size=50, eval_every=5, train_eval_size=100),
         "lams": [0.01, 0.03], "lrs": [1.0], "natural_time": 1.0, "seeds": [0, 1],
         "metric": "test_loss", "also_metrics": ["test_acc"], "windows": {"test_acc": 0.02}},
    ],
    "n_boot": 50,
}


def spread_by_lr(lanes: list[dict]) -> list[dict]:
    """Per lr: the geometric mean over seeds of ``lam lr t*`` per lam (``c_per_lam``) with its
    standard error (``c_se_per_lam``: ``gm * std(ln c, ddof=1) / sqrt(n_seeds)``, ``None`` with
    one seed), its spread factor ``max/min`` across lam and the lam range (``max lam / min lam``)
    it covers. Lanes excluded from the fit (diverged, peak at the boundary) are left out."""
    from l2theory import experiments as ex

    out = []
    used = [ln for ln in lanes if ln["excluded"] is None]
    for lr in sorted({ln["lr"] for ln in used}):
        per_lam = {}
        for ln in used:
            if ln["lr"] == lr:
                per_lam.setdefault(ln["lam"], []).append(np.log(ln["lam_lr_t_star"]))
        if not per_lam:
            continue
        lams = sorted(per_lam)
        c = [float(np.exp(np.mean(per_lam[lam]))) for lam in lams]
        se_log = [ex.standard_error(per_lam[lam]) for lam in lams]  # of ln c: relative
        se = [None if s is None else g * s for g, s in zip(c, se_log)]
        out.append({"lr": lr, "lams": lams, "c_per_lam": c, "c_se_per_lam": se,
                    "spread": max(c) / min(c), "lam_range": max(lams) / min(lams)})
    return out


def summary_line(r: dict) -> str:
    """One panel's result in a line: fit, lam lr t*, spread per lr (with the per-lam SE)."""
    fit = r["fit"]
    parts = ["no fit" if not fit else
             f"slope s = {fit['slope']:.3f}" + (f" [{fit['slope_ci'][0]:.3f}, "
                                               f"{fit['slope_ci'][1]:.3f}]" if fit["slope_ci"]
                                               else "") + f", c (s = 1) = {fit['c_slope1']:.3g}"]
    tau = r.get("lam_lr_t_star") or {}
    if tau.get("geometric_mean") is not None:
        parts.append(f"lam lr t* = {tau['geometric_mean']:.3g} (geometric mean)")
    for s in r["spread_by_lr"]:
        per_lam = ", ".join(_common.pm(c, e, ".3g") for c, e in zip(s["c_per_lam"],
                                                                  s["c_se_per_lam"]))
        parts.append(f"lr {s['lr']:g}: spread x{s['spread']:.2f} over x{s['lam_range']:.3g} "
                     f"lam (per lam {per_lam})")
    parts.append(f"excluded {_common.excluded_text(r['excluded'])}; {r['seconds']:.0f} s")
    return "; ".join(parts)


def chunk_size(panel: dict, backend: str | None = None) -> int:
    """Lanes per compiled program of a panel's sweep on ``backend`` (default: JAX's):
    ``panel["chunk_size"]``, an int or a dict by backend (``{"cpu": 3}``); every lane in one
    program when it gives none for the backend."""
    n_lanes = len(panel["lams"]) * len(panel["lrs"]) * len(panel["seeds"])
    size = panel.get("chunk_size", n_lanes)
    if isinstance(size, dict):
        if backend is None:
            import jax

            backend = jax.default_backend()
        size = size.get(backend, n_lanes)
    return size


def _brief(result: dict) -> dict:
    """A collapse result without its per-lane table: fit, lam lr t*, excluded lanes (with
    their lam and lr), lanes used, spread per lr."""
    lanes = result["lanes"]
    return {"fit": result["fit"], "lam_lr_t_star": result["lam_lr_t_star"],
            "excluded": result["excluded"], "n_lanes": len(lanes),
            "n_included": result["n_included"],
            "excluded_lanes": [{k: ln[k] for k in ("run", "lam", "lr", "seed", "excluded")}
                               for ln in lanes if ln["excluded"] is not None],
            "t_star": [{k: ln[k] for k in ("run", "lam", "lr", "seed", "t_star", "excluded")}
                       for ln in lanes],
            "spread_by_lr": spread_by_lr(lanes)}


def run_panel(panel: dict, n_boot: int, *, progress: bool = False,
              out: Path | None = None) -> tuple[dict, dict]:
    """One panel's sweep and collapse analysis. ``out``: the sweep's results folder (an
    interrupted sweep resumes from its checkpoints there; a finished one is read back)."""
    from l2theory import experiments as ex
    from l2theory import train

    ds = _common.load_dataset(panel["dataset"], n_train=panel["n_train"],
                              n_test=panel["n_test"], downsample=panel.get("downsample", 1))
    cfg = _common.train_config(panel["model"])
    t0 = time.perf_counter()
    n_lanes = len(panel["lams"]) * len(panel["lrs"]) * len(panel["seeds"])
    # default: every lane in one compiled program (lanes are small); "chunk_size" splits the
    # grid into programs of that many lanes, longest lanes first
    rows = train.sweep(cfg, ds, lam=panel["lams"], lr=panel["lrs"], seeds=panel["seeds"],
                       natural_time=panel["natural_time"], progress=progress,
                       chunk_size=chunk_size(panel), out=out,
                       desc=f"collapse panel {panel['key']}, {n_lanes} runs")
    result = ex.collapse(rows, metric=panel["metric"], n_boot=n_boot)
    result["spread_by_lr"] = spread_by_lr(result["lanes"])
    result["other_metrics"] = {}
    for metric in panel.get("also_metrics", []):  # reported beside, not used in the checks
        other = ex.collapse(rows, metric=metric, n_boot=n_boot)
        result["other_metrics"][metric] = _brief(other)
        lam_max = (panel.get("windows") or {}).get(metric)
        if lam_max is not None:  # the same analysis on the lanes with lam <= lam_max
            keep = np.asarray(rows["run_lam"]) <= lam_max * (1 + 1e-9)
            sub = {k: np.asarray(v)[keep] for k, v in rows.items() if k != "autol2"}
            result["other_metrics"][metric]["window"] = {
                "lam_max": lam_max, **_brief(ex.collapse(sub, metric=metric, n_boot=n_boot))}
    result["seconds"] = time.perf_counter() - t0
    result["key"], result["title"] = panel["key"], panel["title"]
    return rows, result


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out``; ``progress``: a progress bar per panel's sweep (stderr)."""
    import matplotlib.ticker as mpl_ticker

    from l2theory import experiments as ex

    job = _common.FigureRun(NAME, config, out)
    plt = job.plt
    panels = config["panels"]
    fig, axes = plt.subplots(2, len(panels), figsize=(5.5 * len(panels), 8), squeeze=False)
    curves, tstar_rows, results = [], [], []
    for j, panel in enumerate(panels):
        # paper preset: long sweeps, so a resumable results folder per panel
        paper = config["preset"] == "paper" and not config.get("tiny")
        rows, r = run_panel(panel, config["n_boot"], progress=progress,
                            out=job.out / f"sweep_{panel['key']}" if paper else None)
        results.append(r)
        for row in _common.lane_curves(rows, panel["metric"]):
            curves.append({"panel": panel["key"], **row})
        ax = axes[0, j]
        ex.plot_collapse(ax, rows, metric=panel["metric"])
        ax.set_title(textwrap.fill(panel["title"], 60), fontsize=8)
        ax = axes[1, j]
        used = [ln for ln in r["lanes"] if ln["excluded"] is None]
        for ln in r["lanes"]:
            tstar_rows.append({"panel": panel["key"], **{k: ln[k] for k in (
                "run", "lam", "lr", "seed", "t_star", "lam_lr_t_star", "value", "excluded")}})
        lrs = sorted({ln["lr"] for ln in r["lanes"]})
        for lr, marker in zip(lrs, "osD^v"):
            pts = [ln for ln in used if ln["lr"] == lr]
            ax.plot([p["lam"] * p["lr"] for p in pts], [p["t_star"] for p in pts], marker,
                    ls="none", label=f"lr = {lr:g}", alpha=0.8)
        for metric, o in r["other_metrics"].items():  # beside: t* from the other metric
            pts = [ln for ln in o["t_star"] if ln["excluded"] is None]
            ax.plot([p["lam"] * p["lr"] for p in pts], [p["t_star"] for p in pts], "o",
                    mfc="none", color="0.55", ms=5, ls="none",
                    label=f"t* from {metric.replace('_', ' ')} (not fitted here)")
        if r["fit"] is not None:
            fit = r["fit"]
            x = np.geomspace(min(ln["lam"] * ln["lr"] for ln in used),
                             max(ln["lam"] * ln["lr"] for ln in used), 50)
            ax.plot(x, fit["c"] * x ** (-fit["slope"]), "k-",
                    label=f"fit s = {fit['slope']:.2f} "
                          f"[{fit['slope_ci'][0]:.2f}, {fit['slope_ci'][1]:.2f}]"
                    if fit["slope_ci"] else f"fit s = {fit['slope']:.2f}")
            ax.plot(x, fit["c_slope1"] / x, "k:",
                    label=rf"$c/(\lambda\eta)$, c = {fit['c_slope1']:.3g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # short minor labels at 2 and 5 only (the default 2x10^-3, 3x10^-3, ... overlap)
        ax.xaxis.set_minor_locator(mpl_ticker.LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(mpl_ticker.FuncFormatter(
            lambda v, _: f"{v:.0e}".replace("e-0", "e-")))
        ax.set_xlabel(r"$\lambda\,\eta$")
        ax.set_ylabel(f"$t^*$ (steps to {'min' if 'loss' in panel['metric'] else 'max'} "
                      f"{panel['metric'].replace('_', ' ')})")
        ax.legend(fontsize=7)
        print(f"   panel {panel['key']}: {summary_line(r)}")
    fig.suptitle(textwrap.fill(f"t*-collapse (preset {config['preset']}; dots: t* per lane; "
                               "plain SGD, constant lr)", 55 * len(panels)))
    fig.tight_layout()
    job.save_figure(fig)
    job.save_csv("curves", curves)
    job.save_csv("tstar", tstar_rows)
    return job.finish({"panels": results})


def _brief_lines(o: dict, which: str) -> list[str]:
    """Report lines of one t*-collapse analysis (``_brief``): slope with CI, lam lr t* per lam
    with its standard error and spread per lr, lanes at the boundary."""
    num = _common.num
    f = o["fit"]
    out = [f"- {which}: slope s = **{num(f and f['slope'], '.3f')}** (95% CI "
           f"{_common.interval(f and f['slope_ci'])}), c (s = 1) = {num(f and f['c_slope1'])}, "
           f"{o['n_included']} of {o['n_lanes']} lanes fitted"]
    out += [f"  - lr = {s['lr']:g}: lam lr t* per lam "
            + ", ".join(_common.pm(v, e, ".3g") for v, e in zip(s["c_per_lam"],
                                                              s["c_se_per_lam"]))
            + f" (lam {_common.numbers(s['lams'])}): spread **x{s['spread']:.2f}** over "
            f"x{s['lam_range']:.0f} lam" for s in o["spread_by_lr"]]
    bnd = [ln for ln in o["excluded_lanes"] if ln["excluded"] == "at_boundary"]
    pairs = sorted({(ln["lam"], ln["lr"]) for ln in bnd})
    where = ", ".join(
        f"lam {a:g} at lr {b:g}: {sum(1 for ln in bnd if (ln['lam'], ln['lr']) == (a, b))} of "
        f"{sum(1 for ln in o['t_star'] if (ln['lam'], ln['lr']) == (a, b))} seeds"
        for a, b in pairs)
    others = {k: v for k, v in o["excluded"].items() if k != "at_boundary"}
    out.append(f"  - lanes peaking at the boundary (t* only a bound, not fitted): {len(bnd)}"
               + (f" ({where})" if bnd else "")
               + f"; other exclusions: {_common.excluded_text(others)}")
    return out


def spread_claim(lanes: list[dict], lr: float, *, n_boot: int = 2000):
    """The claim ``lam lr t*`` spreads by at most ``SPREAD_MAX`` across lam at learning rate
    ``lr``: the spread max/min of the per-lam geometric means over seeds of the fitted lanes
    (``spread_by_lr``), its 95% interval from a bootstrap over seeds (a max/min of means has no
    t-interval), against ``[1, SPREAD_MAX]``."""
    from l2theory import experiments as ex

    used = [ln for ln in lanes if ln["excluded"] is None and ln["lr"] == lr]
    seeds = sorted({ln["seed"] for ln in used})
    lams = sorted({ln["lam"] for ln in used})
    logs = {(ln["lam"], ln["seed"]): np.log(ln["lam_lr_t_star"]) for ln in used}

    def spread(idx):
        chosen = [seeds[i] for i in idx]
        gm = []
        for lam in lams:
            v = [logs[(lam, sd)] for sd in chosen if (lam, sd) in logs]
            if not v:
                return np.nan
            gm.append(np.mean(v))
        return float(np.exp(max(gm) - min(gm)))

    return ex.bootstrap_claim(spread, len(seeds), 1.0, _report.SPREAD_MAX, n_boot=n_boot)


def fc_claims(fc: dict) -> list[_report.Claim]:
    """The FC panel's must-hold claims: the spread of ``lam lr t*`` at each lr (across at least
    a decade of lam; ``n/a`` on a narrower grid) and the fitted slope ``s`` in
    ``SLOPE_RANGE`` (its seed-bootstrap interval), with whether that interval contains the
    paper's ``s = 1``."""
    from l2theory import experiments as ex
    from l2theory._experiments.claims import verdict_of

    claims = []
    for s in fc["spread_by_lr"]:
        c = spread_claim(fc["lanes"], s["lr"])
        wide = _report.spans_a_decade(s["lam_range"])
        claims.append(_report.Claim.of(
            f"lam lr t* spread (max/min over lam of the geometric mean over seeds) <= "
            f"{_report.SPREAD_MAX} across >= a decade of lam at lr {s['lr']:g} (FC panel)", c,
            f"over x{s['lam_range']:.0f} lam ({_common.numbers(s['lams'])}); per lam "
            + ", ".join(f"{v:.3g}" for v in s["c_per_lam"]), fmt=".3g",
            verdict=None if wide else "n/a",
            note=None if wide else "the lams span less than a decade"))
    fit = fc["fit"]
    lo, hi = SLOPE_RANGE
    if fit is None:
        stat = ex.Claim("n/a", None, None, 0, _report.LEVEL, "bootstrap")
    else:
        ci = fit["slope_ci"]
        stat = ex.Claim(verdict_of(ci, lo, hi) if ci else "n/a", fit["slope"],
                        None if ci is None else tuple(ci), fit["n_seeds"], fit["ci"],
                        "bootstrap")
    one = ("no interval" if stat.ci is None else "contains the paper's s = 1"
           if stat.ci[0] <= 1 <= stat.ci[1] else "excludes the paper's s = 1")
    claims.append(_report.Claim.of(
        f"fitted slope s of t* = c (lam lr)^-s in [{lo}, {hi}] (FC panel; seed bootstrap)", stat,
        f"the interval {one}; "
        + ("-" if fit is None else f"{fit['n_points']} lanes, c (s = 1) = {fit['c_slope1']:.3g}"),
        fmt=".3f"))
    return claims


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: per panel every lane's t*, lam lr t* per lr and
    the fit, the other metric's t* beside; must hold (FC panel): the spread of lam lr t* across
    a decade of lam (``_report.SPREAD_MAX``) and the slope in ``SLOPE_RANGE``."""
    num, interval = _common.num, _common.interval
    preset = summary["config"]["preset"]
    lines = ["### t*-collapse\n", "*Caption:* top row: the test metric of every lane against the "
             "natural time lam lr t (color: lam); bottom row: t* (steps to the peak, "
             "local-linear smoothing in log-time) against lam lr with the fit t* = c (lam lr)^-s "
             "and the line c/(lam lr); open gray circles: t* from the other metric, beside. "
             f"Preset {preset}: "
             + ("FC-128x3 (MSE) on the shipped Fashion-MNIST subset stands in for FC on MNIST, "
                "and a small max-pooling CNN on 14x14 Fashion-MNIST for the CIFAR-10 WRN and CNN "
                "panels (the panel titles say so).\n"
                if preset == "quick" else "the paper's panels.\n")]
    claims = []
    for p in summary["results"]["panels"]:
        lines.append(f"### Collapse panel `{p['key']}`: {p['title']}\n")
        lines.append(f"| lam | lr | seed | t* (steps) | lam lr t* | {p['metric']} at t* | "
                     "excluded |")
        lines.append("|---|---|---|---|---|---|---|")
        for ln in p["lanes"]:
            lines.append(f"| {ln['lam']:.3g} | {ln['lr']:.3g} | {ln['seed']} | "
                         f"{num(ln['t_star'], '.1f')} | {num(ln['lam_lr_t_star'])} | "
                         f"{num(ln['value'], '.4f')} | {ln['excluded'] or ''} |")
        lines.append("")
        for s in p["spread_by_lr"]:
            lines.append(f"- lr = {s['lr']:g}: lam lr t* (geometric mean over seeds +- standard "
                         "error) per lam " + ", ".join(
                             _common.pm(v, e, ".3g") for v, e in zip(s["c_per_lam"],
                                                                     s["c_se_per_lam"]))
                         + f" over lam {min(s['lams']):.3g}..{max(s['lams']):.3g} "
                         f"(x{s['lam_range']:.1f}): spread factor max/min = **{s['spread']:.2f}**")
        fit = p["fit"]
        if fit:
            lines.append(f"- fit t* = c (lam lr)^(-s): s = **{fit['slope']:.3f}** (95% bootstrap "
                         f"CI {interval(fit['slope_ci'])}, {fit['bootstrap']} bootstrap, "
                         f"{fit['n_points']} lanes), c (s free) = {fit['c']:.3g}, c (s = 1) = "
                         f"{fit['c_slope1']:.3g}")
        lines.append(f"- t* from `{p['metric']}`; excluded lanes: "
                     f"{_common.excluded_text(p['excluded'])}; {p['seconds']:.0f} s")
        for metric, o in (p.get("other_metrics") or {}).items():
            lines.append("")
            lines.append(f"t* from `{metric}`, beside (not used by the checks):\n")
            lines += _brief_lines(o, "all lanes")
            w = o.get("window")
            if w:
                lines += _brief_lines(w, f"lanes with lam <= {w['lam_max']:g} (where the net "
                                         "learns before L2 shrinks it to f = 0)")
        lines.append("")
    fc = next((p for p in summary["results"]["panels"] if p["key"] == "fc"), None)
    if fc is not None:
        claims += fc_claims(fc)
    return _report.Report(lines, claims)


def main(argv=None) -> int:
    """``python -m l2theory.figures.collapse``: the figures command for this figure alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
