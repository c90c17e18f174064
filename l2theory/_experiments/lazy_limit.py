"""Theory vs practice for networks that are not homogeneous: a family of networks without
BatchNorm (Wide ResNets, fully connected nets with biases) trained by full-batch GD at growing
width, each against the lazy limit of the L2 gradient flow computed from its own two-scale NTKs
(``lazy_network.lazy_flow``, docs/conventions.md sec. 2), and against the homogeneous flow with
the rounded effective (Euler) degree of the initialized network, the approximation the lazy
limit replaces.

Per width and seed: the network's kernels and outputs at ``nodes`` scale nodes in
``[exp(-tau_max), 1]`` (``tau_max`` twice the window's end: the horizon of the peak search), its
``lr`` (given, or ``lr_stability q``: ``lr = 2 q n / lambda_max`` of the seed-0 network's NTK at
initialization, a fraction of the lazy-regime bound ``lr lambda_max / n < 2``) and ``lam =
lam_lr / lr`` (one natural clock for every width), ``recording.train_recording`` (the training
engine's step, full batch, MSE on centred one-hot targets) to ``lam lr t = window[1]`` with the
test outputs at ``n_records`` log-spaced steps. Compared:

- ``t*``, the step of the minimum test loss: net (parabola through the recorded minimum in
  ``ln t``), lazy limit and Euler flow (``solvers.peak``); ratios net / prediction;
- ``distance``: ``||f_net - f_pred||`` over ``||f_pred||`` of the test outputs, both summed in
  square over the recorded steps with ``lam lr t`` in ``window`` (a relative RMS over the window,
  so outputs that shrink late in the window do not inflate it);
- ``coarse``: the lazy limit through all its nodes but the middle one (``lazy_network.coarser``),
  against the full one (``t*`` ratio and distance: the interpolation error of an expansion of one
  degree less, an upper estimate of the full one's);
- whether the net learned: its minimum test loss against the loss of ``f = 0`` (the plateau the
  collapse ends on) and at initialization.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from l2theory import _checks

WIDTH_FIELDS = ("width", "widen")


def _model_at(model: Mapping[str, Any], width_field: str, width: int) -> dict:
    """The architecture dict with its width set (``"widen"`` goes to ``model_kwargs``)."""
    out = dict(model)
    if width_field == "widen":
        out["model_kwargs"] = {**dict(out.get("model_kwargs") or {}), "widen": width}
        out.setdefault("width", None)
    else:
        out["width"] = width
    return out


def _relative_rms(a, b, mask) -> float:
    """``sqrt(sum ||a - b||^2) / sqrt(sum ||b||^2)`` over the times in ``mask``."""
    a, b = np.asarray(a, np.float64)[mask], np.asarray(b, np.float64)[mask]
    return float(np.sqrt(np.sum((a - b) ** 2) / np.sum(b ** 2)))


def _interval(values) -> dict[str, Any]:
    """Mean, standard error and 95 % t-interval of per-seed values (None with one seed)."""
    from scipy import stats

    from l2theory._experiments.stats import standard_error

    v = np.asarray(values, np.float64)
    se = standard_error(list(v))
    if se is None:
        return {"mean": float(v.mean()), "se": None, "ci95": None}
    half = float(stats.t.ppf(0.975, len(v) - 1) * se)
    return {"mean": float(v.mean()), "se": se, "ci95": [float(v.mean()) - half,
                                                        float(v.mean()) + half]}


def lazy_limit_vs_practice(data="fashion_mnist_subset", *, model: Mapping[str, Any],
                           widths: Sequence[int], width_field: str = "width",
                           lam_lr: float = 2e-3, lr: float | None = None,
                           lr_stability: float | None = None, n_train: int = 128,
                           n_test: int = 128, seeds: Sequence[int] = (0, 1, 2),
                           downsample: int = 4, window: tuple[float, float] = (0.02, 1.0),
                           n_records: int = 40, nodes: int = 9, data_seed: int = 0,
                           rtol: float = 1e-6, progress: bool = False) -> dict[str, Any]:
    """One family of networks at growing width against its lazy limit (module docstring).

    Args:
      data: dataset name, ``l2theory.data.Dataset`` or 4-tuple of arrays.
      model: ``TrainConfig`` fields of the architecture without its width, e.g.
        ``{"model": "wrn", "depth": 10, "model_kwargs": {"batchnorm": False}}`` or
        ``{"model": "fc", "depth": 3, "bias": True, "b_std": 1.0}`` (no BatchNorm; the loss,
        rates, steps and full batch are set here).
      widths: widths (ints >= 1), in ``width_field``: ``"width"`` (FC, CNN) or ``"widen"``
        (the WRN's widening factor, in ``model_kwargs``).
      lam_lr: the natural clock ``lam lr`` of every run.
      lr, lr_stability: exactly one: a fixed ``lr``, or ``q`` in (0, 1) (per width, from the
        seed-0 network).
      n_train, n_test, data_seed, downsample: the class-stratified data subset (images are
        averaged over ``downsample x downsample`` blocks; FC nets take them flattened).
      seeds: network initialization seeds (>= 3 for the intervals to mean much).
      window: ``(tau_lo, tau_hi)`` of ``lam lr t`` for the distance; training runs to
        ``tau_hi``.
      n_records: log-spaced recorded steps (plus step 0).
      nodes: scale nodes of the lazy limit (>= 3: the coarse check drops the middle one).
      rtol: the lazy flow's integration tolerance.
      progress: one line per width and seed on stdout.

    Returns:
      JSON-ready dict: ``config`` (settings, ``data``, ``image_shape``, ``plateau_loss``: the
      test loss of ``f = 0``), ``per_width`` (per width: ``width``, ``lr``, ``lam``,
      ``lr_lambda_max_over_n``, ``params``, per-seed lists and ``_stats`` (mean, se, ci95) of
      ``t_star_net``, ``t_star_lazy``, ``t_star_euler``, ``ratio_lazy`` (net / lazy),
      ``ratio_euler``, ``distance_lazy``, ``distance_euler``, ``coarse_ratio``,
      ``coarse_distance``, ``min_loss_net``, ``min_loss_lazy``, ``initial_loss``,
      ``euler_ratio``, ``degree_euler``, ``t_star_net_at_boundary``, ``kernel_seconds``,
      ``train_seconds``, ``flow_seconds``), ``width_exponent`` (slope of ``log distance_lazy``
      against ``log width``), ``curves`` (per width, seed 0: ``steps``, ``tau``, test loss of
      net / lazy / Euler and the lazy distance per recorded step).
    """
    from l2theory._experiments import lazy_network, network_theory
    from l2theory._experiments.comparison_data import prepare_data
    from l2theory._experiments.recording import comparison_config, train_recording, window_steps

    if not isinstance(model, Mapping) or "model" not in model:
        raise _checks.bad("model", model, "must be a dict of TrainConfig fields naming the "
                          "model", "e.g. {'model': 'wrn', 'depth': 10, 'model_kwargs': "
                          "{'batchnorm': False}}", kind=TypeError)
    _checks.choice("width_field", width_field, WIDTH_FIELDS)
    widths = _checks.sequence("widths", widths, _checks.positive_int, example="[1, 2, 4]")
    if (lr is None) == (lr_stability is None):
        raise _checks.bad("lr", lr, "needs exactly one of lr and lr_stability",
                          "e.g. lr_stability=0.4 (lr lambda_max / n = 0.8)")
    lam_lr = _checks.positive("lam_lr", lam_lr)
    if lr_stability is not None:
        lr_stability = _checks.real("lr_stability", lr_stability, low=0.0, high=1.0,
                                    low_open=True, high_open=True, fix="e.g. 0.4")
    seeds = _checks.seeds("seeds", seeds)
    lo, hi = _checks.positive("window[0]", window[0]), _checks.positive("window[1]", window[1])
    if not lo < hi:
        raise _checks.bad("window", window, "must be (tau_lo, tau_hi) with tau_lo < tau_hi",
                          "e.g. (0.02, 1.0)")
    nodes = _checks.positive_int("nodes", nodes, minimum=3)
    flat = model["model"] in ("fc", "fully_connected")
    x_tr, l_tr, x_te, l_te, k, name = prepare_data(
        data, n_train=n_train, n_test=n_test, data_seed=data_seed, downsample=downsample,
        flatten=flat)
    tau_max = 2.2 * hi  # the peak search runs to twice the window's end
    per_width, curves = [], {}
    for width in widths:
        arch = _model_at(model, width_field, width)
        rows, rate = [], lr
        for si, seed in enumerate(seeds):
            cfg = comparison_config(arch, seed=seed, lr=rate or 1.0,
                                    lam=lam_lr / (rate or 1.0), steps=1)
            setup = lazy_network.lazy_flow(cfg, x_tr, l_tr, x_te, l_te, num_classes=k,
                                           tau_max=tau_max, nodes=nodes, rtol=rtol)
            lmax = float(np.linalg.eigvalsh(setup.flow.g[0, 0])[-1] / n_train)
            if rate is None:  # lr_stability: from the seed-0 network
                rate = 2 * lr_stability / lmax
            lam = lam_lr / rate
            end, steps, tau, in_win = window_steps(lam, rate, (lo, hi), n_records)
            cfg = comparison_config(arch, seed=seed, lr=rate, lam=lam, steps=end)
            f_lr, f_lam = network_theory.flow_rates(cfg)
            flow = setup.flow.replace(lam=f_lam, lr=f_lr)
            t0 = time.perf_counter()
            _, _, f_net = train_recording(cfg, x_tr, l_tr, x_te, steps, num_classes=k)
            train_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            fine = np.geomspace(max(1.0, steps[1] / 2), 2 * end, 200)
            row = _compare(flow, setup, f_net, steps, in_win, fine, lam * rate)
            flow_s = time.perf_counter() - t0
            row.update(lr_lambda_max_over_n=rate * lmax, kernel_seconds=setup.kernel_seconds,
                       train_seconds=train_s, flow_seconds=flow_s, params=setup.param_count,
                       euler_ratio=setup.euler_ratio)
            curve = row.pop("_curve")
            if si == 0:
                curves[str(width)] = {"steps": steps, "tau": tau, **curve}
            rows.append(row)
            if progress:
                print(f"   width {width} seed {seed}: t* net {row['t_star_net']:.1f} lazy "
                      f"{row['t_star_lazy']:.1f} euler {row['t_star_euler']:.1f}; distance "
                      f"lazy {row['distance_lazy']:.3f} euler {row['distance_euler']:.3f}; "
                      f"min loss net {row['min_loss_net']:.4f}; kernels "
                      f"{setup.kernel_seconds:.0f} s, training {train_s:.0f} s", flush=True)
        per_width.append(_summarize(width, rate, lam_lr / rate, rows))
    exponent = None
    if len(widths) > 1:
        exponent = float(np.polyfit(np.log(widths), np.log(
            [w["distance_lazy_stats"]["mean"] for w in per_width]), 1)[0])
    return _checks.to_json({
        "config": {"model": dict(model), "widths": widths, "width_field": width_field,
                   "lam_lr": lam_lr, "lr": lr, "lr_stability": lr_stability,
                   "n_train": n_train, "n_test": n_test, "seeds": seeds,
                   "downsample": downsample, "image_shape": list(x_tr.shape[1:]),
                   "window": [lo, hi], "n_records": n_records, "nodes": nodes,
                   "tau_max": tau_max, "a_min": float(np.exp(-tau_max)),
                   "data_seed": data_seed, "data": name, "rtol": rtol,
                   "plateau_loss": float(0.5 * np.mean(np.sum(setup.y_test ** 2, axis=1))),
                   "training": "full-batch GD via l2theory.train.make_step"},
        "per_width": per_width, "width_exponent": exponent, "curves": curves})


def _compare(flow, setup, f_net, steps, in_win, fine, tau_rate) -> dict[str, Any]:
    """The comparison of one trained run with its lazy limit, the coarser lazy limit and the
    Euler-degree flow."""
    from l2theory import solvers
    from l2theory._experiments import lazy_network
    from l2theory._experiments.output_metrics import refined_min

    y_te = setup.y_test
    loss_net = solvers.test_metric(f_net, y_te, "loss")
    t_net = refined_min(steps[1:], loss_net[1:])
    lazy_te = flow.predict(steps)[1]
    pk = solvers.peak(flow, None, y_te, metric="loss", t=fine)
    coarse = lazy_network.coarser(flow)
    coarse_te = coarse.predict(steps)[1]
    pk_c = solvers.peak(coarse, None, y_te, metric="loss", t=fine)
    degree = max(1, int(round(setup.euler_ratio)))
    euler = solvers.L2GradientFlow(flow.g[0, 0], flow.y_train, lam=flow.lam, lr=flow.lr,
                                   degree=degree)
    k_st, f0_tr, f0_te = flow.g_test[0, 0], flow.f_train[0], flow.f_test[0]
    euler_te = np.asarray(euler.predict_test(steps, k_st, f0_train=f0_tr, f0_test=f0_te))
    pk_e = solvers.peak(euler, k_st, y_te, metric="loss", t=fine, f0_train=f0_tr,
                        f0_test=f0_te)
    f_net = np.asarray(f_net, np.float64)
    row = {"t_star_net": t_net, "t_star_lazy": float(pk.t_star),
           "t_star_euler": float(pk_e.t_star), "t_star_coarse": float(pk_c.t_star),
           "ratio_lazy": t_net / float(pk.t_star), "ratio_euler": t_net / float(pk_e.t_star),
           "coarse_ratio": float(pk_c.t_star) / float(pk.t_star),
           "c_net": tau_rate * t_net, "c_lazy": tau_rate * float(pk.t_star),
           "distance_lazy": _relative_rms(f_net, lazy_te, in_win),
           "distance_euler": _relative_rms(f_net, euler_te, in_win),
           "coarse_distance": _relative_rms(coarse_te, lazy_te, in_win),
           "min_loss_net": float(loss_net[1:].min()), "min_loss_lazy": float(pk.value),
           "min_loss_euler": float(pk_e.value), "initial_loss": float(loss_net[0]),
           "degree_euler": degree,
           "t_star_net_at_boundary": bool(np.argmin(loss_net[1:]) in (0, len(steps) - 2))}
    per_t = np.sqrt(np.sum((f_net - lazy_te) ** 2, axis=(1, 2))
                    / np.maximum(np.sum(lazy_te ** 2, axis=(1, 2)), 1e-300))
    row["_curve"] = {"test_loss_net": loss_net,
                     "test_loss_lazy": solvers.test_metric(lazy_te, y_te, "loss"),
                     "test_loss_euler": solvers.test_metric(euler_te, y_te, "loss"),
                     "distance_lazy": per_t}
    return row


STAT_KEYS = ("t_star_net", "t_star_lazy", "t_star_euler", "ratio_lazy", "ratio_euler",
             "distance_lazy", "distance_euler", "coarse_ratio", "coarse_distance",
             "min_loss_net", "min_loss_lazy", "initial_loss", "lr_lambda_max_over_n")


def _summarize(width, lr, lam, rows) -> dict[str, Any]:
    out: dict[str, Any] = {"width": width, "lr": lr, "lam": lam, "params": rows[0]["params"]}
    for key in rows[0]:
        if key != "params":
            out[f"{key}_per_seed"] = [r[key] for r in rows]
    for key in STAT_KEYS:
        out[f"{key}_stats"] = _interval([r[key] for r in rows])
    return out
