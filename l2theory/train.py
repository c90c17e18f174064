"""Training finite-width networks with L2 regularization: one run (``train``) or a whole
lam x lr x seed grid at once (``sweep``), jitted end to end.

Objective (``docs/conventions.md``): ``L(theta) = mean_i loss(f(x_i), y_i) + lam/2 ||theta||^2``
over all parameters; SGD ``theta <- theta - lr * grad L`` (optionally with momentum, or with
decoupled weight decay). Time counts steps; ``natural_time`` in ``sweep`` is the paper's natural
clock ``lam * lr * t``.

Example:
  >>> from l2theory import data, train
  >>> ds = data.load("fashion_mnist_subset", n_train=200, n_test=100)
  >>> cfg = train.TrainConfig(model="fc", depth=2, width=32, lr=1.0, lam=1e-3, steps=20,
  ...                         eval_every=10)
  >>> rows = train.train(cfg, ds)
  >>> sorted(rows)[:4], rows["step"].tolist()
  (['diverged', 'diverged_step', 'lam', 'lr'], [0, 10, 20])

Running:

- ``TrainConfig``: every setting of a run, checked when built; ``train(config, dataset)``: one
  run's rows (columns ``COLUMNS``); ``sweep(config, dataset, lam=, lr=, seeds=)``: the grid's
  rows (``LANE_COLUMNS`` in front); ``steps_for_natural_time``: a lane's steps for a natural
  time ``lam lr t``.
- Results folders: ``sweep(..., out=folder)`` (and the ``l2theory train``/``sweep`` commands)
  write one; ``load_results(folder)`` reads its table back, ``load_config(folder, lane=i)`` the
  full ``TrainConfig`` of run ``i`` as it ran (rerun it with ``train``), ``environment()`` is
  what each start recorded (versions, devices, host). A BatchNorm model's rows add
  ``BN_COLUMNS``: the norm of its scale-invariant weights, the effective learning rate
  ``lr / ||w||^2`` and the angular update per step (``docs/conventions.md`` section 8).
- Before training: ``run_plan(config, n_train=..., lam=..., lr=..., seeds=...)`` is what each
  run will do (``plan_lines``: one JSON line per run), ``cost_estimate(plans, step_seconds)``
  what it will cost, from a time per step that ``measure_step_seconds(config, dataset)``
  measures on this machine (or an estimate for another).
- The authors' conventions and AutoL2: ``from_autol2_flags`` / ``to_autol2_flags`` (their
  ``-lr``, ``-L2`` to our ``(lr, lam)`` and back), ``autol2_rule`` (the lam AutoL2 decides after
  each measurement, replayed from a run's record).

The engine's pieces, for code that builds its own loop (benchmarks, custom training):
``make_step(config, model, input_shape, num_classes=)`` gives the pure functions of one run
(``Step``: ``init``, ``update``, ``evaluate``, ``loss``) over a ``TrainState`` (parameters,
optimizer and schedule state) and its per-run constants ``Hyper`` (lr, lam, seed, steps);
``optimizer`` is one step's optax transformation, ``lr_at`` the learning-rate schedule,
``LamState``/``lam_init``/``autol2_update`` the lam schedule's state and AutoL2's in-graph
update; ``Engine`` the compiled programs of ``n_lanes`` runs trained together (what ``train``
and ``sweep`` drive).
"""
from l2theory._practice.train.autol2 import LamState
from l2theory._practice.train.autol2 import autol2_rule
from l2theory._practice.train.autol2 import autol2_update
from l2theory._practice.train.autol2 import from_autol2_flags
from l2theory._practice.train.autol2 import lam_init
from l2theory._practice.train.autol2 import to_autol2_flags
from l2theory._practice.train.config import TrainConfig
from l2theory._practice.train.engine import BN_COLUMNS
from l2theory._practice.train.engine import COLUMNS
from l2theory._practice.train.engine import Engine
from l2theory._practice.train.engine import train
from l2theory._practice.train.plan import cost_estimate
from l2theory._practice.train.plan import measure_step_seconds
from l2theory._practice.train.plan import plan_lines
from l2theory._practice.train.plan import run_plan
from l2theory._practice.train.results import environment
from l2theory._practice.train.results import load_config
from l2theory._practice.train.results import load_results
from l2theory._practice.train.schedules import lr_at
from l2theory._practice.train.step import Hyper
from l2theory._practice.train.step import Step
from l2theory._practice.train.step import TrainState
from l2theory._practice.train.step import make_step
from l2theory._practice.train.step import optimizer
from l2theory._practice.train.sweep import LANE_COLUMNS
from l2theory._practice.train.sweep import steps_for_natural_time
from l2theory._practice.train.sweep import sweep

__all__ = [
    "BN_COLUMNS",
    "COLUMNS",
    "Engine",
    "Hyper",
    "LANE_COLUMNS",
    "LamState",
    "Step",
    "TrainConfig",
    "TrainState",
    "autol2_rule",
    "autol2_update",
    "cost_estimate",
    "environment",
    "from_autol2_flags",
    "lam_init",
    "load_config",
    "load_results",
    "lr_at",
    "make_step",
    "measure_step_seconds",
    "optimizer",
    "plan_lines",
    "run_plan",
    "steps_for_natural_time",
    "sweep",
    "to_autol2_flags",
    "train",
]
