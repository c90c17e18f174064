"""The training step as pure ``init``/``update`` functions over a state pytree, and evaluation.

``make_step(config, model, ...)`` returns a ``Step`` of pure functions for *one* run; a sweep
``jax.vmap``s them over lanes. Everything that a sweep varies per lane (lr, lam, seed, number of
steps) lives in the state as arrays, never as Python constants, so one compiled program serves
every lane.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from l2theory import _precision, _repr
from l2theory._practice.datasets.augment import mixup
from l2theory._practice.datasets.preprocess import one_hot
from l2theory._practice.models._model import get_path
from l2theory._practice.train import autol2, schedules
from l2theory._practice.train.config import TrainConfig


class Hyper(NamedTuple):
    """Per-run constants (scalars; a leading lane axis in a sweep).

    Attributes:
      lr: base learning rate. lam: base L2 coefficient. seed: int32 seed.
      steps: int32 number of steps of this run (updates stop there).
      boundaries: int32 ``[len(lr_decay_at)]`` steps of the ``"step"`` lr schedule.
    """

    lr: jnp.ndarray
    lam: jnp.ndarray
    seed: jnp.ndarray
    steps: jnp.ndarray
    boundaries: jnp.ndarray

    def __repr__(self) -> str:
        return _repr.fields(self)


class TrainState(NamedTuple):
    """Everything that changes during a run.

    Attributes:
      step: int32, steps taken (stops at ``hyper.steps``, or at divergence).
      params: parameter pytree (``config.dtype``).
      model_state: BatchNorm running averages (``config.dtype``; ``{}`` without BatchNorm).
      opt_state: optax state (the momentum buffer, when ``momentum > 0``).
      lam: the lam schedule's ``autol2.LamState`` (``lam.lam`` is the current coefficient).
      hyper: the run's ``Hyper`` constants.
      diverged: bool, set at the first step whose minibatch training loss is non-finite, or
        whose update would make ``||theta||^2`` non-finite or larger than
        ``config.divergence_norm_factor * param_norm_sq0`` (the rule is documented at
        ``TrainConfig.divergence_norm_factor``); that update is refused and the parameters are
        frozen from then on, as they were before that step.
      diverged_step: int32, that step, whose update was refused (-1 while not diverged).
      param_norm_sq0: ``||theta_0||^2`` at initialization (the norm rule's reference).
      angle_sq_sum, angle_steps: since the last evaluation (the engine zeroes them when a segment
        starts), per scale-invariant tensor (``[P]``, in ``model.scale_invariant``'s order) the
        sum over the steps taken of the squared angle between its consecutive weights
        (``invariant_angles``), and the number of those steps: tensor ``p`` turned by
        ``sqrt(angle_sq_sum[p] / angle_steps)`` per step (RMS), and ``angular_update =
        sqrt(mean_p angle_sq_sum[p] / angle_steps)`` (``docs/conventions.md`` section 8).
        Shape ``[0]`` for a model without scale-invariant tensors.
    """

    step: jnp.ndarray
    params: Any
    model_state: Any
    opt_state: Any
    lam: autol2.LamState
    hyper: Hyper
    diverged: jnp.ndarray
    diverged_step: jnp.ndarray
    param_norm_sq0: jnp.ndarray
    angle_sq_sum: jnp.ndarray
    angle_steps: jnp.ndarray

    def __repr__(self) -> str:
        return _repr.fields(self)


class Step(NamedTuple):
    """Pure functions of one run (see ``make_step``)."""

    init: Callable[[Hyper], TrainState]
    update: Callable[..., tuple[TrainState, tuple[Any, Any]]]
    lr: Callable[[TrainState, Any], Any]
    evaluate: Callable[..., tuple[Any, Any]]
    loss: Callable[..., tuple[Any, Any]]
    batch: Callable[..., tuple[Any, Any]]


def run_keys(seed, init_seed=None):
    """``(init_key, data_key, augment_key)`` of a run, all from its seed; the initialization's
    from ``init_seed`` instead when it is given (the init key of a run with that seed)."""
    root = jax.random.key(seed)
    init_root = root if init_seed is None else jax.random.key(init_seed)
    return (jax.random.fold_in(init_root, 0), jax.random.fold_in(root, 1),
            jax.random.fold_in(root, 2))


def optimizer(config: TrainConfig, lr, lam) -> optax.GradientTransformation:
    """The optax transformation of one step, for the current (possibly traced) ``lr`` and ``lam``.

    optax because it is well kept, composable (the two L2 placements below are two orders of the
    same pieces) and its elementwise updates fuse into one kernel per parameter on a GPU. The
    chain is rebuilt every step with that step's ``lr``/``lam`` - what ``optax.inject_hyperparams``
    does internally - which is valid because its state (the momentum trace) does not depend on
    them. Coupled L2 adds ``lam * theta`` to the gradient *before* momentum, i.e. it is SGD on the
    total loss; decoupled weight decay adds it *after* momentum (AdamW's order), a per-step decay
    by ``lr * lam``.
    """
    momentum = [optax.trace(decay=config.momentum)] if config.momentum > 0 else []
    decay = [optax.add_decayed_weights(lam)]
    parts = momentum + decay if config.setting("decoupled_weight_decay") else decay + momentum
    return optax.chain(*parts, optax.scale_by_learning_rate(lr))


def per_sample_loss(config: TrainConfig, out, labels):
    """Per-sample loss ``[batch]`` and correctness ``[batch]`` (float 0/1) of outputs ``out``.

    ``labels``: int ``[batch]``, or soft targets ``[batch, k]`` (mixup: mixtures of one-hot rows,
    not centered) - then cross-entropy is ``-sum_c y_c log softmax(out)_c``, the MSE target is
    ``y - 1/k`` when ``center_targets``, and an example is correct when ``argmax out`` is the
    argmax of its target (google/autol2's accuracy).
    """
    k = out.shape[-1]
    centered = config.setting("center_targets")
    soft = labels.ndim == out.ndim
    if soft:
        labels = labels.astype(out.dtype)
    if config.loss == "xent":
        # -sum_c t_c log softmax(out)_c; for labels t is the one-hot row, which gives exactly
        # -log softmax(out)_label (the other terms are 0) with no gather/scatter in the step
        target = labels if soft else one_hot(labels, k, dtype=out.dtype)
        loss = -jnp.sum(target * jax.nn.log_softmax(out), axis=-1)
    else:
        if soft:
            target = labels - jnp.asarray(1.0 / k if centered else 0.0, out.dtype)
        else:
            target = one_hot(labels, k, centered=centered, dtype=out.dtype)
        loss = 0.5 * jnp.sum(jnp.square(out - target), axis=-1)
    truth = jnp.argmax(labels, axis=-1) if soft else labels
    correct = (jnp.argmax(out, axis=-1) == truth).astype(out.dtype)
    return loss, correct


def sum_squares(tree) -> jnp.ndarray:
    """``||theta||^2`` over every leaf of a pytree."""
    return sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree))


def invariant_norms_sq(params, paths) -> jnp.ndarray:
    """``||w_p||^2`` of each tensor at ``paths`` (``model.scale_invariant``): ``[len(paths)]``."""
    return jnp.stack([jnp.sum(jnp.square(get_path(params, p))) for p in paths])


def invariant_angles(old, new, paths) -> jnp.ndarray:
    """The angle (radians) between ``old`` and ``new`` weights of each tensor at ``paths``
    (``[P]``): ``theta_p = atan2(|d_perp|, |w| + d.w / |w|)`` with ``w`` the old tensor, ``d``
    the new minus the old and ``d_perp = d - (d.w / |w|^2) w`` - the angle between ``w`` and
    ``w + d``, accurate for the small angles of a step (no ``arccos`` of a cosine near 1). The
    rows average their squares (over steps, and over tensors for ``angular_update``), because
    the equilibrium under L2 fixes each tensor's mean squared angle (``docs/conventions.md``
    section 8.1)."""
    angles = []
    for p in paths:
        w = get_path(old, p)
        d = get_path(new, p) - w
        ww = jnp.sum(jnp.square(w))
        along = jnp.sum(d * w) / ww
        perp = jnp.sqrt(jnp.sum(jnp.square(d - along * w)))
        norm = jnp.sqrt(ww)
        angles.append(jnp.arctan2(perp, norm * (1.0 + along)))
    return jnp.stack(angles)


def make_step(config: TrainConfig, model, input_shape, *, augment_fn=None,
              num_classes: int | None = None) -> Step:
    """Pure ``init``/``update``/``evaluate`` functions of one run.

    Args:
      config: the run's settings (``lr``/``lam``/``seed``/``steps`` come from ``Hyper`` instead).
      model: an ``l2theory.models.Model``.
      input_shape: one example's shape, without the batch axis.
      augment_fn: ``f(key, x) -> x`` applied to each training minibatch (``None``: none).
      num_classes: k, the model's outputs (needed for mixup and AutoL2; default: read off the
        model's output shape).

    Returns:
      ``Step(init, update, lr, evaluate, loss, batch)``:

      - ``init(hyper) -> TrainState``.
      - ``update(state, x, y, key) -> (state, (loss, acc))``: one step on the minibatch ``(x, y)``
        (``key`` feeds ``augment_fn`` and mixup, see ``batch``); ``loss``/``acc`` are the data loss
        and accuracy of the minibatch as trained on (augmented, mixed) before the step. With
        ``lam_schedule="autol2"`` they are AutoL2's measurement when ``step`` is a multiple of
        ``autol2_measure_every`` (``autol2.lam_observe``), and the lam decided from it is already
        the lam of this step's update. The update is applied only while ``step < hyper.steps``
        and the run has not diverged; otherwise the parameters and the schedule state are held
        (the momentum buffer of a held run keeps moving, unused). A step that diverges (see
        ``TrainState``) is refused and freezes the run.
      - ``lr(state, step)``: the scheduled learning rate at ``step``.
      - ``evaluate(params, model_state, x, y, weight) -> (loss_sum, correct_sum)``: weighted sums
        over one batch in eval mode (``weight`` 0 marks padding; the caller divides by the number
        of examples).
      - ``loss(params, model_state, x, y) -> (mean loss, (mean acc, new model_state))`` in train
        mode, the function whose gradient the step takes (``y``: labels or soft targets).
      - ``batch(x, y, key) -> (x, y)``: the minibatch as trained on: ``augment_fn(key, x)``, then
        with ``config.mixup`` the authors' mixup (``data.mixup(fold_in(key, 1), ...,
        per_example=True, partner="reverse")``; ``y`` becomes mixed one-hot targets). With
        ``bn_group_size`` each group of that many consecutive examples is mixed within itself,
        group ``j`` with the key ``fold_in(fold_in(key, 1), j)``, as each device of a data-parallel
        step mixes its own share.

      ``init``, ``update``, ``evaluate`` and ``loss`` run inside
      ``jax.default_matmul_precision`` of ``config.matmul_precision_in_force``, so the programs
      traced from them carry that precision on every product, whatever the caller's setting.
    """
    dtype = config.param_dtype
    if num_classes is None and (config.mixup or config.lam_schedule == "autol2"):
        num_classes = _out_dim(model, input_shape)
    invariant = tuple(model.scale_invariant)
    group = config.bn_group_size

    def data_loss(params, model_state, x, y):
        out, new_model_state = model.apply(params, model_state, x.astype(dtype), True)
        loss, correct = per_sample_loss(config, out.astype(dtype), y)
        # The minibatch accuracy feeds only AutoL2; otherwise it is not computed (NaN).
        acc = jnp.mean(correct) if config.lam_schedule == "autol2" else jnp.full((), jnp.nan, dtype)
        return jnp.mean(loss), (acc, new_model_state)

    def init(hyper: Hyper) -> TrainState:
        init_key, _, _ = run_keys(hyper.seed, config.init_seed)
        params, model_state = model.init(init_key, tuple(input_shape))
        params = jax.tree.map(lambda p: p.astype(dtype), params)
        model_state = jax.tree.map(lambda s: s.astype(dtype), model_state)  # running averages
        opt_state = optimizer(config, hyper.lr, hyper.lam).init(params)
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            model_state=model_state,
            opt_state=opt_state,
            lam=autol2.lam_init(hyper.lam, dtype),
            hyper=hyper,
            diverged=jnp.zeros((), bool),
            diverged_step=jnp.full((), -1, jnp.int32),
            param_norm_sq0=sum_squares(params),
            angle_sq_sum=jnp.zeros((len(invariant),), dtype),
            angle_steps=jnp.zeros((), jnp.int32),
        )

    def lr(state: TrainState, step):
        h = state.hyper
        return schedules.lr_at(config.lr_schedule, h.lr, step, h.steps, h.boundaries,
                               config.setting("lr_decay_factor"))

    def batch(x, y, key=None):
        if key is None and (augment_fn is not None or config.mixup):
            raise ValueError("key=None: augmentation and mixup draw from a PRNG key; pass the "
                             "step's key to update / batch")
        if augment_fn is not None:
            x = augment_fn(key, x)
        if config.mixup:
            targets = one_hot(y, num_classes, dtype=dtype)
            mix_key, alpha = jax.random.fold_in(key, 1), config.setting("mixup_alpha")
            if group is None:
                return mixup(mix_key, x, targets, alpha, per_example=True, partner="reverse")
            n = x.shape[0] // group
            keys = jax.vmap(lambda j: jax.random.fold_in(mix_key, j))(jnp.arange(n))
            x, y = jax.vmap(lambda k, xg, yg: mixup(k, xg, yg, alpha, per_example=True,
                                                    partner="reverse"))(
                keys, x.reshape((n, group) + x.shape[1:]), targets.reshape(n, group, -1))
            return x.reshape((n * group,) + x.shape[2:]), y.reshape(n * group, -1)
        return x, y

    def update(state: TrainState, x, y, key=None):
        x, y = batch(x, y, key)
        (loss, (acc, model_state)), grads = jax.value_and_grad(data_loss, has_aux=True)(
            state.params, state.model_state, x, y)
        # A lane steps while it is before its end and has not diverged, and the step is taken
        # when the loss is finite and the new ||theta||^2 stays finite and within
        # divergence_norm_factor of its initial value (one fused reduction over the parameters).
        active = (state.step < state.hyper.steps) & ~state.diverged
        # AutoL2 measures before the update, and the lam it decides is this update's lam (held
        # with the rest of the state when the step is refused).
        observed = autol2.lam_observe(
            state.lam, loss, acc, state.step, kind=config.lam_schedule,
            measure_every=config.setting("autol2_measure_every"), num_classes=num_classes,
            delay=config.setting("autol2_delay"), factor=config.setting("autol2_factor"))
        tx = optimizer(config, lr(state, state.step), observed.lam)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new_params = optax.apply_updates(state.params, updates)
        keep = active & jnp.isfinite(loss)
        if config.divergence_norm_factor is not None:
            norm0 = state.param_norm_sq0
            limit = jnp.where(norm0 > 0, config.divergence_norm_factor * norm0, jnp.inf)
            keep = keep & (sum_squares(new_params) <= limit)  # False for a NaN norm too

        def held(new, old):
            return jax.tree.map(lambda n, o: jnp.where(keep, n, o), new, old)

        lam_state = held(observed, state.lam)
        angle_sq_sum, angle_steps = state.angle_sq_sum, state.angle_steps
        if invariant:
            angle = invariant_angles(state.params, new_params, invariant).astype(dtype)
            angle_sq_sum = angle_sq_sum + jnp.where(keep, jnp.square(angle), 0.0).astype(dtype)
            angle_steps = angle_steps + keep.astype(jnp.int32)

        # Masking selects only the parameters (and the small schedule state): that select fuses
        # into the update's elementwise pass. Selecting the momentum as well makes XLA copy the
        # parameters and momentum every step. So a held lane keeps its parameters bit for bit,
        # while its momentum buffer, no longer used, keeps moving.
        out = TrainState(
            step=held(state.step + 1, state.step),
            params=held(new_params, state.params),
            model_state=held(model_state, state.model_state),
            opt_state=opt_state,
            lam=lam_state,
            hyper=state.hyper,
            diverged=state.diverged | (active & ~keep),
            diverged_step=jnp.where(active & ~keep, state.step, state.diverged_step),
            param_norm_sq0=state.param_norm_sq0,
            angle_sq_sum=angle_sq_sum,
            angle_steps=angle_steps,
        )
        return out, (loss, acc)

    def evaluate(params, model_state, x, y, weight):
        out, _ = model.apply(params, model_state, x.astype(dtype), False)
        loss, correct = per_sample_loss(config, out.astype(dtype), y)
        return jnp.sum(weight * loss), jnp.sum(weight * correct)

    # config.matmul_precision, set while these functions are traced (l2theory/_precision.py)
    scoped = functools.partial(_precision.in_scope, precision=config.matmul_precision_in_force)
    return Step(init=scoped(init), update=scoped(update), lr=lr, evaluate=scoped(evaluate),
                loss=scoped(data_loss), batch=batch)


def _out_dim(model, input_shape) -> int:
    """The number of outputs of ``model`` (traced shapes only, nothing computed)."""
    def out(key):
        params, state = model.init(key, tuple(input_shape))
        x = jnp.zeros((1,) + tuple(input_shape), jnp.float32)
        return model.apply(params, state, x, False)[0]

    return int(jax.eval_shape(out, jax.random.key(0)).shape[-1])
