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
Hessian is never formed. ``hessian_vs_lam`` takes them late in full-batch runs (natural times
``lam lr t``), ``hessian_at_t_star`` at each run's own ``t*`` over lam and seeds (where the
statement above applies: nets that learned); ``FullBatch`` compiles the runs and the Hessian once
for every lam, lr and seed.
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


class FullBatch:
    """Full-batch GD of one ``config`` on a dataset's whole training set, and the Hessian of its
    L2-regularized loss, compiled once for every ``lam``, ``lr`` and seed (traced values):
    ``states`` runs, ``hvp``/``grad`` are the total loss's derivatives, ``test`` evaluates."""

    def __init__(self, config, dataset):
        from l2theory import train

        self.config, self.dataset = config, dataset
        model = config.build_model(dataset.num_classes)
        self.step = step = train.make_step(config, model, dataset.input_shape)
        self.data = (jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train, jnp.int32))
        self.test_data = (jnp.asarray(dataset.x_test), jnp.asarray(dataset.y_test, jnp.int32),
                          jnp.ones(len(dataset.y_test), config.param_dtype))
        self._n_decay = len(config.setting("lr_decay_at"))

        def advance(state, n, x, y):  # n traced: one compilation for every segment
            return jax.lax.fori_loop(0, n, lambda _, s: step.update(s, x, y, None)[0], state)

        def total(p, ms, lam, x, y):
            return step.loss(p, ms, x, y)[0] + 0.5 * lam * sum_squares(p)

        @_precision.full_precision
        def hvp(p, ms, lam, v, x, y):
            flat, unravel = ravel_pytree(p)
            g = lambda q: jax.grad(total)(q, ms, lam, x, y)  # noqa: E731
            return ravel_pytree(jax.jvp(g, (p,), (unravel(v.astype(flat.dtype)),))[1])[0]

        self._init = jax.jit(step.init)
        self._advance = jax.jit(advance)
        self._hvp = jax.jit(hvp)
        self._grad = jax.jit(lambda p, ms, lam, x, y: ravel_pytree(
            jax.grad(total)(p, ms, lam, x, y))[0])
        self._loss = jax.jit(lambda p, ms, x, y: step.loss(p, ms, x, y)[0])
        self._eval = jax.jit(step.evaluate)

    def states(self, lam: float, lr: float, seed: int, steps_at: Sequence[int]):
        """Yield ``(steps, params, model_state)`` after each of the increasing step counts
        ``steps_at`` of one run (training continues from one count to the next)."""
        from l2theory import train

        steps_at = [int(n) for n in steps_at]
        dt = self.config.param_dtype
        hyper = train.Hyper(lr=jnp.asarray(lr, dt), lam=jnp.asarray(lam, dt),
                            seed=jnp.asarray(seed, jnp.int32),
                            steps=jnp.asarray(max(steps_at), jnp.int32),
                            boundaries=jnp.zeros((self._n_decay,), jnp.int32))
        state, done = self._init(hyper), 0
        for n in steps_at:
            if n > done:
                state, done = self._advance(state, jnp.asarray(n - done, jnp.int32),
                                            *self.data), n
            yield n, state.params, state.model_state

    def hvp(self, params, model_state, lam: float):
        """``v_flat -> H v_flat`` of ``data loss + lam/2 ||theta||^2`` at ``params``."""
        lam = jnp.asarray(lam, self.config.param_dtype)
        return lambda v: self._hvp(params, model_state, lam, v, *self.data)

    def grad(self, params, model_state, lam: float):
        """The flat gradient of the total loss at ``params``."""
        return self._grad(params, model_state, jnp.asarray(lam, self.config.param_dtype),
                          *self.data)

    def data_loss(self, params, model_state) -> float:
        """The training data loss (without the L2 term)."""
        return float(self._loss(params, model_state, *self.data))

    def test(self, params, model_state) -> tuple[float, float]:
        """Test loss and accuracy."""
        loss, correct = self._eval(params, model_state, *self.test_data)
        n = len(self.dataset.y_test)
        return float(loss) / n, float(correct) / n


def full_batch_states(config, dataset, steps_at: Sequence[int]):
    """Yield ``(steps, params, model_state, step)`` after each of the increasing step counts
    ``steps_at`` of one full-batch run of ``config`` on the whole training set (training continues
    from one count to the next; ``step`` is its ``l2theory.train.make_step``)."""
    runner = FullBatch(config, dataset)
    for n, params, model_state in runner.states(config.lam, config.lr, config.seed, steps_at):
        yield n, params, model_state, runner.step


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


