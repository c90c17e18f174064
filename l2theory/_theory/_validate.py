"""Input checks shared by the solvers: each error names the argument and the fix."""
from __future__ import annotations

import functools
import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np

# Relative size (to the largest eigenvalue) below which a negative kernel eigenvalue counts as
# round-off and is clipped to 0; anything more negative means the kernel is not PSD.
NEGATIVE_EIG_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


def scalar(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    """A finite real number ``>= minimum`` (``> minimum`` when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        if getattr(value, "shape", None) == ():
            value = float(value)
        else:
            raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict and value <= minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value}; pass a positive {name}")
        if not strict and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}; pass a non-negative {name}")
    return value


def degree(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"degree must be an int >= 1 (the homogeneity degree L = number of layers "
                        f"of a bias-free ReLU net), got {value!r}")
    if value < 1:
        raise ValueError(f"degree must be >= 1 (1 = linear model, L = depth of a bias-free ReLU "
                         f"net), got {value}")
    return int(value)


def loss_name(value: str) -> str:
    valid = ("mse", "xent")
    if value not in valid:
        raise ValueError(f"loss must be one of {valid}, got {value!r}")
    return value


METHODS = ("eigh", "krylov")
INTEGRATORS = ("RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA")  # scipy.integrate.solve_ivp's


def method_and_integrator(method, integrator) -> tuple[str, object]:
    """``(method, integrator)``: the MSE solver (``"eigh"`` or ``"krylov"``) and the scipy
    integrator of ``loss="xent"`` (default ``"DOP853"``).

    ``method`` used to name the integrator: an integrator name there (or a
    ``scipy.integrate.OdeSolver`` subclass) still works, with a ``DeprecationWarning``.
    """
    from scipy.integrate import OdeSolver

    is_integrator = lambda m: (isinstance(m, str) and m in INTEGRATORS) or (  # noqa: E731
        isinstance(m, type) and issubclass(m, OdeSolver))
    if isinstance(method, str) and method in METHODS:
        pass
    elif is_integrator(method):
        if integrator is not None:
            raise ValueError(f"method={method!r}: an integrator name, given together with "
                             f"integrator={integrator!r}; pass the integrator once, as "
                             f"integrator=, and method='eigh' or 'krylov'")
        warnings.warn(f"method={method!r} naming the cross-entropy integrator is deprecated; pass "
                      f"integrator={method!r} (method now picks the MSE solver: 'eigh' or "
                      f"'krylov')", DeprecationWarning, stacklevel=3)
        method, integrator = "eigh", method
    else:
        raise ValueError(f"method={method!r}: unknown method; pass 'eigh' (exact, one "
                         f"eigendecomposition of the kernel) or 'krylov' (matrix-free block "
                         f"Lanczos, for large n)")
    if integrator is None:
        integrator = "DOP853"
    elif not is_integrator(integrator):
        raise ValueError(f"integrator={integrator!r}: unknown integrator; pass one of "
                         f"{INTEGRATORS} (scipy.integrate.solve_ivp's methods)")
    return method, integrator


def _finite(name: str, a: np.ndarray, dtype, hint: str = "") -> np.ndarray:
    """``a`` cast to ``dtype``; an error naming ``name`` if any entry is nan or inf."""
    a = a.astype(dtype, copy=False)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite entries{hint}")
    return a


def kernel_matrix(name: str, k, *, dtype) -> np.ndarray:
    """A finite, square, symmetric matrix."""
    k = np.asarray(k)
    _square_numeric(name, k)
    k = _finite(name, k, dtype, " (nan or inf); check the kernel computation")
    scale = np.max(np.abs(k)) if k.size else 0.0
    asym = np.max(np.abs(k - k.T)) if k.size else 0.0
    _symmetric(name, asym, scale, k.shape[0], dtype)
    return k


def device_kernel_matrix(name: str, k, *, dtype, block: int = 2048):
    """``kernel_matrix`` for a JAX array that stays on its device (no host copy): the same checks
    in one pass over row blocks of ``block`` rows (workspace ``2 block n`` entries)."""
    _square_numeric(name, k)
    k = jnp.asarray(k, dtype)
    n = k.shape[0]
    if n == 0:
        return k
    rows = min(block, n)
    # the last block starts at n - rows (it overlaps the one before: harmless for maxima)
    parts = [_block_stats(k, start, rows) for start in sorted({*range(0, n - rows, rows), n - rows})]
    if not all(bool(p[0]) for p in parts):
        raise ValueError(f"{name} has non-finite entries (nan or inf); check the kernel computation")
    _symmetric(name, max(float(p[2]) for p in parts), max(float(p[1]) for p in parts), n, dtype)
    return k


@functools.partial(jax.jit, static_argnums=2)
def _block_stats(k, start, rows):
    """``(all finite, max |K|, max |K - K^T|)`` on rows ``start .. start+rows`` of ``k``."""
    top = jax.lax.dynamic_slice_in_dim(k, start, rows, axis=0)
    left = jax.lax.dynamic_slice_in_dim(k, start, rows, axis=1)
    return jnp.all(jnp.isfinite(top)), jnp.max(jnp.abs(top)), jnp.max(jnp.abs(top - left.T))


def _square_numeric(name: str, k) -> None:
    shape = np.shape(k)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{name} must be a square [n, n] matrix, got shape {shape}; pass the "
                         f"kernel between the training points (one output's kernel, not [n*k, n*k])")
    if not np.issubdtype(np.dtype(k.dtype), np.number):
        raise TypeError(f"{name} must be numeric, got dtype {k.dtype}")


def _symmetric(name: str, asym: float, scale: float, n: int, dtype) -> None:
    """Raise unless ``max |K - K^T| = asym`` is round-off for ``max |K| = scale``."""
    if asym > 100 * np.finfo(dtype).eps * max(scale, np.finfo(dtype).tiny) * max(n, 1) ** 0.5:
        raise ValueError(f"{name} is not symmetric (max |K - K^T| = {asym:.3g}, max |K| = "
                         f"{scale:.3g}); pass the train-train kernel, or symmetrize it with "
                         f"(K + K.T) / 2 if the asymmetry is round-off")


def targets(name: str, y, n: int, *, dtype) -> np.ndarray:
    """``[n]`` or ``[n, k]`` array -> ``[n, k]``."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {y.dtype}")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"{name} must have shape [n] or [n, k] with n = {n} (the kernel's size), "
                         f"got {np.shape(y)}")
    return _finite(name, y, dtype)


