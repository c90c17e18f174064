"""l2theory: training dynamics of deep networks with L2 regularization.

Lewkowycz & Gur-Ari, "On the training dynamics of deep networks with L2 regularization",
NeurIPS 2020 (arXiv:2006.08643).

Conventions (everywhere in the package): training loss
``L(theta) = mean_i loss(f(x_i), y_i) + lam/2 * ||theta||^2`` with the MSE per sample
``1/2 ||f - y||^2``; time ``t`` counts gradient steps; physical time is ``lr * t``; the paper's
natural clock is ``lam * lr * t``.

Public modules (import them explicitly, e.g. ``from l2theory import solvers``):

- ``l2theory.kernels``: analytic and empirical neural tangent kernels.
- ``l2theory.solvers``: exact gradient-flow-with-L2 solvers in function space, and predictions
  (t*, c, lam_opt) on top of them.
- ``l2theory.models``, ``l2theory.data``, ``l2theory.train``: finite-width networks, datasets and
  the jitted training engine.
- ``l2theory.experiments``: where theory and practice meet: ``t*`` of noisy curves, the
  t*-collapse fit, optimal-lam prediction, AutoL2, theory vs finite-width networks, Hessian.
"""

from l2theory._x64 import x64

__version__ = "0.1.0"
__all__ = ["x64", "__version__"]
