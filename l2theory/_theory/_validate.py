"""Input checks of the solvers, in the package's one format ``name=value: problem; fix``
(``l2theory._checks``): the scalar checks are the shared ones, the array checks (kernels,
targets, outputs, times) are the solvers' own."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks

# Relative size (to the largest eigenvalue) below which a negative kernel eigenvalue counts as
# round-off and is clipped to 0; anything more negative means the kernel is not PSD.
NEGATIVE_EIG_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}
LOSSES = ("mse", "xent")


def scalar(name: str, value, *, minimum: float | None = None, strict: bool = False,
           fix: str = "e.g. 1.0") -> float:
    """A finite real number ``>= minimum`` (``> minimum`` when ``strict``)."""
    return _checks.real(name, value, low=minimum, low_open=strict, fix=fix)


def degree(value) -> int:
    """The homogeneity degree ``L >= 1``."""
    return _checks.integer("degree", value, low=1,
                           what="the homogeneity degree L (number of layers of a bias-free ReLU "
                                "net)", fix="e.g. 1 for a linear model, 3 for a depth-3 net")


def finite_inputs(name: str, x) -> None:
    """An error naming ``name`` and the first bad row if the inputs ``x`` (a numpy or concrete
    JAX array) hold nan or inf; nothing for traced values (inside ``jax.jit``, e.g. the tiles of
    ``kernels.kernel_matrix``, whose caller checks the whole array)."""
    if isinstance(x, jax.core.Tracer):
        return
    finite = jnp.isfinite(jnp.asarray(x)).reshape(np.shape(x)[0], -1).all(axis=1)
    if not bool(jnp.all(finite)):
        rows = np.flatnonzero(~np.asarray(finite))
        raise _checks.bad(name, x, f"has non-finite entries (nan or inf) in {len(rows)} of "
                          f"{len(finite)} rows (the first: row {int(rows[0])}); a kernel of "
                          "them would be nan", "pass finite inputs (e.g. drop those rows, or "
                          "check a standardization by a zero standard deviation)")


def loss_name(value: str) -> str:
    return _checks.choice("loss", value, LOSSES)


ODE_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")


def float_dtype(dtype) -> np.dtype:
    """The solvers' dtype: ``None`` is float64 under JAX's x64 mode, else float32; float64 needs
    x64 (JAX would silently compute in float32)."""
    x64 = jax.config.jax_enable_x64
    try:
        dt = np.dtype(dtype or (np.float64 if x64 else np.float32))
    except TypeError:
        raise _checks.bad("dtype", dtype, "not a dtype", "e.g. np.float32, or None",
                          kind=TypeError) from None
    if not np.issubdtype(dt, np.floating):
        raise _checks.bad("dtype", dtype, "must be a floating dtype", "e.g. np.float32, or None",
                          kind=TypeError)
    if dt == np.float64 and not x64:
        raise _checks.bad("dtype", dtype, "float64 needs JAX's 64-bit mode (otherwise JAX "
                          "silently computes in float32)", "call jax.config.update("
                          "'jax_enable_x64', True) first, or pass dtype=None for float32")
    return dt


def needs_test_kernel(k_test_train) -> None:
    if k_test_train is None:
        raise _checks.bad("k_test_train", None, "predict_test needs the test-train kernel",
                          "pass k_test_train ([m, n] kernel between test and training points)")


METHODS = ("auto", "eigh", "krylov")


def method_and_integrator(method, integrator) -> tuple[str, object]:
    """``(method, integrator)``: the MSE solver (``"auto"``, ``"eigh"`` or ``"krylov"``) and the
    scipy integrator of ``loss="xent"`` (one of ``ODE_METHODS`` or a ``scipy.integrate.OdeSolver``
    subclass; default ``"DOP853"``)."""
    from scipy.integrate import OdeSolver

    def is_integrator(m):
        return (isinstance(m, str) and m in ODE_METHODS) or (
            isinstance(m, type) and issubclass(m, OdeSolver))

    if is_integrator(method):
        raise _checks.bad("method", method, "names a cross-entropy integrator; method picks the "
                          "MSE solver", f"pass integrator={_checks.show(method)}, and method="
                          "'auto', 'eigh' or 'krylov' (or leave it)")
    if not (isinstance(method, str) and method in METHODS):
        raise _checks.bad("method", method, "unknown method", "valid: 'auto' (the faster "
                          "of the two by the kernel's size), 'eigh' (exact, one "
                          "eigendecomposition of the kernel), 'krylov' (matrix-free block "
                          "Lanczos, for large n)")
    if integrator is None:
        integrator = "DOP853"
    elif not is_integrator(integrator):
        raise _checks.bad("integrator", integrator, "unknown integrator", "valid: " + ", ".join(
            repr(m) for m in ODE_METHODS) + " (scipy.integrate.solve_ivp's methods)")
    return method, integrator


def _finite(name: str, a: np.ndarray, dtype, hint: str = "") -> np.ndarray:
    """``a`` cast to ``dtype``; an error naming ``name`` if any entry is nan or inf."""
    a = a.astype(dtype, copy=False)
    if not np.all(np.isfinite(a)):
        raise _checks.bad(name, a, "has non-finite entries (nan or inf)",
                          hint or "pass finite values")
    return a


def numeric(name: str, a) -> np.ndarray:
    """``a`` as a numeric numpy array (``TypeError`` otherwise)."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise _checks.bad(name, a, f"must be a real numeric array, got dtype {a.dtype}",
                          "pass a float array", kind=TypeError)
    return a


