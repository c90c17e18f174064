"""Matrix-free MSE gradient flow with L2: block Lanczos on the train kernel.

The exact solution (``mode_functions``; conventions in docs/conventions.md) is a set of scalar
functions of the train kernel ``K`` applied to the targets ``y`` and the initial outputs ``f0``.
With ``a(k) = lr k / n`` for an eigenvalue ``k`` of ``K``, ``b = lr lam L``,
``gamma = 2 (L-1) lr lam`` and times ``t`` in steps::

    f_train(t) = H_t(K) f0 + (a Dn_t)(K) y,
    f_test(t)  = e^{-b t} f0_test + (lr/n) k_test_train [E_t(K) f0 + Dn_t(K) y].

Method. Block Lanczos from the starting block ``B = [y, f0]`` (``y`` alone when ``f0 = 0``)
builds an orthonormal basis ``Q`` of the block Krylov space ``span{B, K B, ..., K^{j-1} B}`` and
the projection ``T = Q^T K Q``; then ``phi(K) B ~= Q phi(T) Q^T B`` for every ``phi`` above,
evaluated on the eigendecomposition of the small ``T`` by the exact solver's
``mode_coefficients``. This is exact for polynomials of degree ``< j`` and near-optimal otherwise:
the error is that of the best such polynomial for ``phi`` on K's spectrum, weighted by ``B``'s
components (Saad 1992; Hochbruck & Lubich 1997). One space serves all times: every ``phi_t`` is
analytic on ``[0, k_max]``, and the hardest is the one of the longest effective time ``a tau(t)``,
bounded by ``a / gamma`` for ``gamma > 0`` (``tau <= 1/gamma``). Lanczos adapts to the discrete
spectrum, which for NTKs of real data decays fast: on depth-3 ``fc_relu`` kernels of Fashion-MNIST
(lam = 1e-3, lam lr t up to 50) 11-15 block steps give 1e-8 at n = 1,000 to 10,000 (measured).
A Chebyshev expansion would be sized for the worst case over ``[0, k_max]`` (``exp(-a/gamma)``
with ``a_max / gamma ~ 600`` there: over a hundred terms), and an ODE integrator takes as many
steps as the stiffness ``a_max t`` asks for. Degree 1 with ``lam -> 0`` (or ``lam = 0``)
at long times is the slow case: ``a / (a + b)`` converges like conjugate gradients on
``K + (n lam) I`` (rate ``sqrt(condition number)``).

Full reorthogonalization (classical Gram-Schmidt twice, once more on the normalized new block)
keeps ``Q`` orthonormal to working precision; it costs ``~6 n m p`` per step against the kernel
product's ``2 n^2 p`` (``m`` basis columns, ``p`` block width). Directions of a new block below
``10 sqrt(n) eps ||K||`` are dropped (deflation: the centered one-hot targets have rank k - 1, and
a space that stops growing is invariant, hence exact). ``t = inf`` is the same limit as in the
exact solver, taken on the Ritz values: ``0`` for ``gamma > 0``, kernel ridge regression
``K (K + n lam I)^{-1} y`` for degree 1, the interpolant for ``lam = 0``.

Error estimate. The approximations at dimensions ``j' < j`` live in nested spaces, so their
difference is exact in coefficients: ``||f_j - f_j'|| = ||c_j - c_j'||`` on the train set and
``||k_test_train Q (c_j - c_j')||`` on the test set (through ``G = W^T W``, ``W = k_test_train Q``,
kept up to date block by block). Per time slice, relative to that slice's output norm,
``diff_j`` is the change since the previous check and ``rho = diff_j / diff_j'`` the observed
rate; the estimate of the returned outputs' error is ``diff_j`` (``rho < 1/2``),
``diff_j rho / (1 - rho)`` (geometric convergence at rate ``rho``) or infinite (``rho >= 1``, not
converged), and never below the round-off floor ``100 eps`` (2e-14 in float64, 1e-5 in float32;
measured float32 errors against float64 are 1e-6 to 6e-6). Krylov convergence for these analytic
functions is superlinear, so the estimate, which is about the error at the previous check,
overstates the returned error, typically by orders of magnitude. Iteration stops when it is
``<= tol`` at every requested time, for train and test outputs, or when the changes stagnate
below the floor.

Test kernels too large to hold (10,000 x 60,000 next to the 60,000^2 train kernel) can be
given as an operator (``kernels.kernel_operator``: ``op @ V`` recomputes the kernel in tiles).
Every product then costs a kernel evaluation, so it is applied to whole stretches of the basis
only: the iteration converges on the train outputs first, the operator multiplies all new
basis columns at once, and the test estimate is checked (``solve``); ``W`` stays with the basis
for later solves with the same operator object.

Everything of size ``n`` lives on the default JAX device in the solver's dtype, products at
``precision=HIGHEST`` (no TF32 on GPUs); ``T``, its eigendecomposition and the coefficients are
float64 numpy on the host (``m x m``). Memory on the device: the kernel (``n^2`` entries, unless a
matvec callable is given), the basis ``n x cap`` (``cap <= 2 m``), ``W`` ``n_test x cap``, and the
outputs ``len(t) (n + n_test) k`` (only ``len(t) n_test k`` from ``predict_test``).

Several devices (``jax.devices()``: every device of every process in a multi-process run, see
docs/cluster.md): the train kernel matrix is split by rows over all of them (``RowSplitKernel``:
each device holds ``n / devices`` rows, never the whole kernel), ``K @ V`` is computed row block
per device and gathered; kernel operators split their rows likewise (``kernels.kernel_operator``).
The rest of the iteration (of size ``n x cap``) runs on each process's default device, the same
in every process.
"""
from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks
from l2theory._theory import _validate, mode_functions

