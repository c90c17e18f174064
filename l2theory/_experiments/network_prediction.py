"""``predict_network``: the predicted trajectory of a run of any network without BatchNorm - a
homogeneous one by the closed-form flow of its NTK (``network_theory``), any other (residual
sums, biases) by its lazy limit (``lazy_network``)."""
from __future__ import annotations

import numpy as np

from l2theory import _checks
from l2theory._experiments import lazy_network, network_theory


def predict_network(config, data="fashion_mnist_subset", *, n_train: int, n_test: int,
                    kernel="empirical", f0: str = "network", degree: int | None = None,
                    metric: str = "loss", t=None, data_seed: int = 0, standardize: bool = True,
                    downsample: int = 1, batch_size: int | None = None,
                    nodes: int = lazy_network.DEFAULT_NODES
                    ) -> network_theory.NetworkPrediction:
    """Predicted trajectory, ``t*`` and ``c = lam lr t*`` of a run of ``config``
    (``network_theory``'s docstring: the flow, the kernels, the degree per family;
    docs/conventions.md sec. 2: the lazy limit, what is and is not covered).

    A homogeneous network gets the closed-form flow; any other network without BatchNorm its
    lazy limit (``degree=None``). Cost of the lazy limit with ``S = nodes`` scale nodes, ``n``
    train and ``m`` test points, ``k`` outputs and ``P`` parameters: ``S (n + m) k`` backward
    passes of one example and ``S^2 (n/2 + m) n k P`` multiply-adds for the two-scale NTKs (FC
    nets: layer by layer, ``S^2 (n + m) n k width`` per layer), then ``O(steps (3n)^3)`` for the
    integration; memory: a 1 GiB panel of gradients and ``8 S^2 (n + m) n`` bytes of kernels.
    Measured on 2 CPU cores shared with other jobs (load 6-11), 9 nodes, 64 + 64 Fashion-MNIST
    images at 7x7: the two-scale NTKs of WRN-10-1 without BatchNorm in 1.5-2 min, of WRN-10-2
    in 7.5-12 min (the ``lazy_limit`` figure, docs/figures.md).

    Example:
      >>> from l2theory import experiments, train
      >>> cfg = train.TrainConfig(model="cnn", depth=1, width=8, bias=False, loss="mse",
      ...                         parameterization="ntk", lr=0.5, lam=0.02,
      ...                         model_kwargs={"pool": None, "global_pool": None})
      >>> p = experiments.predict_network(cfg, n_train=20, n_test=20, downsample=4,
      ...                                 kernel="analytic")
      >>> p.degree, p.kernel, p.f_test.shape
      (2, "analytic: conv_relu(depth=1, filter_size=3, readout='flatten')", (400, 20, 10))

    Args:
      config: the ``TrainConfig`` of the run (model, loss, ``lr``, ``lam``, ``momentum``,
        ``seed``: the empirical NTK and ``f0`` are the run's own network at initialization).
      data: dataset name, ``l2theory.data.Dataset`` or 4-tuple of arrays
        (``experiments.prepare_data``).
      n_train, n_test: class-stratified subset sizes (``data_seed``); the flow trains on the
        ``n_train`` points (full batch).
      kernel: ``"empirical"``, ``"analytic"`` or a kernel function ``(x1, x2=None) -> (nngp,
        ntk)``.
      f0: ``"network"`` (the initialized network's outputs) or ``"zero"`` (ensemble mean).
      degree: None: ``model.degree``, or the lazy limit for a network that is not homogeneous
        (no degree needed); an int, or ``"euler"`` (the rounded ``euler_ratio`` of the
        initialized network): the homogeneous flow with that degree, an approximation for a
        network that is not homogeneous.
      metric: ``"loss"`` (test loss, t* at its minimum) or ``"accuracy"`` (its maximum).
      t: steps of the trajectory (default ``solvers.default_times``: natural time ``1e-4`` to
        ``1e2``, 400 points; for the lazy limit ``1e-5`` to ``10``, so that the scale nodes
        span ``[exp(-lam lr t_max), 1]``).
      standardize, downsample: input preprocessing (``prepare_data``).
      batch_size: Jacobian rows per block of the empirical NTK (memory only).
      nodes: scale nodes of the lazy limit (``coarse_t_star`` drops the middle one).

    Returns:
      ``NetworkPrediction``.
    """
    from l2theory import solvers
    from l2theory._experiments.comparison_data import prepare_data

    if metric not in ("loss", "accuracy"):
        _checks.choice("metric", metric, ("loss", "accuracy"))
    if t is None and network_theory.flow_rates(config)[1] == 0:
        raise _checks.bad("t", t, "config.lam = 0 has no natural time scale for the default grid "
                          "of times", "pass t, a grid of steps (e.g. np.geomspace(1, 1e6, 400)), "
                          "or a config with lam > 0")
    x_tr, l_tr, x_te, l_te, k, _ = prepare_data(data, n_train=n_train, n_test=n_test,
                                                data_seed=data_seed, standardize=standardize,
                                                downsample=downsample,
                                                flatten=network_theory.family(config) == "fc")
    network_theory.check_no_batchnorm(config)
    if degree is None and config.build_model(k).degree is None:  # not homogeneous
        if not (isinstance(kernel, str) and kernel == "empirical"):
            raise _checks.bad("kernel", kernel, f"{config.model!r} is not homogeneous; its lazy "
                              "limit needs the network's own two-scale NTKs",
                              "use kernel='empirical'")
        return lazy_network.predict_lazy(config, x_tr, l_tr, x_te, l_te, num_classes=k, f0=f0,
                            metric=metric, t=t, nodes=nodes, batch_size=batch_size)
    setup = network_theory.network_flow(config, x_tr, l_tr, x_te, l_te, num_classes=k, kernel=kernel, f0=f0,
                         degree=degree, batch_size=batch_size)
    flow = setup.flow
    grid = solvers.default_times(flow.lam, flow.lr) if t is None else np.asarray(t, np.float64)
    pk = solvers.peak(flow, setup.k_test_train, setup.y_test, metric=metric, t=grid,
                      f0_train=setup.f0_train, f0_test=setup.f0_test)
    f_train, f_test = flow.predict(pk.t, setup.k_test_train, setup.f0_train, setup.f0_test)
    c = config.lam * config.lr * pk.t_star if config.lam > 0 else None
    return network_theory.NetworkPrediction(
        t_star=pk.t_star, c=c, value=pk.value, metric=metric, t=np.asarray(pk.t),
        curve=np.asarray(pk.curve), f_train=np.asarray(f_train), f_test=np.asarray(f_test),
        degree=setup.degree, euler_ratio=setup.euler_ratio, kernel=setup.kernel, f0=f0,
        lr=flow.lr, lam=flow.lam)
