"""Theory vs practice for convolutional networks: CNNs of growing channel count trained by
full-batch gradient descent against the exact infinite-width L2 gradient flow, and a CNN with
max pooling against the flow with its own empirical NTK.

Networks (``l2theory.models.cnn``, NTK parameterization, bias-free, ReLU, homogeneity degree
``L = depth + 1``), on a class-stratified subset of Fashion-MNIST averaged to 14x14
(``downsample=2``) and standardized:

- the family: ``depth x [conv f x f (channels) - ReLU] - flatten (or GAP) - dense``, for each
  channel count. Its infinite-channel NTK is ``kernels.conv_relu`` (the same for every channel
  count): the theory predicts every member's outputs, better as the channels grow.
- the stand-in (``stand_in=True``): the quick collapse panel's CNN, ``conv 16 - ReLU - maxpool
  - conv 32 - ReLU - maxpool - GAP - dense`` (``L = 3``). Max pooling has no analytic kernel
  here, so its flow uses the network's empirical NTK at initialization
  (``network_theory.network_flow(kernel="empirical")``).
- any other network (``networks=``), the same way: e.g. the WRN panel's WRN-16-4 without
  BatchNorm with ``degree="euler"`` (not homogeneous: an approximation, ``network_theory``).
  ``lr_stability`` sets such a network's lr to a fraction of the lazy-regime bound below from
  its own kernel (for WRN-16-4 without BatchNorm about 1e-3, where the analytic CNN kernel
  allows 0.5).

Training: ``recording.train_recording`` (the training engine's step, full batch) on
``mean_i 1/2 ||f(x_i) - y_i||^2 + lam/2 ||theta||^2`` with centred one-hot targets, for
``ceil(window[1] / (lam lr))`` steps, outputs recorded at ``n_records`` log-spaced steps. Theory:
``L2GradientFlow(K, y, lam, lr, degree=L)`` from the same initial outputs ``f0`` (each network's
own), ``df/dt = -(lr/n) e^{-gamma t} K (f - y) - lr lam L f``, ``gamma = 2 (L-1) lr lam``.
Compared (as ``theory_vs_practice`` does for FC nets): the distance ``||f_net_test(t) -
f_flow_test(t)|| / ||f_flow_test(t)||`` over ``lam lr t`` in ``window`` (mean over the log-spaced
steps, and max), and ``t*``, the step of the minimum test loss (net: parabola through the
recorded minimum in ``ln t``; flow: ``solvers.peak``), with ``c = lam lr t*``.

Measured (docs/measurements.md; the defaults take ~1 CPU-minute): the distance falls about like
``channels^-1/2`` and predicted and measured ``t*`` agree within 10 % at every channel count;
the infinite ensemble (``f0 = 0``) peaks much earlier, so a single network's ``f0`` is part of
what the flow must be given.

Learning rate and the lazy regime: the flow is the small-``lr`` limit of GD near the network's
linearization, which needs ``lr lambda_max / n < 2`` for the kernel's top eigenvalue. The
analytic flatten kernel of the defaults has ``lambda_max / n = 1.9`` (lr 0.5 is safe); the
stand-in's empirical NTK has 6-13, hence its lr 0.1 (at lr 0.5 GD leaves the linear regime).

GAP readout (``readout="gap"``): its analytic kernel costs ``(H W)^2`` per image pair (about a
minute for the defaults' 384 images at 14x14; use ``downsample=4``). Larger settings (depth 2-3,
28x28 images, thousands of points) are for an accelerator.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from l2theory import _checks
from l2theory._experiments import network_theory
from l2theory._experiments.comparison_data import prepare_data
from l2theory._experiments.gd_limit import gd_limit_outputs
from l2theory._experiments.output_metrics import accuracy, mse_loss, refined_min, relative_distance
from l2theory._experiments.recording import (RUN_FIELDS, comparison_config, train_recording,
                                             window_steps)

READOUTS = {"flatten": None, "gap": "avg"}  # readout -> models.cnn's global_pool
STAND_IN = dict(depth=2, channels=[16, 32], readout="gap", model_kwargs={"pool": "max"})


def cnn_config(*, depth: int, channels, lam: float, lr: float, steps: int, seed: int = 0,
               readout: str = "flatten", filter_size: int = 3, w_std: float = 2 ** 0.5,
               model_kwargs: dict | None = None):
    """The ``TrainConfig`` of the comparison: bias-free ReLU CNN in NTK parameterization, no
    local pooling (unless ``model_kwargs`` says), MSE on centred one-hot targets, full batch
    (``recording.comparison_config``)."""
    kwargs = {"pool": None, "global_pool": READOUTS[readout], "kernel_size": filter_size}
    kwargs.update(model_kwargs or {})
    model = {"model": "cnn", "depth": depth, "width": channels, "bias": False,
             "activation": "relu", "parameterization": "ntk", "w_std": w_std, "b_std": 0.0,
             "model_kwargs": kwargs}
    return comparison_config(model, seed=seed, lr=lr, lam=lam, steps=steps)


# A ``networks`` entry's run: its architecture, the comparison's recipe for the rest
network_config = comparison_config


def _network_entry(name: str, entry) -> dict[str, Any]:
    """A checked ``networks`` entry with every key (module docstring)."""
    if not isinstance(entry, Mapping):
        raise _checks.bad(name, entry, "must be a dict", "e.g. {'name': 'wrn', 'model': "
                          "{'model': 'wrn', 'depth': 10}, 'lr_stability': 0.5}", kind=TypeError)
    keys = {"name", "model", "lr", "lr_stability", "degree", "ntk_batch_size"}
    unknown = sorted(set(entry) - keys)
    if unknown:
        raise _checks.bad(name, entry, f"unknown keys {', '.join(unknown)}",
                          "valid: " + ", ".join(sorted(keys)))
    if not isinstance(entry.get("name"), str) or not entry["name"]:
        raise _checks.bad(f"{name}['name']", entry.get("name"), "must be a non-empty string",
                          "e.g. 'wrn-16-4'", kind=TypeError)
    model = entry.get("model")
    if not isinstance(model, Mapping) or "model" not in model:
        raise _checks.bad(f"{name}['model']", model, "must be a dict of TrainConfig fields "
                          "naming the model", "e.g. {'model': 'wrn', 'depth': 10}",
                          kind=TypeError)
    clash = sorted(set(model) & set(RUN_FIELDS))
    if clash:
        raise _checks.bad(f"{name}['model']", model, f"sets {', '.join(clash)}, which the "
                          "comparison sets", "pass the architecture only; the rates go in "
                          "'lr' or 'lr_stability'")
    if ("lr" in entry) == ("lr_stability" in entry):
        raise _checks.bad(name, entry, "needs exactly one of 'lr' and 'lr_stability'",
                          "e.g. 'lr_stability': 0.5 (half the lazy-regime bound)")
    degree = entry.get("degree")
    if degree is not None and degree != "euler":
        degree = _checks.positive_int(f"{name}['degree']", degree)
    return {"name": entry["name"], "model": dict(model),
            "lr": _checks.lr(f"{name}['lr']", entry["lr"]) if "lr" in entry else None,
            "lr_stability": (_checks.real(f"{name}['lr_stability']", entry["lr_stability"],
                                          low=0.0, high=1.0, low_open=True, high_open=True,
                                          fix="e.g. 0.5")
                             if "lr_stability" in entry else None),
            "degree": degree,
            "ntk_batch_size": _checks.optional_int(f"{name}['ntk_batch_size']",
                                                   entry.get("ntk_batch_size"))}


def _lambda_max_over_n(k_tt) -> float:
    """``lambda_max / n`` of a kernel matrix."""
    k_tt = np.asarray(k_tt, np.float64)
    return float(np.linalg.eigvalsh(k_tt)[-1] / len(k_tt))


def _empirical_network(make_config, *, seeds, arrays, steps, in_win, fine, k, tau_rate,
                       lr=None, lr_stability=None, degree=None, batch_size=None):
    """A network against the flow of its own empirical NTK (seed by seed; the natural clock
    ``lam lr = tau_rate``): ``(row, seed-0 curves)``. ``make_config(seed, lr, lam)`` gives the
    run's ``TrainConfig``; ``lr_stability`` sets ``lr`` from the seed-0 kernel."""
    x_tr, l_tr, x_te, l_te, _ = arrays
    t0 = time.perf_counter()
    rows, first, ratios, lr_lmax = [], None, [], []
    for si, seed in enumerate(seeds):
        cfg = make_config(seed, lr or 1.0, tau_rate / (lr or 1.0))
        setup = network_theory.network_flow(cfg, x_tr, l_tr, x_te, l_te, num_classes=k,
                                            kernel="empirical", f0="network", degree=degree,
                                            batch_size=batch_size)
        lmax = _lambda_max_over_n(setup.flow.k_train_train)
        flow = setup.flow
        if lr is None:  # lr_stability: a fraction of the lazy bound lr lambda_max / n < 2
            lr = 2 * lr_stability / lmax
            cfg = make_config(seed, lr, tau_rate / lr)
            f_lr, f_lam = network_theory.flow_rates(cfg)
            flow = flow.replace(lam=f_lam, lr=f_lr)  # same kernel: no second factorization
        row, curve = _compare(cfg, flow, setup.k_test_train, arrays, steps, in_win, fine, k)
        rows.append(row)
        ratios.append(setup.euler_ratio)
        lr_lmax.append(lr * lmax)
        first = curve if si == 0 else first
    return ({"kernel": "empirical", "lr": lr, "lam": tau_rate / lr,
             "lr_stability": lr_stability, "degree": setup.degree,
             "euler_ratio": float(np.mean(ratios)), "euler_ratio_per_seed": ratios,
             "lr_lambda_max_over_n": float(np.mean(lr_lmax)),
             "lr_lambda_max_over_n_per_seed": lr_lmax, **_summarize(rows),
             "seconds": time.perf_counter() - t0}, first)


