"""``TrainConfig``: every setting of one training run, validated when it is built.

Units: ``steps``, ``eval_every``, ``autol2_measure_every`` and ``autol2_refractory`` count gradient
steps; ``lr_decay_at`` holds fractions of a run's own number of steps.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import re
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

LOSSES = ("xent", "mse")
LR_SCHEDULES = ("constant", "step", "cosine")
LAM_SCHEDULES = ("constant", "autol2")
PARAM_DTYPES = ("float32", "float64")
COMPUTE_DTYPES = ("float32", "bfloat16", "float16", "float64")

# Model settings that TrainConfig has fields for; each goes to the model factory when the factory
# takes it (by its signature). Anything else goes through ``model_kwargs``.
MODEL_FIELDS = ("depth", "width", "activation", "bias", "parameterization", "w_std", "b_std")


def config_error(field: str, value: Any, problem: str, fix: str) -> ValueError:
    """The one error message for a bad setting: the field, its value, what is wrong, the fix."""
    return ValueError(f"TrainConfig.{field}={value!r}: {problem}; {fix}")


def _choice(field: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        options = ", ".join(repr(v) for v in valid)
        raise config_error(field, value, f"unknown {field}", f"valid: {options}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """All settings of one run (a sweep varies ``lam``, ``lr`` and ``seed`` around them).

    Objective, in the conventions of ``docs/conventions.md``::

        L(theta) = mean_i loss(f(x_i), y_i) + lam/2 * ||theta||^2

    over *all* parameters (BatchNorm scale/offset included). ``loss="xent"``: softmax
    cross-entropy against the one-hot label. ``loss="mse"``: ``1/2 ||f(x) - y||^2`` summed over the
    k outputs, averaged over samples, with ``y = one_hot(label) - 1/k`` (centered targets, zero mean
    over classes) when ``center_targets`` (the default), plain one-hot otherwise. The reported
    ``train_loss``/``test_loss`` are the data term without L2; the L2 term is
    ``lam/2 * param_norm_sq``.

    Update (one step ``t -> t+1``, ``g`` = gradient of the data term on the minibatch)::

        coupled (default):       m <- momentum * m + (g + lam * theta);  theta <- theta - lr * m
        decoupled_weight_decay:  m <- momentum * m + g;  theta <- theta - lr * (m + lam * theta)

    With ``momentum=0`` both are plain SGD on ``L``, ``theta <- theta - lr (g + lam theta)``; the
    decoupled form (AdamW-style) decays the weights by ``lr*lam`` per step whatever the momentum.

    Attributes:
      model: model family name for ``l2theory.models.get`` (``"fc"``, ...).
      depth, width, activation, bias, parameterization, w_std, b_std: model settings, passed to the
        family's constructor when it takes them; ``None`` leaves the constructor's default. A value
        the family does not take is an error unless it is the default here (so ``depth``/``width``
        of a fully connected net need not be cleared for a family without them).
      model_kwargs: further constructor arguments (e.g. ``{"widen": 4}``).
      loss: ``"xent"`` or ``"mse"``.
      center_targets: MSE targets ``one_hot - 1/k`` (True) or ``one_hot`` (False).
      lr: base learning rate, > 0.
      lam: base L2 coefficient, >= 0.
      momentum: heavy-ball momentum in [0, 1); 0 keeps no momentum buffer.
      decoupled_weight_decay: see the update above.
      batch_size: minibatch size; ``None`` (or the training-set size) is full-batch gradient
        descent. Minibatches are drawn on the device *without replacement within an epoch*: every
        epoch is a fresh random permutation of the training set (from the run's seed and the epoch
        number), cut into ``n // batch_size`` batches; the remaining ``n % batch_size`` examples of
        that permutation are skipped in that epoch.
      steps: number of gradient steps, >= 1 (a sweep with ``natural_time`` overrides it per lane).
      eval_every: evaluate every this many steps; rows are at steps 0, eval_every, 2*eval_every,
        ... and at the last step.
      evals_per_decade: ``None`` evaluates every ``eval_every`` steps. An int ``d`` evaluates on
        a log-spaced grid instead (``eval_every`` is then unused): after step ``t`` the next
        evaluation is at ``t + g``, ``g`` the largest power of two ``<= t (10^(1/d) - 1)`` (at
        least 1), so steps 0, 1, ..., 17, 19, 21, ..., with between ``d`` and ``2d`` evaluations
        per decade, and always the last step (see ``next_eval_step``). Log-uniform rows are what the
        peak estimate in log-time wants when lanes of a ``lam x lr`` sweep run from hundreds to
        hundreds of thousands of steps, and cost a few hundred evaluations instead of
        thousands; power-of-two gaps keep the compiled segment lengths few.
      seed: seeds the initialization, the minibatch order and the augmentation.
      lr_schedule: ``"constant"``; ``"step"``: multiply by ``lr_decay_factor`` at each fraction
        ``lr_decay_at`` of the run (the WRN recipe: x0.2 at 30%, 60%, 80%); ``"cosine"``:
        ``lr * (1 + cos(pi t / steps)) / 2``.
      lam_schedule: ``"constant"`` or ``"autol2"`` (see ``schedules.autol2_update``): measure the
        training loss and accuracy every ``autol2_measure_every`` steps (means over the
        minibatches of that interval); once ``autol2_refractory`` steps have passed since the last
        change (or the start), if the last two measurements were both no better than the best
        before them, divide lam by ``autol2_factor``.
      augment: random crop (4-pixel zero padding) and horizontal flip of each training minibatch.
      dtype: parameter (and optimizer state) dtype, ``"float32"`` or ``"float64"`` (the latter
        needs ``jax.config.update("jax_enable_x64", True)``).
      compute_dtype: the model's compute dtype (``"bfloat16"`` for mixed precision), or ``None``
        for the parameter dtype. Losses are computed in the parameter dtype.
      train_eval_size: size of the fixed training subset on which ``train_loss``/``train_acc`` are
        evaluated: the first ``train_eval_size`` examples of a permutation of the training set drawn
        with seed 0 (the same subset for every run and seed). ``None`` uses the whole training set.
      eval_batch_size: batch size of evaluation (memory only; results do not depend on it beyond
        float summation order).
      divergence_norm_factor: the divergence rule. A run *diverges* at the first step whose
        minibatch training loss is non-finite, or whose update would make ``||theta||^2``
        non-finite or larger than ``divergence_norm_factor * ||theta_0||^2`` (its value at
        initialization); that update is refused, the parameters stay frozen from then on, and the
        rows report ``diverged=True`` with ``diverged_step`` = that step. ``None``: the loss rule
        only. The norm rule catches weights that blow up while the loss stays finite: a too large
        lr can kill every ReLU in one step, after which the outputs, hence the loss, stay bounded
        and the accuracy sits at chance. Measured (shipped subset, raw inputs, FC-256 NTK, MSE,
        100 steps; the growth happens within the first 2 steps): ``max ||theta||^2 /
        ||theta_0||^2`` = 1.2, 3.4, 15, 60 at lr 20, 30, 40, 50 (final test accuracy 0.72, 0.72,
        0.72, 0.67) but 198, 560, 1.4e3, 6.7e3 at lr 60, 70, 80, 100 (accuracy 0.49, 0.50, 0.34,
        0.22); cross-entropy at lr 1000: x790, accuracy 0.10. Trained without L2, FC nets in the
        standard parameterization grew it 1.05-1.11x in 2000 steps; with L2 it only shrinks
        (the quick figure presets: at most 1.0x). Hence the default 100 (``||theta||`` grown
        10-fold). Raise it, or pass ``None``, for runs that legitimately grow their weights by
        more, e.g. from a very small initialization (small ``w_std``).
    """

    # model
    model: str = "fc"
    depth: int | None = 2
    width: int | None = 256
    activation: str | None = None
    bias: bool | None = None
    parameterization: str | None = None
    w_std: float | None = None
    b_std: float | None = None
    model_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # objective and optimizer
    loss: str = "xent"
    center_targets: bool = True
    lr: float = 0.1
    lam: float = 0.0
    momentum: float = 0.0
    decoupled_weight_decay: bool = False
    batch_size: int | None = None
    steps: int = 1000
    eval_every: int = 100
    evals_per_decade: int | None = None
    seed: int = 0
    # schedules
    lr_schedule: str = "constant"
    lr_decay_factor: float = 0.2
    lr_decay_at: tuple[float, ...] = (0.3, 0.6, 0.8)
    lam_schedule: str = "constant"
    autol2_factor: float = 10.0
    autol2_measure_every: int = 10
    autol2_refractory: int = 100
    # data and precision
    augment: bool = False
    dtype: str = "float32"
    compute_dtype: str | None = None
    # evaluation
    train_eval_size: int | None = 10_000
    eval_batch_size: int = 1000
    # divergence (see the class docstring)
    divergence_norm_factor: float | None = 100.0

    def __post_init__(self):
        object.__setattr__(self, "model_kwargs", dict(self.model_kwargs))
        object.__setattr__(self, "lr_decay_at", tuple(float(f) for f in self.lr_decay_at))
        if not isinstance(self.model, str):
            raise config_error("model", self.model, "not a name", "pass e.g. 'fc'")
        _choice("loss", self.loss, LOSSES)
        _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _choice("lam_schedule", self.lam_schedule, LAM_SCHEDULES)
        _choice("dtype", self.dtype, PARAM_DTYPES)
        if self.compute_dtype is not None:
            _choice("compute_dtype", self.compute_dtype, COMPUTE_DTYPES)
        check_lr("lr", self.lr)
        check_lam("lam", self.lam)
        if not (_is_real(self.momentum) and 0.0 <= self.momentum < 1.0):
            raise config_error("momentum", self.momentum, "must be in [0, 1)", "e.g. 0.9, or 0")
        for name in ("steps", "eval_every", "autol2_measure_every", "eval_batch_size"):
            _positive_int(name, getattr(self, name))
        _nonnegative_int("autol2_refractory", self.autol2_refractory)
        for name in ("batch_size", "train_eval_size", "evals_per_decade"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name), none="None")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not (
                0 <= self.seed < 2**31):
            raise config_error("seed", self.seed, "must be an int in [0, 2**31)", "e.g. seed=0")
        if not (math.isfinite(self.lr_decay_factor) and self.lr_decay_factor > 0):
            raise config_error("lr_decay_factor", self.lr_decay_factor, "must be > 0", "e.g. 0.2")
        if any(not 0.0 < f < 1.0 for f in self.lr_decay_at) or list(self.lr_decay_at) != sorted(
            self.lr_decay_at
        ):
            raise config_error("lr_decay_at", self.lr_decay_at,
                               "must be increasing fractions of the run in (0, 1)",
                               "e.g. (0.3, 0.6, 0.8)")
        if not (math.isfinite(self.autol2_factor) and self.autol2_factor > 1):
            raise config_error("autol2_factor", self.autol2_factor, "must be > 1", "e.g. 10")
        if self.dtype == "float64" and not jax.config.read("jax_enable_x64"):
            raise config_error("dtype", self.dtype, "float64 parameters need 64-bit JAX",
                               "call jax.config.update('jax_enable_x64', True) first, or use "
                               "'float32'")
        factor = self.divergence_norm_factor
        if factor is not None and not (_is_real(factor) and math.isfinite(factor) and factor > 1):
            raise config_error("divergence_norm_factor", factor,
                               "must be a finite number > 1 (a growth factor of ||theta||^2), "
                               "or None", "e.g. 100 (the default), or None to flag only "
                               "non-finite losses")
        self.build_model(10)  # unknown family or constructor arguments fail here, not mid-run

    # ------------------------------------------------------------------ derived settings

    @property
    def param_dtype(self):
        return jnp.dtype(self.dtype)

    def factory_kwargs(self, out_dim: int) -> dict[str, Any]:
        """Keyword arguments for ``models.get(self.model, **kw)`` (see the class docstring)."""
        accepted = _accepted_kwargs(self.model)
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        kwargs: dict[str, Any] = {}
        for name in MODEL_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if accepted is None or name in accepted:
                kwargs[name] = value
            elif value != defaults[name]:
                valid = ", ".join(sorted(accepted))
                raise config_error(name, value, f"model {self.model!r} has no such setting",
                                   f"leave it at {defaults[name]!r}; that model takes {valid} "
                                   "(pass others in model_kwargs)")
        if self.compute_dtype is not None and (accepted is None or "dtype" in accepted):
            kwargs["dtype"] = jnp.dtype(self.compute_dtype)
        if accepted is None or "out_dim" in accepted:
            kwargs["out_dim"] = out_dim
        kwargs.update(self.model_kwargs)
        return kwargs

    def build_model(self, out_dim: int):
        """The ``Model`` this config trains, with ``out_dim`` outputs."""
        from l2theory import models

        try:
            return models.get(self.model, **self.factory_kwargs(out_dim))
        except TypeError as e:  # e.g. a model_kwargs key the constructor does not take
            raise config_error("model_kwargs", self.model_kwargs, str(e),
                               f"pass only arguments of model {self.model!r}") from None
        except ValueError as e:
            if str(e).startswith("TrainConfig."):
                raise
            raise ValueError(f"TrainConfig.model={self.model!r}: {e}") from None

    def validate(self, dataset) -> None:
        """Checks against a dataset: batch size and training subset no larger than the data."""
        n_train = len(dataset.y_train)
        if self.batch_size is not None and self.batch_size > n_train:
            raise config_error("batch_size", self.batch_size,
                               f"larger than the training set ({n_train} examples)",
                               f"use batch_size <= {n_train}, or None for full batch")
        if len(dataset.y_test) == 0 or n_train == 0:
            raise ValueError("dataset: the training and test sets must be non-empty")

    def next_eval_step(self, t: int, end: int) -> int:
        """The evaluation step after step ``t`` of a run (or chunk) of ``end`` steps (see
        ``eval_every`` and ``evals_per_decade``); ``end`` itself is always evaluated."""
        if self.evals_per_decade is None:
            gap = self.eval_every
        else:
            g = t * (10.0 ** (1.0 / self.evals_per_decade) - 1.0)
            gap = 1 << max(0, math.floor(math.log2(g))) if g >= 1 else 1
        return min(t + gap, end)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``TrainConfig(**d)`` rebuilds the config)."""
        d = dataclasses.asdict(self)
        d["lr_decay_at"] = list(self.lr_decay_at)
        return d