def outputs(name: str, f, shape: tuple[int, int], *, dtype) -> np.ndarray:
    f = np.asarray(f)
    if f.ndim == 1 and shape[1] == 1:
        f = f[:, None]
    if f.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (points x outputs, matching y_train's "
                         f"outputs), got {f.shape}")
    return _finite(name, f, dtype)


def times(t) -> tuple[np.ndarray, bool]:
    """Times in steps: scalar or 1-D, ``>= 0``, ``inf`` allowed. Returns (1-D array, was_scalar)."""
    arr = np.asarray(t, dtype=np.float64)
    scalar_t = arr.ndim == 0
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise ValueError(f"t must be a scalar or a 1-D array of times (steps), got shape {arr.shape}")
    if np.any(np.isnan(arr)):
        raise ValueError("t has nan entries; pass times in steps, >= 0 (np.inf for t -> infinity)")
    if np.any(arr < 0):
        raise ValueError(f"t must be >= 0 (times in steps), got min {arr.min()}; the flow runs forward from t = 0")
    return arr, scalar_t


def eigenvalues(name: str, evals: np.ndarray) -> np.ndarray:
    """Clip round-off negative eigenvalues to 0; reject clearly negative ones (not PSD)."""
    dtype = np.dtype(evals.dtype)
    top = float(np.max(np.abs(evals))) if evals.size else 0.0
    rtol = NEGATIVE_EIG_RTOL.get(dtype, 1e-4)
    if evals.size and evals.min() < -rtol * top:
        raise ValueError(f"{name} has a negative eigenvalue {evals.min():.3g} (largest "
                         f"{top:.3g}): a kernel must be positive semi-definite. Round-off negatives "
                         f"down to -{rtol:g} x the largest are clipped to 0; this one is beyond that. "
                         f"Check how the kernel was computed (dtype, symmetrization)")
    return np.clip(evals, 0.0, None)
