"""BatchNorm networks under SGD with momentum and L2: the measured angular update of the
scale-invariant weights against its predicted equilibrium, and the equilibration time beside t*.

What it shows (docs/conventions.md section 8.1): for weights followed by BatchNorm, L2 with SGD
and heavy-ball momentum ``mu`` drives the root-mean-square angle the weights turn per step to
``sqrt(2 lr lam / (1 + mu))``, reached in a few ``tau_eq = (1 - mu) / (4 lr lam)`` steps
(``experiments.bn_equilibrium``); away from it, each tensor obeys the drift relation
``theta_p^2 = theta_eq^2 (1 + 2 tau_eq d ln||W_p||^2/dt)``. For each network (a BatchNorm CNN
and the authors' Wide ResNet, ``wrn-*-autol2``) every lam (>= 4) and seed trains with momentum
0.9, augmentation and mixup (the authors' recipe; the mixup keeps the gradient noise alive on a
small training set) for a natural time ``lam lr t`` (lanes of at least ``min_steps``). Panels per
network: (a) the rows' ``angular_update`` over the prediction against ``t / tau_eq`` (band
+-10 %); (b) the late RMS angular update (``experiments.late_angular_update`` after
``late_from`` relaxation times) against the prediction, per lam, mean over seeds with its
Student-t 95 % interval; (c) per lam: the predicted ``tau_eq``, the measured step at which the
angular update first reaches 90 % of the prediction, and the net's ``t*`` (peak test accuracy,
``experiments.t_star``).

Must hold, one line each per network: (1) the equilibrium of the live tensors: at every lam
the 95 % interval over seeds of measured / predicted, the late RMS angle over the tensors whose
late norm drift is at least ``DEAD_DRIFT`` (per tensor, ``bn_tensor_angles``), lies within
[0.9, 1.1] (PASS); entirely outside: FAIL; otherwise TIE. A dead tensor (its residual branch
has no data gradient: it only decays, drift -1) is outside the theory; which tensors are dead
is read off their norms, not their angles, and the count is reported; (2) the same for every
tensor (the rows' ``angular_update``): needs every tensor at equilibrium; (3) the drift
relation, the same test against the prediction times ``(1 + mean_p drift_p)^(1/2)`` with each
tensor's drift measured over the late window from ``bn_tensor_norms``: holds on the way there,
and for a dead tensor.

Presets: ``quick`` (CPU, 54 s on 2 quiet cores): a BatchNorm CNN (3 conv layers of 16
channels; lr 0.05, lam 0.005 .. 0.04) and WRN-10-1-autol2 (lr 0.2, lam 0.005 .. 0.02) on 256
shipped Fashion-MNIST subset images downsampled to 7x7, batch 16, 3 seeds. ``cpu`` (the WRN
alone, closer to its equilibrium: WRN-10-1-autol2 on all 2000 shipped subset images at 14x14,
batch 64, lr 0.2, lam 0.0025 .. 0.01 for natural time 1.5, the late window after 24 relaxation
times, 5 seeds; 19 minutes on 2 cores). ``paper`` (GPU): a BatchNorm CNN and WRN-16-4-autol2
on 2048 CIFAR-10 images, lam 2.5e-3 .. 2e-2, 4 seeds (not yet run). Measured numbers:
``docs/figures.md``.

Files in ``DIR/bn_equilibrium/`` (``--out DIR``): ``bn_equilibrium.png/.pdf``,
``bn_equilibrium_curves.csv`` (every row of every lane: network, lam, seed, step, t / tau_eq,
angular update, its ratio to the prediction, ``||w||``, test accuracy),
``bn_equilibrium_lams.csv`` (per network and lam: predicted angle and tau_eq, measured mean and
interval, drifts, t_90, t*), ``bn_equilibrium.json``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from l2theory._experiments import claims as _claims
from l2theory.figures import _common, _report, make_all

NAME = "bn_equilibrium"

BAND = 0.10    # measured / predicted within 1 +- BAND at equilibrium
LEVEL = 0.95   # the interval over seeds
REACHED = 0.9  # t_90: first row whose angular update reaches this fraction of the prediction
# A tensor is dead (no data gradient: it only decays, drift -1) below this late drift, alive
# (drift 0 at equilibrium) above it: the midpoint, decided by the norms, not by the angles
DEAD_DRIFT = -0.5

_TRAIN = dict(lr=0.05, momentum=0.9, augment=True, mixup=True)
_CNN = dict(model="cnn", depth=3, width=16, model_kwargs={"batchnorm": True})

CONFIGS = {
    "quick": {"title": "on 256 Fashion-MNIST subset images at 7x7 (momentum 0.9, mixup, "
                       "augmentation, batch 16; lr 0.05 CNN, 0.2 WRN)",
              "dataset": "fashion_mnist_subset", "n_train": 256, "n_test": 128, "downsample": 4,
              "panels": [
                  {"key": "cnn", "title": "BatchNorm CNN (3 conv x 16 ch.)", "model": _CNN,
                   "lams": [0.005, 0.01, 0.02, 0.04], "natural_time": 0.3, "min_steps": 400,
                   "late_from": 6.0, "chunk_size": 3, "eval_every": 50, "batch_size": 16},
                  {"key": "wrn", "title": "WRN-10-1-autol2 (BatchNorm)",
                   "model": dict(model="wrn-10-1-autol2"), "lams": [0.005, 0.01, 0.015, 0.02],
                   "lr": 0.2, "natural_time": 0.5, "late_from": 12.0, "chunk_size": 1,
                   "eval_every": 25, "batch_size": 16}],
              "train": dict(_TRAIN, train_eval_size=128, eval_batch_size=128),
              "seeds": [0, 1, 2]},
    "paper": {"title": "on 2048 CIFAR-10 images (momentum 0.9, mixup, augmentation, batch 128, "
                       "lr 0.02)",
              "dataset": "cifar10", "n_train": 2048, "n_test": 1000, "downsample": 1,
              "panels": [
                  {"key": "cnn", "title": "BatchNorm CNN (3 conv x 64 ch.)",
                   "model": dict(_CNN, width=64), "lams": [2.5e-3, 5e-3, 1e-2, 2e-2],
                   "natural_time": 0.4, "late_from": 8.0, "chunk_size": 16, "eval_every": 50,
                   "batch_size": 128},
                  {"key": "wrn", "title": "WRN-16-4-autol2 (BatchNorm)",
                   "model": dict(model="wrn-16-4-autol2"), "lams": [2.5e-3, 5e-3, 1e-2, 2e-2],
                   "natural_time": 0.4, "late_from": 8.0, "chunk_size": 16, "eval_every": 50}],
              "train": dict(_TRAIN, lr=0.02, train_eval_size=1000,
                            eval_batch_size=1000),
              "seeds": [0, 1, 2, 3]},
    # cpu: the WRN alone, closer to equilibrium than quick (14x14 images, 2000 of them, batch 64,
    # natural time 1.5, the late window after 24 relaxation times); minutes on 2 CPU cores since
    # convolutional nets train one compiled step at a time there. Its lams keep the adiabatic
    # ratio 4 lr lam / (1 - mu)^2 at 0.2 .. 0.8, inside the derivation's condition (< 1):
    # lam 0.015 and 0.02 (ratio 1.2, 1.6) were measured TIE, 0.964 [0.832, 1.095] and
    # 0.947 [0.883, 1.010], with stage 2 still shrinking (drift -0.4; docs/figures.md)
    "cpu": {
        "title": "on 2000 Fashion-MNIST subset images at 14x14 (momentum 0.9, mixup, "
                 "augmentation, batch 64, lr 0.2)",
        "dataset": "fashion_mnist_subset", "n_train": 2000, "n_test": 256, "downsample": 2,
        "panels": [{"key": "wrn", "title": "WRN-10-1-autol2 (BatchNorm)",
                    "model": dict(model="wrn-10-1-autol2"),
                    "lams": [0.0025, 0.005, 0.0075, 0.01],
                    "lr": 0.2, "natural_time": 1.5, "late_from": 24.0, "chunk_size": None,
                    "eval_every": 25, "batch_size": 64}],
        "train": dict(_TRAIN, train_eval_size=256, eval_batch_size=128),
        "seeds": [0, 1, 2, 3, 4]},
}
# Tiny: one lam of the quick CNN, 2 seeds in one program, on 128 images (seconds; a real run,
# checked in tests/test_figures.py).
TINY = {"n_train": 128, "n_test": 32,
        "panels": [{"key": "cnn", "title": "BatchNorm CNN (3 conv x 16 ch.)", "model": _CNN,
                    "lams": [0.04], "natural_time": 0.8, "late_from": 12.0, "chunk_size": 2,
                    "eval_every": 50, "batch_size": 16}],
        "train": dict(_TRAIN, train_eval_size=32, eval_batch_size=32),
        "seeds": [0, 1]}


def _within_band(values) -> _claims.Claim:
    """Measured / predicted per seed against ``1 +- BAND``: the Student-t interval over seeds
    (``experiments.claim_within``)."""
    return _claims.claim_within(values, 1 - BAND, 1 + BAND, level=LEVEL)


def _lane(rows, i):
    """The rows of lane ``i`` of a sweep table (1-D columns only)."""
    sel = np.asarray(rows["run"]) == i
    return {k: np.asarray(v)[sel] for k, v in rows.items() if not isinstance(v, dict)}


def norm_drift(steps, norms, late_from: float, eq) -> float | None:
    """``2 tau_eq d ln||w||^2 / dt`` of a norm column over the late window (from its first row at
    or after ``late_from tau_eq`` to the last): the relative amount by which
    ``E||Delta||^2 / ||w||^2 = 2 lr lam / (1 + mu)`` is off while ``||w||`` still drifts
    (docs/conventions.md section 8.1: ``Q / A = 2 lr lam (1 + 2 tau_eq d ln A / dt) / (1 + mu)``);
    0 at equilibrium, -1 for a tensor that only decays (no data gradient)."""
    steps = np.asarray(steps, float)
    at = np.flatnonzero(steps >= late_from * eq.relaxation_steps)
    if len(at) < 2:
        return None
    i, j = at[0], at[-1]
    log_a = 2 * np.log(np.maximum(np.asarray(norms, float), 1e-30))
    return float(2 * eq.relaxation_steps * (log_a[j] - log_a[i]) / (steps[j] - steps[i]))


def _tensor_lane(table, run: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(steps, {tensor: column})`` of lane ``run`` of a per-tensor nested table
    (``bn_tensor_norms``, ``bn_tensor_angles``)."""
    sel = np.asarray(table["run"]) == run
    return (np.asarray(table["step"])[sel],
            {k: np.asarray(v)[sel] for k, v in table.items() if k not in ("run", "step")})