_HIGHEST = jax.lax.Precision.HIGHEST
_mm = functools.partial(jnp.matmul, precision=_HIGHEST)
_FLOOR = 100.0  # relative changes below _FLOOR * eps count as round-off
_INITIAL_BLOCKS = 16  # initial capacity of the basis buffer, in blocks (doubled as needed)


DEFAULT_MAX_ITER = 400  # block steps; the basis then holds at most 400 p columns


def default_tol(dtype) -> float:
    """``1e-8`` for float64, ``1e-4`` for float32 (the estimate's round-off floor is ``100 eps``:
    2e-14 and 1.2e-5)."""
    return 1e-8 if np.dtype(dtype) == np.float64 else 1e-4


@jax.jit
def _dense_matvec(k, v):
    return _mm(k, v)


def train_kernel(name: str, k, *, dtype):
    """The train kernel matrix of ``method="krylov"``, checked (square, finite, symmetric): a JAX
    array on the default device, or with several devices a ``RowSplitKernel`` (its rows split
    over all of them)."""
    if jax.device_count() == 1:
        return _validate.device_kernel_matrix(name, k, dtype=dtype)
    return RowSplitKernel(name, k, dtype=dtype)


class RowSplitKernel:
    """A dense ``[n, n]`` kernel with its rows split over every device (of every process): device
    ``d`` holds rows ``d r .. (d+1) r`` (``r = ceil(n / devices)``; zero rows pad the last), so
    each holds ``r n`` entries. Calling it on ``V [n, p]`` multiplies each device's rows into
    ``V`` and gathers the blocks: ``K @ V`` on this process's default device. Built from a host
    array, each device receives only its rows; from a JAX array (checked where it is) through a
    host copy."""

    def __init__(self, name: str, k, *, dtype):
        from l2theory import _distributed

        if isinstance(k, jax.Array):
            k = np.asarray(_validate.device_kernel_matrix(name, k, dtype=dtype))
        else:
            k = _checked_on_host(name, k, dtype)
        self.dtype = np.dtype(dtype)
        self.shape = k.shape
        self.mesh = _distributed.mesh("rows")
        n, n_dev = k.shape[0], self.mesh.devices.size
        rows = -(-n // n_dev)

        def block(index):
            start, stop = index[0].indices(n_dev * rows)[:2]
            part = np.zeros((stop - start, n), self.dtype)
            part[:max(0, min(stop, n) - start)] = k[start:min(stop, n)]
            return part

        from jax.sharding import NamedSharding, PartitionSpec

        self.k = jax.make_array_from_callback(
            (n_dev * rows, n), NamedSharding(self.mesh, PartitionSpec("rows")), block)

    def __call__(self, v):
        from l2theory import _distributed

        out = _row_block_matmul(self.mesh)(self.k, _distributed.replicated(v, self.mesh))
        return _distributed.local(out)[:self.shape[0]]


def _checked_on_host(name: str, k, dtype, block: int = 2048) -> np.ndarray:
    """``_validate.kernel_matrix``'s checks of a host matrix in row blocks (no ``n^2``
    temporary); ``k`` in ``dtype``."""
    k = _validate.numeric(name, k)
    _validate._square(name, k)
    k = k.astype(dtype, copy=False)
    scale = asym = 0.0
    for start in range(0, k.shape[0], block):
        rows = k[start:start + block]
        if not np.all(np.isfinite(rows)):
            raise _checks.bad(name, k, "has non-finite entries (nan or inf)",
                              "check the kernel computation")
        scale = max(scale, float(np.max(np.abs(rows))))
        asym = max(asym, float(np.max(np.abs(rows - k[:, start:start + block].T))))
    _validate._symmetric(name, k, asym, scale, dtype)
    return k


@functools.lru_cache(maxsize=8)
def _row_block_matmul(mesh):
    """``(K [rows split], V [whole]) -> K @ V`` whole on every device: each device's rows times
    ``V``, then gathered."""
    from jax.sharding import PartitionSpec as P

    def local(k, v):
        return jax.lax.all_gather(_mm(k, v), "rows", tiled=True)

    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P("rows"), P()), out_specs=P(),
                                 check_vma=False))


