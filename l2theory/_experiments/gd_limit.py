"""The infinite-width limit of full-batch gradient descent with L2 at a finite learning rate:
the discrete steps the gradient flow is the ``lr -> 0`` limit of, to separate the
discretization (GD vs flow) from finite width."""
from __future__ import annotations

import numpy as np

from l2theory import _checks


def gd_limit_outputs(k_train, k_test_train, y, f0_train, f0_test, *, lam: float, lr: float,
                     degree: int, steps) -> tuple[np.ndarray, np.ndarray]:
    """Infinite-width limit of full-batch GD with L2 (finite ``lr``), at ``steps``.

    One step ``theta -> (1 - eta) theta - lr grad`` (``eta = lr lam``) of a degree-L network,
    linearized in the data gradient (exact at infinite width), maps the outputs as::

        f_{t+1} = (1-eta)^L f_t - (lr/n) (1-eta)^{L-1} K_t (f_t - y),   K_t = (1-eta)^{2(L-1)t} K
        f*_{t+1} = (1-eta)^L f*_t - (lr/n) (1-eta)^{L-1} K*_t (f_t - y)

    (``f(a theta) = a^L f(theta)``, ``J(a theta) = a^{L-1} J(theta)``). Iterated in float64.

    Returns ``(f_train [S, n, k], f_test [S, m, k])``.
    """
    lam, lr = _checks.lam("lam", lam), _checks.lr("lr", lr)
    degree = _checks.positive_int("degree", degree)
    k_train = np.asarray(k_train, np.float64)
    k_test_train = np.asarray(k_test_train, np.float64)
    y = np.asarray(y, np.float64)
    f, fs = np.asarray(f0_train, np.float64).copy(), np.asarray(f0_test, np.float64).copy()
    n = len(y)
    eta = lr * lam
    a = 1.0 - eta
    steps = np.asarray(steps, np.int64)
    want = {int(s): i for i, s in enumerate(steps)}
    out_tr = np.zeros((len(steps),) + f.shape)
    out_te = np.zeros((len(steps),) + fs.shape)
    for t in range(int(steps.max()) + 1):
        if t in want:
            out_tr[want[t]], out_te[want[t]] = f, fs
        scale = (lr / n) * a ** (degree - 1) * a ** (2 * (degree - 1) * t)
        r = f - y
        f = a ** degree * f - scale * (k_train @ r)
        fs = a ** degree * fs - scale * (k_test_train @ r)
    return out_tr, out_te