def tensor_late_angles(rows, run: int, late_from: float, eq) -> dict[str, float] | None:
    """The late RMS angle per step of each scale-invariant tensor of lane ``run``
    (``experiments.late_angular_update`` of its ``bn_tensor_angles`` column after ``late_from
    tau_eq``); None for rows without per-tensor angles (results written before them)."""
    from l2theory import experiments as ex

    if "bn_tensor_angles" not in rows:
        return None
    steps, angles = _tensor_lane(rows["bn_tensor_angles"], run)
    return {k: ex.late_angular_update({"step": steps, "angular_update": v},
                                      late_from * eq.relaxation_steps)
            for k, v in angles.items()}


def live_ratio(late: dict[str, float] | None, drifts: dict[str, float | None],
               predicted: float) -> tuple[float | None, int]:
    """``(sqrt(mean_p theta_p^2) / predicted over the live tensors, number of dead tensors)``:
    a tensor is dead when its late drift is below ``DEAD_DRIFT`` (its residual branch has no
    data gradient; docs/conventions.md 8.1, "Dead tensors"); ``(None, dead)`` without
    per-tensor angles or when every tensor is dead."""
    dead = sum(d is not None and d < DEAD_DRIFT for d in drifts.values())
    if late is None:
        return None, dead
    live = [late[k] ** 2 for k, d in drifts.items() if d is None or d >= DEAD_DRIFT]
    return (float(np.sqrt(np.mean(live)) / predicted) if live else None), dead