@jax.jit
def _reorthogonalize(q, w):
    """``w - Q Q^T w`` twice (classical Gram-Schmidt, twice is enough) and the coefficients."""
    c1 = _mm(q.T, w)
    w = w - _mm(q, c1)
    c2 = _mm(q.T, w)
    return w - _mm(q, c2), c1 + c2


@jax.jit
def _project_out(q, v):
    return v - _mm(q, _mm(q.T, v))


@functools.partial(jax.jit, donate_argnums=0)
def _put_columns(buf, cols, start):
    return jax.lax.dynamic_update_slice_in_dim(buf, cols.astype(buf.dtype), start, axis=1)


@functools.partial(jax.jit, static_argnums=2)
def _columns(buf, start, width):
    return jax.lax.dynamic_slice_in_dim(buf, start, width, axis=1)


@functools.partial(jax.jit, donate_argnums=0, static_argnums=3)
def _put_gram(g, w, start, width):
    """``G[:, s:s+width] = W^T W[:, s:s+width]`` and the mirrored rows."""
    block = jax.lax.dynamic_slice_in_dim(w, start, width, axis=1)
    col = _mm(w.T, block)
    g = jax.lax.dynamic_update_slice_in_dim(g, col, start, axis=1)
    return jax.lax.dynamic_update_slice_in_dim(g, col.T, start, axis=0)


def _sym(a):
    return (a + a.T) / 2


def _grow(buf, cap):
    """``buf`` with ``cap`` columns (zeros appended)."""
    return jnp.zeros((buf.shape[0], cap), buf.dtype).at[:, :buf.shape[1]].set(buf)


