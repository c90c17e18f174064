"""A training run predicted before it is run: ``t*`` by test loss and by test accuracy, ``c``,
``lam_opt`` for a step budget and whether it means anything, the flow's rates.

``predict_run(config, data)`` builds the theory's flow of the run (``network_flow``: the
network's NTK at initialization, its own initial outputs, its homogeneity degree; the lazy limit
through ``predict_network`` for a network that is not homogeneous, where that is available) on
at most ``max_n`` training and test points of the run's data, preprocessed as the run's
(``standardize``; targets as the config's loss: centred one-hot for MSE), and reads off:

- ``t*`` by test loss and by test accuracy (``solvers.peak``), and ``c = lam lr t*`` for each.
  At ``lam = 0`` there is no natural clock: ``c`` is then taken from the same flow at
  ``lam_c = 1 / (lr T)`` (natural time 1 at the budget).
- ``lam_opt = c / (lr T)`` for the budget ``T`` (default: the config's ``steps``), by each
  ``c``, with ``solvers.lam_opt_verdict``'s verdict: meaningful only when it beats lam = 0
  beyond the test noise, on a sharp peak, consistently, resolved in the flow's dtype.
- the flow's rates per step: the output shrink ``lr lam L``, the kernel decay
  ``2 (L - 1) lr lam``, the fastest mode ``lr lam_max / n`` of the kernel against gradient
  descent's stability bound (2 for MSE, 4 for cross-entropy, whose curvature in the outputs is at
  most 1/2; times ``1 + momentum``): above it GD diverges and the flow does not describe the run.

Which ``c``: by test accuracy for "which lam gives the best test accuracy after T steps", by
test loss for the lowest test loss; the loss curve is smooth, the accuracy of a finite test set
plateaus near its peak, so ``c`` by accuracy can be off several-fold (the verdict says when).
"""
from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np

from l2theory import _checks

DEFAULT_MAX_N = 2000  # training (and test) points of the flow: an n x n kernel, O(n^3) eigh


