"""The theory figures: infinite-width test curves against ``lam lr t`` for several lam and for
several depths, and the kernel decay ``Theta_t = exp(-2 (L-1) lr lam t) Theta_0``.

What it shows (docs/conventions.md, infinite width): (a) for a depth-L ReLU net (NTK
parameterization, MSE, gradient flow with L2) the predicted test accuracy of different lam collapses
onto one curve of ``lam lr t`` and peaks at ``lam lr t* = c`` of order 0.1-1; (b) deeper nets
(faster kernel decay, ``gamma = 2 (L-1) lr lam``) peak earlier in ``lam lr t``; ``L = 1`` (linear
model, no decay) converges to kernel ridge regression and does not collapse; (c) the kernel decay:
the predicted ``Theta_t / Theta_0`` for L = 1..4 with the measured ratio ``tr Theta_t / tr Theta_0``
of the empirical NTK of a finite-width bias-free ReLU net trained by full-batch GD with L2.

Presets: ``quick`` (CPU, 25 s on 2 CPU cores): 500 train / 500 test points of the shipped
Fashion-MNIST subset, depths 1-5, a width-512 net for the measured decay; ``paper``: 2000 MNIST
points, depths up to 8, width 2048 for the measured decay.
Outputs (in ``<out>/theory/``): ``theory.png/.pdf``, ``theory_curves.csv`` (predicted test
accuracy per lam/depth vs ``lam lr t``), ``theory_kernel_decay.csv``, ``theory.json``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from l2theory import _precision
from l2theory.figures import _common, _report, make_all

NAME = "theory"

# units: lam (L2 coefficient), lr (per step; flows depend on lr t only), tau = lam lr t
CONFIGS = {
    "quick": {"dataset": "fashion_mnist_subset", "n_train": 500, "n_test": 500,
              "lr": 1.0, "lams": [1e-4, 1e-3, 1e-2, 1e-1], "depth": 3,
              "depths": [1, 2, 3, 4, 5], "depth_lam": 1e-3, "grid_points": 200,
              "tau_range": [1e-3, 30.0],
              "decay": {"n_train": 200, "width": 512, "depth": 3, "lam": 1e-2, "lr": 0.5,
                        "tau_max": 3.0, "n_records": 12, "seed": 0}},
    "paper": {"dataset": "mnist", "n_train": 2000, "n_test": 2000,
              "lr": 1.0, "lams": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], "depth": 3,
              "depths": [1, 2, 3, 4, 6, 8], "depth_lam": 1e-3, "grid_points": 400,
              "tau_range": [1e-4, 100.0],
              "decay": {"n_train": 1000, "width": 2048, "depth": 3, "lam": 1e-2, "lr": 0.5,
                        "tau_max": 4.0, "n_records": 16, "seed": 0}},
}
TINY = {"n_train": 60, "n_test": 60, "lams": [1e-3, 1e-2], "depths": [1, 3],
        "grid_points": 30,
        "decay": {"n_train": 30, "width": 32, "depth": 3, "lam": 1e-2, "lr": 0.5,
                  "tau_max": 1.0, "n_records": 4, "seed": 0}}


def _flatten(ds):
    from l2theory import data

    k = ds.num_classes
    x_tr = ds.x_train.reshape(ds.n_train, -1).astype(np.float64)
    x_te = ds.x_test.reshape(ds.n_test, -1).astype(np.float64)
    return (x_tr, data.one_hot(ds.y_train, k, centered=True).astype(np.float64), x_te,
            data.one_hot(ds.y_test, k, centered=True).astype(np.float64))


def curves_for(x_tr, y_tr, x_te, y_te, *, depth, lam, lr, tau):
    from l2theory import kernels, solvers

    _, k_tt = kernels.fc_relu(x_tr, depth=depth)
    _, k_st = kernels.fc_relu(x_te, x_tr, depth=depth)
    flow = solvers.L2GradientFlow(np.asarray(k_tt), y_tr, lam=lam, lr=lr, degree=depth)
    t = tau / (lam * lr)
    pk = solvers.peak(flow, np.asarray(k_st), y_te, metric="accuracy", t=t)
    return pk


def kernel_decay(cfg: dict, ds) -> list[dict]:
    """Measured ``tr Theta_t / tr Theta_0`` of a finite-width net trained by full-batch GD with
    L2 (the training engine's step via ``fc_network.train_recording`` is not used: it returns
    only outputs; this is a direct GD loop on the same objective)."""
    import jax
    import jax.numpy as jnp

    from l2theory import data, models
    from l2theory.experiments import fc_empirical_ntk

    n = cfg["n_train"]
    x = jnp.asarray(ds.x_train[:n].reshape(n, -1), jnp.float32)
    y = jnp.asarray(data.one_hot(ds.y_train[:n], ds.num_classes, centered=True), jnp.float32)
    depth, lam, lr = cfg["depth"], cfg["lam"], cfg["lr"]
    model = models.fully_connected(depth=depth, width=cfg["width"], out_dim=ds.num_classes,
                                   bias=False, parameterization="ntk")
    params, _ = model.init(jax.random.PRNGKey(cfg["seed"]), x.shape[1:])

    def loss(p):
        f = model.apply(p, {}, x, False)[0]
        reg = sum(jnp.sum(w ** 2) for w in jax.tree.leaves(p))
        return jnp.mean(0.5 * jnp.sum((f - y) ** 2, -1)) + lam / 2 * reg

    def body(p, _):
        g = jax.grad(loss)(p)
        return jax.tree.map(lambda a, b: a - lr * b, p, g), None

    compiled = {}

    def steps(p, k):
        if k not in compiled:
            # full float32 products on every backend (a theory comparison)
            compiled[k] = jax.jit(_precision.full_precision(
                lambda p: jax.lax.scan(body, p, None, length=k)[0]))
        return compiled[k](p)

    end = int(np.ceil(cfg["tau_max"] / (lam * lr)))
    record = np.unique(np.round(np.linspace(0, end, cfg["n_records"] + 1)).astype(int))
    out, t, tr0 = [], 0, None
    for r in record:
        while t < r:  # advance in chunks of at most 64 steps (one compilation per chunk size)
            k = int(min(64, r - t))
            params = steps(params, k)
            t += k
        k11, _ = fc_empirical_ntk(params, np.asarray(x), depth=depth)
        tr = float(np.trace(k11))
        tr0 = tr if tr0 is None else tr0
        tau = lam * lr * r
        out.append({"step": int(r), "lam_lr_t": tau, "trace_ratio_measured": tr / tr0,
                    "predicted": float(np.exp(-2 * (depth - 1) * tau))})
    return out


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out`` (``progress``: unused, the figure takes seconds)."""
    with _common.x64():
        return _run(_common.FigureRun(NAME, config, out))


