"""Where theory and practice meet: the paper's experiments as functions (private; the public names
are re-exported by ``l2theory.experiments``).

One idea per file. The experiments:

- ``collapse``: ``t*`` per lane of a sweep, ``fit_power_law`` of ``t* = c / (lam lr)^s`` with a
  seed bootstrap, ``plot_collapse``.
- ``budget``: fixed step budget vs budget ~ 1/lam (``budget_comparison``); ``lam_opt = c/(lr T)``
  from one short run (``predict_lam_opt``).
- ``autol2``: AutoL2 vs the best fixed lam at the same budget.
- ``theory_vs_practice``: finite-width FC networks vs the exact infinite-width L2 gradient flow.
- ``network_theory``: the flow for any ``TrainConfig`` (its NTK at initialization, its degree)
  and the predicted ``t*`` (``predict_network``).
- ``cnn_theory``: CNNs of growing channel count (and a max-pooling CNN) vs the flow.
- ``hessian``: lowest Hessian eigenvalues by Lanczos on Hessian-vector products; against lam.
- ``schedules``: t* in the integrated decay clock under decoupled weight decay and lr schedules.

What they share:

- ``claims``: claims decided by confidence intervals (``Claim``, ``claim_greater``,
  ``claim_within``, bootstraps) and the one verdict vocabulary.
- ``optimum``: the optimum of a metric over a lam grid (a parabola in ``ln lam`` per seed) and
  the claim that a predicted lam is within a factor of it.
- ``peak``: ``t_star``, the step of peak performance of a noisy learning curve (smoothing in
  log-time).
- ``stats``: the standard error of a mean over seeds.
- ``sweeps``: the sweeps they run (``quiet_sweep``: ``train.sweep`` without a progress bar).
- ``comparison_data``: the data of a function-space comparison (``prepare_data``).
- ``recording``: full-batch GD of any ``TrainConfig`` that records the network's outputs, and the
  steps to record (``record_grid``, ``window_steps``).
- ``output_metrics``: distances, losses and accuracies of output trajectories; the step of the
  minimum of a noise-free curve (``refined_min``).
- ``gd_limit``: the infinite-width limit of full-batch GD at a finite learning rate.
- ``fc_network``: a bias-free ReLU FC net's ``TrainConfig`` and its empirical NTK layer by layer.
"""