class RunPrediction(NamedTuple):
    """``predict_run``'s result; ``lines()`` prints it, ``summary()`` is JSON-ready.

    Fields:
      model: the config's model and settings in effect (``TrainConfig.model_settings``).
      loss: ``"mse"`` or ``"xent"``.
      n_train, n_test: points the flow is solved on.
      preprocessing: the inputs and targets, in words.
      kernel: ``"empirical"``, ``"analytic: ..."``; degree: ``L`` (None: the lazy limit).
      homogeneous: False when ``degree`` was imposed on a network that is not homogeneous
        (``predict_run(degree=...)``: an approximation).
      f0: ``"network"`` or ``"zero"``; dtype: the flow's.
      lr, lam: the flow's rates (the config's, or the effective ones under momentum).
      lam_c: the lam ``c`` was measured at (``lam``, or ``1 / (lr T)`` when ``lam = 0``).
      t_star_loss, t_star_accuracy: steps of the predicted peaks at ``lam``.
      best_loss, best_accuracy: the metric there.
      c_loss, c_accuracy: ``lam_c lr t*`` at ``lam_c``.
      budget: ``T`` (steps).
      lam_opt_loss, lam_opt_accuracy: ``c / (lr T)`` in the config's lam (as ``--lam`` takes it).
      verdict_loss, verdict_accuracy: ``solvers.LamOptVerdict`` (None for the lazy limit).
      rates: ``shrink`` (``lr lam L``), ``kernel_decay`` (``2 (L-1) lr lam``), ``fastest``
        (``lr lam_max / n``, the config's lr), ``stability_bound``, ``stable``.
      underflow_step: from where the predicted outputs at ``lam`` are below the dtype's
        resolution (None: not on the times computed).
      seconds: the time the prediction took.
    """

    model: dict
    loss: str
    n_train: int
    n_test: int
    preprocessing: str
    kernel: str
    degree: int | None
    f0: str
    dtype: str
    lr: float
    lam: float
    lam_c: float
    t_star_loss: float
    t_star_accuracy: float
    best_loss: float
    best_accuracy: float
    c_loss: float
    c_accuracy: float
    budget: float
    lam_opt_loss: float
    lam_opt_accuracy: float
    verdict_loss: Any
    verdict_accuracy: Any
    rates: dict
    underflow_step: float | None
    seconds: float
    homogeneous: bool = True

    def summary(self) -> dict[str, Any]:
        """Every field as plain Python (the verdicts as dicts)."""
        out = self._asdict()
        for name in ("verdict_loss", "verdict_accuracy"):
            out[name] = None if out[name] is None else out[name].summary()
        return _checks.to_json(out)

    def lines(self) -> list[str]:
        """The prediction as a researcher reads it, one fact per line."""
        m = self.model
        shape = ", ".join(f"{k} {v}" for k, v in m.items() if k in ("depth", "width", "widen"))
        degree = ("the lazy limit (not homogeneous)" if self.degree is None
                  else f"homogeneous of degree L = {self.degree}" if self.homogeneous
                  else f"not homogeneous, flow of degree L = {self.degree} imposed "
                       "(an approximation)")
        r = self.rates
        stable = (("below" if r["stable"] else "ABOVE")
                  + f" GD's stability bound {r['stability_bound']:g}")
        out = [
            f"model: {m.get('name')} ({shape}), {degree}; kernel: {self.kernel} NTK at "
            f"initialization; f0: {'the network' if self.f0 == 'network' else 'zero'}",
            f"data: {self.preprocessing}",
            f"flow ({self.dtype}): lr = {self.lr:g}, lam = {self.lam:g}; per step: output shrink "
            f"lr lam L = {r['shrink']:.3g}, kernel decay 2(L-1) lr lam = "
            f"{r['kernel_decay']:.3g}, fastest mode lr lam_max/n = {r['fastest']:.3g} ({stable})",
        ]
        if not r["stable"]:
            out.append(f"warning: lr lam_max/n = {r['fastest']:.3g} > {r['stability_bound']:g}: "
                       f"gradient descent diverges at this lr; the flow does not describe the "
                       f"run (lr below {r['stability_bound'] / r['fastest'] * self.lr:.3g})")
        at = ("" if self.lam_c == self.lam else
              f" (c at lam = {self.lam_c:.3g}: lam = 0 has no clock)")
        out += [
            f"t* by test loss:     {self.t_star_loss:10.4g} steps (test loss "
            f"{self.best_loss:.4g}), c = lam lr t* = {self.c_loss:.3g}{at}",
            f"t* by test accuracy: {self.t_star_accuracy:10.4g} steps (test accuracy "
            f"{self.best_accuracy:.4f}), c = {self.c_accuracy:.3g}",
            f"budget T = {self.budget:.6g} steps: lam_opt = c/(lr T) = {self.lam_opt_accuracy:.3g} "
            f"(by accuracy), {self.lam_opt_loss:.3g} (by loss)",
        ]
        if self.underflow_step is not None:
            out.append(f"float resolution: the predicted outputs fall below {self.dtype} "
                       f"resolution from step {self.underflow_step:.4g} (the test accuracy there "
                       "reads chance); for later times use float64 (--x64)")
        for v in (self.verdict_accuracy, self.verdict_loss):
            out.append("verdict: " + (v.line() if v is not None else
                                      "not checked (the lazy limit solves one lam at a time)"))
        return out