class BlockLanczos:
    """Block Lanczos with full reorthogonalization for a symmetric PSD operator.

    ``matvec(V) -> K V`` for ``V`` of shape ``[n, p]`` (a JAX array of ``dtype``). ``start`` is
    the ``[n, c]`` starting block; its columns are scaled to unit norm before they are
    orthonormalized (so a small ``f0`` next to ``y`` keeps its own directions), and
    ``start_coef`` (``[p, c]``, float64) holds ``Q_1^T start``. Blocks have a fixed width ``p``
    (the start's rank); deflated directions are zero columns of the buffer, marked inactive.

    After ``dims`` steps the products ``K Q`` of blocks ``0 .. dims-1`` are known and ``t_host``
    holds ``T = Q^T K Q`` on their columns (float64); block ``dims`` is in the buffer already.
    """

    def __init__(self, matvec, start, *, dtype, max_blocks: int, name: str = "k_train_train"):
        self.matvec, self.dtype, self.name = matvec, np.dtype(dtype), name
        start = jnp.asarray(start, self.dtype)
        self.n = start.shape[0]
        self.eps = float(np.finfo(self.dtype).eps)
        norms = np.asarray(jnp.linalg.norm(start, axis=0), np.float64)
        scale = np.where(norms > 0, norms, 1.0)
        q1, r = jnp.linalg.qr(start / jnp.asarray(scale, self.dtype))
        u, s, vt = np.linalg.svd(np.asarray(r, np.float64))
        keep = s > 10 * math.sqrt(self.n) * self.eps * max(s.max(initial=0.0), 1.0)
        keep &= np.cumsum(keep) <= self.n
        self.p = max(int(keep.sum()), 1)
        self.max_blocks = max(int(max_blocks), 1)
        q1 = _mm(q1, jnp.asarray(u[:, keep], self.dtype))
        self.start_coef = np.zeros((self.p, start.shape[1]))
        self.start_coef[:keep.sum()] = (s[keep, None] * vt[keep]) * scale[None, :]
        cap = self.p * min(_INITIAL_BLOCKS, self.max_blocks + 1)
        self.q = jnp.zeros((self.n, cap), self.dtype)
        self.q = _put_columns(self.q, jnp.pad(q1, ((0, 0), (0, self.p - q1.shape[1]))), 0)
        self.active = np.zeros(cap, bool)
        self.active[:keep.sum()] = True
        self.t_host = np.zeros((cap, cap))
        self.dims = 0  # blocks whose K-products are known
        self.invariant = not keep.any()  # no new directions: the space is K-invariant (exact)
        self.norm_est = 0.0  # running estimate of ||K|| (largest column norm of K q)
        self.on_grow = []  # callbacks(cap) of buffers that follow the basis (W, G)
        self.test_cache = None  # the last operator k_test_train's _Test (W, G)

    @property
    def cap(self) -> int:
        return self.q.shape[1]

    def columns(self, dims: int) -> np.ndarray:
        """Indices of the active basis columns of blocks ``0 .. dims-1``."""
        return np.flatnonzero(self.active[:dims * self.p])

    @property
    def exhausted(self) -> bool:
        """No further step: the space is invariant (it is all of R^n at the latest once ``n``
        columns are multiplied) or ``max_blocks`` steps are done."""
        return self.invariant or self.dims >= self.max_blocks

    def step(self) -> None:
        """One block step: ``K Q_j``, reorthogonalized; the next block appended."""
        j, p = self.dims, self.p
        cols = slice(j * p, (j + 1) * p)
        w = jnp.asarray(self.matvec(_columns(self.q, j * p, p)), self.dtype)
        if w.shape != (self.n, p):
            raise _checks.bad(self.name, self.matvec, f"returned shape {w.shape} for a block of "
                              f"shape {(self.n, p)}", "a matvec must return K @ V, of V's shape")
        col_norms = np.asarray(jnp.linalg.norm(w, axis=0), np.float64)
        if not np.all(np.isfinite(col_norms)):
            raise _checks.bad(self.name, self.matvec, "gave K @ V with non-finite entries (nan "
                              "or inf)", "check the kernel computation")
        self.norm_est = max(self.norm_est, float(col_norms.max(initial=0.0)))
        if (j + 2) * p > self.cap:
            self._grow(min(2 * self.cap, (self.max_blocks + 1) * p))
        w, coef = _reorthogonalize(self.q, w)
        coef = np.where(self.active[:, None], np.asarray(coef, np.float64), 0.0)
        self._check_symmetric(j, coef)
        self.t_host[:, cols] = coef
        self.dims = j + 1
        new, kept = self._orthonormal_block(w)
        if kept == 0:
            self.invariant = True
            return
        nxt = (j + 1) * p
        self.t_host[nxt:nxt + p, cols] = np.asarray(_mm(new.T, w), np.float64)
        self.t_host[nxt + kept:nxt + p, cols] = 0.0
        self.q = _put_columns(self.q, new, nxt)
        self.active[nxt:nxt + kept] = True

    def _orthonormal_block(self, w):
        """``(V [n, p], kept)``: an orthonormal basis of ``span(w)`` (``w`` orthogonal to the basis
        already) in the first ``kept`` columns, zeros after (fixed shapes: one compile).

        Directions below ``10 sqrt(n) eps ||K||`` are dropped (a perturbation of K of that size),
        and the total stays ``<= n``. A well-conditioned block (singular values within 1e5, the
        usual case) goes by Cholesky QR on its ``p x p`` Gram matrix, which needs no LAPACK call
        of size n; otherwise Householder QR and an SVD of ``R`` tell the small singular values
        apart. Then once more against the basis and Cholesky QR again (CholeskyQR2: a direction
        kept with a small singular value ``s`` is orthogonal only to ``~eps / s`` before).
        """
        p = self.p
        threshold = 10 * math.sqrt(self.n) * self.eps * self.norm_est
        lam, v = np.linalg.eigh(_sym(np.asarray(_mm(w.T, w), np.float64)))
        sv = np.sqrt(np.maximum(lam, 0.0))
        if sv[0] > max(threshold, 1e-5 * sv[-1]):
            basis, keep, sv = w, np.ones(p, bool), sv
            rotate = v / sv[None, :]
        else:
            basis, r = jnp.linalg.qr(w)
            rotate, sv, _ = np.linalg.svd(np.asarray(r, np.float64))
            keep = sv > threshold
        keep &= np.cumsum(keep) <= self.n - self.active.sum()
        kept = int(keep.sum())
        if kept == 0:
            return None, 0
        padded = np.zeros((p, p))
        padded[:, :kept] = rotate[:, keep]
        new = _project_out(self.q, _mm(basis, jnp.asarray(padded, self.dtype)))
        gram = _sym(np.asarray(_mm(new.T, new), np.float64)[:kept, :kept])
        fix = np.zeros((p, p))
        fix[:kept, :kept] = np.linalg.inv(np.linalg.cholesky(gram)).T
        return _mm(new, jnp.asarray(fix, self.dtype)), kept

    def _grow(self, cap):
        self.q = _grow(self.q, cap)
        self.active = np.pad(self.active, (0, cap - self.active.size))
        self.t_host = np.pad(self.t_host, ((0, cap - self.t_host.shape[0]),) * 2)
        for callback in self.on_grow:
            callback(cap)

    def _check_symmetric(self, j, coef):
        """``q_a^T K q_b`` (this step) against ``q_b^T K q_a`` (the step before): equal to
        round-off for a symmetric ``K``; a cheap check that also covers matvec callables."""
        p = self.p
        this = coef[j * p:(j + 1) * p]
        pairs = [(this, this.T)]
        if j > 0:
            pairs.append((coef[(j - 1) * p:j * p], self.t_host[j * p:(j + 1) * p, (j - 1) * p:j * p].T))
        diff = max(float(np.max(np.abs(a - b))) for a, b in pairs)
        if diff > 1e3 * math.sqrt(self.n) * self.eps * max(self.norm_est, np.finfo(float).tiny):
            raise _checks.bad(self.name, self.matvec, f"is not symmetric: q_a^T K q_b and "
                              f"q_b^T K q_a differ by {diff:.3g} for orthonormal Lanczos vectors "
                              f"(||K|| ~ {self.norm_est:.3g})", "pass a symmetric kernel (or a "
                              "matvec of one)")

    def ritz(self, dims: int):
        """``(columns, theta, S)``: Ritz values ``theta`` (clipped at 0, checked PSD) and vectors
        ``S`` of ``T`` on the active columns of blocks ``0 .. dims-1``."""
        idx = self.columns(dims)
        t = self.t_host[np.ix_(idx, idx)]
        theta, vecs = np.linalg.eigh((t + t.T) / 2)
        return idx, _validate.eigenvalues(self.name, theta), vecs