def kernel_matrix(name: str, k, *, dtype) -> np.ndarray:
    """A finite, square, symmetric matrix."""
    k = numeric(name, k)
    _square(name, k)
    k = _finite(name, k, dtype, "check the kernel computation")
    scale = np.max(np.abs(k)) if k.size else 0.0
    asym = np.max(np.abs(k - k.T)) if k.size else 0.0
    _symmetric(name, k, asym, scale, dtype)
    return k


def device_kernel_matrix(name: str, k, *, dtype, block: int = 2048):
    """``kernel_matrix`` for a JAX array that stays on its device (no host copy): the same checks
    in one pass over row blocks of ``block`` rows (workspace ``2 block n`` entries)."""
    if not isinstance(k, jax.Array):
        k = numeric(name, k)
    elif not jnp.issubdtype(k.dtype, jnp.floating) and not jnp.issubdtype(k.dtype, jnp.integer):
        raise _checks.bad(name, k, f"must be a real numeric array, got dtype {k.dtype}",
                          "pass a float array", kind=TypeError)
    _square(name, k)
    k = jnp.asarray(k, dtype)
    n = k.shape[0]
    if n == 0:
        return k
    rows = min(block, n)
    # the last block starts at n - rows (it overlaps the one before: harmless for maxima)
    parts = [_block_stats(k, start, rows) for start in sorted({*range(0, n - rows, rows), n - rows})]
    if not all(bool(p[0]) for p in parts):
        raise _checks.bad(name, k, "has non-finite entries (nan or inf)",
                          "check the kernel computation")
    _symmetric(name, k, max(float(p[2]) for p in parts), max(float(p[1]) for p in parts), dtype)
    return k


@functools.partial(jax.jit, static_argnums=2)
def _block_stats(k, start, rows):
    """``(all finite, max |K|, max |K - K^T|)`` on rows ``start .. start+rows`` of ``k``."""
    top = jax.lax.dynamic_slice_in_dim(k, start, rows, axis=0)
    left = jax.lax.dynamic_slice_in_dim(k, start, rows, axis=1)
    return jnp.all(jnp.isfinite(top)), jnp.max(jnp.abs(top)), jnp.max(jnp.abs(top - left.T))


def _square(name: str, k) -> None:
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise _checks.bad(name, k, "must be a square [n, n] matrix", "pass the kernel between "
                          "the training points (one output's kernel, not [n*k, n*k])")


def _symmetric(name: str, k, asym: float, scale: float, dtype) -> None:
    """Raise unless ``max |K - K^T| = asym`` is round-off for ``max |K| = scale``."""
    n = max(k.shape[0], 1)
    if asym > 100 * np.finfo(dtype).eps * max(scale, np.finfo(dtype).tiny) * n ** 0.5:
        raise _checks.bad(name, k, f"is not symmetric (max |K - K^T| = {asym:.3g}, max |K| = "
                          f"{scale:.3g})", "pass the train-train kernel, or symmetrize it with "
                          "(K + K.T) / 2 if the asymmetry is round-off")


def targets(name: str, y, n: int, *, dtype) -> np.ndarray:
    """``[n]`` or ``[n, k]`` array -> ``[n, k]``."""
    y = numeric(name, y)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise _checks.bad(name, y, f"must have shape [n] or [n, k] with n = {n} (the kernel's "
                          "size)", "pass one row of targets per training point")
    return _finite(name, y, dtype)


