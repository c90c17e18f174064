"""Whether a predicted ``lam_opt = c / (lr T)`` means anything, and where float outputs lose
their resolution.

``lam_opt`` (docs/conventions.md, relation 3) assumes that the test metric peaks at
``t* = c / (lam lr)`` with one ``c`` for every lam, so that ``lam_opt`` puts the peak at the
budget ``T``. ``lam_opt_verdict`` checks that on the flow itself. The verdict's rule: ``lam_opt``
is *meaningful* when

1. it helps: the predicted test metric at step ``T`` with ``lam_opt`` beats ``lam = 0``'s by
   more than two standard errors of the metric on the ``m`` test points (accuracy:
   ``sqrt(p (1 - p) / m)``, ``p`` the accuracy at ``lam = 0``; loss: the standard deviation of
   the per-point losses over ``sqrt(m)``). Within that, which lam to pick does not matter at
   this budget;
2. its peak is sharp: the times at which the metric at ``lam_opt`` is within one standard error
   of its best span less than a factor ``PLATEAU_FACTOR`` (10) in steps. On a wider plateau the
   time of the peak, hence ``c`` and ``lam_opt``, is not determined and jumps with small changes
   of lam or of the data;
3. it is consistent: the peak at ``lam_opt`` falls within a factor ``JUMP_FACTOR`` (3) of ``T``.
   Otherwise ``c`` differs between the lam it was measured at and ``lam_opt`` (``t*`` jumps
   across lam);
4. the metric at ``T`` is resolved: the outputs there are above ``resolution_limit`` (see
   ``underflow_step``).

Which ``c``: ``c`` by test accuracy answers "which lam gives the best test accuracy after T
steps"; ``c`` by test loss the same for the test loss. The loss is smooth in time, so its ``c``
is well defined; the accuracy of a finite test set is flat near its peak (a plateau a few test
points high), so its ``c`` can be off by several-fold (rule 2 says when).

Float resolution. With L2 the outputs shrink like ``exp(-lr lam L t)`` once the kernel has
decayed: at natural time ``lam lr t`` of about ``25 / L`` they fall below float32's normal range
(``1.2e-38``), the class scores of a test point become equal or zero and its accuracy reads
chance (0.1 for 10 classes) where float64 still resolves them (the demo's depth-3 flow: 0.1 in
float32 against 0.64 in float64 at ``lam lr t = 30``). ``underflow_step`` finds the first time
at which the smallest per-point largest ``|f|`` is below ``tiny / eps`` of the dtype (``1e-31``
for float32, ``1e-292`` for float64), where score differences at the dtype's relative
resolution are no longer representable.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from l2theory import _checks
from l2theory._theory import predictions

PLATEAU_FACTOR = 10.0  # rule 2: the near-peak times may span at most this factor
JUMP_FACTOR = 3.0      # rule 3: the peak at lam_opt within this factor of the budget


def resolution_limit(dtype) -> float:
    """``tiny / eps`` of a floating dtype: below it, output differences at the dtype's relative
    resolution fall into the subnormal range (``9.9e-32`` float32, ``1.0e-292`` float64)."""
    info = np.finfo(np.dtype(dtype))
    return float(info.tiny / info.eps)


def underflow_step(t, f, dtype=None) -> float | None:
    """First time in ``t`` (after the outputs' largest scale) at which some point's outputs
    ``f [T, m, k]`` are all below ``resolution_limit(dtype)`` in size (``dtype``: ``f``'s by
    default), or None. From there on that point's prediction (its argmax) is not resolved.

    Example:
      >>> import numpy as np
      >>> t = np.array([1.0, 10.0, 100.0])
      >>> f = np.array([[[1.0, 2.0]], [[1e-20, 2e-20]], [[1e-35, 0.0]]], np.float32)
      >>> underflow_step(t, f)
      100.0
    """
    t = np.asarray(t, np.float64).reshape(-1)
    f = np.asarray(f)
    if f.ndim != 3 or f.shape[0] != len(t):
        raise _checks.bad("f", f, f"must be [T, m, k] outputs at the {len(t)} times t",
                          "pass f_test as predict_test returns it")
    if f.shape[1] == 0 or len(t) == 0:
        return None
    scale = np.abs(f.astype(np.float64)).max(axis=2).min(axis=1)  # [T]
    start = int(np.argmax(scale))
    below = np.flatnonzero(scale[start:] < resolution_limit(dtype or f.dtype))
    return float(t[start + below[0]]) if below.size else None


class LamOptVerdict(NamedTuple):
    """``lam_opt_verdict``'s result (module docstring: the rule).

    Fields:
      lam_opt: ``c / (lr T)``.
      budget: ``T`` (steps).
      c: the ``c`` it came from.
      metric: ``"accuracy"`` or ``"loss"`` (of the test set).
      value_at_lam_opt, value_at_zero: the predicted metric at step ``T`` with ``lam_opt`` and
        with ``lam = 0``.
      standard_error: of the metric on the ``m`` test points (rule 1).
      t_star: the peak of the metric at ``lam_opt`` (steps).
      plateau: ``(first, last)`` steps at which the metric at ``lam_opt`` is within one standard
        error of its best (rule 2).
      underflow_step: from where the outputs are not resolved in the flow's dtype (None: never
        on the times computed).
      meaningful: all four rules hold.
      reasons: one text per rule that failed.
    """

    lam_opt: float
    budget: float
    c: float
    metric: str
    value_at_lam_opt: float
    value_at_zero: float
    standard_error: float
    t_star: float
    plateau: tuple[float, float]
    underflow_step: float | None
    meaningful: bool
    reasons: tuple[str, ...]

    def line(self) -> str:
        """The verdict in one line."""
        head = (f"lam_opt = {self.lam_opt:.3g} (by test {self.metric}, c = {self.c:.3g}) for "
                f"T = {self.budget:.6g} steps")
        if self.meaningful:
            better = "higher" if self.metric == "accuracy" else "lower"
            return (f"{head}: meaningful: test {self.metric} at T {self.value_at_lam_opt:.4g} vs "
                    f"{self.value_at_zero:.4g} at lam = 0 ({better} by more than 2 standard "
                    f"errors, {2 * self.standard_error:.2g}), a sharp peak at step "
                    f"{self.t_star:.4g}")
        return f"{head}: NOT meaningful: " + "; ".join(self.reasons)

    def summary(self) -> dict:
        """JSON-ready fields."""
        return _checks.to_json(self._asdict())


def lam_opt_verdict(flow, k_test_train, y_test, *, budget: float, c: float,
                    metric: str = "accuracy", f0_train=None, f0_test=None,
                    num: int = 200) -> LamOptVerdict:
    """Whether ``lam_opt = c / (flow.lr T)`` is meaningful for this flow (module docstring).

    Solves ``flow.replace(lam=lam_opt)`` on ``num`` log-spaced times with ``lam lr t`` in
    ``[1e-3, 10]`` and at ``T``, and ``flow.replace(lam=0)`` at ``T`` (an ``L2GradientFlow``
    reuses its eigendecomposition or Krylov basis; cross-entropy integrates twice).

    Example:
      >>> import numpy as np
      >>> from l2theory import kernels, solvers
      >>> rng = np.random.default_rng(0)
      >>> x, xt = rng.normal(size=(60, 8)), rng.normal(size=(40, 8))
      >>> y, yt = np.eye(3)[rng.integers(0, 3, 60)], np.eye(3)[rng.integers(0, 3, 40)]
      >>> flow = solvers.L2GradientFlow(kernels.fc_relu(x, depth=3)[1], y, lam=1e-2, degree=3)
      >>> v = solvers.lam_opt_verdict(flow, kernels.fc_relu(xt, x, depth=3)[1], yt,
      ...                             budget=1e3, c=0.3)
      >>> v.lam_opt, v.meaningful   # random labels: nothing to gain over lam = 0
      (0.0003, False)

    Args:
      flow: an ``L2GradientFlow`` (any flow with ``lam``, ``lr``, ``replace(lam=)`` and
        ``predict_test``).
      k_test_train, y_test: test kernel ``[m, n]`` and targets ``[m, k]``.
      budget: ``T``, steps (``> 0``).
      c: ``lam lr t*`` measured for ``metric`` (``> 0``).
      metric: ``"accuracy"`` or ``"loss"``.
      f0_train, f0_test: initial outputs, as for ``predict_test``.
      num: times of the curve at ``lam_opt``.
    """
    metric = _checks.choice("metric", metric, ("accuracy", "loss"))
    best = predictions.lam_opt(c, lr=flow.lr, budget=budget)
    budget = float(budget)
    num = _checks.integer("num", num, low=10, fix="e.g. 200")
    y = np.asarray(y_test, np.float64)
    y = y[:, None] if y.ndim == 1 else y
    m = y.shape[0]
    kwargs = {} if f0_train is None else {"f0_train": f0_train}
    grid = np.union1d(np.geomspace(1e-3, 10.0, num) / (best * flow.lr), [budget])
    f_opt = np.asarray(flow.replace(lam=best).predict_test(grid, k_test_train, f0_test=f0_test,
                                                           **kwargs))
    f_zero = np.asarray(flow.replace(lam=0.0).predict_test(np.array([budget]), k_test_train,
                                                           f0_test=f0_test, **kwargs))
    curve = predictions.test_metric(f_opt, y, metric, flow.loss)
    at_t = int(np.searchsorted(grid, budget))
    value_opt, value_zero = float(curve[at_t]), float(predictions.test_metric(f_zero, y, metric,
                                                                   flow.loss)[0])
    if metric == "accuracy":
        se = float(np.sqrt(max(value_zero * (1 - value_zero), 1.0 / m) / m))
        gain = value_opt - value_zero
        peak_i = int(np.argmax(curve))
        near = np.flatnonzero(curve >= curve[peak_i] - se)
    else:
        per_point = _per_point_loss(f_zero[0], y, flow.loss)
        se = float(np.std(per_point) / np.sqrt(m))
        gain = value_zero - value_opt
        peak_i = int(np.argmin(curve))
        near = np.flatnonzero(curve <= curve[peak_i] + se)
    t_star = float(grid[peak_i])
    plateau = (float(grid[near[0]]), float(grid[near[-1]]))
    dtype = getattr(flow, "dtype", f_opt.dtype)
    underflow_at = underflow_step(grid, f_opt, dtype)  # (lam = 0 does not shrink the outputs)
    reasons = []
    if not gain > 2 * se:
        head = f"test {metric} at T {value_opt:.4g} vs {value_zero:.4g} at lam = 0"
        noise = f"2 standard errors ({2 * se:.2g} on {m} test points)"
        reasons.append(f"{head}: worse beyond {noise}: lam_opt hurts at this budget"
                       if gain < -2 * se else
                       f"{head}: within {noise}: lam does not matter at this budget")
    if plateau[1] / plateau[0] > PLATEAU_FACTOR:
        reasons.append(
            f"a plateau: the test {metric} at lam_opt is within one standard error of its best "
            f"from step {plateau[0]:.3g} to {plateau[1]:.3g} (x{plateau[1] / plateau[0]:.3g}), so "
            f"t* by {metric} (hence c and lam_opt) is not determined")
    if not 1 / JUMP_FACTOR <= t_star / budget <= JUMP_FACTOR:
        reasons.append(
            f"t* jumps: at lam_opt the peak is at step {t_star:.4g}, not near T = {budget:.6g} "
            f"(c = {best * flow.lr * t_star:.3g} there, not {c:.3g})")
    if underflow_at is not None and underflow_at <= max(budget, t_star):
        reasons.append(
            f"the outputs fall below {np.dtype(dtype).name} resolution from step "
            f"{underflow_at:.4g} (their scale < {resolution_limit(dtype):.1e}): the {metric} "
            "there is not resolved; use float64 (jax_enable_x64; --x64 on the command line)")
    return LamOptVerdict(best, budget, float(c), metric, value_opt, value_zero, se, t_star,
                         plateau, underflow_at, not reasons, tuple(reasons))


def _per_point_loss(f, y, loss: str) -> np.ndarray:
    """``[m]`` per-point test losses of outputs ``f [m, k]`` (the terms ``test_metric`` averages:
    ``1/2 ||f - y||^2`` or softmax cross-entropy)."""
    f = np.asarray(f, np.float64)
    if loss == "xent":
        return -np.sum(y * special.log_softmax(f, axis=-1), axis=-1)
    return 0.5 * np.sum((f - y) ** 2, axis=-1)