def _run(job: _common.FigureRun) -> dict:
    config, plt = job.config, job.plt
    ds = job.dataset()
    x_tr, y_tr, x_te, y_te = _flatten(ds)
    lr = config["lr"]
    tau = np.geomspace(*config["tau_range"], config["grid_points"])
    rows, res_lam, res_depth = [], [], []
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for lam in config["lams"]:
        pk = curves_for(x_tr, y_tr, x_te, y_te, depth=config["depth"], lam=lam, lr=lr, tau=tau)
        axes[0].plot(tau, pk.curve, label=f"$\\lambda$ = {lam:g}")
        axes[0].plot([pk.c], [pk.value], "k.", ms=6)
        res_lam.append({"lam": lam, "depth": config["depth"], "c": pk.c, "t_star": pk.t_star,
                        "best_test_acc": pk.value})
        rows += [{"panel": "lams", "depth": config["depth"], "lam": lam, "lr": lr,
                  "lam_lr_t": float(a), "test_acc": float(b)} for a, b in zip(tau, pk.curve)]
    for depth in config["depths"]:
        lam = config["depth_lam"]
        pk = curves_for(x_tr, y_tr, x_te, y_te, depth=depth, lam=lam, lr=lr, tau=tau)
        axes[1].plot(tau, pk.curve, label=f"L = {depth}")
        axes[1].plot([pk.c], [pk.value], "k.", ms=6)
        res_depth.append({"lam": lam, "depth": depth, "c": pk.c, "t_star": pk.t_star,
                          "best_test_acc": pk.value, "final_test_acc": float(pk.curve[-1])})
        rows += [{"panel": "depths", "depth": depth, "lam": lam, "lr": lr,
                  "lam_lr_t": float(a), "test_acc": float(b)} for a, b in zip(tau, pk.curve)]
    c_lam = [r["c"] for r in res_lam]
    panels = ((axes[0], f"(a) depth {config['depth']}, several $\\lambda$: peaks (dots) at "
                        f"$\\lambda\\eta t^*$ = {min(c_lam):.2g}-{max(c_lam):.2g}"),
              (axes[1], f"(b) $\\lambda$ = {config['depth_lam']:g}, depths L = "
                        f"{', '.join(str(d) for d in config['depths'])}"))
    for ax, title in panels:
        ax.set_xscale("log")
        ax.set_xlabel(_common.label("natural"))
        ax.set_ylabel("predicted test accuracy (infinite width)")
        ax.set_title(title, fontsize=9)
        _common.legend_outside(ax, ncol=3)
    decay = kernel_decay(config["decay"], ds)
    td = np.linspace(0, config["decay"]["tau_max"], 100)
    for depth in (1, 2, 3, 4):
        axes[2].plot(td, np.exp(-2 * (depth - 1) * td), lw=1, label=f"theory, L = {depth}")
    axes[2].plot([d["lam_lr_t"] for d in decay], [d["trace_ratio_measured"] for d in decay], "ko",
                 label=f"measured, width {config['decay']['width']}, L = {config['decay']['depth']}")
    axes[2].set_yscale("log")
    axes[2].set_xlabel(_common.label("natural"))
    axes[2].set_ylabel(r"$\Theta_t / \Theta_0$ (trace ratio)")
    axes[2].set_title(r"(c) kernel decay $e^{-2(L-1)\lambda\eta t}$: theory and one network",
                      fontsize=9)
    _common.legend_outside(axes[2], ncol=3)
    fig.suptitle(f"Infinite-width L2 gradient flow (MSE, NTK of a bias-free ReLU net), "
                 f"{ds.name}, {config['n_train']} training points")
    fig.tight_layout()
    job.save_figure(fig)
    job.save_csv("curves", rows)
    job.save_csv("kernel_decay", decay)
    last = decay[-1]
    print(f"   c per lam: {_common.numbers([r['c'] for r in res_lam])}; kernel decay at tau="
          f"{last['lam_lr_t']:.2f}: measured {last['trace_ratio_measured']:.3g} vs predicted "
          f"{last['predicted']:.3g}")
    return job.finish({"lams": res_lam, "depths": res_depth, "kernel_decay": decay})