@_precision.full_precision
def hessian_at_t_star(config, dataset, *, lams: Sequence[float], seeds: Sequence[int] = (0, 1, 2),
                      lr: float | None = None, tau_min: float = 0.3, tau_max: float = 4.0,
                      n_records: int = 40, metric: str = "test_loss",
                      smooth: float | None = None, k: int = 6, method: str = "auto", num_lanczos: int | None = None,
                      learned_fraction: float = 0.5, stop_after: float | None = None
                      ) -> dict[str, Any]:
    """Lowest Hessian eigenvalues of the L2-regularized training loss at each run's own ``t*``.

    Where the paper's statement applies (docs/figures.md, "The paper's Hessian statement"): a net
    that has learned, near the time it performs best. For each ``lam`` and ``seed``: full-batch GD
    of ``config`` (``lr``; default ``config.lr``) to natural time ``tau_max`` (``ceil(tau_max /
    (lam lr))`` steps), the test loss recorded at ``n_records`` log-spaced steps (``record_grid``)
    (with ``stop_after``: stopped once the test loss has passed its minimum by that factor in
    ``t``, which can stop at an early local minimum); ``t*`` = the
    step of that minimum (``t_star``, the recorded curve of a full-batch run being smooth: no
    smoothing), searched at natural times ``lam lr t >= tau_min``: the L2-governed peak of the
    relation ``t* ~ c / (lam lr)``, not an earlier dip before L2 has acted (``at_boundary``
    when the minimum is at the first or last record searched); at the recorded step nearest
    ``t*``,
    the lowest ``k`` eigenvalues of the Hessian of ``data loss + lam/2 ||theta||^2`` on the
    training set (``lowest_eigs_of_hvp``). A run has *learned* when its training data loss at
    ``t*`` is at most ``learned_fraction`` times that of ``f = 0`` (its outputs carry the data);
    otherwise L2 shrank it before it learned, and it is a sanity case, not evidence.

    Returns:
      JSON-ready dict: ``rows`` (per lam and seed: ``lam``, ``seed``, ``steps`` (the Hessian's
      step), ``t_star`` (steps), ``lam_lr_t_star``, ``at_boundary`` (the minimum at the first or
      last record: no interior t*), ``test_loss``, ``test_acc`` and ``train_loss`` (data term) at
      that step, ``zero_output_loss``, ``learned``, ``eigenvalues``, ``residuals``, ``ratio``
      (eigenvalues / lam), ``min_ratio``, ``n_negative``, ``grad_norm``), ``lams``, ``seeds``,
      ``lr``, ``k``, ``tau_min``, ``tau_max``, ``learned_fraction``, ``n_params``.
    """
    from l2theory._experiments.peak import t_star
    from l2theory._experiments.recording import record_grid

    lams = _checks.lams("lams", lams, allow_zero=False)
    seeds = _checks.seeds("seeds", seeds)
    lr = config.lr if lr is None else _checks.lr("lr", lr)
    tau_max = _checks.positive("tau_max", tau_max)
    tau_min = _checks.positive("tau_min", tau_min)
    metric = _checks.choice("metric", metric, ("test_loss", "test_acc"))
    if tau_min >= tau_max:
        raise _checks.bad("tau_min", tau_min, f"must be below tau_max={tau_max}",
                          "e.g. tau_min=0.3, tau_max=4")
    if stop_after is not None:
        stop_after = _checks.real("stop_after", stop_after, low=1.0, low_open=True,
                                  fix="e.g. 3.0, or None to run to tau_max")
    n_records = _checks.positive_int("n_records", n_records, minimum=4)
    learned_fraction = _checks.real("learned_fraction", learned_fraction, low=0.0, high=1.0,
                                    fix="e.g. 0.5")
    runner = FullBatch(config.replace(batch_size=None), dataset)
    rows, n_params = [], None
    for lam in lams:
        end = max(4, math.ceil(tau_max / (lam * lr) * (1 - 1e-9)))
        grid = [int(s) for s in record_grid(end, n_records) if s > 0]
        for seed in seeds:
            kept, test_loss, test_acc = [], [], []
            for n, params, model_state in runner.states(lam, lr, seed, grid):
                loss, acc = runner.test(params, model_state)
                test_loss.append(loss)
                test_acc.append(acc)
                kept.append((params, model_state))
                best = int(np.argmin(test_loss))
                if (stop_after is not None and len(kept) >= 4 and n >= stop_after * grid[best]
                        and best < len(kept) - 1):
                    break  # the minimum is behind: past it by the factor stop_after in t
            grid = grid[:len(kept)]
            late = [j for j, n in enumerate(grid) if lam * lr * n >= tau_min]
            curve = test_acc if metric == "test_acc" else test_loss
            pk = t_star([grid[j] for j in late], [curve[j] for j in late],
                        mode="max" if metric == "test_acc" else "min", smooth=smooth)
            i = int(np.argmin(np.abs(np.log(grid) - np.log(pk.t_star))))
            params, model_state = kept[i]
            flat = ravel_pytree(params)[0]
            eig = lowest_eigs_of_hvp(runner.hvp(params, model_state, lam), int(flat.size),
                                     flat.dtype, k=k, method=method, num_lanczos=num_lanczos)
            n_params = eig["n_params"]
            vals = np.asarray(eig["eigenvalues"])
            zeros = jax.tree.map(jnp.zeros_like, params)
            loss0 = runner.data_loss(zeros, model_state)
            train_loss = runner.data_loss(params, model_state)
            g = runner.grad(params, model_state, lam)
            rows.append({"lam": lam, "seed": seed, "steps": grid[i], "t_star": pk.t_star,
                         "lam_lr_t_star": lam * lr * pk.t_star,
                         "at_boundary": bool(pk.at_boundary), "test_loss": test_loss[i],
                         "test_acc": test_acc[i], "train_loss": train_loss,
                         "zero_output_loss": loss0,
                         "learned": bool(train_loss <= learned_fraction * loss0),
                         "eigenvalues": vals, "residuals": eig["residuals"],
                         "ratio": vals / lam, "min_ratio": float(vals.min() / lam),
                         "n_negative": int(np.sum(vals < 0)),
                         "grad_norm": float(jnp.linalg.norm(g))})
    return _checks.to_json({"rows": rows, "lams": lams, "seeds": seeds, "lr": lr, "k": k,
                            "tau_min": tau_min, "tau_max": tau_max, "metric": metric,
                            "smooth": smooth, "learned_fraction": learned_fraction,
                            "n_params": n_params})