def tensor_drifts(rows, run: int, late_from: float, eq) -> dict[str, float | None]:
    """``norm_drift`` of each scale-invariant tensor of lane ``run`` (``bn_tensor_norms``)."""
    steps, norms = _tensor_lane(rows["bn_tensor_norms"], run)
    return {k: norm_drift(steps, v, late_from, eq) for k, v in norms.items()}


def _first_reached(steps, ratio, frac: float = REACHED):
    hit = np.flatnonzero(np.nan_to_num(ratio) >= frac)
    return None if not len(hit) else float(steps[hit[0]])


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _lanes(panel: dict, base, rows, lanes: dict, curves: list) -> None:
    """Every lane of one sweep table into ``lanes`` (by lam) and ``curves``."""
    from l2theory import experiments as ex

    for i in np.unique(np.asarray(rows["run"])):
        lane = _lane(rows, i)
        lam, seed = float(lane["run_lam"][0]), int(lane["seed"][0])
        eq = ex.bn_equilibrium(base.replace(lam=lam))
        steps = lane["step"].astype(float)
        ratio = lane["angular_update"] / eq.angular_update
        diverged = bool(lane["diverged"][-1])
        late = None if diverged else ex.late_angular_update(
            lane, panel["late_from"] * eq.relaxation_steps)
        peak = (ex.t_star(steps, lane["test_acc"], mode="max") if np.sum(steps > 0) >= 3
                else None)
        drifts = tensor_drifts(rows, i, panel["late_from"], eq)
        alive, dead = live_ratio(None if diverged else
                                 tensor_late_angles(rows, i, panel["late_from"], eq),
                                 drifts, eq.angular_update)
        known = [d for d in drifts.values() if d is not None]
        # the drift relation per tensor: mean_p theta_p^2 = theta_eq^2 (1 + mean_p drift_p)
        corrected = (np.sqrt(max(0.0, 1.0 + float(np.mean(known)))) if known and not diverged
                     else None)
        lanes.setdefault(lam, []).append({
            "seed": seed, "late": late, "ratio": None if late is None else late / eq.angular_update,
            "drift": None if diverged else norm_drift(steps, lane["bn_weight_norm"],
                                                      panel["late_from"], eq),
            "tensor_drifts": drifts, "ratio_live": alive, "dead_tensors": dead,
            "ratio_drift": (None if late is None or not corrected else
                            late / (eq.angular_update * corrected)),
            "t_90": _first_reached(steps, ratio),
            "t_star": None if peak is None else peak.t_star,
            "t_star_at_boundary": peak is None or bool(peak.at_boundary), "diverged": diverged,
            "steps": int(steps[-1]), "eq": eq._asdict()})
        curves += [{"network": panel["key"], "lam": lam, "seed": seed, "step": int(s),
                    "t_over_tau": s / eq.relaxation_steps, "angular_update": float(a),
                    "ratio": float(r), "bn_weight_norm": float(n), "test_acc": float(acc)}
                   for s, a, r, n, acc in zip(steps, lane["angular_update"], ratio,
                                              lane["bn_weight_norm"], lane["test_acc"])]


