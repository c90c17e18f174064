"""The training engine behind ``l2theory.train`` (private; the public names are re-exported there).

One idea per file:

- ``config``: ``TrainConfig`` and its validation.
- ``schedules``: learning-rate schedules (pure functions of the step).
- ``autol2``: the AutoL2 lam schedule (the authors' rule, pure and in-graph) and their flags.
- ``step``: the training step as pure ``init``/``update`` over a ``TrainState`` pytree; losses.
- ``engine``: compiled segments (``lax.scan`` between evaluations), evaluation, ``train``.
- ``sweep``: lanes over a lam x lr x seed grid (``vmap``), chunks, sharding, resume.
- ``plan``: what the runs of a config or a sweep will do and cost, without training.
- ``results``: the results directory: atomic writes, checkpoints, environment capture.
"""
