"""The theory for any network ``l2theory.models`` builds: the exact L2 gradient flow with the
network's NTK at initialization, and the predicted time of peak test performance ``t*``.

For a ``TrainConfig`` and a data subset, ``predict_network`` (``network_prediction``) solves
(docs/conventions.md, sec. 2)::

    df/dt = -(lr/n) e^{-gamma t} K (dloss/df) - lr lam L f,      gamma = 2 (L - 1) lr lam,

(``solvers.L2GradientFlow``; MSE in closed form, cross-entropy by the integrator) with ``t`` in
steps, ``L`` the network's homogeneity degree and ``K`` its NTK at initialization, one of

- ``kernel="empirical"``: the empirical NTK of the config's own network at the run's initial
  parameters (same seed as ``train``), averaged over the outputs; works for any model without
  BatchNorm (max pooling, residual networks, ...). The solver takes one kernel for every output
  (exact at infinite width): at finite width the cross-output blocks ``Theta_cc'`` (``c != c'``)
  and the spread of ``Theta_cc`` over ``c`` are dropped, an ``O(width^-1/2)`` error (measured on
  the first GD step of a max-pooling CNN on 7x7 images: 100 % at 8 channels, 18 % at 64;
  0.05 % at 64 with the full kernel);
- ``kernel="analytic"``: the infinite-width NTK of the architecture where one is implemented:
  ``kernels.fc_relu`` (``"fc"``) and ``kernels.conv_relu`` (``"cnn"`` without local pooling,
  ``global_pool`` None = flatten or ``"avg"`` = GAP), both ReLU in NTK parameterization;
- any kernel function ``kernel_fn(x1, x2=None) -> (nngp, ntk)`` (neural-tangents' accepted).

``t*`` is the step of the predicted test curve's peak (``solvers.peak``) and
``c = lam lr t*`` its natural time, in the config's ``lam`` and ``lr``.

Degree ``L`` per family (``model.degree``): fully connected ``"fc"``: ``depth`` (bias-free,
ReLU or linear); ``"cnn"``: ``depth + 1`` (the convs and the dense readout; max/avg pooling,
flatten and global pooling are positively homogeneous of degree 1 in the activations and add
no weights), bias-free, no BatchNorm, ReLU or linear.

Networks without BatchNorm that are not homogeneous (Wide ResNets with ``batchnorm=False``:
residual sums of paths through different numbers of weight layers, a readout bias; biases;
other activations) are predicted by the lazy limit of the same flow (docs/conventions.md,
sec. 2; ``lazy_network.predict_lazy``, ``solvers.LazyL2Flow``): from the network's outputs and
two-scale NTKs at ``nodes`` scaled copies ``a_d theta_0`` of its initial parameters, no degree
needed. ``degree=<int>`` or ``degree="euler"`` (the rounded ``euler_ratio`` of the initialized
network) apply the homogeneous flow to such a network instead, as an approximation.

What the theory covers and what not: docs/conventions.md, sec. 2.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from l2theory import _checks, _precision
from l2theory._practice.models import registry

F0_CHOICES = ("network", "zero")
# Elements of one Jacobian block [batch, k, P] of the empirical NTK (2^25: 128 MiB in float32).
JACOBIAN_ELEMENTS = 2 ** 25


class NetworkPrediction(NamedTuple):
    """The predicted run (``predict_network``'s result; ``summary()`` is JSON-ready).

    Fields:
      t_star: predicted step of the peak of the test ``metric``.
      c: ``lam lr t_star`` (the natural time of the peak, config's ``lam`` and ``lr``; None when
        ``lam = 0``).
      value: the predicted metric at ``t_star``.
      metric: ``"loss"`` or ``"accuracy"`` (of the test set).
      t: ``[T]`` steps of the predicted trajectory.
      curve: ``[T]`` predicted test metric at ``t``.
      f_train, f_test: ``[T, n, k]``, ``[T, m, k]`` predicted outputs at ``t``.
      degree: the homogeneity degree ``L`` used; None for the lazy limit (no degree).
      euler_ratio: ``<f, theta . grad f> / <f, f>`` of the initialized network on the training
        inputs (``euler_ratio``): ``L`` for a homogeneous network, an effective degree otherwise.
      kernel: which kernel (``"empirical"``, ``"analytic: <kernel>"``, ``"kernel_fn"``, or the
        lazy limit's ``"empirical two-scale NTK (...)"``).
      f0: ``"network"`` (the initialized network's outputs) or ``"zero"`` (ensemble mean).
      lr, lam: the flow's rates (the config's, or the effective ones under momentum).
      nodes: the lazy limit's scale nodes (None for the homogeneous flow).
      coarse_t_star: the lazy limit's ``t*`` through all its nodes but the middle one (its
        interpolation error shows in the difference to ``t_star``; None for the homogeneous
        flow).
    """

    t_star: float
    c: float | None
    value: float
    metric: str
    t: np.ndarray
    curve: np.ndarray
    f_train: np.ndarray
    f_test: np.ndarray
    degree: int | None
    euler_ratio: float
    kernel: str
    f0: str
    lr: float
    lam: float
    nodes: int | None = None
    coarse_t_star: float | None = None

    def summary(self) -> dict[str, Any]:
        """Everything but the output trajectories, as plain Python."""
        out = self._asdict()
        del out["f_train"], out["f_test"]
        return _checks.to_json(out)


def family(config) -> str:
    """``"fc"``, ``"cnn"`` or ``"wrn"`` for a ``TrainConfig``'s model name (the models'
    registry)."""
    return registry.family(config.model, arg="config.model")


def check_no_batchnorm(config) -> None:
    """A ``ValueError`` for a network with BatchNorm, naming what to do."""
    if config.model_settings().get("batchnorm"):
        raise _checks.bad("config.model_kwargs", config.model_kwargs, "BatchNorm is not covered "
                          "by the theory (f is scale-invariant in the weights before it: L2 "
                          "raises their effective learning rate instead of decaying the kernel)",
                          "set model_kwargs={'batchnorm': False}: the lazy limit then covers the "
                          "network, residual or not")


def network_degree(config, num_classes: int = 10) -> int:
    """The homogeneity degree ``L`` of the config's network (``model.degree``), or a
    ``ValueError`` saying why it is not homogeneous and what to change."""
    model = config.build_model(num_classes)
    if model.degree is not None:
        return int(model.degree)
    s, fam = config.model_settings(), family(config)
    approx = ("or predict it by its lazy limit, which needs no degree (experiments."
              "predict_network with degree=None), or pass degree=<int> or degree='euler' (the "
              "network's effective degree at initialization) for the homogeneous theory as an "
              "approximation")
    if fam == "wrn":
        raise _checks.bad(
            "config.model", config.model,
            "a wide ResNet is not homogeneous (residual sums add paths through different numbers "
            "of weight layers, the readout has a bias" + (", and BatchNorm makes f "
                                                          "scale-invariant" if s["batchnorm"]
                                                          else "") + ")",
            "no WRN variant is; " + approx)
    fixes = []
    if s.get("batchnorm"):
        fixes.append("BatchNorm makes f scale-invariant: model_kwargs={'batchnorm': False}")
    if s.get("bias"):
        fixes.append("biases: bias=False")
    if s.get("activation") not in ("relu", "linear", "identity"):
        fixes.append(f"activation {s.get('activation')!r} is not homogeneous: activation='relu'")
    raise _checks.bad("config.model", config.model, "the network is not homogeneous "
                      "(model.degree is None)", "; ".join(fixes + [approx]))


def analytic_kernel_fn(config, num_classes: int = 10):
    """``(kernel_fn, description)``: the infinite-width NTK of the config's architecture
    (``kernels.fc_relu`` or ``kernels.conv_relu``), or a ``ValueError`` saying why there is
    none."""
    from l2theory import kernels

    s, fam = config.model_settings(), family(config)
    why = []
    if fam == "wrn":
        why.append("residual networks have no analytic kernel here")
    if s.get("activation") != "relu":
        why.append(f"activation={s.get('activation')!r} (only 'relu')")
    if s.get("parameterization") != "ntk":
        why.append(f"parameterization={s.get('parameterization')!r} (the kernels are the NTK "
                   f"parameterization's)")
    if fam == "cnn":
        if s["pool"] is not None:
            why.append(f"local pooling pool={s['pool']!r} (pool=None only)")
        if s["global_pool"] not in (None, "avg"):
            why.append(f"global_pool={s['global_pool']!r} (None = flatten or 'avg')")
        if s["batchnorm"]:
            why.append("BatchNorm")
        if s["kernel_size"] % 2 == 0:
            why.append(f"even kernel_size={s['kernel_size']}")
    if why:
        raise _checks.bad("kernel", "analytic", f"no analytic kernel for {config.model!r} with "
                          + ", ".join(why), "use kernel='empirical' (the network's NTK at "
                          "initialization), or change those settings")
    b_std = float(s["b_std"]) if s.get("bias") else 0.0
    if fam == "fc":
        return (kernels.fc_relu_fn(depth=s["depth"], w_std=s["w_std"], b_std=b_std),
                f"fc_relu(depth={s['depth']})")
    readout = "flatten" if s["global_pool"] is None else "gap"
    return (kernels.conv_relu_fn(depth=s["depth"], filter_size=s["kernel_size"],
                                 readout=readout, w_std=s["w_std"], b_std=b_std),
            f"conv_relu(depth={s['depth']}, filter_size={s['kernel_size']}, readout={readout!r})")


def flow_rates(config) -> tuple[float, float]:
    """``(lr, lam)`` of the gradient flow a run of ``config`` follows at small ``lr``: with
    momentum ``mu`` the gradient enters as ``lr / (1 - mu)``; coupled L2 with it, decoupled
    weight decay as ``lr lam`` per step, i.e. ``lam (1 - mu)`` at the effective lr."""
    if config.lr_schedule != "constant":
        raise _checks.bad("config.lr_schedule", config.lr_schedule, "the theory's flow has a "
                          "constant learning rate", "use lr_schedule='constant'")
    if config.lam_schedule != "constant":
        raise _checks.bad("config.lam_schedule", config.lam_schedule, "the theory's flow has a "
                          "constant lam", "use lam_schedule='constant'")
    mu = float(config.momentum)
    lam = config.lam * (1 - mu) if config.setting("decoupled_weight_decay") else config.lam
    return config.lr / (1 - mu), float(lam)


def targets(config, labels, num_classes: int) -> np.ndarray:
    """``[n, k]`` float64 targets of the config's loss: centred (or plain) one-hot for MSE,
    one-hot probabilities for cross-entropy."""
    from l2theory import data

    centered = config.loss == "mse" and config.setting("center_targets")
    return data.one_hot(np.asarray(labels), num_classes, centered=centered, dtype=np.float64)


def empirical_kernels(config, model, params, x_train, x_test, *,
                      batch_size: int | None = None):
    """``(k_train_train [n, n], k_test_train [m, n])`` float64 empirical NTKs (mean over
    outputs) at full float32 matmul precision. Bias-free ReLU FC nets in NTK parameterization
    use ``fc_network.fc_empirical_ntk`` (exact, layer by layer, no Jacobian); every other model
    ``kernels.empirical_ntk`` with ``batch_size`` rows per Jacobian block (None: as many as keep
    a ``[batch, k, P]`` block under ``JACOBIAN_ELEMENTS``)."""
    from l2theory import kernels, models
    from l2theory._experiments.fc_network import fc_empirical_ntk

    s = config.model_settings()
    with _precision.full():
        if (family(config) == "fc" and not s["bias"] and s["activation"] == "relu"
                and s["parameterization"] == "ntk"):
            k_tt, k_st = fc_empirical_ntk(params, x_train, x_test, depth=s["depth"],
                                          w_std=s["w_std"])
        else:
            apply_fn = models.apply_fn(model)
            if batch_size is None:
                k = int(np.prod(jax.eval_shape(apply_fn, params, x_train[:1]).shape[1:]))
                batch_size = max(1, JACOBIAN_ELEMENTS // (k * models.param_count(params)))
            k_tt = kernels.empirical_ntk(apply_fn, params, x_train, batch_size=batch_size)
            k_st = kernels.empirical_ntk(apply_fn, params, x_test, x_train,
                                         batch_size=batch_size)
    k_tt, k_st = np.asarray(k_tt, np.float64), np.asarray(k_st, np.float64)
    return (k_tt + k_tt.T) / 2, k_st


def network_outputs(model, params, x) -> np.ndarray:
    """``[n, k]`` float64 outputs of the network (eval mode, full matmul precision)."""
    from l2theory import models

    with _precision.full():
        return np.asarray(jax.jit(models.apply_fn(model))(params, x), np.float64)


def euler_ratio(model, params, x) -> float:
    """``<f, theta . grad_theta f> / <f, f>`` over the outputs on ``x``: ``d log f(a theta) / d a``
    at ``a = 1`` (one ``jvp``). Exactly ``L`` for a degree-``L`` homogeneous network (Euler's
    identity); for a residual network a weighted mean of its paths' degrees."""
    import jax.numpy as jnp

    @jax.jit
    def jvp(params, x):  # arguments, not closed-over constants: XLA would constant-fold them
        def f(a):
            return model.apply(jax.tree.map(lambda w: a * w, params), {}, x, False)[0]
        return jax.jvp(f, (jnp.float32(1.0),), (jnp.float32(1.0),))

    with _precision.full():
        out, tangent = jvp(params, jnp.asarray(x))
    out, tangent = np.asarray(out, np.float64), np.asarray(tangent, np.float64)
    return float(np.sum(out * tangent) / np.sum(out * out))