def _compare(cfg, flow, k_st, arrays, steps, in_win, fine, k):
    """Train ``cfg`` recording its outputs; the flow (and the infinite-width GD limit) from the
    same ``f0``; the comparison."""
    from l2theory import solvers

    x_tr, l_tr, x_te, l_te, y_te = arrays
    _, f_tr, f_te = train_recording(cfg, x_tr, l_tr, x_te, steps, num_classes=k)
    f0_tr, f0_te = f_tr[0].astype(np.float64), f_te[0].astype(np.float64)
    th_te = np.asarray(flow.predict_test(steps, k_st, f0_tr, f0_te), np.float64)
    _, gd_te = gd_limit_outputs(flow.k_train_train, k_st, flow.y_train, f0_tr, f0_te,
                                lam=flow.lam, lr=flow.lr, degree=flow.degree, steps=steps)
    d = relative_distance(f_te, th_te)
    d_gd, d_disc = relative_distance(f_te, gd_te), relative_distance(gd_te, th_te)
    loss_net = mse_loss(f_te, y_te)
    pk = solvers.peak(flow, k_st, y_te, metric="loss", t=fine, f0_train=f0_tr, f0_test=f0_te)
    t_net = refined_min(steps[1:], loss_net[1:])
    tau = cfg.lam * cfg.lr
    row = {"distance_mean": float(d[in_win].mean()), "distance_max": float(d[in_win].max()),
           "distance_gd_limit_mean": float(d_gd[in_win].mean()),
           "flow_vs_gd_limit_mean": float(d_disc[in_win].mean()),
           "t_star_net": t_net, "t_star_flow": float(pk.t_star),
           "c_net": tau * t_net, "c_flow": tau * float(pk.t_star),
           "t_star_ratio": t_net / float(pk.t_star),
           "t_star_net_at_boundary": bool(np.argmin(loss_net[1:]) in (0, len(steps) - 2)),
           "min_test_loss_net": float(loss_net[1:].min()), "min_test_loss_flow": float(pk.value),
           "final_test_acc_net": float(accuracy(f_te[-1], l_te))}
    curves = {"distance": d, "test_loss_net": loss_net, "test_loss_flow": mse_loss(th_te, y_te)}
    return row, curves