def run_panel(panel: dict, config: dict, ds, progress: bool = False):
    """One network's sweep; returns ``(lam rows, curve rows)``."""
    from l2theory import train

    base = _common.train_config({**panel["model"], **config["train"], "steps": 1,
                                 "eval_every": panel["eval_every"],
                                 "batch_size": panel["batch_size"],
                                 "lr": panel.get("lr", config["train"]["lr"])})
    lanes, curves = {}, []
    for lam in panel["lams"]:
        # natural_time (rounded up to whole evaluation segments), but at least min_steps: the
        # short lanes of a large lam get a late window of many relaxation times (the compiled
        # programs are shared: steps are traced)
        n = max(math.ceil(panel["natural_time"] / (base.lr * lam)), panel.get("min_steps", 1))
        n = -(-n // panel["eval_every"]) * panel["eval_every"]  # whole segments: one program
        # chunk_size 1 for a WRN on a CPU: there a vmapped convolution with per-lane weights
        # cost about twice as much per lane as the single-lane program (WRN-10-1, measured)
        rows = train.sweep(base.replace(steps=n), ds, lam=[lam], lr=[base.lr],
                           seeds=config["seeds"], chunk_size=panel["chunk_size"],
                           progress=progress, desc=f"{panel['key']} lam {lam:g}")
        _lanes(panel, base, rows, lanes, curves)
    out = []
    for lam, runs in sorted(lanes.items()):
        eq = runs[0]["eq"]
        within, drift, live = (_within_band([r["ratio"] for r in runs]),
                               _within_band([r["ratio_drift"] for r in runs]),
                               _within_band([r["ratio_live"] for r in runs]))
        t90 = [r["t_90"] for r in runs if r["t_90"] is not None]
        tstar = [r["t_star"] for r in runs if r["t_star"] is not None]
        out.append({"network": panel["key"], "lam": lam, "lr": base.lr,
                    "momentum": base.momentum, "predicted": eq["angular_update"],
                    "tau_eq": eq["relaxation_steps"], "adiabatic_ratio": eq["adiabatic_ratio"],
                    "ratio_mean": within.estimate, "ratio_ci": within.ci,
                    "verdict": within.verdict,
                    "ratios": [r["ratio"] for r in runs],
                    "ratio_live_mean": live.estimate, "ratio_live_ci": live.ci,
                    "verdict_live": live.verdict, "ratios_live": [r["ratio_live"] for r in runs],
                    "dead_tensors": sum(r["dead_tensors"] for r in runs),
                    "tensors": len(runs) * len(runs[0]["tensor_drifts"]),
                    "drift": _mean([r["drift"] for r in runs]),
                    "tensor_drifts": {k: _mean([r["tensor_drifts"][k] for r in runs])
                                      for k in runs[0]["tensor_drifts"]},
                    "ratio_drift_mean": drift.estimate, "ratio_drift_ci": drift.ci,
                    "verdict_drift": drift.verdict,
                    "late_from_step": panel["late_from"] * eq["relaxation_steps"],
                    "steps": runs[0]["steps"], "n_seeds": len(runs),
                    "diverged": sum(r["diverged"] for r in runs),
                    "t_90_mean": float(np.mean(t90)) if t90 else None,
                    "t_90_reached": len(t90),
                    "t_star_mean": _mean(tstar),
                    "t_star_se": (float(np.std(tstar, ddof=1) / np.sqrt(len(tstar)))
                                  if len(tstar) > 1 else None),
                    "t_star_at_boundary": sum(r["t_star_at_boundary"] for r in runs)})
    return out, curves


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out``."""
    job = _common.FigureRun(NAME, config, out)
    plt = job.plt
    ds = job.dataset(downsample=config.get("downsample", 1))
    lam_rows, curves = [], []
    for panel in config["panels"]:
        rows, crv = run_panel(panel, config, ds, progress)
        lam_rows += rows
        curves += crv
        for r in rows:
            print(f"   {panel['key']} lam {r['lam']:<6g} predicted {r['predicted']:.4f}, "
                  f"measured/predicted {_common.pm(r['ratio_mean'], None, '.3f')} "
                  f"{_common.interval(r['ratio_ci'])} ({r['verdict']}), live tensors "
                  f"{_common.num(r['ratio_live_mean'], '.3f')} "
                  f"{_common.interval(r['ratio_live_ci'])} ({r['verdict_live']}; "
                  f"{r['dead_tensors']} of {r['tensors']} dead), tau_eq "
                  f"{r['tau_eq']:.0f}, t_90 {_common.num(r['t_90_mean'], '.0f')}, t* "
                  f"{_common.num(r['t_star_mean'], '.0f')}, drift of the tensors "
                  + ", ".join(_common.num(v, "+.2f") for v in r["tensor_drifts"].values())
                  + f", measured / drift-corrected {_common.num(r['ratio_drift_mean'], '.3f')} "
                  f"{_common.interval(r['ratio_drift_ci'])}")
    panels = config["panels"]
    fig, axes = plt.subplots(len(panels), 3, figsize=(15, 4.6 * len(panels)), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for row, panel in zip(axes, panels):
        key = panel["key"]
        lams = sorted(panel["lams"])
        colors = {lam: cmap(i / max(1, len(lams) - 1)) for i, lam in enumerate(lams)}
        mine = [c for c in curves if c["network"] == key]
        for lam in lams:
            for seed in config["seeds"]:
                pts = [c for c in mine if c["lam"] == lam and c["seed"] == seed and c["step"] > 0]
                row[0].plot([c["t_over_tau"] for c in pts], [c["ratio"] for c in pts], "-",
                            color=colors[lam], lw=1, alpha=0.8,
                            label=f"$\\lambda$ = {lam:g}" if seed == config["seeds"][0] else None)
        row[0].axhspan(1 - BAND, 1 + BAND, color="0.85", zorder=0)
        row[0].axhline(1, color="k", ls="--", lw=1)
        row[0].axvline(panel["late_from"], color="0.4", ls=":", lw=1)
        row[0].set_xscale("log")
        row[0].set_xlabel(r"$t / \tau_{eq}$,  $\tau_{eq} = (1-\mu)/(4\eta\lambda)$")
        row[0].set_ylabel(r"angular update / $\sqrt{2\eta\lambda/(1+\mu)}$")
        row[0].set_title(f"(a) {panel['title']}: angular update per step (RMS over each "
                         "row's window)", fontsize=9)
        _common.legend_outside(row[0], ncol=4)
        mine_l = [r for r in lam_rows if r["network"] == key]
        pred = np.array([r["predicted"] for r in mine_l])
        meas = np.array([np.nan if r["ratio_mean"] is None else r["ratio_mean"] * r["predicted"]
                         for r in mine_l])
        err = np.array([[0, 0] if r["ratio_ci"] is None else
                        [(r["ratio_mean"] - r["ratio_ci"][0]) * r["predicted"],
                         (r["ratio_ci"][1] - r["ratio_mean"]) * r["predicted"]]
                        for r in mine_l]).T
        for r in mine_l:
            for x in r["ratios"]:
                if x is not None:
                    row[1].plot(r["predicted"], x * r["predicted"], ".", color="0.6", ms=4)
        row[1].errorbar(pred, meas, yerr=err, fmt="o", color="C0", capsize=3,
                        label=f"late RMS (t > {panel['late_from']:g} $\\tau_{{eq}}$), every "
                              "tensor, mean over seeds, 95% interval")
        live = [r for r in mine_l if r["ratio_live_mean"] is not None]
        if live:
            row[1].errorbar([r["predicted"] * 1.03 for r in live],
                            [r["ratio_live_mean"] * r["predicted"] for r in live],
                            yerr=np.array([[0, 0] if r["ratio_live_ci"] is None else
                                           [(r["ratio_live_mean"] - r["ratio_live_ci"][0]),
                                            (r["ratio_live_ci"][1] - r["ratio_live_mean"])]
                                           for r in live]).T
                            * np.array([r["predicted"] for r in live]),
                            fmt="s", color="C3", capsize=3, mfc="none",
                            label=f"live tensors only (late drift >= {DEAD_DRIFT:g})")
        x = np.geomspace(pred.min() / 1.3, pred.max() * 1.3, 20)
        row[1].plot(x, x, "k--", lw=1, label="predicted")
        row[1].fill_between(x, (1 - BAND) * x, (1 + BAND) * x, color="0.85", zorder=0)
        row[1].set_xscale("log")
        row[1].set_yscale("log")
        row[1].set_xlabel(r"predicted $\sqrt{2\eta\lambda/(1+\mu)}$ (rad / step)")
        row[1].set_ylabel("measured (rad / step)")
        row[1].set_title("(b) equilibrium angular update, measured vs predicted", fontsize=9)
        _common.legend_outside(row[1], ncol=1)
        lam_x = [r["lam"] for r in mine_l]
        row[2].plot(lam_x, [r["tau_eq"] for r in mine_l], "k--", marker="s",
                    label=r"predicted $\tau_{eq}$")
        row[2].plot(lam_x, [r["t_90_mean"] if r["t_90_mean"] is not None else np.nan
                            for r in mine_l], "o-", color="C1",
                    label=f"measured: first reaches {REACHED:g} x prediction")
        row[2].errorbar(lam_x, [np.nan if r["t_star_mean"] is None else r["t_star_mean"]
                                for r in mine_l],
                        yerr=[r["t_star_se"] or 0 for r in mine_l], fmt="^-", color="C2",
                        capsize=3, label="$t^*$ (peak test accuracy)")
        row[2].set_xscale("log")
        row[2].set_yscale("log")
        row[2].set_xlabel(_common.label("lam"))
        row[2].set_ylabel("steps")
        row[2].set_title("(c) equilibration time and $t^*$", fontsize=9)
        _common.legend_outside(row[2], ncol=1)
    fig.suptitle(f"Angular update of BatchNorm-scale-invariant weights under SGD + momentum + L2 "
                 f"{config['title']} (preset {config['preset']})", fontsize=10)
    fig.tight_layout()
    job.save_figure(fig)
    job.save_csv("curves", curves)
    job.save_csv("lams", [{k: (v if not isinstance(v, (list, tuple)) else
                               " ".join(_common.num(x, ".4g") for x in v))
                           for k, v in r.items()} for r in lam_rows])
    return job.finish({"lams": lam_rows, "band": BAND, "level": LEVEL, "reached": REACHED})


def _at_every_lam(rows, mean: str, ci: str, verdict: str) -> tuple[_claims.Claim, str]:
    """The claims of every lam (each row's ``mean``, ``ci`` and ``verdict`` keys, over its
    ``n_seeds``) that must all hold: the combined verdict, carried by the lam that decides it
    (the one whose interval reaches farthest from 1 among those with that verdict), and which
    lam that is."""
    stats = [_claims.Claim(x[verdict], x[mean], None if x[ci] is None else tuple(x[ci]),
                           x["n_seeds"], LEVEL) for x in rows]
    verdict = _claims.combine(stats)
    deciding = [i for i, c in enumerate(stats) if c.verdict == verdict] or list(range(len(rows)))
    worst = max(deciding, key=lambda i: 0.0 if stats[i].ci is None else
                max(abs(stats[i].ci[0] - 1), abs(stats[i].ci[1] - 1)))
    stat = stats[worst]
    return _claims.Claim(verdict, stat.estimate, stat.ci, stat.n, LEVEL), f"{rows[worst]['lam']:g}"


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: per network and lam, the predicted and measured
    equilibrium angular update and the times; must hold: measured / predicted within 1 +- BAND
    (95 % interval over seeds) at every lam, one line per network."""
    num, interval = _common.num, _common.interval
    r, cfg = summary["results"], summary["config"]
    rows = r["lams"]
    lines = [f"### BatchNorm equilibrium ({cfg.get('title')})\n",
             "*Caption:* the angle (radians) the BatchNorm-scale-invariant weights turn per step "
             "(rows' `angular_update`: RMS over each row's steps and over the tensors) against "
             "the equilibrium `sqrt(2 lr lam / (1 + mu))`, measured as the RMS "
             "over every step after `late_from` relaxation times `tau_eq = (1 - mu) / "
             "(4 lr lam)`, per seed, with the Student-t 95% interval over seeds of the mean; "
             "drift of the tensors: `2 tau_eq d ln||W_p||^2/dt` of each tensor over that window "
             "(0 at equilibrium, -1 for a tensor that only decays: no data gradient); "
             "drift-corrected: the prediction times `(1 + mean_p drift_p)^(1/2)` (the drift "
             "relation, docs/conventions.md 8.1); `t_90`: the first row at 90% of the prediction; `t*`: "
             "the step of peak test accuracy (smoothed in log-time), mean over seeds ("
             f"{len(cfg.get('seeds', []))} seeds; per network: "
             + "; ".join(f"{p['key']} natural time {p['natural_time']:g}, late_from "
                         f"{p['late_from']:g}" for p in cfg.get("panels", [])) + ").\n",
             f"Live tensors: those whose late drift is at least {DEAD_DRIFT:g} (a dead tensor, "
             "whose branch has no data gradient, only decays: drift -1, and is not at an "
             "equilibrium of this kind); dead: how many of the tensors x seeds fell below.\n",
             "| network | lam | steps | predicted | measured / predicted (per seed) | mean, 95% "
             "interval | verdict | live tensors: per seed | mean, 95% interval | verdict | dead "
             "| drift of the tensors | measured / drift-corrected | tau_eq | "
             "t_90 | t* | t* / tau_eq |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in rows:
        per_seed = ", ".join(num(v, ".3f") for v in x["ratios"])
        ratio = None if x["t_star_mean"] is None else x["t_star_mean"] / x["tau_eq"]
        bound = (f" ({x['t_star_at_boundary']} at the boundary)" if x["t_star_at_boundary"]
                 else "")
        lines.append(f"| {x['network']} | {x['lam']:g} | {x['steps']} | {x['predicted']:.4f} | "
                     f"{per_seed} | {num(x['ratio_mean'], '.3f')} {interval(x['ratio_ci'])} | "
                     f"{x['verdict']} | "
                     + ", ".join(num(v, ".3f") for v in x.get("ratios_live", []))
                     + f" | {num(x.get('ratio_live_mean'), '.3f')} "
                     f"{interval(x.get('ratio_live_ci'))} | {x.get('verdict_live', 'n/a')} | "
                     f"{x.get('dead_tensors', 'n/a')} of {x.get('tensors', 'n/a')} | "
                     + ", ".join(num(v, "+.2f") for v in x["tensor_drifts"].values())
                     + f" | {num(x['ratio_drift_mean'], '.3f')} {interval(x['ratio_drift_ci'])} | "
                     f"{x['tau_eq']:.0f} | "
                     f"{num(x['t_90_mean'], '.0f')} | {num(x['t_star_mean'], '.0f')}{bound} | "
                     f"{num(ratio, '.2f')} |")
    lines.append("")
    claims = []
    for key in dict.fromkeys(x["network"] for x in rows):
        mine = [x for x in rows if x["network"] == key]
        detail = "; ".join(f"lam {x['lam']:g}: {num(x['ratio_mean'], '.3f')} "
                           f"{interval(x['ratio_ci'])}" for x in mine)
        if all("ratio_live_mean" in x for x in mine):
            stat, lam = _at_every_lam(mine, "ratio_live_mean", "ratio_live_ci", "verdict_live")
            dead = sum(x["dead_tensors"] for x in mine)
            claims.append(_report.Claim.of(
                f"{key}: at equilibrium (the live tensors: late drift >= {DEAD_DRIFT:g}; "
                f"{dead} of {sum(x['tensors'] for x in mine)} tensors x seeds dead) the angular "
                f"update per step is sqrt(2 lr lam / (1 + mu)) within {BAND:.0%} at every lam "
                f"(RMS over the live tensors, measured / predicted per seed, momentum "
                f"{mine[0]['momentum']:g}; estimate and interval of the deciding lam {lam})",
                stat, "; ".join(f"lam {x['lam']:g}: {num(x['ratio_live_mean'], '.3f')} "
                                f"{interval(x['ratio_live_ci'])} ({x['dead_tensors']} dead)"
                                for x in mine), fmt=".3f"))
        stat, lam = _at_every_lam(mine, "ratio_mean", "ratio_ci", "verdict")
        claims.append(_report.Claim.of(
            f"{key}: every tensor at equilibrium: the rows' angular update per step (RMS over "
            f"all the tensors, dead ones included) is sqrt(2 lr lam / (1 + mu)) within "
            f"{BAND:.0%} at every lam (measured / predicted per seed, momentum "
            f"{mine[0]['momentum']:g}; estimate and interval of the deciding lam {lam})",
            stat, detail, fmt=".3f"))
        stat, lam = _at_every_lam(mine, "ratio_drift_mean", "ratio_drift_ci",
                                  "verdict_drift")
        claims.append(_report.Claim.of(
            f"{key}: the drift relation mean_p theta_p^2 = theta_eq^2 (1 + mean_p 2 tau_eq "
            f"dln||W_p||^2/dt) holds within {BAND:.0%} at every lam (late window; deciding lam "
            f"{lam})", stat,
            "; ".join(f"lam {x['lam']:g}: {num(x['ratio_drift_mean'], '.3f')} "
                                   f"{interval(x['ratio_drift_ci'])}" for x in mine), fmt=".3f"))
        t_ratio = [None if x["t_star_mean"] is None else x["t_star_mean"] / x["tau_eq"]
                   for x in mine]
        lines.append(f"- {key}: t* / tau_eq = {_common.numbers(t_ratio, '.2f')} over lam "
                     f"{_common.numbers([x['lam'] for x in mine], 'g')} (both scale as "
                     "1/(lr lam) when the ratio is constant); t_90 / tau_eq = "
                     + _common.numbers([None if x["t_90_mean"] is None else
                                        x["t_90_mean"] / x["tau_eq"] for x in mine], ".2f"))
    return _report.Report(lines, claims)


def main(argv=None) -> int:
    """``python -m l2theory.figures.bn_equilibrium``: the figures command for this figure
    alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