class FlowSetup(NamedTuple):
    """What ``network_flow`` builds: ``flow`` (``L2GradientFlow``), ``k_test_train [m, n]``,
    ``f0_train [n, k]`` and ``f0_test [m, k]`` (None for the ensemble mean), ``y_test [m, k]``,
    ``degree``, ``euler_ratio`` and the ``kernel`` description."""

    flow: Any
    k_test_train: np.ndarray
    f0_train: np.ndarray | None
    f0_test: np.ndarray | None
    y_test: np.ndarray
    degree: int
    euler_ratio: float
    kernel: str


def network_flow(config, x_train, labels_train, x_test, labels_test, *, num_classes: int,
                 kernel="empirical", f0: str = "network", degree: int | None = None,
                 batch_size: int | None = None) -> FlowSetup:
    """The theory's flow for a run of ``config`` on these arrays (see the module docstring).

    Args:
      config: a ``TrainConfig``.
      x_train, labels_train, x_test, labels_test: inputs shaped as the model takes them
        (``[n, H, W, C]`` images for a CNN) and integer labels.
      num_classes: number of outputs ``k``.
      kernel: ``"empirical"``, ``"analytic"`` or a kernel function.
      f0: ``"network"`` or ``"zero"``.
      degree: None for ``model.degree``; an int, or ``"euler"`` for the rounded
        ``euler_ratio`` at initialization (approximations for non-homogeneous nets).
      batch_size: Jacobian rows per block of the empirical NTK.
    """
    from l2theory import kernels, solvers
    from l2theory._experiments.recording import initial_params

    if f0 not in F0_CHOICES:
        _checks.choice("f0", f0, F0_CHOICES, what="initial outputs")
    check_no_batchnorm(config)
    if degree is None:
        degree = network_degree(config, num_classes)
    elif not (isinstance(degree, str) and degree == "euler"):
        degree = _checks.positive_int("degree", degree)
    lr, lam = flow_rates(config)
    model = config.build_model(num_classes)
    x_train, x_test = np.asarray(x_train, np.float32), np.asarray(x_test, np.float32)
    params = initial_params(config, num_classes, x_train.shape[1:])
    ratio = euler_ratio(model, params, x_train)
    if degree == "euler":
        degree = max(1, int(round(ratio)))
    if isinstance(kernel, str) and kernel == "empirical":
        k_tt, k_st = empirical_kernels(config, model, params, x_train, x_test,
                                       batch_size=batch_size)
        name = "empirical"
    else:
        if isinstance(kernel, str) and kernel == "analytic":
            fn, name = analytic_kernel_fn(config, num_classes)
            name = f"analytic: {name}"
        elif callable(kernel):
            fn, name = kernel, "kernel_fn"
        else:
            raise _checks.bad("kernel", kernel, "unknown kernel",
                              "pass 'empirical', 'analytic' or a kernel_fn(x1, x2=None)")
        k_tt, k_st = kernels.ntk_matrices(fn, x_train.astype(np.float64),
                                          x_test.astype(np.float64))
        k_tt, k_st = np.asarray(k_tt, np.float64), np.asarray(k_st, np.float64)
    f0_train = f0_test = None
    if f0 == "network":
        f0_train = network_outputs(model, params, x_train)
        f0_test = network_outputs(model, params, x_test)
    flow = solvers.L2GradientFlow(k_tt, targets(config, labels_train, num_classes), lam=lam,
                                  lr=lr, degree=degree, loss=config.loss)
    return FlowSetup(flow, k_st, f0_train, f0_test, targets(config, labels_test, num_classes),
                     degree, ratio, name)