class _Test:
    """``W = k_test_train Q`` and ``G = W^T W`` on the basis columns multiplied so far.

    A matrix is multiplied block by block as it is asked for. An operator (``lazy``: every
    product recomputes a kernel) is applied to all columns not yet multiplied at once. The last
    test kernel's ``_Test`` stays with the basis (``lanczos.test_cache``), so a later solve on
    the same basis with the same ``k_test_train`` object (another time grid, another flow of
    ``L2GradientFlow.replace``) multiplies only new columns.
    """

    def __init__(self, k_test_train, lanczos: BlockLanczos):
        self.k, self.lanczos = k_test_train, lanczos
        self.lazy = _validate.is_operator(k_test_train)
        self.m = int(k_test_train.shape[0])
        self.w = jnp.zeros((self.m, lanczos.cap), lanczos.dtype)
        self.g = jnp.zeros((lanczos.cap, lanczos.cap), lanczos.dtype)
        self.done = 0  # columns of W computed
        self.products = 0  # products with k_test_train (operator applications when lazy)
        self.f0 = None  # this solve's f0_test
        lanczos.on_grow.append(self._grow)

    @classmethod
    def attach(cls, lanczos: BlockLanczos, k_test_train, f0_test) -> "_Test":
        """The basis's ``_Test`` for ``k_test_train`` (the cached one for the same object)."""
        test = lanczos.test_cache
        if test is None or test.k is not k_test_train:
            if test is not None:
                lanczos.on_grow.remove(test._grow)
            test = lanczos.test_cache = cls(k_test_train, lanczos)
        test.f0 = f0_test
        return test

    def _grow(self, cap):
        self.w = _grow(self.w, cap)
        self.g = _grow(_grow(self.g, cap).T, cap).T

    def update(self, columns: int):
        """``W`` and ``G`` on the basis columns ``< columns`` (a multiple of the block width)."""
        if columns <= self.done:
            return
        if self.lazy:
            new = self.lanczos.q[:, self.done:columns]
            block = jnp.asarray(self.k @ new, self.lanczos.dtype)
            if block.shape != (self.m, new.shape[1]):
                raise _checks.bad("k_test_train", self.k, f"returned shape {block.shape} for "
                                  f"a block of shape {new.shape}", "an operator of shape "
                                  "(m, n) must return k_test_train @ V, of shape [m, c]")
            self.w = _put_columns(self.w, block, self.done)
            self.g = _mm(self.w.T, self.w)
            self.products += 1
        else:
            p = self.lanczos.p
            for start in range(self.done, columns, p):
                block = _mm(self.k, _columns(self.lanczos.q, start, p))
                self.w = _put_columns(self.w, block, start)
                self.g = _put_gram(self.g, self.w, start, p)
                self.products += 1
        self.done = columns


