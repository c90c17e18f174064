"""Where theory and practice meet: the paper's experiments as functions (private; the public names
are re-exported by ``l2theory.experiments``).

One idea per file:

- ``peak``: ``t_star``, the step of peak performance of a noisy learning curve (smoothing in
  log-time).
- ``collapse``: ``t*`` per lane of a sweep, ``fit_power_law`` of ``t* = c / (lam lr)^s`` with a
  seed bootstrap, ``plot_collapse``.
- ``budget``: fixed step budget vs budget ~ 1/lam (``budget_comparison``); ``lam_opt = c/(lr T)``
  from one short run (``predict_lam_opt``).
- ``autol2``: AutoL2 vs the best fixed lam at the same budget.
- ``fc_network``: full-batch GD that records a bias-free ReLU FC net's outputs; its empirical NTK
  layer by layer.
- ``theory_vs_practice``: finite-width networks vs the exact infinite-width L2 gradient flow.
- ``hessian``: lowest Hessian eigenvalues by Lanczos on Hessian-vector products; against lam.
- ``schedules``: t* in the integrated decay clock under decoupled weight decay and lr schedules.
- ``_checks``: input checks and JSON conversion shared by the others.
"""
