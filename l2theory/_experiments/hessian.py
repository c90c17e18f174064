"""The bottom of the Hessian spectrum of the L2-regularized training loss.

docs/conventions.md, relation 5: late in training many directions of the data loss are flat; the L2
term ``lam/2 ||theta||^2`` adds ``lam I`` to the Hessian and lifts them to curvature ``lam``, so the
slowest relaxation time of gradient descent is ``1/(lr lam)`` steps. For a bias-free ReLU network
some flat directions are exact: a first-layer weight change orthogonal to every training input
changes no training output, to any order. With ``n`` training inputs in ``d > n`` dimensions there
are at least ``width * (d - n)`` of them, so ``lam`` is an eigenvalue of huge multiplicity of the
total Hessian; directions curved by the residual term ``sum_i r_i grad^2 f_i / n`` can sit below it
(in ``[0, lam)`` at a minimum).

``hessian_lowest_eigs`` finds the lowest eigenvalues by Lanczos with full reorthogonalization on
Hessian-vector products ``H v = d/de grad L(theta + e v)`` (``jax.jvp`` of ``jax.grad``): the
Hessian is never formed.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from l2theory import _checks, _precision
from l2theory._practice.train.step import sum_squares

METHODS = ("auto", "lanczos", "dense")
DENSE_MAX = 2000  # "auto" forms the dense Hessian up to this many parameters


def hvp_fn(loss_fn: Callable, params) -> tuple[Callable, int, Any]:
    """``(hvp(v_flat) -> H v_flat, n_params, dtype)`` for ``loss_fn(params)`` at ``params``
    (jitted; ``v_flat`` is a flat vector in the order of ``jax.flatten_util.ravel_pytree``)."""
    flat, unravel = ravel_pytree(params)
    grad = jax.grad(loss_fn)

    @jax.jit
    @_precision.full_precision
    def hvp(v):
        return ravel_pytree(jax.jvp(grad, (params,), (unravel(v.astype(flat.dtype)),))[1])[0]

    return hvp, int(flat.size), flat.dtype


def lanczos(matvec: Callable[[np.ndarray], np.ndarray], n: int, num: int, *, seed: int = 0
            ) -> tuple[np.ndarray, np.ndarray]:
    """Lanczos with full reorthogonalization: Ritz values of a symmetric operator and their
    residual norms.

    ``num`` steps from a Gaussian start vector (``seed``); every new vector is orthogonalized
    against all previous ones twice (classical Gram-Schmidt, twice is enough), so no spurious
    copies ("ghosts") of converged eigenvalues appear. Stops early on an invariant subspace.

    Returns ``(ritz [m] ascending, residual [m])`` with ``residual_i = ||A y_i - ritz_i y_i||``
    for the unit Ritz vector ``y_i`` (``= beta_m |s_{m,i}|``).
    """
    q = np.random.default_rng(seed).standard_normal(n)
    q /= np.linalg.norm(q)
    basis = np.zeros((num + 1, n))
    basis[0] = q
    alpha, beta = [], []
    for j in range(num):
        w = matvec(basis[j])
        alpha.append(float(basis[j] @ w))
        for _ in range(2):
            w = w - basis[:j + 1].T @ (basis[:j + 1] @ w)
        b = float(np.linalg.norm(w))
        beta.append(b)
        if b <= 1e-12 * max(1.0, abs(alpha[-1])):
            break
        basis[j + 1] = w / b
    m = len(alpha)
    t = np.diag(alpha) + np.diag(beta[:m - 1], 1) + np.diag(beta[:m - 1], -1)
    ritz, s = np.linalg.eigh(t)
    return ritz, beta[m - 1] * np.abs(s[-1])


@_precision.full_precision
def hessian_lowest_eigs(loss_fn: Callable, params, *, k: int = 6, num_lanczos: int | None = None,
                        method: str = "auto", seed: int = 0) -> dict[str, Any]:
    """Lowest ``k`` eigenvalues of the Hessian of ``loss_fn`` at ``params``.

    ``method="lanczos"``: ``num_lanczos`` steps of Lanczos with full reorthogonalization
    (``lanczos``) on a jitted Hessian-vector product ``H v = jvp(grad loss)(v)``; the ``k``
    lowest Ritz values are returned with their residual norms ``||H y - theta y||`` (a Ritz value
    is within its residual of an eigenvalue). Lanczos from one start vector sees each *distinct*
    eigenvalue once: a degenerate eigenvalue (the flat directions, all at ``lam``) appears once,
    and the next values are the next distinct eigenvalues. (ARPACK's restarted Lanczos,
    ``scipy.sparse.linalg.eigsh(which="SA")``, was tried first: it does not converge on such a
    cluster.) ``method="dense"``: the full Hessian from ``n`` HVPs and ``numpy.linalg.eigvalsh``:
    exact, with multiplicities, for small ``n``. ``"auto"``: dense up to ``DENSE_MAX``
    parameters, Lanczos beyond.

    Precision: the HVP runs in the parameters' dtype; in float32 eigenvalues are accurate to about
    ``1e-7 * ||H||`` (enable JAX's x64 mode and pass float64 parameters for small eigenvalues of a
    stiff Hessian); its products run at full float32 matmul precision on every backend
    (``docs/conventions.md`` section 6). The Lanczos recurrence itself is float64.

    Example:
      >>> import jax.numpy as jnp
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 51.0) * p["w"] ** 2)
      >>> r = hessian_lowest_eigs(loss, {"w": jnp.zeros(50)}, k=3, method="lanczos")
      >>> [round(v, 4) for v in r["eigenvalues"]]
      [1.0, 2.0, 3.0]

    Args:
      loss_fn: ``loss_fn(params) -> scalar`` (the full objective, e.g. data loss plus
        ``lam/2 ||theta||^2``).
      params: the point (a pytree).
      k: number of eigenvalues, ``1 <= k < n``.
      num_lanczos: Lanczos steps (``k <= num_lanczos <= n``; default ``min(n, max(4k, 200))``).
      method: ``"auto"``, ``"lanczos"`` or ``"dense"``.
      seed: seed of the Lanczos start vector (deterministic results).

    Returns:
      JSON-ready dict: ``eigenvalues`` (ascending list of ``k``; fewer when Lanczos stops on an
        invariant subspace that holds fewer distinct eigenvalues, e.g. ``H = lam I``),
        ``residuals`` (Lanczos: the
      Ritz residual norms; dense: zeros), ``n_params``, ``method``, ``n_matvec`` (HVPs used).
    """
    if method not in METHODS:
        raise _checks.bad("method", method, "unknown method", "pass 'auto', 'lanczos' or 'dense'")
    hvp, n, dtype = hvp_fn(loss_fn, params)
    return lowest_eigs_of_hvp(hvp, n, dtype, k=k, num_lanczos=num_lanczos, method=method,
                              seed=seed)


def lowest_eigs_of_hvp(hvp: Callable, n: int, dtype, *, k: int = 6,
                       num_lanczos: int | None = None, method: str = "auto",
                       seed: int = 0) -> dict[str, Any]:
    """``hessian_lowest_eigs`` on a given Hessian-vector product ``hvp(v_flat) -> H v_flat``
    (``n`` parameters of ``dtype``): the same arguments and result."""
    if method not in METHODS:
        raise _checks.bad("method", method, "unknown method", "pass 'auto', 'lanczos' or 'dense'")
    k = _checks.positive_int("k", k)
    if k >= n:
        raise _checks.bad("k", k, f"must be < the number of parameters ({n})",
                          f"pass k <= {n - 1}, or method='dense' and read all")
    if method == "auto":
        method = "dense" if n <= DENSE_MAX else "lanczos"
    if method == "dense":
        eye = jnp.eye(n, dtype=dtype)
        h = np.asarray(jax.lax.map(hvp, eye, batch_size=min(n, 256)), np.float64)
        vals = np.linalg.eigvalsh((h + h.T) / 2)[:k]
        return _checks.to_json({"eigenvalues": vals, "residuals": np.zeros(k), "n_params": n,
                                "method": "dense", "n_matvec": n})
    num = num_lanczos if num_lanczos is not None else min(n, max(4 * k, 200))
    num = _checks.positive_int("num_lanczos", num)
    if not k <= num <= n:
        raise _checks.bad("num_lanczos", num_lanczos, f"must satisfy k={k} <= num_lanczos <= {n}",
                          f"e.g. {min(n, max(4 * k, 200))}")
    count = [0]

    def matvec(v):
        count[0] += 1
        return np.asarray(hvp(jnp.asarray(v, dtype)), np.float64)

    ritz, res = lanczos(matvec, n, num, seed=seed)
    return _checks.to_json({"eigenvalues": ritz[:k], "residuals": res[:k], "n_params": n,
                            "method": "lanczos", "n_matvec": count[0]})


def train_full_batch(config, dataset, steps: int):
    """Parameters, model state and the ``Step`` after ``steps`` full-batch steps of ``config`` on
    the whole training set (``l2theory.train.make_step``, the engine's own update)."""
    return next(full_batch_states(config, dataset, [steps]))[1:]


def full_batch_states(config, dataset, steps_at: Sequence[int]):
    """Yield ``(steps, params, model_state, step)`` after each of the increasing step counts
    ``steps_at`` of one full-batch run of ``config`` on the whole training set (training continues
    from one count to the next; ``step`` is its ``l2theory.train.make_step``)."""
    from l2theory import train

    steps_at = [int(n) for n in steps_at]
    model = config.build_model(dataset.num_classes)
    step = train.make_step(config, model, dataset.input_shape)
    dt = config.param_dtype
    hyper = train.Hyper(lr=jnp.asarray(config.lr, dt), lam=jnp.asarray(config.lam, dt),
                        seed=jnp.asarray(config.seed, jnp.int32),
                        steps=jnp.asarray(max(steps_at), jnp.int32),
                        boundaries=jnp.zeros((len(config.setting("lr_decay_at")),), jnp.int32))
    x = jnp.asarray(dataset.x_train)
    y = jnp.asarray(dataset.y_train, jnp.int32)

    @jax.jit
    def advance(state, n):  # n traced: one compilation for every segment
        return jax.lax.fori_loop(0, n, lambda _, s: step.update(s, x, y, None)[0], state)

    state, done = jax.jit(step.init)(hyper), 0
    for n in steps_at:
        if n > done:
            state, done = advance(state, n - done), n
        yield n, state.params, state.model_state, step


def flat_direction(params, x_train, *, seed: int = 0):
    """A unit direction of exactly zero data curvature, or None.

    For a fully connected net (``params["dense_0"]["w"]`` of shape ``[d, width]``, inputs
    flattened to ``d`` features): a first-layer change ``V`` whose columns are orthogonal to every
    training input leaves every first-layer pre-activation on the training set unchanged, so the
    data loss is constant along ``V`` whatever the other weights: ``H_data v = 0`` and the total
    Hessian has ``H v = lam v`` exactly. Needs ``d > n``. Returns a pytree like ``params``.
    """
    try:
        w = params["dense_0"]["w"]
    except (KeyError, TypeError, IndexError):
        return None
    x = np.asarray(x_train, np.float64).reshape(len(x_train), -1)
    if w.ndim != 2 or w.shape[0] != x.shape[1] or x.shape[1] <= x.shape[0]:
        return None
    v = np.random.default_rng(seed).standard_normal(w.shape)
    q, _ = np.linalg.qr(x.T)  # orthonormal basis of the span of the inputs
    v -= q @ (q.T @ v)
    v /= np.linalg.norm(v)
    zero = jax.tree.map(jnp.zeros_like, params)
    zero["dense_0"] = dict(zero["dense_0"], w=jnp.asarray(v, w.dtype))
    return zero


@_precision.full_precision
def hessian_vs_lam(config, dataset, *, lams: Sequence[float], lr: float | None = None,
                   late_tau: float | Sequence[float] = 10.0, k: int = 6, method: str = "auto",
                   num_lanczos: int | None = None, rtol: float = 0.05) -> dict[str, Any]:
    """Lowest Hessian eigenvalues of the L2-regularized training loss late in training, per lam.

    For each ``lam``: train ``config`` by full-batch GD (``lr``; default ``config.lr``) for
    ``ceil(late_tau / (lam lr))`` steps (natural time ``late_tau``, so the slowest direction, at
    rate ``lr lam`` per step, has relaxed by ``e^{-late_tau}``), then take the lowest ``k``
    eigenvalues of the Hessian of ``L = data loss + lam/2 ||theta||^2`` on the training set.
    Several ``late_tau`` (a sequence): one run per lam, its Hessian taken at each natural time in
    turn (training continues in between). Expected: ``lam`` itself, many times (the flat data
    directions lifted by L2), with possibly a few eigenvalues in ``[0, lam)`` from the residual
    term.

    Args:
      config: an ``l2theory.train.TrainConfig`` (small: the Hessian has one row per parameter).
      dataset: an ``l2theory.data.Dataset`` (small; all of its training set is used).
      lams: L2 coefficients (``> 0``).
      lr: learning rate (default ``config.lr``).
      late_tau: natural time ``lam lr t`` at which the Hessian is taken, or several.
      k, method, num_lanczos: ``hessian_lowest_eigs``'s.
      rtol: relative tolerance for counting an eigenvalue as ``lam``.

    Returns:
      JSON-ready dict: ``rows`` (per lam, and per ``late_tau`` in increasing order: ``lam``,
      ``late_tau``, ``steps``, ``eigenvalues``, ``residuals`` (Ritz residual norms), ``ratio``
      (eigenvalues / lam), ``n_at_lam`` (how many of the ``k`` are within ``rtol`` of lam),
      ``n_below_lam``, ``n_negative``, ``min_ratio``, ``grad_norm`` (of the total loss at that
      point: small means the run is near a stationary point), ``train_loss`` (data term),
      ``zero_output_loss`` (the data term with every parameter 0, i.e. of ``f = 0``: a run
      whose ``train_loss`` is there has collapsed), ``param_norm_sq``, ``flat_direction_curvature`` (``v.Hv`` for a unit ``flat_direction``,
      which is ``lam`` exactly; None for non-FC models or ``d <= n``) and
      ``flat_direction_residual`` (``||Hv - lam v||``)), ``late_tau`` (as given), ``late_taus``
      (sorted), ``lr``, ``k``, ``n_params``.

    What to expect, measured on small nets: once the network has collapsed to ``f ~ 0`` (large
    lam, or late enough for depth >= 3) the data Hessian vanishes with the weights and
    ``H = lam I``. Before that, at a nontrivial late point, ``lam`` is an exact eigenvalue (the
    flat directions) but a few eigenvalues can lie below it, even below 0 by an amount of order
    lam (slowly escaping directions, e.g. near-dead ReLU units): the bottom of the spectrum is set
    by lam, not fixed at lam (``l2theory.figures.hessian`` records the numbers).
    """
    lams = _checks.lams("lams", lams, allow_zero=False)
    lr = config.lr if lr is None else _checks.lr("lr", lr)
    scalar = not isinstance(late_tau, (list, tuple, np.ndarray))
    taus = sorted(_checks.sequence("late_tau", [late_tau] if scalar else late_tau,
                                   _checks.positive, example="[3.0, 10.0]"))
    x = jnp.asarray(dataset.x_train)
    y = jnp.asarray(dataset.y_train, jnp.int32)
    rows, n_params = [], None
    for lam in lams:
        steps_at = [max(1, math.ceil(tau / (lam * lr) * (1 - 1e-9))) for tau in taus]
        cfg = config.replace(lam=lam, lr=lr, batch_size=None, steps=max(steps_at))
        hvp_at = grad_at = loss0 = None
        for tau, (steps, params, model_state, step) in zip(
                taus, full_batch_states(cfg, dataset, steps_at)):
            def total(p, ms, lam=lam, step=step):
                return step.loss(p, ms, x, y)[0] + 0.5 * lam * sum_squares(p)

            if hvp_at is None:  # compiled once per lam, for every late_tau
                flat0, unravel = ravel_pytree(params)

                @jax.jit
                @_precision.full_precision
                def hvp_at(p, ms, v, total=total, unravel=unravel, dt=flat0.dtype):
                    g = lambda q: jax.grad(total)(q, ms)  # noqa: E731
                    return ravel_pytree(jax.jvp(g, (p,), (unravel(v.astype(dt)),))[1])[0]

                grad_at = jax.jit(jax.grad(total))
                zeros = jax.tree.map(jnp.zeros_like, params)  # every weight 0: f = 0
                loss0 = float(step.loss(zeros, model_state, x, y)[0])
            n = int(ravel_pytree(params)[0].size)
            eig = lowest_eigs_of_hvp(lambda v, p=params, ms=model_state: hvp_at(p, ms, v), n,
                                     ravel_pytree(params)[0].dtype, k=k, method=method,
                                     num_lanczos=num_lanczos)
            n_params = eig["n_params"]
            vals = np.asarray(eig["eigenvalues"])
            g = ravel_pytree(grad_at(params, model_state))[0]
            v = flat_direction(params, dataset.x_train)
            curv = resid = None
            if v is not None:
                vf = ravel_pytree(v)[0]
                hvf = hvp_at(params, model_state, vf)
                curv = float(vf @ hvf)
                resid = float(jnp.linalg.norm(hvf - lam * vf))
            rows.append({"lam": lam, "late_tau": tau, "steps": steps, "eigenvalues": vals,
                         "residuals": eig["residuals"], "ratio": vals / lam,
                         "n_at_lam": int(np.sum(np.abs(vals / lam - 1) <= rtol)),
                         "n_below_lam": int(np.sum(vals < lam * (1 - rtol))),
                         "n_negative": int(np.sum(vals < 0)),
                         "min_ratio": float(vals.min() / lam),
                         "grad_norm": float(jnp.linalg.norm(g)),
                         "train_loss": float(step.loss(params, model_state, x, y)[0]),
                         "zero_output_loss": loss0,
                         "param_norm_sq": float(sum_squares(params)),
                         "flat_direction_curvature": curv, "flat_direction_residual": resid,
                         "method": eig["method"]})
    return _checks.to_json({"rows": rows, "late_tau": taus[0] if scalar else taus,
                            "late_taus": taus, "lr": lr, "k": k, "n_params": n_params})
