"""Full-batch GD of any ``TrainConfig`` that records the network's outputs, the run's initial
parameters, and the steps to record (log-spaced, up to the end of a window of natural time).

Why not ``l2theory.train.train``: it reports losses and accuracies, while the function-space
comparison needs the network *outputs* ``f(x)`` on the training and test points at many steps.
``train_recording`` therefore drives the public pure step of the training engine
(``l2theory.train.make_step``: the same objective, ``mean_i loss(f(x_i), y_i) +
lam/2 ||theta||^2``, and the same update as ``train``) in one jitted ``lax.scan`` of full-batch
steps, and evaluates the outputs at the requested steps only, at the config's matmul precision
(full float32 by default, ``docs/conventions.md`` section 6). Models without BatchNorm only
(the outputs are evaluated in eval mode, which for BatchNorm would use running averages).

The steps run as jitted programs of ``UNROLL`` unrolled steps (and single steps up to each
recorded step), driven from Python, not as one ``lax.scan``: XLA on the CPU runs convolutions
inside a while loop several times slower (measured with jax 0.10 on 2 cores: a 256-channel
CNN step 0.34 s in a scan, 0.09 s as separate calls, 0.05 s unrolled), and the Python loop
costs microseconds per call.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks, _precision

UNROLL = 8  # steps per compiled chunk

# The run recipe of every function-space comparison (what the exact flow assumes): MSE on
# centred one-hot targets, full-batch GD at constant lr and lam, one evaluation at the end (the
# outputs are recorded instead). ``comparison_config`` sets these TrainConfig fields.
RUN_FIELDS = ("loss", "center_targets", "lr", "lam", "steps", "eval_every", "batch_size",
              "seed", "train_eval_size")


def comparison_config(model: Mapping[str, Any], *, seed: int, lr: float, lam: float,
                      steps: int):
    """The ``TrainConfig`` of a comparison run: the architecture fields in ``model`` (e.g.
    ``{"model": "cnn", "depth": 2}``, also ``dtype``), the recipe above for the rest."""
    from l2theory import train

    return train.TrainConfig(**dict(model), loss="mse", center_targets=True, lr=lr, lam=lam,
                             steps=steps, eval_every=steps, batch_size=None, seed=seed,
                             train_eval_size=None)


def _hyper(config, steps: int):
    from l2theory import train

    dt = config.param_dtype
    return train.Hyper(lr=jnp.asarray(config.lr, dt), lam=jnp.asarray(config.lam, dt),
                       seed=jnp.asarray(config.seed, jnp.int32),
                       steps=jnp.asarray(int(steps), jnp.int32),
                       boundaries=jnp.zeros((len(config.setting("lr_decay_at")),), jnp.int32))


def initial_params(config, num_classes: int, input_shape):
    """The parameters a run of ``config`` starts from (``make_step(...).init``: the same seed,
    key split and dtype as ``train``, ``sweep`` and ``train_recording``)."""
    init = _programs(config, int(num_classes), input_shape)[0]
    return init(_hyper(config, config.steps)).params


def train_recording(config, x_train, labels_train, x_test, record_steps, *, num_classes: int):
    """Full-batch GD of ``config`` (steps ``0 .. max(record_steps)``), outputs at
    ``record_steps``.

    Args:
      config: a ``TrainConfig`` (e.g. ``fc_network.fc_config``); ``lr``, ``lam``, ``seed`` are
        taken from it, ``batch_size`` is ignored (full batch).
      x_train, labels_train: training inputs ``[n, ...]`` and integer labels ``[n]``.
      x_test: test inputs ``[m, ...]``.
      num_classes: number of outputs ``k``.
      record_steps: sorted distinct ints ``>= 0``; the outputs after that many steps are returned.

    Returns:
      ``(params0, f_train [R, n, k], f_test [R, m, k])`` as numpy arrays (``params0``: the
      initial parameter pytree, for the empirical NTK).
    """
    record_steps = np.asarray(record_steps, np.int64)
    x_train = jnp.asarray(x_train)
    x_test = jnp.asarray(x_test)
    labels = jnp.asarray(labels_train, jnp.int32)
    init, chunk, single, outputs = _programs(config, int(num_classes), x_train.shape[1:])
    state = init(_hyper(config, record_steps[-1]))
    params0 = state.params
    f_train, f_test, t = [], [], 0
    for r in record_steps:
        while r - t >= UNROLL:
            state, t = chunk(state, x_train, labels), t + UNROLL
        while t < r:
            state, t = single(state, x_train, labels), t + 1
        ftr, fte = outputs(state.params, x_train, x_test)
        f_train.append(np.asarray(ftr))
        f_test.append(np.asarray(fte))
    return jax.tree.map(np.asarray, params0), np.stack(f_train), np.stack(f_test)


_PROGRAMS: dict = {}  # the last few configs' programs (see _programs)


def _programs(config, num_classes: int, input_shape):
    """``(init, chunk, single, outputs)`` jitted programs of a config, cached by the config
    without its ``lr``, ``lam``, ``seed`` and ``steps`` (they enter through ``Hyper``), so the
    runs of one comparison share their compilations."""
    generic = config.replace(seed=0, steps=1, eval_every=None, evals_per_decade=None, lr=1.0,
                             lam=0.0)  # evaluation settings do not enter these programs
    key = (repr(generic), int(num_classes), tuple(input_shape))
    if key not in _PROGRAMS:
        if len(_PROGRAMS) >= 8:
            del _PROGRAMS[next(iter(_PROGRAMS))]
        _PROGRAMS[key] = _build_programs(generic, int(num_classes), tuple(input_shape))
    return _PROGRAMS[key]


def _build_programs(config, num_classes, input_shape):
    from l2theory import train

    model = config.build_model(num_classes)
    step = train.make_step(config, model, input_shape)
    dt = config.param_dtype

    def steps_fn(n):
        """``n`` steps unrolled in one program (no while loop: see the module docstring)."""
        def run(state, x, labels):
            for _ in range(n):
                state = step.update(state, x, labels, None)[0]
            return state
        return jax.jit(run)

    @jax.jit
    @functools.partial(_precision.in_scope, precision=config.matmul_precision_in_force)
    def outputs(params, x_train, x_test):
        return tuple(model.apply(params, {}, x.astype(dt), False)[0] for x in (x_train, x_test))

    return jax.jit(step.init), steps_fn(UNROLL), steps_fn(1), outputs


def record_grid(end: int, num: int) -> np.ndarray:
    """Distinct integer steps ``0, 1, ..., end``: 0 plus ``num`` log-spaced points in [1, end]."""
    steps = np.unique(np.round(np.geomspace(1, end, num)).astype(np.int64))
    return np.concatenate([[0], steps])


def window_steps(lam: float, lr: float, window: tuple[float, float], n_records: int):
    """The recorded steps of a run to natural time ``window[1]``: ``(end, steps, tau, in_win)``
    with ``steps = record_grid(end, n_records)``, ``tau = lam lr steps`` and ``in_win`` the steps
    with ``tau`` in ``window`` (at least two, else an error naming ``n_records``)."""
    lo, hi = window
    end = math.ceil(hi / (lam * lr) * (1 - 1e-9))
    steps = record_grid(end, n_records)
    tau = lam * lr * steps
    in_win = (tau >= lo * (1 - 1e-9)) & (tau <= hi * (1 + 1e-9))
    if in_win.sum() < 2:
        raise _checks.bad("n_records", n_records, "too few recorded steps in the window",
                          "increase n_records or widen window")
    return end, steps, tau, in_win