def outputs(name: str, f, shape: tuple[int, int], *, dtype) -> np.ndarray:
    """``[points, outputs]`` initial outputs; a scalar (neural-tangents' ``fx_train_0=0.``) is
    broadcast to every point and output, ``[points]`` is one output."""
    f = numeric(name, f)
    if f.ndim == 0:
        f = np.full(shape, f)
    if f.ndim == 1 and shape[1] == 1:
        f = f[:, None]
    if f.shape != shape:
        raise _checks.bad(name, f, f"must have shape {shape} (points x outputs, matching "
                          "y_train's outputs)", "pass the network's outputs on those points")
    return _finite(name, f, dtype)


def is_operator(k) -> bool:
    """True for a linear operator that is not an array: an object with ``shape`` ``(m, n)`` and
    ``op @ V`` (``kernels.kernel_operator``), whose products may recompute a kernel."""
    return (not isinstance(k, (np.ndarray, jax.Array)) and hasattr(k, "shape")
            and hasattr(k, "__matmul__"))


def test_kernel(name: str, k, n: int, *, dtype):
    """A finite ``[m, n]`` kernel between test and training points; a JAX array stays on its
    device (the GPU) in ``dtype``, a linear operator (``shape`` and ``@``, not an array, e.g.
    ``kernels.kernel_operator``) is returned as it is, anything else becomes a numpy array."""
    if is_operator(k):
        if len(k.shape) != 2 or k.shape[1] != n:
            raise _checks.bad(name, k, f"must have shape (m, n) with n = {n} training points, "
                              f"got {tuple(k.shape)}", "pass the operator of the kernel "
                              "between the test and the training points")
        return k
    if isinstance(k, jax.Array):
        if k.ndim != 2 or k.shape[1] != n:
            raise _checks.bad(name, k, f"must have shape [m, n] with n = {n} training points",
                              "pass the kernel between the test and the training points")
        k = k.astype(dtype)
        if not bool(jnp.all(jnp.isfinite(k))):
            raise _checks.bad(name, k, "has non-finite entries (nan or inf)", "pass finite values")
        return k
    k = numeric(name, k)
    if k.ndim != 2 or k.shape[1] != n:
        raise _checks.bad(name, k, f"must have shape [m, n] with n = {n} training points",
                          "pass the kernel between the test and the training points")
    return _finite(name, k, dtype)


def times(t) -> tuple[np.ndarray, bool]:
    """Times in steps: scalar or 1-D, ``>= 0``, ``inf`` allowed; ``None`` is ``t -> infinity`` (as
    in neural-tangents' ``predict_fn``). Returns (1-D array, was_scalar)."""
    if t is None:
        return np.array([np.inf]), True
    arr = numeric("t", t).astype(np.float64)
    scalar_t = arr.ndim == 0
    arr = np.atleast_1d(arr)
    fix = "pass times in steps, >= 0 (np.inf for t -> infinity)"
    if arr.ndim != 1:
        raise _checks.bad("t", arr, "must be a scalar or a 1-D array of times", fix)
    if np.any(np.isnan(arr)):
        raise _checks.bad("t", t, "has nan entries", fix)
    if np.any(arr < 0):
        raise _checks.bad("t", t, f"must be >= 0 (times in steps), got min {arr.min():g}",
                          "the flow runs forward from t = 0")
    return arr, scalar_t


def eigenvalues(name: str, evals: np.ndarray) -> np.ndarray:
    """Clip round-off negative eigenvalues to 0; reject clearly negative ones (not PSD)."""
    dtype = np.dtype(evals.dtype)
    top = float(np.max(np.abs(evals))) if evals.size else 0.0
    rtol = NEGATIVE_EIG_RTOL.get(dtype, 1e-4)
    if evals.size and evals.min() < -rtol * top:
        shown = _checks.Described(f"<[{evals.size}, {evals.size}] kernel>")
        raise _checks.bad(name, shown, f"has a negative eigenvalue {evals.min():.3g} (largest "
                          f"{top:.3g}): a kernel must be positive semi-definite, and round-off "
                          f"negatives down to -{rtol:g} x the largest are clipped to 0, this one "
                          f"is beyond that", "check how the kernel was computed (dtype, "
                          "symmetrization)")
    return np.clip(evals, 0.0, None)
