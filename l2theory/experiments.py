"""The paper's experiments, where the theory (``solvers``, ``kernels``) meets practice (``train``).

Every function takes small settings for tests, is deterministic given its seeds, raises
``ValueError`` naming the bad argument, and returns plain JSON-ready dicts/lists. Conventions
(docs/conventions.md): training loss ``mean_i loss(f(x_i), y_i) + lam/2 ||theta||^2``; time ``t`` in
steps; natural clock ``lam * lr * t``.

- ``t_star`` (-> ``TStar``): step of peak performance of a noisy learning curve (smoothing in
  log-time).
- ``collapse``, ``fit_power_law``, ``plot_collapse``: ``t* = c / (lam lr)^s`` measured on a sweep
  (``lane_peaks``: ``t*`` of every lane), fitted with a bootstrap over seeds.
- ``Claim``, ``claim_greater``, ``claim_within``: a claim decided by a confidence interval
  (Student-t; Welch's unpaired) with the verdict ``PASS``/``FAIL``/``TIE``/``n/a``;
  ``claim_greater_crossed`` (a bootstrap over seeds and the images of one shared test set),
  ``bootstrap_claim`` (any statistic of seeds, e.g. a ratio of means), ``claim_exact`` (a
  number without sampling noise).
- ``budget_comparison``: final accuracy vs lam for a fixed step budget and for a budget ~ 1/lam
  (``per_lam``: a sweep's final metric per lam, over seeds).
- ``predict_lam_opt``: ``lam_opt(T) = c / (lr T)`` from one short run at a large lam, against the
  optimum of a sweep at each budget T (``grid_optimum``: the vertex of a parabola in ``ln lam``
  around the best grid point, per seed; ``lam_opt_claim``: prediction within a factor of it).
- ``short_run_c``: ``c = lam lr t*`` from one short run per seed at a large lam.
- ``autol2_comparison``: AutoL2 vs the best fixed lam at the same budget (chosen on a validation
  split, each seed scored at a lam chosen without it), paired by seed and by test image, and
  the steps-to-target ``speedup`` with a bootstrap over seeds.
- ``theory_vs_practice``: finite-width ReLU nets trained by GD vs the exact infinite-width L2
  gradient flow (and the linearized network) on real data; its pieces: ``prepare_data`` (the
  inputs), ``fc_empirical_ntk`` (an FC net's empirical NTK, layer by layer) and
  ``gd_limit_outputs`` (the infinite-width limit of GD at a finite learning rate).
- ``predict_network`` (-> ``NetworkPrediction``): the predicted trajectory, ``t*`` and
  ``c = lam lr t*`` of any ``TrainConfig``'s run, from the network's NTK at initialization
  (empirical, or analytic for FC and CNN architectures).
- ``predict_run`` (-> ``RunPrediction``): a training run predicted without training (what
  ``l2theory predict`` prints): ``t*`` and ``c`` by test loss and by test accuracy, ``lam_opt``
  for a step budget with ``solvers.lam_opt_verdict``'s verdict, the flow's rates against
  gradient descent's stability bound, the preprocessing.
- ``cnn_theory_vs_practice``: CNNs of growing channel count (and a max-pooling CNN) trained by GD
  vs the exact L2 gradient flow.
- ``lazy_limit_vs_practice``: networks that are not homogeneous (Wide ResNets without
  BatchNorm, FC nets with biases) trained by GD at growing width vs the lazy limit of the flow.
- ``hessian_lowest_eigs``, ``hessian_vs_lam``: bottom of the Hessian spectrum (Lanczos on
  Hessian-vector products) vs lam; ``hessian_at_t_star``: at each run's own t*, per lam and
  seed (where the paper's statement applies: nets that learned).
- ``decoupled_and_schedules``: t* in the integrated decay clock ``sum_t lr_t lam_t``
  (``decay_clock``) under decoupled weight decay and lr schedules.
- ``bn_equilibrium`` (-> ``BNEquilibrium``): the equilibrium angular update per step,
  ``sqrt(2 lr lam / (1 + mu))``, and the equilibration time ``(1 - mu) / (4 lr lam)`` steps of
  the scale-invariant (BatchNorm-preceded) weights of a ``TrainConfig``'s run (SGD, momentum
  ``mu``, L2); ``late_angular_update``: the measured RMS angular update after a step, from rows.
- ``standard_error``: the standard error of a mean over seeds; ``to_json``: numpy inside
  results -> plain Python.
"""
from l2theory._checks import to_json
from l2theory._experiments.autol2 import autol2_comparison
from l2theory._experiments.autol2 import speedup
from l2theory._experiments.budget import budget_comparison
from l2theory._experiments.budget import per_lam
from l2theory._experiments.budget import predict_lam_opt
from l2theory._experiments.bn_equilibrium import BNEquilibrium
from l2theory._experiments.bn_equilibrium import bn_equilibrium
from l2theory._experiments.bn_equilibrium import late_angular_update
from l2theory._experiments.budget import short_run_c
from l2theory._experiments.claims import Claim
from l2theory._experiments.claims import bootstrap_claim
from l2theory._experiments.claims import claim_exact
from l2theory._experiments.claims import claim_greater
from l2theory._experiments.claims import claim_greater_crossed
from l2theory._experiments.claims import claim_within
from l2theory._experiments.cnn_theory import cnn_theory_vs_practice
from l2theory._experiments.collapse import collapse
from l2theory._experiments.collapse import fit_power_law
from l2theory._experiments.collapse import lane_peaks
from l2theory._experiments.collapse import plot_collapse
from l2theory._experiments.comparison_data import prepare_data
from l2theory._experiments.fc_network import fc_empirical_ntk
from l2theory._experiments.gd_limit import gd_limit_outputs
from l2theory._experiments.hessian import hessian_at_t_star
from l2theory._experiments.hessian import hessian_lowest_eigs
from l2theory._experiments.hessian import hessian_vs_lam
from l2theory._experiments.lazy_limit import lazy_limit_vs_practice
from l2theory._experiments.network_theory import NetworkPrediction
from l2theory._experiments.network_prediction import predict_network
from l2theory._experiments.optimum import grid_optimum
from l2theory._experiments.optimum import lam_opt_claim
from l2theory._experiments.peak import TStar
from l2theory._experiments.run_prediction import RunPrediction
from l2theory._experiments.run_prediction import predict_run
from l2theory._experiments.peak import t_star
from l2theory._experiments.schedules import decay_clock
from l2theory._experiments.schedules import decoupled_and_schedules
from l2theory._experiments.stats import standard_error
from l2theory._experiments.theory_vs_practice import theory_vs_practice

__all__ = [
    "BNEquilibrium",
    "Claim",
    "NetworkPrediction",
    "RunPrediction",
    "TStar",
    "autol2_comparison",
    "bn_equilibrium",
    "bootstrap_claim",
    "budget_comparison",
    "claim_exact",
    "claim_greater",
    "claim_greater_crossed",
    "claim_within",
    "cnn_theory_vs_practice",
    "collapse",
    "decay_clock",
    "decoupled_and_schedules",
    "fc_empirical_ntk",
    "fit_power_law",
    "gd_limit_outputs",
    "grid_optimum",
    "hessian_at_t_star",
    "hessian_lowest_eigs",
    "hessian_vs_lam",
    "lam_opt_claim",
    "lane_peaks",
    "lazy_limit_vs_practice",
    "late_angular_update",
    "per_lam",
    "plot_collapse",
    "predict_lam_opt",
    "predict_network",
    "predict_run",
    "prepare_data",
    "short_run_c",
    "speedup",
    "standard_error",
    "t_star",
    "theory_vs_practice",
    "to_json",
]