class _Evaluation:
    """Train/test coefficients in the basis, ``[m, T, k]`` (basis index first: every product
    with an ``m x m`` matrix is one BLAS call), at one dimension, and the output norms ``[T]``."""

    def __init__(self, lanczos: BlockLanczos, dims, t, *, lr, b, gamma, k, with_f0, test):
        idx, theta, s = lanczos.ritz(dims)
        self.idx, self.dims = idx, dims
        a = lr * theta / lanczos.n
        h, dn, e, self.decay = mode_functions.mode_coefficients(a, t, b=b, gamma=gamma)
        z = s.T @ (lanczos.start_coef[np.minimum(idx, lanczos.p - 1)] * (idx < lanczos.p)[:, None])
        zy = z[:, None, :k]
        train = (a[:, None] * dn.T)[:, :, None] * zy  # per Ritz vector
        coef = dn.T[:, :, None] * zy
        if with_f0:
            zf = z[:, None, k:]
            train = train + h.T[:, :, None] * zf
            coef = coef + e.T[:, :, None] * zf
        self.train = _times(s, train)
        self.train_norm = np.sqrt(np.sum(self.train ** 2, axis=(0, 2)))
        self.test = self.test_norm = None
        if test is not None:
            self.test = (lr / lanczos.n) * _times(s, coef)
            self.gram = np.asarray(test.g, np.float64)[np.ix_(idx, idx)]
            f0 = np.asarray(test.f0, np.float64)
            cross = np.asarray(_mm(test.w.T, test.f0), np.float64)[idx]  # W^T f0_test
            sq = (self.decay ** 2 * np.sum(f0 ** 2)
                  + 2 * self.decay * np.sum(cross[:, None] * self.test, axis=(0, 2))
                  + _quad(self.gram, self.test))
            self.test_norm = np.sqrt(np.maximum(sq, 0.0))

    def change(self, other: "_Evaluation"):
        """Relative change per time ``(train [T], test [T] or None)`` from ``other`` (smaller)."""
        m = len(other.idx)
        d_train = self.train.copy()
        d_train[:m] -= other.train
        train = _ratio(np.sqrt(np.sum(d_train ** 2, axis=(0, 2))), self.train_norm)
        test = None
        if self.test is not None:
            d_test = self.test.copy()
            d_test[:m] -= other.test
            test = _ratio(np.sqrt(np.maximum(_quad(self.gram, d_test), 0.0)), self.test_norm)
        return train, test


def _times(matrix, c):
    """``matrix @ c`` over the first axis of ``c [m, T, k]``, as one matrix product."""
    flat = c.reshape(c.shape[0], math.prod(c.shape[1:]))  # also for m = 0
    return (matrix @ flat).reshape(matrix.shape[0], *c.shape[1:])


