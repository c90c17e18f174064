"""``TrainConfig``: every setting of one training run, validated when it is built.

Units: ``steps``, ``eval_every`` and ``autol2_measure_every`` count gradient steps;
``lr_decay_at`` holds fractions of a run's own number of steps; ``autol2_delay`` is in the
authors' units (a refractory period of ``2 k autol2_delay / lam`` steps).

Some settings count only in one mode (``MODES``): ``eval_every`` only without
``evals_per_decade``, ``lr_decay_*`` only with the step schedule, ``autol2_*`` only with AutoL2,
``mixup_alpha`` only with mixup, ``center_targets`` only with MSE, ``decoupled_weight_decay``
only with momentum. Left unset (``None``) such a setting takes its mode's default; set while its
mode is off, it is an error naming the setting that turns the mode on. ``setting(name)`` reads the
value in force, ``resolved()`` spells every counting setting out.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from l2theory import _checks, _precision
from l2theory._practice import models as _models

LOSSES = ("xent", "mse")
LR_SCHEDULES = ("constant", "step", "cosine")
LAM_SCHEDULES = ("constant", "autol2")
PARAM_DTYPES = ("float32", "float64")
COMPUTE_DTYPES = ("float32", "bfloat16", "float16", "float64")
MATMUL_PRECISIONS = _precision.CHOICES

# Model settings that TrainConfig has fields for; each goes to the model family's constructor
# when given (None: the family's own default). Anything else goes through ``model_kwargs``.
MODEL_FIELDS = ("depth", "width", "activation", "bias", "parameterization", "w_std", "b_std",
                "bn_group_size")


class Mode(NamedTuple):
    """Settings that count only while the field ``switch`` is on (``is_on(value)``).

    Attributes:
      switch: the field that turns the mode on or off.
      is_on: whether a value of ``switch`` turns the mode on.
      turn_on: how to turn it on, for messages (``"lr_schedule='step'"``).
      defaults: each setting of the mode and its value when left unset (``None``).
    """

    switch: str
    is_on: Callable[[Any], bool]
    turn_on: str
    defaults: Mapping[str, Any]


MODES = (
    Mode("loss", lambda loss: loss == "mse", "loss='mse'", {"center_targets": True}),
    Mode("momentum", lambda momentum: momentum > 0, "momentum > 0",
         {"decoupled_weight_decay": False}),
    Mode("evals_per_decade", lambda d: d is None, "evals_per_decade=None", {"eval_every": 100}),
    Mode("lr_schedule", lambda kind: kind == "step", "lr_schedule='step'",
         {"lr_decay_factor": 0.2, "lr_decay_at": (0.3, 0.6, 0.9)}),
    Mode("lam_schedule", lambda kind: kind == "autol2", "lam_schedule='autol2'",
         {"autol2_factor": 10.0, "autol2_measure_every": 10, "autol2_delay": 0.1}),
    Mode("mixup", lambda mixup: mixup, "mixup=True", {"mixup_alpha": 1.0}),
)
# The mode of each setting that counts in one mode only.
MODE_OF = {name: mode for mode in MODES for name in mode.defaults}


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

    A setting that counts in one mode only (``MODES``) is ``None`` by default, meaning that mode's
    default; given while its mode is off it is an error (``eval_every=50: has no effect with
    evals_per_decade=10; pass evals_per_decade=None for it to count, or leave eval_every unset
    (None)``). ``setting(name)`` is the value in force.

    Attributes:
      model: model family name for ``l2theory.models.get`` (``"fc"``, ``"cnn"``, ``"wrn"``,
        ``"wrn-16-4"``, ``"wrn-16-4-autol2"``, ...).
      depth, width, activation, bias, parameterization, w_std, b_std: model settings, passed to the
        family's constructor; ``None`` (the default) leaves the family's own default (so
        ``TrainConfig(model="cnn")`` builds ``models.get("cnn")``; see ``model_settings``). A
        value given for a setting the family does not take is an error naming what it takes.
        ``width`` is an int, or for ``"cnn"`` one int per conv layer (a list is stored as a tuple).
      bn_group_size: examples per BatchNorm statistics group in training (``None``: the whole
        minibatch), for the models with BatchNorm (``"wrn"``, ``"cnn"`` with ``batchnorm``): each
        group of that many consecutive minibatch examples is normalized on its own and, with
        ``mixup``, mixed within itself (partner: the group reversed), exactly as each device's
        share of a data-parallel step on ``batch_size / bn_group_size`` devices ("ghost"
        BatchNorm; google/autol2's ``-bs 128`` on 8 TPU cores is ``batch_size=1024,
        bn_group_size=128``). Must divide the batch size.
      model_kwargs: further constructor arguments (e.g. ``{"pool": "avg"}`` for ``"cnn"``,
        ``{"widen": 4, "variant": "autol2"}`` for ``"wrn"``).
      loss: ``"xent"`` or ``"mse"``.
      center_targets: MSE targets ``one_hot - 1/k`` (True, the default) or ``one_hot`` (False);
        with ``loss="mse"`` only.
      lr: base learning rate, > 0.
      lam: base L2 coefficient, >= 0.
      momentum: heavy-ball momentum in [0, 1); 0 keeps no momentum buffer.
      decoupled_weight_decay: see the update above (default False: coupled); with
        ``momentum > 0`` only (without momentum both placements are the same step).
      batch_size: minibatch size; ``None`` (or the training-set size) is full-batch gradient
        descent. Minibatches are drawn on the device *without replacement within an epoch*: every
        epoch is a fresh random permutation of the training set (from the run's seed and the epoch
        number), cut into ``n // batch_size`` batches; the remaining ``n % batch_size`` examples of
        that permutation are skipped in that epoch.
      steps: number of gradient steps, >= 1 (a sweep with ``natural_time`` overrides it per lane).
      eval_every: evaluate every this many steps (default 100); rows are at steps 0, eval_every,
        2*eval_every, ... and at the last step. Without ``evals_per_decade`` only.
      evals_per_decade: ``None`` evaluates every ``eval_every`` steps. An int ``d`` evaluates on
        a log-spaced grid instead (``eval_every`` is then left unset): after step ``t`` the next
        evaluation is at ``t + g``, ``g`` the largest power of two ``<= t (10^(1/d) - 1)`` (at
        least 1), so steps 0, 1, ..., 17, 19, 21, ..., with between ``d`` and ``2d`` evaluations
        per decade, and always the last step (see ``next_eval_step``). Log-uniform rows are what the
        peak estimate in log-time wants when lanes of a ``lam x lr`` sweep run from hundreds to
        hundreds of thousands of steps, and cost a few hundred evaluations instead of
        thousands; power-of-two gaps keep the compiled segment lengths few.
      seed: seeds the initialization (unless ``init_seed``), the minibatch order and the
        augmentation.
      init_seed: seeds the initialization instead of ``seed`` when set, so that every seed of a
        sweep starts from the same network and the seed moves only the data order and the
        augmentation (google/autol2 initializes every run with ``PRNGKey(0)``). ``None``: from
        ``seed``.
      lr_schedule: ``"constant"``; ``"step"``: multiply by ``lr_decay_factor`` at each fraction
        ``lr_decay_at`` of the run (the authors' WRN recipe, the default: x0.2 at 30%, 60%, 90%;
        ``lr_decay_*`` count with this schedule only); ``"cosine"``: ``lr * (1 + cos(pi t /
        steps)) / 2``.
      lam_schedule: ``"constant"`` or ``"autol2"``: the authors' AutoL2 (exact rule:
        ``l2theory.train.autol2_rule``). At steps 0, ``autol2_measure_every``, ... (default 10),
        before that step's update, the data loss and accuracy of that step's training minibatch
        (augmented and mixed as it is trained on, train mode) at the current parameters are a
        measurement; lam is divided by ``autol2_factor`` (default 10) when the refractory period
        of ``2 k autol2_delay / lam`` steps since the last decay (or step 0) is over and the best
        loss or accuracy before the last two measurements is at least as good as both of them.
        ``autol2_delay`` (default 0.1) is the authors' ``-delay``, in their units (``delay / L2``
        steps, ``docs/conventions.md`` section 4). Runs record the measurements
        (``result["autol2"]``). ``autol2_*`` count with ``lam_schedule="autol2"`` only.
      augment: random crop (4-pixel zero padding) and horizontal flip of each training minibatch.
      mixup, mixup_alpha: mixup of each training minibatch after the crop and flip, as the
        authors: example ``i`` becomes ``w_i x_i + (1 - w_i) x_{N-1-i}`` (``N`` the minibatch,
        or with ``bn_group_size`` the group: within each group, as on each device) with ``w_i ~
        Beta(mixup_alpha, mixup_alpha)`` per example and step (from the run's seed), its target the
        same mixture of the one-hot labels (centered for MSE when ``center_targets``); the loss is
        taken against the mixed target and a minibatch's accuracy (AutoL2's measurement) against
        its argmax. Evaluation rows use clean data. ``mixup_alpha`` (default 1.0) counts with
        ``mixup=True`` only.
      dtype: parameter (optimizer state, BatchNorm running averages) dtype, ``"float32"`` or
        ``"float64"`` (the latter needs ``jax.config.update("jax_enable_x64", True)``).
      compute_dtype: the model's compute dtype (``"bfloat16"`` for mixed precision), or ``None``
        for the parameter dtype. Losses are computed in the parameter dtype.
      matmul_precision: precision of float32 matrix products and convolutions in training and
        evaluation: ``"highest"`` (full float32), ``"tensorfloat32"`` (TF32 on NVIDIA GPUs,
        about 1e-3 relative error), ``"bfloat16"`` (one bfloat16 pass) or ``"default"`` (no
        request: JAX's ``jax_default_matmul_precision``, else the backend's default, which is TF32
        on NVIDIA GPUs and full float32 on CPUs). ``None`` (the default): ``"highest"``, or
        ``"default"`` with a ``"bfloat16"``/``"float16"`` compute_dtype (whose products are
        reduced-precision already). Applied when the training programs are traced; recorded in
        each run's environment (``docs/conventions.md`` section 6).
      train_eval_size: size of the fixed training subset on which ``train_loss``/``train_acc`` are
        evaluated: the first ``train_eval_size`` examples of a permutation of the training set drawn
        with seed 0 (the same subset for every run and seed). ``None`` uses the whole training set.
      eval_batch_size: batch size of evaluation. For most models memory only (results do not
        depend on it beyond float summation order). For a model whose evaluation normalizes with
        the evaluated batch's own statistics (``model.eval_batch_stats``: ``"wrn"`` with
        ``variant="autol2"``) each batch is a BatchNorm shard and the results depend on it; it
        must then divide the test set and the training subset (google/autol2 evaluated CIFAR-10's
        10000 test images in 8 shards of 1250).
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
    depth: int | None = None
    width: int | tuple[int, ...] | None = None
    activation: str | None = None
    bias: bool | None = None
    parameterization: str | None = None
    w_std: float | None = None
    b_std: float | None = None
    bn_group_size: int | None = None
    model_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # objective and optimizer
    loss: str = "xent"
    center_targets: bool | None = None
    lr: float = 0.1
    lam: float = 0.0
    momentum: float = 0.0
    decoupled_weight_decay: bool | None = None
    batch_size: int | None = None
    steps: int = 1000
    eval_every: int | None = None
    evals_per_decade: int | None = None
    seed: int = 0
    init_seed: int | None = None
    # schedules
    lr_schedule: str = "constant"
    lr_decay_factor: float | None = None
    lr_decay_at: tuple[float, ...] | None = None
    lam_schedule: str = "constant"
    autol2_factor: float | None = None
    autol2_measure_every: int | None = None
    autol2_delay: float | None = None
    # data and precision
    augment: bool = False
    mixup: bool = False
    mixup_alpha: float | None = None
    dtype: str = "float32"
    compute_dtype: str | None = None
    matmul_precision: str | None = None
    # evaluation
    train_eval_size: int | None = 10_000
    eval_batch_size: int = 1000
    # divergence (see the class docstring)
    divergence_norm_factor: float | None = 100.0

    def __post_init__(self):
        self._canonicalize()
        self._check_values()
        self._check_modes()
        self.build_model(10)  # unknown family or constructor arguments fail here, not mid-run

    def _canonicalize(self) -> None:
        """Containers in their stored form: ``model_kwargs`` a dict, a list ``width`` and
        ``lr_decay_at`` tuples."""
        if not isinstance(self.model_kwargs, Mapping):
            raise _checks.bad("model_kwargs", self.model_kwargs,
                              f"must be a dict, not {_checks.type_name(self.model_kwargs)}",
                              "e.g. {'pool': 'avg'}", kind=TypeError)
        object.__setattr__(self, "model_kwargs", dict(self.model_kwargs))
        if isinstance(self.width, (list, tuple)) or hasattr(self.width, "shape"):
            widths = _checks.as_list("width", self.width, example="(16, 32)")
            object.__setattr__(self, "width", tuple(
                int(w) if _checks.is_int(w) else w for w in widths))
            if _models.family(self.model, arg="model") == "fc":
                one = max((w for w in self.width if _checks.is_int(w)), default=256)
                raise _checks.bad("width", self.width, f"model {self.model!r} takes one width "
                                  "for every hidden layer (one width per layer is for "
                                  "model='cnn')", f"pass an int, e.g. width={one}",
                                  kind=TypeError)
        if self.lr_decay_at is not None:
            decay_at = _checks.sequence(
                "lr_decay_at", self.lr_decay_at,
                lambda name, f: _checks.real(name, f, low=0.0, high=1.0, low_open=True,
                                             high_open=True, fix="e.g. (0.3, 0.6, 0.9)"),
                example="(0.3, 0.6, 0.9)")
            if decay_at != sorted(decay_at):
                raise _checks.bad("lr_decay_at", self.lr_decay_at,
                                  "must be increasing fractions of the run in (0, 1)",
                                  "e.g. (0.3, 0.6, 0.9)")
            object.__setattr__(self, "lr_decay_at", tuple(decay_at))

    def _check_values(self) -> None:
        """Each field on its own: type and range (a ``None`` setting is checked by nothing)."""
        _checks.choice("loss", self.loss, LOSSES)
        _checks.choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _checks.choice("lam_schedule", self.lam_schedule, LAM_SCHEDULES)
        _checks.choice("dtype", self.dtype, PARAM_DTYPES)
        if self.compute_dtype is not None:
            _checks.choice("compute_dtype", self.compute_dtype, COMPUTE_DTYPES)
        if self.matmul_precision is not None:
            _checks.choice("matmul_precision", self.matmul_precision, MATMUL_PRECISIONS)
        for name in ("augment", "mixup"):
            _checks.boolean(name, getattr(self, name))
        for name in ("center_targets", "decoupled_weight_decay", "bias"):
            if getattr(self, name) is not None:
                _checks.boolean(name, getattr(self, name))
        _checks.lr("lr", self.lr)
        _checks.lam("lam", self.lam)
        _checks.real("momentum", self.momentum, low=0.0, high=1.0, high_open=True,
                     fix="e.g. 0.9, or 0")
        for name in ("steps", "eval_batch_size"):
            _checks.positive_int(name, getattr(self, name))
        for name in ("eval_every", "autol2_measure_every", "batch_size", "train_eval_size",
                     "evals_per_decade", "bn_group_size"):
            _checks.optional_int(name, getattr(self, name))
        _checks.seed("seed", self.seed)
        if self.init_seed is not None:
            _checks.seed("init_seed", self.init_seed)
        if (self.bn_group_size is not None and self.batch_size is not None
                and self.batch_size % self.bn_group_size):
            raise _checks.bad("bn_group_size", self.bn_group_size,
                              f"does not divide batch_size={self.batch_size}",
                              "pass a divisor of the batch size (e.g. 128 for a batch of 1024), "
                              "or None for one group")
        if self.lr_decay_factor is not None:
            _checks.positive("lr_decay_factor", self.lr_decay_factor, fix="e.g. 0.2")
        if self.autol2_factor is not None:
            _checks.real("autol2_factor", self.autol2_factor, low=1.0, low_open=True,
                         fix="e.g. 10")
        if self.autol2_delay is not None:
            _checks.real("autol2_delay", self.autol2_delay, low=0.0,
                         what="the authors' delay (refractory period 2 k delay / lam steps)",
                         fix="e.g. 0.1, their default")
        if self.mixup_alpha is not None:
            _checks.positive("mixup_alpha", self.mixup_alpha,
                             what="the Beta(alpha, alpha) parameter",
                             fix="e.g. 1.0, the authors' value")
        if self.dtype == "float64" and not jax.config.read("jax_enable_x64"):
            raise _checks.bad("dtype", self.dtype, "float64 parameters need 64-bit JAX",
                              "call jax.config.update('jax_enable_x64', True) first, or use "
                              "'float32'")
        if self.divergence_norm_factor is not None:
            _checks.real("divergence_norm_factor", self.divergence_norm_factor, low=1.0,
                         low_open=True, what="the growth factor of ||theta||^2 (or None)",
                         fix="e.g. 100 (the default), or None to flag only non-finite losses")

    def _check_modes(self) -> None:
        """A setting of a mode that is off (``MODES``) has no effect: an error naming the setting
        that turns the mode on."""
        for mode in MODES:
            switch = getattr(self, mode.switch)
            if mode.is_on(switch):
                continue
            for name in mode.defaults:
                value = getattr(self, name)
                if value is not None:
                    raise _checks.bad(name, value,
                                      f"has no effect with {mode.switch}={_checks.show(switch)}",
                                      f"pass {mode.turn_on} for it to count, or leave {name} "
                                      "unset (None)")

    # ------------------------------------------------------------------ derived settings

    @property
    def param_dtype(self):
        return jnp.dtype(self.dtype)

    def setting(self, name: str) -> Any:
        """The value of field ``name`` that training uses: the field, or where it is ``None`` the
        default of what uses it: a mode's default (``MODES``; whether or not the mode is on, so
        ``setting("eval_every")`` is 100 also with ``evals_per_decade``), the matmul precision in
        force, or the model family's own default (``model_settings``). Any other ``None`` is a
        value (``batch_size=None``: full batch) and is returned as it is."""
        if name not in self.__dataclass_fields__:
            raise _checks.bad("name", name, "not a TrainConfig field",
                              "pass a field name, e.g. 'eval_every'")
        value = getattr(self, name)
        if value is not None:
            return value
        if name in MODE_OF:
            return MODE_OF[name].defaults[name]
        if name == "matmul_precision":
            return self.matmul_precision_in_force
        if name in MODEL_FIELDS:
            return self.model_settings().get(name)
        return None

    def resolved(self) -> "TrainConfig":
        """The same run with every unset setting of a mode that is on spelled out (its default):
        ``TrainConfig(lr_schedule="step").resolved().lr_decay_factor == 0.2``. Two configs of the
        same run resolve to equal configs; a results folder records and matches this form."""
        changes = {name: default for mode in MODES if mode.is_on(getattr(self, mode.switch))
                   for name, default in mode.defaults.items() if getattr(self, name) is None}
        return self.replace(**changes) if changes else self

    @property
    def matmul_precision_in_force(self) -> str:
        """``matmul_precision``, with ``None`` resolved: ``"highest"``, or ``"default"`` for a
        ``"bfloat16"``/``"float16"`` compute dtype."""
        if self.matmul_precision is not None:
            return self.matmul_precision
        return "default" if self.compute_dtype in ("bfloat16", "float16") else _precision.FULL

    def factory_kwargs(self, out_dim: int) -> dict[str, Any]:
        """Keyword arguments for ``models.get(self.model, **kw)``: the model fields that are not
        ``None``, ``out_dim``, the compute dtype and ``model_kwargs``."""
        family = _family_parameters(self.model)
        kwargs: dict[str, Any] = {}
        for name in MODEL_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if family is not None and name not in family.settable:
                raise _checks.bad(name, value, f"model {self.model!r} has no {name} setting",
                                  f"leave {name}=None; model {self.model!r} takes "
                                  f"{family.listed()}")
            kwargs[name] = value
        if family is not None:
            unknown = sorted(set(self.model_kwargs) - set(family.parameters))
            if unknown:
                raise _checks.bad("model_kwargs", self.model_kwargs,
                                  f"model {self.model!r} takes no argument {unknown}",
                                  f"pass only {family.listed()}")
        if self.compute_dtype is not None:
            if family is not None and "dtype" not in family.parameters:
                raise _checks.bad("compute_dtype", self.compute_dtype,
                                  f"model {self.model!r} has no compute dtype setting",
                                  "leave compute_dtype=None (the parameter dtype)")
            kwargs["dtype"] = jnp.dtype(self.compute_dtype)
        if family is None or "out_dim" in family.parameters:
            kwargs["out_dim"] = out_dim
        kwargs.update(self.model_kwargs)
        return kwargs

    def model_settings(self) -> dict[str, Any]:
        """The model's constructor settings in effect: the family's defaults (from its
        constructor's signature) overridden by the fields given here and ``model_kwargs``
        (``out_dim`` and ``dtype`` left out)."""
        family = _family_parameters(self.model)
        settings = {} if family is None else {
            name: family.fixed.get(name, p.default) for name, p in family.parameters.items()
            if p.default is not inspect.Parameter.empty and name not in ("out_dim", "dtype")}
        settings.update({name: getattr(self, name) for name in MODEL_FIELDS
                         if getattr(self, name) is not None})
        settings.update(self.model_kwargs)
        return settings

    def build_model(self, out_dim: int):
        """The ``Model`` this config trains, with ``out_dim`` outputs."""
        return _models.get(self.model, **self.factory_kwargs(out_dim))

    def validate(self, dataset) -> None:
        """Checks against a dataset: batch size and training subset no larger than the data."""
        from l2theory._practice.datasets.dataset import Dataset

        if not isinstance(dataset, Dataset):
            raise _checks.bad("dataset", dataset, f"must be an l2theory.data.Dataset, not "
                              f"{_checks.type_name(dataset)}",
                              "e.g. data.load('fashion_mnist_subset')", kind=TypeError)
        n_train = len(dataset.y_train)
        if self.batch_size is not None and self.batch_size > n_train:
            raise _checks.bad("batch_size", self.batch_size,
                              f"larger than the training set ({n_train} examples)",
                              f"use batch_size <= {n_train}, or None for full batch")
        if len(dataset.y_test) == 0 or n_train == 0:
            raise _checks.bad("dataset", dataset, "the training and test sets must be non-empty",
                              "pass a dataset with examples in both")
        batch = n_train if self.batch_size is None else self.batch_size
        if self.bn_group_size is not None and batch % self.bn_group_size:
            raise _checks.bad("bn_group_size", self.bn_group_size,
                              f"does not divide the full batch of {n_train} training examples",
                              "pass a divisor of it, or a batch_size that it divides")
        if self.build_model(dataset.num_classes).eval_batch_stats:
            n_eval = n_train if self.train_eval_size is None else min(self.train_eval_size,
                                                                      n_train)
            for what, n in (("test set", len(dataset.y_test)), ("training subset", n_eval)):
                shard = min(self.eval_batch_size, n)
                if n % shard:
                    raise _checks.bad(
                        "eval_batch_size", self.eval_batch_size,
                        f"does not divide the {what} of {n} examples, and model "
                        f"{self.model!r} evaluates with each batch's own BatchNorm statistics "
                        "(a padded shard would change them)",
                        f"pass a divisor of {n} (e.g. {_divisor_near(n, self.eval_batch_size)})"
                        + (", or a train_eval_size it divides" if what != "test set" else ""))

    def next_eval_step(self, t: int, end: int) -> int:
        """The evaluation step after step ``t`` of a run (or chunk) of ``end`` steps (see
        ``eval_every`` and ``evals_per_decade``); ``end`` itself is always evaluated."""
        if self.evals_per_decade is None:
            gap = self.setting("eval_every")
        else:
            g = t * (10.0 ** (1.0 / self.evals_per_decade) - 1.0)
            gap = 1 << max(0, math.floor(math.log2(g))) if g >= 1 else 1
        return min(t + gap, end)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``TrainConfig(**d)`` rebuilds the config). A results folder's
        config.json holds one per run, resolved: ``train.load_config(folder, lane=i)``."""
        d = dataclasses.asdict(self)
        if self.lr_decay_at is not None:
            d["lr_decay_at"] = list(self.lr_decay_at)
        if isinstance(self.width, tuple):
            d["width"] = list(self.width)
        return d


def _divisor_near(n: int, target: int) -> int:
    """The divisor of ``n`` closest to ``target`` (the smaller one on a tie)."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d))


def check_config(config: Any, name: str = "config") -> TrainConfig:
    """``config`` if it is a ``TrainConfig`` (``TypeError`` otherwise)."""
    if not isinstance(config, TrainConfig):
        raise _checks.bad(name, config, f"must be a TrainConfig, not {_checks.type_name(config)}",
                          "e.g. TrainConfig(depth=2, width=32)", kind=TypeError)
    return config


class _Family:
    """A model family's constructor parameters (``parameters``) and those a config may set
    (``settable``: all but the ones a name like ``"wrn-28-10"`` fixes)."""

    def __init__(self, parameters: Mapping[str, inspect.Parameter], fixed: Mapping[str, int]):
        self.parameters = dict(parameters)
        self.fixed = dict(fixed)
        self.settable = set(parameters) - set(fixed)

    def listed(self) -> str:
        """The settings a user passes (not ``out_dim`` and ``dtype``, which the config sets)."""
        return ", ".join(sorted(self.settable - {"out_dim", "dtype"}))


def _family_parameters(name: str) -> _Family | None:
    """The family's constructor parameters (``None`` for a constructor taking ``**kwargs``); an
    unknown name raises ``model=name: unknown model; valid: ...``."""
    factory, fixed = _models.resolve(name, arg="model")
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return _Family(params, fixed)
