"""Exact gradient-flow-with-L2 solvers in function space, and predictions on top of them.

Solvers return functions of time in steps (``predict(t, ...)``), in docs/conventions.md's
conventions: ``L2GradientFlow`` (the infinite-width network, or a linear model at degree 1) and
``LinearizedL2Flow`` (the linearized finite-width network). The MSE flow is solved exactly
(``method="eigh"``, one eigendecomposition) or matrix-free to a stated tolerance
(``method="krylov"``, block Lanczos: the full 60,000-image training set on one GPU).
``LazyL2Flow``: the lazy limit of the flow for any network without BatchNorm (residual sums,
biases), from its two-scale NTKs at ``scale_nodes``.

Predictions: ``peak`` (a ``Peak``: the time ``t*`` of the best ``test_metric`` on a grid of
``default_times``), ``c_from_t_star`` (``c = lam lr t*``) and ``lam_opt`` (``c / (lr T)``);
``lam_opt_verdict`` (a ``LamOptVerdict``: whether that ``lam_opt`` beats lam = 0 beyond the test
noise, sits on a sharp peak, is consistent with its own ``t*`` and is resolved in the flow's
dtype) and ``underflow_step`` (from when outputs shrunk by L2 fall below the dtype's resolution,
``resolution_limit``: float32's accuracy there reads chance).

``L2GradientFlow(method="auto")``, the default, solves the MSE flow by one eigendecomposition
below ``L2GradientFlow.AUTO_KRYLOV_MIN_N`` training points (and whenever the kernel does not
decay: degree 1 or lam = 0) and by block Lanczos above; ``flow.info`` says which and why.
"""
from l2theory._theory.gradient_flow import L2GradientFlow
from l2theory._theory.lazy_flow import LazyL2Flow
from l2theory._theory.lazy_flow import scale_nodes
from l2theory._theory.lam_opt_check import LamOptVerdict
from l2theory._theory.lam_opt_check import lam_opt_verdict
from l2theory._theory.lam_opt_check import resolution_limit
from l2theory._theory.lam_opt_check import underflow_step
from l2theory._theory.linearized import LinearizedL2Flow
from l2theory._theory.predictions import Peak
from l2theory._theory.predictions import c_from_t_star
from l2theory._theory.predictions import default_times
from l2theory._theory.predictions import lam_opt
from l2theory._theory.predictions import peak
from l2theory._theory.predictions import test_metric

__all__ = [
    "L2GradientFlow",
    "LazyL2Flow",
    "LamOptVerdict",
    "LinearizedL2Flow",
    "Peak",
    "c_from_t_star",
    "default_times",
    "lam_opt",
    "lam_opt_verdict",
    "peak",
    "scale_nodes",
    "resolution_limit",
    "test_metric",
    "underflow_step",
]