def predict_run(config, data="fashion_mnist_subset", *, n_train: int | None = None,
                n_test: int | None = None, budget: float | None = None,
                kernel="empirical", f0: str = "network", standardize: bool = True,
                data_seed: int = 0, downsample: int = 1, max_n: int = DEFAULT_MAX_N,
                degree=None, batch_size: int | None = None) -> RunPrediction:
    """The run of ``config`` predicted (module docstring), without training.

    Example:
      >>> from l2theory import experiments, train
      >>> cfg = train.TrainConfig(model="fc", depth=2, width=64, loss="mse", lr=0.5, lam=1e-3,
      ...                         steps=2000)
      >>> p = experiments.predict_run(cfg, n_train=200, n_test=200)
      >>> p.degree, p.budget, p.c_loss > 0, p.verdict_accuracy.meaningful in (True, False)
      (2, 2000.0, True, True)

    Args:
      config: the run's ``TrainConfig`` (model, loss, lr, lam, momentum, seed, steps).
      data: a dataset name, an ``l2theory.data.Dataset`` or 4 arrays (``prepare_data``).
      n_train, n_test: the run's data size (None: the whole split); the flow takes a
        class-stratified subset of at most ``max_n`` of each (``data_seed``).
      budget: ``T`` in steps (default ``config.steps``).
      kernel, f0, degree, batch_size: as ``predict_network`` (``degree``: None for the model's
        own; an int or ``"euler"`` for the homogeneous flow as an approximation of a network that
        is not homogeneous, which otherwise takes its lazy limit).
      standardize, downsample: the inputs' preprocessing (``prepare_data``; standardization by
        the subset's statistics).
      max_n: most training and test points of the flow (the kernel is ``n x n``).
    """
    from l2theory import data as data_mod
    from l2theory import solvers
    from l2theory._experiments import network_theory
    from l2theory._experiments.comparison_data import prepare_data

    start = time.perf_counter()
    max_n = _checks.positive_int("max_n", max_n, what="the most points of the flow")
    budget = float(config.steps if budget is None else _checks.positive(
        "budget", budget, what="the step budget T", fix="e.g. 10000 (steps)"))
    if isinstance(data, tuple) and len(data) == 4:
        data = data_mod.Dataset(*data)
    ds = data_mod.load(data, n_train=n_train, n_test=n_test, seed=data_seed)
    n, m = min(ds.n_train, max_n), min(ds.n_test, max_n)
    fam = network_theory.family(config)
    x_tr, l_tr, x_te, l_te, k, name = prepare_data(
        ds, n_train=n, n_test=m, data_seed=data_seed, standardize=standardize,
        downsample=downsample, flatten=fam == "fc")
    targets = ("centred one-hot y = one_hot - 1/k" if config.loss == "mse" and
               config.setting("center_targets") else "one-hot" if config.loss == "mse" else
               "one-hot class probabilities")
    preprocessing = (
        f"{name}, {n} train / {m} test points (class-stratified subset, seed {data_seed}"
        + (f", of {ds.n_train} / {ds.n_test}" if (n, m) != (ds.n_train, ds.n_test) else "")
        + "), " + ("standardized per channel by the training points' statistics"
                   if standardize else "raw inputs in [0, 1]")
        + (f", downsampled {downsample}x" if downsample != 1 else "")
        + f"; targets: {targets} ({config.loss})")
    lr_eff, lam_eff = network_theory.flow_rates(config)
    lam_per_unit = network_theory.flow_rates(config.replace(lam=1.0))[1]  # effective lam / lam
    lam_c = lam_eff if lam_eff > 0 else 1.0 / (lr_eff * budget)
    grid = solvers.default_times(lam_c, lr_eff)
    model = {"name": config.model, **{key: v for key, v in config.model_settings().items()
                                      if not isinstance(v, (dict, list))}}
    homogeneous = config.build_model(k).degree is not None
    if degree is None and not homogeneous:
        return _lazy(config, ds, n, m, kernel, f0, budget, data_seed, standardize, downsample,
                     batch_size, model, preprocessing, lam_per_unit, start)
    setup = network_theory.network_flow(config, x_tr, l_tr, x_te, l_te, num_classes=k,
                                        kernel=kernel, f0=f0, degree=degree,
                                        batch_size=batch_size)
    flow, k_st = setup.flow, setup.k_test_train
    kw = {"f0_train": setup.f0_train, "f0_test": setup.f0_test}
    at_lam = [solvers.peak(flow, k_st, setup.y_test, metric=metric, t=grid, **kw)
              for metric in ("loss", "accuracy")]
    at_c = at_lam if lam_c == lam_eff else [
        solvers.peak(flow.replace(lam=lam_c), k_st, setup.y_test, metric=metric, t=grid, **kw)
        for metric in ("loss", "accuracy")]
    c_loss, c_acc = (lam_c * lr_eff * p.t_star for p in at_c)
    f_test = flow.predict_test(grid, k_st, f0_test=setup.f0_test, f0_train=setup.f0_train) \
        if lam_eff > 0 else None
    underflow = None if f_test is None else solvers.underflow_step(grid, f_test, flow.dtype)
    verdicts = [solvers.lam_opt_verdict(flow, k_st, setup.y_test, budget=budget, c=c,
                                        metric=metric, **kw)
                for metric, c in (("loss", c_loss), ("accuracy", c_acc))]
    rates = _rates(config, flow, lr_eff, lam_eff, setup.degree)
    return RunPrediction(
        model=model, loss=config.loss, n_train=n, n_test=m, preprocessing=preprocessing,
        kernel=setup.kernel, degree=setup.degree, f0=f0, dtype=np.dtype(flow.dtype).name,
        lr=lr_eff, lam=lam_eff, lam_c=lam_c, t_star_loss=at_lam[0].t_star,
        t_star_accuracy=at_lam[1].t_star, best_loss=at_lam[0].value,
        best_accuracy=at_lam[1].value, c_loss=c_loss, c_accuracy=c_acc, budget=budget,
        lam_opt_loss=verdicts[0].lam_opt / lam_per_unit,
        lam_opt_accuracy=verdicts[1].lam_opt / lam_per_unit, verdict_loss=verdicts[0],
        verdict_accuracy=verdicts[1], rates=rates, underflow_step=underflow,
        seconds=time.perf_counter() - start, homogeneous=homogeneous)