def _summarize(rows: list[dict]) -> dict[str, Any]:
    """Means over seeds, and the per-seed values."""
    out: dict[str, Any] = {}
    for key in rows[0]:
        vals = [r[key] for r in rows]
        out[key] = (any(vals) if isinstance(vals[0], bool) else float(np.mean(vals)))
        out[f"{key}_per_seed"] = vals
    return out


def cnn_theory_vs_practice(data="fashion_mnist_subset", *,
                           channels: Sequence[int] = (16, 64, 256), depth: int = 1,
                           readout: str = "flatten", filter_size: int = 3,
                           stand_in: bool = True, lam: float = 0.04, lr: float = 0.5,
                           stand_in_lr: float = 0.1,
                           n_train: int = 128, n_test: int = 256,
                           seeds: Sequence[int] = (0, 1), downsample: int = 2,
                           window: tuple[float, float] = (0.05, 2.0), n_records: int = 48,
                           data_seed: int = 0, w_std: float = 2 ** 0.5,
                           networks: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """CNNs trained by full-batch GD vs the exact L2 gradient flow (module docstring).

    Args:
      data: dataset name, ``l2theory.data.Dataset`` or 4-tuple of arrays (NHWC images).
      channels: channel counts of the CNN family (ints >= 1).
      depth: conv layers of the family (degree ``depth + 1``).
      readout: ``"flatten"`` or ``"gap"`` (global average pooling; its analytic kernel costs
        ``(H W)^2`` per image pair, see ``kernels.conv_relu``).
      filter_size: odd conv filter side.
      stand_in: also compare the max-pooling stand-in CNN with its empirical-NTK flow.
      stand_in_lr: the stand-in's learning rate; its lam is ``lam lr / stand_in_lr`` (the same
        natural clock). Its empirical NTK is much larger than the analytic flatten kernel, so it
        needs a smaller lr to stay in the lazy regime (module docstring).
      lam, lr: L2 coefficient (``lam/2 ||theta||^2``) and learning rate, > 0.
      n_train, n_test: class-stratified subset sizes (``data_seed``).
      seeds: network initialization seeds.
      downsample: average ``downsample x downsample`` pixel blocks (2: 28x28 -> 14x14).
      window: ``(tau_lo, tau_hi)`` of ``lam lr t`` summarized by the distance; training runs to
        ``tau_hi``.
      n_records: log-spaced recorded steps (plus step 0).
      w_std: weight standard deviation of every layer.
      networks: more networks, each compared with the flow of its own empirical NTK at
        initialization (as the stand-in), on the same data and natural clock ``lam lr``: dicts
        with ``name`` (str), ``model`` (``TrainConfig`` fields of the architecture, e.g.
        ``{"model": "wrn", "depth": 16, "model_kwargs": {"widen": 4, "batchnorm": False}}``;
        the loss, rates, steps and full batch are set here), and either ``lr`` or
        ``lr_stability`` ``q`` in (0, 1) (``lr = 2 q n / lambda_max`` of the seed-0 network's
        empirical NTK: a fraction of the lazy-regime bound, for networks whose NTK scale is
        not known in advance); optional ``degree`` (None: the model's; an int or ``"euler"``,
        an approximation for non-homogeneous networks, ``network_theory``) and
        ``ntk_batch_size`` (Jacobian rows per block; memory and speed only).

    Returns:
      JSON-ready dict:

      - ``config``: the settings, ``steps`` (the run's length), ``data``, ``kernel`` (the
        analytic kernel), ``kernel_seconds``.
      - ``per_channels``: one dict per channel count: ``channels``, ``distance_mean``/``_max``,
        ``distance_gd_limit_mean`` (net vs the infinite-width GD limit,
        ``experiments.gd_limit_outputs``), ``flow_vs_gd_limit_mean`` (the discretization
        alone), ``t_star_net``/``t_star_flow`` (steps), ``c_net``/``c_flow`` (``lam lr t*``),
        ``t_star_ratio`` (net / flow), ``t_star_net_at_boundary``, ``min_test_loss_net``/
        ``_flow``, ``final_test_acc_net`` (means over seeds, and ``*_per_seed``), ``seconds``.
      - ``channel_exponent``: slope of ``log distance_mean`` against ``log channels`` (expected
        about -0.5), or None with one channel count.
      - ``ensemble``: the flow from ``f0 = 0`` (the infinite ensemble's mean): ``t_star``, ``c``.
      - ``stand_in``: the stand-in's row (same keys; ``kernel: "empirical"``, ``degree``,
        ``euler_ratio``, ``lr``, ``lam``), or None.
      - ``networks``: one such row per ``networks`` entry, with its ``name`` and ``model``.
      - ``config.lr_lambda_max_over_n`` (the family's) and every empirical row's
        ``lr_lambda_max_over_n`` (per seed): ``lr lambda_max / n`` of the kernel, below 2 in
        the lazy regime (module docstring).
      - ``curves``: recorded ``steps``, ``tau`` and per channel count (and ``"stand_in"``,
        each network's name; seed 0) the ``distance``, ``test_loss_net`` and ``test_loss_flow``.
    """
    from l2theory import data as data_mod
    from l2theory import kernels, solvers

    channels = _checks.sequence("channels", channels, _checks.positive_int,
                                example="[16, 64, 256]")
    networks = [_network_entry(f"networks[{i}]", e) for i, e in
                enumerate(_checks.as_list("networks", networks, minimum=0))]
    names = [e["name"] for e in networks]
    if len(set(names)) < len(names) or set(names) & {"stand_in", *map(str, channels)}:
        raise _checks.bad("networks", names, "names must be distinct (and not 'stand_in' or a "
                          "channel count: they key the curves)", "rename them")
    depth = _checks.positive_int("depth", depth)
    _checks.choice("readout", readout, tuple(READOUTS))
    lam, lr = _checks.lam("lam", lam, allow_zero=False), _checks.lr("lr", lr)
    stand_in_lr = _checks.lr("stand_in_lr", stand_in_lr)
    n_train = _checks.positive_int("n_train", n_train, minimum=2)
    n_test = _checks.positive_int("n_test", n_test)
    seeds = _checks.seeds("seeds", seeds)
    n_records = _checks.positive_int("n_records", n_records, minimum=4)
    lo, hi = _checks.positive("window[0]", window[0]), _checks.positive("window[1]", window[1])
    if not lo < hi:
        raise _checks.bad("window", window, "must be (tau_lo, tau_hi) with tau_lo < tau_hi",
                          "e.g. (0.05, 3.0)")

    x_tr, l_tr, x_te, l_te, k, name = prepare_data(data, n_train=n_train, n_test=n_test,
                                                   data_seed=data_seed, downsample=downsample,
                                                   flatten=False)
    if x_tr.ndim != 4:
        raise _checks.bad("data", name, f"inputs of shape {x_tr.shape[1:]} are not images",
                          "pass an image dataset (NHWC)")
    y_tr, y_te = (data_mod.one_hot(labels, k, centered=True, dtype=np.float64)
                  for labels in (l_tr, l_te))
    arrays = (x_tr, l_tr, x_te, l_te, y_te)
    end, steps, tau, in_win = window_steps(lam, lr, (lo, hi), n_records)
    fine = np.geomspace(max(1.0, steps[1] / 2), end * 2, 400)

    def config(c, seed, **kw):
        return cnn_config(depth=depth, channels=c, lam=lam, lr=lr, steps=end, seed=seed,
                          readout=readout, filter_size=filter_size, w_std=w_std, **kw)

    t0 = time.perf_counter()
    kernel_fn, kernel_name = network_theory.analytic_kernel_fn(config(channels[0], 0), k)
    k_tt, k_st = (np.asarray(a, np.float64) for a in kernels.ntk_matrices(
        kernel_fn, x_tr.astype(np.float64), x_te.astype(np.float64)))
    kernel_seconds = time.perf_counter() - t0
    flow = solvers.L2GradientFlow(k_tt, y_tr, lam=lam, lr=lr, degree=depth + 1)
    ens = solvers.peak(flow, k_st, y_te, metric="loss", t=fine)

    per_channels, curves = [], {}
    for c in channels:
        t0 = time.perf_counter()
        rows = []
        for si, seed in enumerate(seeds):
            row, curve = _compare(config(c, seed), flow, k_st, arrays, steps, in_win, fine, k)
            rows.append(row)
            if si == 0:
                curves[str(c)] = curve
        per_channels.append({"channels": c, **_summarize(rows),
                             "seconds": time.perf_counter() - t0})

    run = dict(seeds=seeds, arrays=arrays, steps=steps, in_win=in_win, fine=fine, k=k,
               tau_rate=lam * lr)
    stand = None
    if stand_in:
        stand, curves["stand_in"] = _empirical_network(
            lambda seed, lr_, lam_: cnn_config(lam=lam_, lr=lr_, steps=end, seed=seed,
                                               w_std=w_std, **STAND_IN),
            lr=stand_in_lr, **run)
        stand = {"model": "cnn-16,32-maxpool-gap", **stand}
    others = []
    for entry in networks:
        row, curves[entry["name"]] = _empirical_network(
            lambda seed, lr_, lam_, model=entry["model"]: network_config(
                model, seed=seed, lr=lr_, lam=lam_, steps=end),
            lr=entry["lr"], lr_stability=entry["lr_stability"], degree=entry["degree"],
            batch_size=entry["ntk_batch_size"], **run)
        others.append({"name": entry["name"], "model": dict(entry["model"]), **row})

    exponent = None
    if len(channels) > 1:
        exponent = float(np.polyfit(np.log(channels),
                                    np.log([e["distance_mean"] for e in per_channels]), 1)[0])
    return _checks.to_json({
        "config": {"channels": channels, "depth": depth, "readout": readout,
                   "filter_size": filter_size, "lam": lam, "lr": lr, "n_train": n_train,
                   "n_test": n_test, "seeds": seeds, "downsample": downsample,
                   "image_shape": list(x_tr.shape[1:]), "window": [lo, hi],
                   "n_records": n_records, "data_seed": data_seed, "w_std": w_std,
                   "steps": end, "data": name, "kernel": kernel_name,
                   "kernel_seconds": kernel_seconds,
                   "lr_lambda_max_over_n": lr * _lambda_max_over_n(k_tt),
                   "training": "full-batch GD via l2theory.train.make_step"},
        "per_channels": per_channels, "channel_exponent": exponent,
        "ensemble": {"t_star": float(ens.t_star), "c": lam * lr * float(ens.t_star)},
        "stand_in": stand, "networks": others,
        "curves": {"steps": steps, "tau": tau, **curves}})