def _accepted_kwargs(name: str) -> set[str] | None:
    """Keyword arguments of the family's constructor, or None when they cannot be found."""
    try:
        from l2theory._practice import models as impl

        key = name.lower().replace("-", "_")
        fixed: set[str] = set()
        if re.fullmatch(r"wrn_\d+_\d+", key):  # "wrn-28-10" fixes depth and widen
            key, fixed = "wrn", {"depth", "widen"}
        factory = impl._FAMILIES[key]
    except (ImportError, AttributeError, KeyError):
        return None  # unknown names then raise the models' own error, listing the valid ones
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params} - fixed


def check_lr(field: str, value: Any) -> float:
    if not _is_real(value) or not value > 0 or not math.isfinite(value):
        raise config_error(field, value, "the learning rate must be a finite number > 0",
                           "e.g. 0.1")
    return float(value)


def check_lam(field: str, value: Any) -> float:
    if not _is_real(value) or not value >= 0 or not math.isfinite(value):
        raise config_error(field, value, "the L2 coefficient must be a finite number >= 0",
                           "e.g. 1e-3, or 0 for no L2")
    return float(value)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _positive_int(field: str, value: Any, none: str | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        alt = f", or {none}" if none else ""
        raise config_error(field, value, "must be an int >= 1", f"pass a positive int{alt}")


def _nonnegative_int(field: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise config_error(field, value, "must be an int >= 0", "pass e.g. 0 or 100")