def _rates(config, flow, lr_eff: float, lam_eff: float, degree: int) -> dict[str, Any]:
    """The flow's rates per step and the fastest mode against GD's stability bound."""
    from scipy.sparse.linalg import eigsh

    kernel = np.asarray(flow.k_train_train, np.float64)
    lam_max = float(eigsh(kernel, k=1, which="LA", return_eigenvectors=False)[0]) \
        if kernel.shape[0] > 2 else float(np.linalg.eigvalsh(kernel)[-1])
    fastest = config.lr * lam_max / flow.n
    bound = (2.0 if config.loss == "mse" else 4.0) * (1.0 + config.momentum)
    return {"shrink": lr_eff * lam_eff * degree,
            "kernel_decay": 2.0 * (degree - 1) * lr_eff * lam_eff,
            "lam_max": lam_max, "fastest": fastest, "stability_bound": bound,
            "stable": bool(fastest < bound)}


def _lazy(config, ds, n, m, kernel, f0, budget, data_seed, standardize, downsample, batch_size,
          model, preprocessing, lam_per_unit, start) -> RunPrediction:
    """A network that is not homogeneous: ``predict_network``'s lazy limit, loss and accuracy
    (no verdict: each lam is a new solve)."""
    from l2theory._experiments.network_prediction import predict_network
    from l2theory._experiments.network_theory import flow_rates

    lr_eff, lam_eff = flow_rates(config)
    lam_c = lam_eff if lam_eff > 0 else 1.0 / (lr_eff * budget)
    cfg_c = config if lam_c == lam_eff else config.replace(lam=lam_c / lam_per_unit)
    common = dict(n_train=n, n_test=m, kernel=kernel, f0=f0, data_seed=data_seed,
                  standardize=standardize, downsample=downsample, batch_size=batch_size)
    loss, acc = (predict_network(cfg_c, ds, metric=metric, **common)
                 for metric in ("loss", "accuracy"))
    c_loss, c_acc = (lam_c * lr_eff * p.t_star for p in (loss, acc))
    return RunPrediction(
        model=model, loss=config.loss, n_train=n, n_test=m, preprocessing=preprocessing,
        kernel=loss.kernel, degree=loss.degree, f0=f0, dtype=str(loss.f_test.dtype),
        lr=lr_eff, lam=lam_eff, lam_c=lam_c, t_star_loss=loss.t_star,
        t_star_accuracy=acc.t_star, best_loss=loss.value, best_accuracy=acc.value,
        c_loss=c_loss, c_accuracy=c_acc, budget=budget,
        lam_opt_loss=c_loss / (lr_eff * budget) / lam_per_unit,
        lam_opt_accuracy=c_acc / (lr_eff * budget) / lam_per_unit, verdict_loss=None,
        verdict_accuracy=None, rates={"shrink": float("nan"), "kernel_decay": float("nan"),
                                      "lam_max": float("nan"), "fastest": float("nan"),
                                      "stability_bound": float("nan"), "stable": True},
        underflow_step=None, seconds=time.perf_counter() - start)