def caption(summary: dict) -> str:
    """What the figure shows, for ``REPORT.md``."""
    cfg, r = summary["config"], summary["results"]
    c = [x["c"] for x in r["lams"]]
    decay = r["kernel_decay"][-1]
    return (f"Infinite-width theory only (no trained networks except in (c)): exact MSE gradient "
            f"flow with L2 for the NTK of a bias-free depth-{cfg['depth']} ReLU net on "
            f"{cfg['n_train']} {cfg['dataset']} training points, learning rate {cfg['lr']:g}. "
            f"(a) predicted test accuracy against natural time for lam "
            f"{_common.numbers(cfg['lams'])}: the peaks (dots) sit at lam lr t* = "
            f"{min(c):.2g}-{max(c):.2g}, the same order but not one value (the collapse is "
            f"approximate). (b) depth L at lam = {cfg['depth_lam']:g}: L = 1 (no kernel decay) "
            f"does not collapse. (c) predicted kernel decay against the trace ratio of the "
            f"empirical NTK of one width-{cfg['decay']['width']} net trained by full-batch GD "
            f"({decay['trace_ratio_measured']:.2g} measured vs {decay['predicted']:.2g} predicted "
            f"at lam lr t = {decay['lam_lr_t']:.2g}).")


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: ``c`` per lam and depth, the kernel decay; it
    checks nothing (the theory is exact: the relations are checked on trained nets)."""
    r = summary["results"]
    lines = ["### Theory (infinite width)\n", _report.caption_line(NAME, caption(summary)),
             "- c = lam lr t* per lam (depth "
             f"{r['lams'][0]['depth']}): " + ", ".join(f"lam {x['lam']:g}: {x['c']:.3g}"
                                                       for x in r["lams"]),
             "- per depth (lam " f"{r['depths'][0]['lam']:g}): " + ", ".join(
                 f"L={x['depth']}: c {x['c']:.3g}, best acc {x['best_test_acc']:.3f}"
                 for x in r["depths"])]
    last = r["kernel_decay"][-1]
    lines.append(f"- kernel decay at lam lr t = {last['lam_lr_t']:.2f}: measured tr Theta_t / "
                 f"tr Theta_0 = {last['trace_ratio_measured']:.3g}, predicted "
                 f"{last['predicted']:.3g}\n")
    return _report.Report(lines, [])


def main(argv=None) -> int:
    """``python -m l2theory.figures.theory``: the figures command for this figure alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
