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

Training: ``recording.train_recording`` (the training engine's step, full batch) on
``mean_i 1/2 ||f(x_i) - y_i||^2 + lam/2 ||theta||^2`` with centred one-hot targets, for
``ceil(window[1] / (lam lr))`` steps, outputs recorded at ``n_records`` log-spaced steps. Theory:
``L2GradientFlow(K, y, lam, lr, degree=L)`` from the same initial outputs ``f0`` (each network's
own), ``df/dt = -(lr/n) e^{-gamma t} K (f - y) - lr lam L f``, ``gamma = 2 (L-1) lr lam``.
Compared (as ``theory_vs_practice`` does for FC nets): the distance ``||f_net_test(t) -
f_flow_test(t)|| / ||f_flow_test(t)||`` over ``lam lr t`` in ``window`` (mean over the log-spaced
steps, and max), and ``t*``, the step of the minimum test loss (net: parabola through the
recorded minimum in ``ln t``; flow: ``solvers.peak``), with ``c = lam lr t*``.

Measured (defaults: depth 1 (L = 2), flatten, 14x14, lam 0.04, lr 0.5 (100 steps to
``lam lr t = 2``), 128 train / 256 test points (``data_seed`` 0), seeds 0 and 1; the stand-in at
lr 0.1, lam 0.2 (same ``lam lr``); 2 CPU cores shared with other jobs (load ~4), jax 0.10,
float32 networks; ``cnn_theory_vs_practice()`` took 52 s)::

    network        distance mean (max)   t* net / flow, steps (seeds 0, 1)   c net / flow
    CNN-16          0.55 (0.62)           55.8 / 61.8,  54.1 / 54.1          1.10 / 1.16
    CNN-64          0.33 (0.37)           55.1 / 57.1,  55.3 / 58.6          1.10 / 1.16
    CNN-256         0.16 (0.18)           54.2 / 53.8,  48.6 / 48.9          1.03 / 1.03
    stand-in        0.46 (0.51)           35.0 / 36.5,  50.5 / 53.8          0.85 / 0.90

``channel_exponent`` -0.45 (the distance falls about like ``channels^-1/2``); the discretization
alone (flow vs the infinite-width GD limit) is 0.03 of it. Predicted and measured ``t*`` agree
within 10 % at every channel count (within 1 % at 256); the stand-in, whose prediction is its
own empirical NTK, within 7 %. The infinite ensemble (``f0 = 0``) peaks much earlier,
``c = 0.42``: a single network's ``f0`` is part of what the flow must be given.

Learning rate and the lazy regime: the flow is the small-``lr`` limit of GD near the network's
linearization, which needs ``lr lambda_max / n < 2`` for the kernel's top eigenvalue. The
analytic flatten kernel here has ``lambda_max / n = 1.9`` (lr 0.5 is safe); the stand-in's
empirical NTK has 6-13 (seed-dependent), so at lr 0.5 GD leaves the linear regime and its t*
missed the flow by up to 2.5x in a pilot; at its lr 0.1 it does not. (The quick collapse panel
trains the stand-in at lr 0.3 with SGD: beyond that bound.)

GAP readout (``readout="gap"``): its analytic kernel costs ``(H W)^2`` per image pair (at 14x14
about a minute for these 384 images on 2 cores); at 7x7 (``downsample=4``, same other defaults,
no stand-in, 22 s) the distances were 0.31 / 0.18 / 0.16 and the t* ratios 0.91-1.05. Larger
settings (depth 2-3, 28x28 images, thousands of points) are for an accelerator.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from l2theory import _checks
from l2theory._experiments import network_theory
from l2theory._experiments.recording import train_recording
from l2theory._experiments.theory_vs_practice import (_acc, _mse, _refined_min, _rel,
                                                      gd_limit_outputs, prepare_data,
                                                      window_steps)

READOUTS = {"flatten": None, "gap": "avg"}  # readout -> models.cnn's global_pool
STAND_IN = dict(depth=2, channels=[16, 32], readout="gap", model_kwargs={"pool": "max"})


def cnn_config(*, depth: int, channels, lam: float, lr: float, steps: int, seed: int = 0,
               readout: str = "flatten", filter_size: int = 3, w_std: float = 2 ** 0.5,
               model_kwargs: dict | None = None):
    """The ``TrainConfig`` of the comparison: bias-free ReLU CNN in NTK parameterization, no
    local pooling (unless ``model_kwargs`` says), MSE on centred one-hot targets, full batch."""
    from l2theory import train

    kwargs = {"pool": None, "global_pool": READOUTS[readout], "kernel_size": filter_size}
    kwargs.update(model_kwargs or {})
    return train.TrainConfig(model="cnn", depth=depth, width=channels, bias=False,
                             activation="relu", parameterization="ntk", w_std=w_std, b_std=0.0,
                             model_kwargs=kwargs, loss="mse", center_targets=True, lr=lr,
                             lam=lam, steps=steps, eval_every=steps, batch_size=None, seed=seed,
                             train_eval_size=None)


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
    d, d_gd, d_disc = _rel(f_te, th_te), _rel(f_te, gd_te), _rel(gd_te, th_te)
    loss_net = _mse(f_te, y_te)
    pk = solvers.peak(flow, k_st, y_te, metric="loss", t=fine, f0_train=f0_tr, f0_test=f0_te)
    t_net = _refined_min(steps[1:], loss_net[1:])
    tau = cfg.lam * cfg.lr
    row = {"distance_mean": float(d[in_win].mean()), "distance_max": float(d[in_win].max()),
           "distance_gd_limit_mean": float(d_gd[in_win].mean()),
           "flow_vs_gd_limit_mean": float(d_disc[in_win].mean()),
           "t_star_net": t_net, "t_star_flow": float(pk.t_star),
           "c_net": tau * t_net, "c_flow": tau * float(pk.t_star),
           "t_star_ratio": t_net / float(pk.t_star),
           "t_star_net_at_boundary": bool(np.argmin(loss_net[1:]) in (0, len(steps) - 2)),
           "min_test_loss_net": float(loss_net[1:].min()), "min_test_loss_flow": float(pk.value),
           "final_test_acc_net": float(_acc(f_te[-1], l_te))}
    curves = {"distance": d, "test_loss_net": loss_net, "test_loss_flow": _mse(th_te, y_te)}
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
                           data_seed: int = 0, w_std: float = 2 ** 0.5) -> dict[str, Any]:
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
      - ``stand_in``: the stand-in's row (same keys; ``kernel: "empirical"``, ``degree``), or
        None.
      - ``curves``: recorded ``steps``, ``tau`` and per channel count (and ``"stand_in"``,
        seed 0) the ``distance``, ``test_loss_net`` and ``test_loss_flow``.
    """
    from l2theory import data as data_mod
    from l2theory import kernels, solvers

    channels = _checks.sequence("channels", channels, _checks.positive_int,
                                example="[16, 64, 256]")
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

    stand = None
    if stand_in:
        t0 = time.perf_counter()
        rows = []
        for si, seed in enumerate(seeds):
            cfg = cnn_config(lam=lam * lr / stand_in_lr, lr=stand_in_lr, steps=end, seed=seed,
                             w_std=w_std, **STAND_IN)
            setup = network_theory.network_flow(cfg, x_tr, l_tr, x_te, l_te, num_classes=k,
                                                kernel="empirical", f0="network")
            row, curve = _compare(cfg, setup.flow, setup.k_test_train, arrays, steps, in_win,
                                  fine, k)
            rows.append(row)
            if si == 0:
                curves["stand_in"] = curve
        stand = {"model": "cnn-16,32-maxpool-gap", "kernel": "empirical", "lr": stand_in_lr,
                 "lam": lam * lr / stand_in_lr,
                 "degree": setup.degree, **_summarize(rows),
                 "seconds": time.perf_counter() - t0}

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
                   "training": "full-batch GD via l2theory.train.make_step"},
        "per_channels": per_channels, "channel_exponent": exponent,
        "ensemble": {"t_star": float(ens.t_star), "c": lam * lr * float(ens.t_star)},
        "stand_in": stand,
        "curves": {"steps": steps, "tau": tau, **curves}})