def _check_cost(m, k, times, with_test):
    """Cost of one convergence check at basis size ``m``, in flops of a kernel product (the
    checks run in numpy on the host; ``mode_coefficients`` costs ~3 us per mode and time on 2 CPU
    cores, measured). Checks are spaced so that they cost about what the block steps between
    them cost, and at most ``dims / 4`` steps apart (the space overshoots by <= 25%): the spacing
    is deterministic (no timing), and checks add at most ~the time of the products."""
    return 10.0 * m ** 3 + (4.0 + 2.0 * with_test) * m * m * k * times + 3e4 * m * times


def _quad(gram, c):
    """``sum_k c[:, t, k]^T G c[:, t, k]`` for each t (``c [m, T, k]``)."""
    return np.sum(c * _times(gram, c), axis=(0, 2))


def _ratio(num, den):
    """``num / den`` with ``0 / 0 = 0`` (both outputs exactly zero) and ``x / 0 = inf``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(num == 0, 0.0, num / den)


def _estimate(change, change_before, floor):
    """Error estimate per time from the last two relative changes (see the module docstring);
    never below the round-off ``floor``."""
    rho = _ratio(change, change_before)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.where(rho < 0.5, change, np.where(rho < 1.0, change * rho / (1.0 - rho), np.inf))
    return np.maximum(np.where(change <= floor, change, est), floor)


class _Run:
    """Where an iteration stopped: the last three evaluations (smallest dimension first), the
    error estimates per time (``inf`` until three exist) and why it stopped."""

    def __init__(self, history, est_train, est_test, stop):
        self.history, self.est_train, self.est_test, self.stop = history, est_train, est_test, stop


def _estimates(history, floor, n_times):
    """``(est_train [T], est_test [T] or None, stagnant)`` from the last three evaluations."""
    test = history[-1].test is not None
    if len(history) < 3:
        inf = np.full(n_times, np.inf)
        return inf, inf if test else None, False
    (c0_train, c0_test), (c1_train, c1_test) = (history[1].change(history[0]),
                                                history[2].change(history[1]))
    est_train = _estimate(c1_train, c0_train, floor)
    est_test = _estimate(c1_test, c0_test, floor) if test else None
    stagnant = np.all(c1_train <= floor) and (not test or np.all(c1_test <= floor))
    return est_train, est_test, bool(stagnant)


def _iterate(lanczos: BlockLanczos, evaluate, *, tol, floor, with_train, test, k, n_times):
    """Block steps, with checks between them, until the estimated relative error is ``<= tol``
    at every time (train outputs when ``with_train``, test outputs with ``test``), the changes
    stagnate at round-off, or the space is exhausted; returns a ``_Run``."""
    n, p = lanczos.n, lanczos.p
    block_cost = 2.0 * n * n * p + (0.0 if test is None else 2.0 * test.m * n * p)
    block_cost += 6.0 * n * lanczos.cap * p
    history = []  # the last three evaluations, smallest dimension first
    # a reused space is checked first where it stands (an invariant one is exact there)
    target = lanczos.dims if lanczos.invariant else max(1, lanczos.dims - 2)
    while True:
        while lanczos.dims < target and not lanczos.exhausted:
            lanczos.step()
        dims = min(target, lanczos.dims)
        if test is not None:
            test.update(dims * p)
        if not history or history[-1].dims != dims:
            history = (history + [evaluate(dims, test=test)])[-3:]
        if lanczos.invariant and dims == lanczos.dims:  # exact up to round-off
            exact = np.full(n_times, floor)
            return _Run(history, exact, None if test is None else exact, "invariant")
        est_train, est_test, stagnant = _estimates(history, floor, n_times)
        targets = ([est_train] if with_train else []) + ([est_test] if test is not None else [])
        if all(np.all(e <= tol) for e in targets):
            return _Run(history, est_train, est_test, "converged")
        if stagnant:  # at round-off: no step can improve it
            return _Run(history, est_train, est_test, "stagnant")
        if lanczos.exhausted and dims == lanczos.dims:
            return _Run(history, est_train, est_test, "exhausted")
        if dims < lanczos.dims:  # a reused space: check every dimension it has first (free)
            target = dims + 1
            continue
        ratio = _check_cost(len(history[-1].idx) + p, k, n_times, test is not None) / block_cost
        target = dims + max(1, min(math.ceil(ratio), dims // 4))


def solve(lanczos: BlockLanczos, t, *, lr, b, gamma, k, with_f0, tol, with_train,
          k_test_train=None, f0_test=None):
    """Iterate ``lanczos`` until the estimated relative error is ``<= tol`` at every time in
    ``t`` (steps), then assemble the outputs.

    ``k_test_train``: a matrix (JAX array), multiplied into each new block of the basis, or an
    operator (``_validate.is_operator``), applied only to whole stretches of the basis: the
    iteration first converges on the train outputs (to ``tol``), then the operator multiplies
    every new basis column at once and the test outputs are checked; while they are short of
    ``tol``, the train outputs are asked for 10x more and the test outputs checked again
    (typically one application per solve, and none for a basis already multiplied).

    Returns ``(f_train [T, n, k] or None, f_test [T, m, k] or None, info)``; ``info`` as
    documented in ``L2GradientFlow.predict``.
    """
    test = None if k_test_train is None else _Test.attach(lanczos, k_test_train, f0_test)
    floor = _FLOOR * lanczos.eps
    evaluate = functools.partial(_Evaluation, lanczos, t=t, lr=lr, b=b, gamma=gamma, k=k,
                                 with_f0=with_f0)
    iterate = functools.partial(_iterate, lanczos, evaluate, floor=floor, k=k, n_times=len(t))
    products = 0 if test is None else test.products
    if test is None or not test.lazy:
        run = iterate(tol=tol, with_train=with_train, test=test)
    else:
        train_tol = tol
        while True:
            run = iterate(tol=train_tol, with_train=True, test=None)
            test.update(run.history[-1].dims * lanczos.p)
            history = [evaluate(ev.dims, test=test) for ev in run.history]
            if run.stop == "invariant":
                est_train, est_test = run.est_train, run.est_train
            else:
                est_train, est_test, stagnant = _estimates(history, floor, len(t))
                run.stop = "stagnant" if stagnant else run.stop
            run = _Run(history, est_train, est_test, run.stop)
            if np.all(est_test <= tol) and (not with_train or np.all(est_train <= tol)):
                break
            if run.stop != "converged" or train_tol < floor:
                break  # stagnant, invariant or exhausted: no more steps
            train_tol /= 10
    current = run.history[-1]
    targets = (([run.est_train] if with_train else [])
               + ([run.est_test] if test is not None else []))
    estimate = float(max(np.max(e) for e in targets)) if len(t) else 0.0
    converged = estimate <= tol
    info = {"method": "krylov", "converged": bool(converged), "tol": float(tol),
            "error_estimate": estimate,
            "error_estimate_train": run.est_train if with_train else None,
            "error_estimate_test": None if test is None else run.est_test,
            "iterations": int(lanczos.dims), "dims_used": int(current.dims),
            "basis_size": int(len(current.idx)), "block_size": int(lanczos.p),
            "matvec_columns": int(lanczos.dims * lanczos.p), "invariant": bool(lanczos.invariant),
            "test_products": 0 if test is None else test.products - products}
    if not converged:
        warnings.warn(f"method='krylov' stopped at an estimated relative error {estimate:.3g} > "
                      f"tol={tol:g} after {lanczos.dims} block steps (basis {len(current.idx)}); "
                      f"raise max_iter, loosen tol, or use dtype=float64 (float32's floor is "
                      f"~1e-5)", RuntimeWarning, stacklevel=5)
    out = _assemble(lanczos, current, test, with_train)
    if test is not None and not test.lazy:  # a matrix is multiplied again cheaply: hold no copy
        lanczos.on_grow.remove(test._grow)
        lanczos.test_cache = None
    return out + (info,)


def _assemble(lanczos, ev, test, with_train):
    """Outputs from the coefficients: ``Q c`` (train), ``e^{-bt} f0_test + W c`` (test)."""
    dtype = lanczos.dtype

    def padded(c):
        full = np.zeros((lanczos.cap,) + c.shape[1:], dtype)
        full[ev.idx] = c
        return jnp.asarray(full)

    f_train = f_test = None
    if with_train:
        f_train = jnp.einsum("nc,ctk->tnk", lanczos.q, padded(ev.train), precision=_HIGHEST)
    if test is not None:
        decay = jnp.asarray(ev.decay, dtype)[:, None, None]
        f_test = decay * jnp.asarray(test.f0, dtype)[None] + jnp.einsum(
            "mc,ctk->tmk", test.w, padded(ev.test), precision=_HIGHEST)
    return f_train, f_test
