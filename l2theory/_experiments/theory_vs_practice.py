"""Theory vs practice: finite-width networks trained by gradient descent against the exact
infinite-width gradient flow with L2, on real data.

Setting (docs/conventions.md): bias-free ReLU fully connected nets of ``depth`` layers (homogeneity
degree ``L = depth``), NTK parameterization, full-batch gradient descent on
``mean_i 1/2 ||f(x_i) - y_i||^2 + lam/2 ||theta||^2`` with centered one-hot targets
``y = one_hot - 1/k``. Time ``t`` counts steps; the natural clock is ``tau = lam lr t``.

Compared, at the same steps and from the same initial outputs ``f0`` (each network's own):

- ``net``: the trained network's test outputs (``recording.train_recording``: the training
  engine's own step, ``l2theory.train.make_step``).
- ``flow`` (the theory): ``L2GradientFlow(K, y, lam, lr, degree=depth)`` with the analytic NTK
  ``K = kernels.fc_relu`` and ``f0_train``/``f0_test`` = the network's outputs at
  initialization: ``df/dt = -(lr/n) e^{-gamma t} K (f - y) - lr lam L f``,
  ``gamma = 2 (L-1) lr lam``, solved exactly.
- ``gd_limit``: the infinite-width limit of the *discrete* GD steps (``gd_limit_outputs``), to
  separate the discretization (GD vs flow) from finite width: by homogeneity a step maps
  ``f -> (1 - lr lam)^L f - (lr/n) (1 - lr lam)^{L-1} K_t (f - y)`` with
  ``K_t = (1 - lr lam)^{2(L-1) t} K``.
- ``linearized``: ``LinearizedL2Flow`` with the network's *empirical* NTK at initialization
  (``fc_network.fc_empirical_ntk``): constant kernel, so no late-time collapse.

Distance: ``d(t) = ||f_net_test(t) - f_flow_test(t)||_F / ||f_flow_test(t)||_F`` (Frobenius over
test points and outputs) at the recorded steps with ``tau`` in ``window`` (default
``[0.05, 4]``); the recorded steps are log-spaced, so ``mean`` is a mean over log-time; ``max``
is the worst step. Finite-width corrections to the NTK dynamics are ``O(width^{-1/2})``, so the
distance should fall like ``width^{-1/2}`` (``width_exponent``, fitted over widths, ~ -0.5).

GD vs flow: the flow is the ``lr -> 0`` limit. With ``lr = 0.5``, ``lam = 1e-2`` a step moves
``tau`` by ``lr lam = 0.005``, and the per-step weight decay ``1 - lr lam`` differs from
``exp(-lr lam)`` by ``(lr lam)^2 / 2``; the fastest kernel mode has ``lr lambda_max / n`` of
order 1 and relaxes within the first few steps (before the window). ``flow_vs_gd_limit`` reports
this discretization error at infinite width; it is small next to the finite-width distance at the
widths used, i.e. GD ~ gradient flow here.

Measured distances and t* by width (docs/measurements.md): the distance falls like
``width^{-1/2}`` and t* of the network meets the flow's within 2 % at width 256. Width 4096 takes
~2-3 CPU-minutes per seed.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Sequence

import numpy as np

from l2theory import _checks
from l2theory._experiments.comparison_data import prepare_data
from l2theory._experiments.fc_network import fc_config, fc_empirical_ntk
from l2theory._experiments.gd_limit import gd_limit_outputs
from l2theory._experiments.output_metrics import accuracy, mse_loss, refined_min, relative_distance
from l2theory._experiments.recording import train_recording, window_steps


def theory_vs_practice(data="fashion_mnist_subset", *, widths: Sequence[int] = (256, 1024, 4096),
                       depth: int = 3, lam: float = 1e-2, lr: float = 0.5, n_train: int = 64,
                       n_test: int = 256, seeds: Sequence[int] = (0,),
                       window: tuple[float, float] = (0.05, 4.0), n_records: int = 64,
                       late_tau: float = 20.0, data_seed: int = 0, standardize: bool = True,
                       linearized: bool = True, w_std: float = 2 ** 0.5,
                       progress: bool = False) -> dict[str, Any]:
    """Finite-width GD vs the exact infinite-width L2 gradient flow (see the module docstring).

    For each width and seed: train the network for ``ceil(window[1] / (lam lr))`` full-batch
    steps, recording its outputs at ``n_records`` log-spaced steps; compute the flow (analytic
    kernel, the network's own ``f0``), the infinite-width GD limit and the linearized flow
    (empirical NTK at init) at the same steps.

    Args:
      data: dataset name, ``l2theory.data.Dataset`` or ``(x_train, labels_train, x_test,
        labels_test)``; see ``prepare_data``.
      widths: hidden widths (ints >= 1).
      depth: Dense layers = homogeneity degree ``L`` (>= 2 for kernel decay).
      lam: L2 coefficient (``lam/2 ||theta||^2``), > 0.
      lr: learning rate, > 0.
      n_train, n_test: training and test points (class-stratified subset, ``data_seed``).
      seeds: network initialization seeds (the data subset is fixed by ``data_seed``).
      window: ``(tau_lo, tau_hi)`` of the natural clock ``lam lr t`` over which the distance is
        summarized; training runs to ``tau_hi``.
      n_records: log-spaced recorded steps (plus step 0).
      late_tau: natural time at which the flows' late behaviour (collapse) is read off.
      standardize: standardize the inputs (training-set statistics).
      linearized: also compute the empirical NTK and the linearized flow.
      w_std: weight standard deviation of every layer (network and analytic kernel alike).
      progress: one line per width and seed as it finishes (stderr).

    Returns:
      JSON-ready dict:

      - ``config``: the settings, ``steps`` (the run's length), ``data`` (its name, sizes).
      - ``per_width``: one dict per width: ``width``, ``distance_max``/``distance_mean``
        (net vs flow over the window; means over seeds, and ``*_per_seed``),
        ``distance_gd_limit_max``/``_mean`` (net vs the infinite-width GD limit),
        ``distance_linearized_max``/``_mean`` (net vs linearized flow), ``t_star_net``
        (test-loss minimum of the network, steps, per seed), ``t_star_flow`` (of the flow, per
        seed), ``t_star_linearized``, ``min_test_loss_net``/``_flow``, ``final_test_acc_net``,
        ``seconds``.
      - ``width_exponent``: slope of ``log distance_mean`` (and ``_max``) against ``log width``
        (expected ~ -0.5), or None with one width.
      - ``flow_vs_gd_limit``: ``max``/``mean`` relative distance between the flow and the
        infinite-width GD limit over the window (the discretization error alone; seed 0's f0).
      - ``late``: at ``tau = late_tau`` and ``t = inf``, for the flow and the linearized flow of
        the largest width (seed 0): test loss, test accuracy, and ``norm_ratio`` =
        ``||f_test(late)|| / max_t ||f_test(t)||``; ``linearized_collapses`` /
        ``flow_collapses``: norm ratio below 0.1 (the flow's outputs shrink like
        ``e^{-L lam lr t}`` once learning stops; the linearized network's tend to a ridge-like
        fixed point).
      - ``curves``: the recorded ``steps``, ``tau``, and per width (seed 0) the ``distance`` and
        ``test_loss_net``/``_flow`` curves.
    """
    from l2theory import kernels, solvers
    from l2theory import data as data_mod

    widths = _checks.sequence("widths", widths, _checks.positive_int, example="[256, 1024]")
    depth = _checks.positive_int("depth", depth, minimum=2)
    lam = _checks.lam("lam", lam, allow_zero=False)
    lr = _checks.lr("lr", lr)
    n_train = _checks.positive_int("n_train", n_train, minimum=2)
    n_test = _checks.positive_int("n_test", n_test)
    seeds = _checks.seeds("seeds", seeds)
    n_records = _checks.positive_int("n_records", n_records, minimum=4)
    lo, hi = (_checks.positive("window[0]", window[0]), _checks.positive("window[1]", window[1]))
    if not lo < hi:
        raise _checks.bad("window", window, "must be (tau_lo, tau_hi) with tau_lo < tau_hi",
                          "e.g. (0.05, 4.0)")
    late_tau = _checks.positive("late_tau", late_tau)

    x_tr, l_tr, x_te, l_te, k, name = prepare_data(data, n_train=n_train, n_test=n_test,
                                                   data_seed=data_seed, standardize=standardize)
    y_tr = data_mod.one_hot(l_tr, k, centered=True).astype(np.float64)
    y_te = data_mod.one_hot(l_te, k, centered=True).astype(np.float64)
    end, steps, tau, in_win = window_steps(lam, lr, (lo, hi), n_records)

    x64 = np.float64
    _, k_tt = kernels.fc_relu(x_tr.astype(x64), depth=depth, w_std=w_std)
    _, k_st = kernels.fc_relu(x_te.astype(x64), x_tr.astype(x64), depth=depth, w_std=w_std)
    k_tt, k_st = np.asarray(k_tt, x64), np.asarray(k_st, x64)
    flow = solvers.L2GradientFlow(k_tt, y_tr, lam=lam, lr=lr, degree=depth)
    fine = np.geomspace(max(1.0, steps[1] / 2), end * 2, 400)

    per_width, curves, late = [], {}, None
    flow_vs_gd = None
    for wi, width in enumerate(widths):
        t0 = time.perf_counter()
        acc: dict[str, list] = {}
        for si, seed in enumerate(seeds):
            t_run = time.perf_counter()
            cfg = fc_config(depth=depth, width=width, lam=lam, lr=lr, steps=end, seed=seed,
                            w_std=w_std)
            params0, f_tr, f_te = train_recording(cfg, x_tr, l_tr, x_te, steps, num_classes=k)
            f0_tr, f0_te = f_tr[0].astype(x64), f_te[0].astype(x64)
            th_tr, th_te = (np.asarray(a, x64) for a in flow.predict(steps, k_st, f0_tr, f0_te))
            gd_tr, gd_te = gd_limit_outputs(k_tt, k_st, y_tr, f0_tr, f0_te, lam=lam, lr=lr,
                                            degree=depth, steps=steps)
            d = relative_distance(f_te, th_te)
            d_gd = relative_distance(f_te, gd_te)
            if flow_vs_gd is None:
                dd = relative_distance(gd_te, th_te)[in_win]
                flow_vs_gd = {"max": float(dd.max()), "mean": float(dd.mean())}
            loss_net = mse_loss(f_te, y_te)
            loss_flow = mse_loss(th_te, y_te)
            pk = solvers.peak(flow, k_st, y_te, metric="loss", t=fine, f0_train=f0_tr,
                              f0_test=f0_te)
            row = {"distance_max": float(d[in_win].max()), "distance_mean": float(d[in_win].mean()),
                   "distance_gd_limit_max": float(d_gd[in_win].max()),
                   "distance_gd_limit_mean": float(d_gd[in_win].mean()),
                   "distance_train_mean": float(relative_distance(f_tr, th_tr)[in_win].mean()),
                   "t_star_net": refined_min(steps[1:], loss_net[1:]),
                   "t_star_flow": float(pk.t_star),
                   "min_test_loss_net": float(loss_net[1:].min()),
                   "min_test_loss_flow": float(pk.value),
                   "final_test_acc_net": float(accuracy(f_te[-1], l_te)),
                   "final_test_acc_flow": float(accuracy(th_te[-1], l_te))}
            if linearized:
                e_tt, e_st = fc_empirical_ntk(params0, x_tr, x_te, depth=depth, w_std=w_std)
                lin = solvers.LinearizedL2Flow(np.asarray(e_tt, x64), y_tr, f0_tr, lam=lam,
                                               lr=lr, degree=depth)
                _, li_te = lin.predict(steps, e_st.astype(x64), f0_test=f0_te)
                d_li = relative_distance(f_te, np.asarray(li_te))
                lpk = solvers.peak(lin, e_st.astype(x64), y_te, metric="loss", t=fine,
                                   f0_test=f0_te)
                row.update(distance_linearized_max=float(d_li[in_win].max()),
                           distance_linearized_mean=float(d_li[in_win].mean()),
                           t_star_linearized=float(lpk.t_star))
                if width == widths[-1] and si == 0:
                    late = _late(flow, lin, k_st, e_st.astype(x64), f0_tr, f0_te, y_te, l_te,
                                 lam=lam, lr=lr, late_tau=late_tau, fine=fine)
            for key, v in row.items():
                acc.setdefault(key, []).append(v)
            if progress:
                done, total = wi * len(seeds) + si + 1, len(widths) * len(seeds)
                print(f"theory_vs_practice [{done}/{total}] width {width}, seed {seed}: distance "
                      f"to the flow {row['distance_mean']:.3f} (mean over the window), "
                      f"{time.perf_counter() - t_run:.1f} s", file=sys.stderr, flush=True)
            if si == 0:
                curves[str(width)] = {"distance": d.tolist(), "test_loss_net": loss_net.tolist(),
                                      "test_loss_flow": loss_flow.tolist()}
        entry: dict[str, Any] = {"width": width}
        for key, vals in acc.items():
            entry[key] = float(np.mean(vals))
            entry[f"{key}_per_seed"] = vals
        entry["seconds"] = time.perf_counter() - t0
        per_width.append(entry)

    exponent = None
    if len(widths) > 1:
        lw = np.log(widths)
        exponent = {key: float(np.polyfit(lw, np.log([e[key] for e in per_width]), 1)[0])
                    for key in ("distance_mean", "distance_max", "distance_gd_limit_mean")}
    return _checks.to_json({
        "config": {"widths": widths, "depth": depth, "lam": lam, "lr": lr, "n_train": n_train,
                   "n_test": n_test, "seeds": seeds, "window": [lo, hi],
                   "n_records": n_records, "late_tau": late_tau, "data_seed": data_seed,
                   "standardize": standardize, "w_std": w_std, "steps": end,
                   "data": name, "training": "full-batch GD via l2theory.train.make_step"},
        "per_width": per_width, "width_exponent": exponent, "flow_vs_gd_limit": flow_vs_gd,
        "late": late, "curves": {"steps": steps.tolist(), "tau": tau.tolist(), **curves}})


def _late(flow, lin, k_st, e_st, f0_tr, f0_te, y_te, l_te, *, lam, lr, late_tau, fine):
    """Late-time behaviour of the flow and the linearized flow (norm ratio, loss, accuracy)."""
    t_late = late_tau / (lam * lr)
    grid = np.concatenate([fine, [t_late]])
    out = {"tau": late_tau}
    for name, f in (("flow", lambda t: flow.predict(t, k_st, f0_tr, f0_te)[1]),
                    ("linearized", lambda t: lin.predict(t, e_st, f0_test=f0_te)[1])):
        fs = np.asarray(f(grid), np.float64)
        norms = np.sqrt(np.sum(fs ** 2, axis=(-2, -1)))
        entry = {"norm_ratio": float(norms[-1] / norms.max()),
                 "test_loss": float(mse_loss(fs[-1], y_te)),
                 "test_acc": float(accuracy(fs[-1], l_te)),
                 "min_test_loss": float(mse_loss(fs, y_te).min())}
        if name == "linearized":
            f_inf = np.asarray(f(np.inf), np.float64)
            entry["test_loss_inf"] = float(mse_loss(f_inf, y_te))
            entry["norm_ratio_inf"] = float(np.sqrt(np.sum(f_inf ** 2)) / norms.max())
        out[name] = entry
    out["flow_collapses"] = out["flow"]["norm_ratio"] < 0.1
    out["linearized_collapses"] = out["linearized"]["norm_ratio"] < 0.1
    return out
