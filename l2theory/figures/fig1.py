"""Figure 1: the optimal lam of a step budget predicted from one short run, and AutoL2 against
the best fixed lam, with the statistics that tell a win from seed noise.

What it shows (docs/conventions.md, relations 3 and 4):

- (a) the final test metric after a budget of ``T`` steps against lam (mean and 95% interval over
  seeds), the validation metric that chooses the best lam, the optimum of a parabola in ``ln
  lam`` fitted to it (``experiments.grid_optimum``), and the prediction ``lam_opt = c / (lr T)``
  with ``c = lam lr t*`` from one short run per seed at a large lam (``experiments.short_run_c``).
  The paper preset adds the authors' Figure 1a arms: every lam of their list for 200 epochs with
  the step schedule, and for ``0.1 / L2`` epochs (their units; ``tau / (lam lr)`` steps in ours)
  with the step schedule, whose crossing gives ``lam_opt``.
- (b) the test metric against step for AutoL2 and the best fixed lam (mean +- standard error),
  and the steps each needs to reach the best fixed lam's final value.
- (c) AutoL2's lam at every evaluation, one colour per seed, against ``c / (lr t)``, the lam
  whose peak falls at step ``t``.

Metric (config ``metric``, printed before the run and kept): ``"loss"`` or ``"accuracy"``. The
short run's ``t*`` and the best lam are measured on a validation split (``n_val`` examples held
out of the training set, never trained on, ``data.hold_out``); the test set only scores.

Statistics (``experiments.autol2_comparison``; docs/conventions.md section 7): the lanes of one
seed share the initialization, the minibatch order and the augmentation and mixup draws
(``train.sweep``), so AutoL2 and a fixed lam are compared paired by seed. Each seed is scored at
the fixed lam that the *other* seeds' validation metric chose. AutoL2 - best fixed is the mean
over seeds and test images of the per-image difference (correct/wrong, or the loss), decided by
a bootstrap over seeds and test images (``claim_greater_crossed``), so a few test images are not
a win. Speed: in each seed the steps for its best fixed lam and for AutoL2 to first reach that
seed's final metric of the best fixed lam (raw evaluations); speed-up = mean steps (best fixed)
/ mean steps (AutoL2), its 95% interval from 2000 bootstrap resamples of the seeds. ``lam_opt``:
the per-seed ratios prediction / fitted optimum, a 95% t-interval in log within a factor 2; an
optimum at the grid's edge is a ``TIE``.

Presets (units: our ``lam``, ``lr``, steps; the authors' ``-lr``/``-L2`` flags convert with
``train.from_autol2_flags``: ``lr = lr_theirs / k``, ``lam = 2 k L2``, k = 10 classes). Figure 1
is the BatchNorm residual net of the authors' script (google/autol2 ``jax_wideresnet_exps.py``,
``jaxwrn_utils.py``): ``wrn-D-W-autol2`` (their WRN: strided 3x3 conv shortcuts, ``W_std = 1``,
zero biases, stax BatchNorm on batch statistics at evaluation too), SGD momentum 0.9, their lr
0.2 (ours 0.02), crop + flip + mixup (alpha 1), their ``-bs 128`` per device on 8 TPU cores: a
batch of 1024 in 8 BatchNorm groups of 128 (``bn_group_size``, ghost BatchNorm), every seed from
their initialization key (``init_seed=0``; the seed moves the data order and augmentation),
AutoL2 from their L2 = 0.1 with ``-delay 0.1``, measured every 10 steps, divided by 10. Each run
reports the final and the best-during-training test metric (the paper's number is the best).

- ``paper`` (GPU): their run. WRN-28-10 on all 50000 CIFAR-10 training images (48 steps per
  epoch = 50000 // 1024), 200 epochs (9600 steps), bfloat16, the test set evaluated in their 8
  shards of 1250. (a) their ``for L2 in L2LIST: -L2=$L2 -epochs=200 -std_wrn_sch`` (lr x0.2 at
  30/60/90%) and ``-physicalL2 -epochs=0.02 -std_wrn_sch``, whose comment says "evolved for a
  time 0.02/eta/lambda = 0.1/lambda epochs" (the comment's intent is used): ``0.1 / L2`` epochs =
  ``tau / (lam lr)`` steps with ``tau = 2 * 0.02 * 48 = 1.92`` (ours), for L2 >= 1e-4 (the
  README does not list L2LIST: 1e-5 .. 1e-2 is assumed). The two arms meet where ``tau / (lam
  lr) = T``: ``lam_opt = tau / (lr T)``. The t* run of their Figure 1b, ``-L2=0.01 -epochs=2``
  at constant lr (lam 0.2, 96 steps), gives ``c``. (c) ``-L2=0.1 -L2_sch`` (AutoL2) against
  ``-L2=0.0001 -noL2_sch`` (lam 2e-3), both at constant lr for 200 epochs. Departure: their run
  has no validation split, so this preset has none (the 50000 images are all trained on); the
  (a) optimum is then read on the test set and its ``lam_opt`` line is reported as a TIE, not
  evidence; the (c) comparison involves no choice. About 10 GPU-hours on one H200 for 2 seeds
  (``cost_estimate``; ``l2theory figures --preset paper --only fig1 --plan`` lists every run).
- ``gpu`` (about 7 minutes on one H200 by ``cost_estimate``): WRN-16-4-autol2 on Fashion-MNIST
  (55000 training images, 5000 held out for validation, the 10000 test images in 8 shards of
  1250; ``L2THEORY_DATA``), their recipe and batch (1024 in 8 groups of 128, 53 steps per
  epoch), 3 seeds, 10 epochs (530 steps) at constant lr: fixed L2 in {0, 1e-5, 1e-4, 3e-4,
  1e-3, 3e-3} (their units; lam 0, 2e-4 .. 0.06), the best chosen on the validation split,
  against AutoL2 from their L2 = 0.1; c from their t* run (lam 0.2, 2 epochs). ``--preset gpu
  --tiny`` runs the same recipe with a WRN-10-1-autol2 on 256 images of the shipped subset (a
  CPU or GPU smoke test, ``benchmarks/gpu_check.sh``).
- ``cpu`` (under 20 minutes on 2 CPU cores; recorded in ``paper_figures/results/``):
  WRN-10-1-autol2 on Fashion-MNIST at 14x14 (10000 training images, 2000 held out for
  validation, 2000 test images; ``L2THEORY_DATA``), their recipe at a CPU's size: batch 128 in 8
  BatchNorm groups of 16 (their 8 devices), momentum 0.9, their lr 0.2, crop + flip + mixup,
  their initialization key, 3 seeds, 300 steps at constant lr: fixed L2 1e-5, 1e-4, 1e-3, 1e-2
  (lam 2e-4 .. 0.2) against AutoL2 at their settings (from L2 = 0.1, delay 0.1, every 10
  steps); c from a 100-step run at their L2 = 0.01 (lam 0.2).
- ``quick`` (CPU, under a minute): a **stand-in, not Figure 1's network** (its report says so):
  an FC-128x3 net (NTK parameterization, MSE, plain SGD, lr 1, constant lr, batch 100) on 1000
  points of the shipped Fashion-MNIST subset (500 more held out for validation); 8 seeds,
  ``T = 600`` steps, lam 2.5e-4 .. 8e-3 (the optimum inside); AutoL2 from lam 8e-3 with delay
  8e-3 (their units: a refractory period of ``2 k delay / lam`` = 20 steps at the start, 200
  after one division: the authors' delay 0.1 collapses this net before the first division),
  measured every 5 steps; the metric is the loss (an MSE net's accuracy keeps creeping up after
  L2 has shrunk it, see the collapse figure): ``c`` from the step of minimum validation loss of
  a short run at lam 3.2e-2 (natural time 3).
Measured numbers: ``docs/figures.md``.

Files in ``DIR/fig1/`` (``--out DIR``): ``fig1.png/.pdf``, ``fig1_curves.csv`` (metric per
evaluation: every fixed-lam and AutoL2 lane), ``fig1_lams.csv`` (final metric per arm and lam:
mean, standard error, the validation mean, best on validation), ``fig1_autol2.csv`` (AutoL2's measurements: step,
minibatch loss and accuracy, lam, per seed), ``fig1.json``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from l2theory.figures import _common, _report, make_all

NAME = "fig1"

# ------------------------------------------------------------------------------ presets
# Quick stand-in for the WRN: an FC net. AutoL2 measures every 5 steps; delay 8e-3 (the authors'
# units) is a refractory period of 2 k delay / lam = 20 steps at the start lam 8e-3, short
# against its t* (40-80 steps), so the first division comes before L2 collapses the net.
_FC = dict(model="fc", depth=3, width=128, bias=False, parameterization="ntk", loss="mse",
           batch_size=100, eval_every=10, train_eval_size=200)


def _theirs(l2s):
    """Their ``-L2`` values as our lam (k = 10 classes, ``train.from_autol2_flags``)."""
    from l2theory import train

    return [train.from_autol2_flags(0.2, l2, 10)[1] for l2 in l2s]


# The authors' recipe: momentum 0.9, crop + flip + mixup (alpha 1), their lr 0.2 (ours 0.02),
# their initialization key for every seed, AutoL2 measured every 10 steps, delay 0.1, divided by
# 10; their -bs 128 per device on 8 TPU cores: a batch of 1024 in 8 BatchNorm groups of 128.
_RECIPE = dict(loss="xent", momentum=0.9, augment=True, mixup=True, init_seed=0)
_AUTHORS_BATCH = dict(batch_size=1024, bn_group_size=128)
_AUTOL2_RECIPE = dict(autol2_measure_every=10, autol2_delay=0.1, autol2_factor=10.0)
_LR = 0.02  # train.from_autol2_flags(0.2, ..., 10)[0]
_CIFAR_EPOCH = 50000 // 1024  # 48 steps
_FMNIST_EPOCH = 55000 // 1024  # 53 steps (5000 of the 60000 held out for validation)
# their t* run (README, Figure 1b): -L2=0.01 -epochs=2 at constant lr: lam 0.2 for 96 steps,
# natural time 0.2 * 0.02 * 96 = 0.384
_SHORT_TAU = 0.2 * _LR * 2 * _CIFAR_EPOCH

CONFIGS = {
    "quick": {
        "title": "AutoL2 stand-in (not Figure 1's network): FC-128x3 (MSE, plain SGD, constant "
                 "lr) on 1000 Fashion-MNIST subset points",
        "standin": True,
        "dataset": "fashion_mnist_subset", "n_train": 1000, "n_val": 500, "n_test": 1000,
        "model": _FC, "lr": 1.0, "seeds": list(range(8)), "budget": 600,
        # MSE: the loss defines t* (an MSE net's accuracy keeps creeping up after L2 has
        # shrunk it, see the collapse figure), chooses the best lam and scores
        "metric": "loss", "lams": [2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3],
        "autol2_start": 8e-3, "autol2_model": {"autol2_measure_every": 5, "autol2_delay": 8e-3},
        "lam_large": 3.2e-2, "short_natural_time": 3.0,
        "short_model": {"eval_every": None, "evals_per_decade": 20},
        "step_lams": None, "scaled_lams": None, "scaled_natural_time": None,
        "lam_opt": {"arm": "constant", "from": "short"},
    },
    "cpu": {
        "title": "WRN-10-1-autol2 (BatchNorm) on Fashion-MNIST at 14x14, the authors' recipe "
                 "at CPU size: batch 128 in 8 BatchNorm groups of 16, momentum 0.9, their lr "
                 "0.2, crop + flip + mixup, their AutoL2 settings",
        "dataset": "fashion_mnist", "n_train": 10000, "n_val": 2000, "n_test": 2000,
        "downsample": 2,
        "model": dict(_RECIPE, model="wrn-10-1-autol2", batch_size=128, bn_group_size=16,
                      eval_every=30, train_eval_size=1000, eval_batch_size=500),
        "lr": _LR, "seeds": [0, 1, 2], "budget": 300, "metric": "accuracy",
        "lams": _theirs([1e-5, 1e-4, 1e-3, 1e-2]),
        "autol2_start": _theirs([0.1])[0], "autol2_model": _AUTOL2_RECIPE,
        "lam_large": _theirs([0.01])[0], "short_natural_time": 0.2 * _LR * 100,
        "short_model": {"eval_every": None, "evals_per_decade": 10},
        "step_lams": None, "scaled_lams": None, "scaled_natural_time": None,
        "lam_opt": {"arm": "constant", "from": "short"},
        "chunk_size": None,
    },
    "gpu": {
        "title": "WRN-16-4-autol2 (BatchNorm) on Fashion-MNIST, the authors' recipe: batch 1024 "
                 "in 8 BatchNorm groups of 128, momentum 0.9, their lr 0.2, crop + flip + mixup",
        "dataset": "fashion_mnist", "n_train": 55000, "n_val": 5000, "n_test": None,
        "model": dict(_RECIPE, **_AUTHORS_BATCH, model="wrn-16-4-autol2",
                      compute_dtype="bfloat16", eval_every=_FMNIST_EPOCH, train_eval_size=5000,
                      eval_batch_size=1250),
        "lr": _LR, "seeds": [0, 1, 2], "budget": 10 * _FMNIST_EPOCH,
        "metric": "accuracy", "lams": [0.0] + _theirs([1e-5, 1e-4, 3e-4, 1e-3, 3e-3]),
        "autol2_start": _theirs([0.1])[0], "autol2_model": _AUTOL2_RECIPE,
        "lam_large": _theirs([0.01])[0], "short_natural_time": 0.2 * _LR * 2 * _FMNIST_EPOCH,
        "short_model": {"eval_every": None, "evals_per_decade": 10},
        "step_lams": None, "scaled_lams": None, "scaled_natural_time": None,
        "lam_opt": {"arm": "constant", "from": "short"},
        "chunk_size": None,
        # a smoke test of the same recipe (CPU or GPU, minutes: compilation): a WRN-10-1-autol2
        # on 256 images of the shipped subset at 7x7, batch 32 in 8 groups of 4
        "tiny": {"dataset": "fashion_mnist_subset", "n_train": 256, "n_val": 64, "n_test": 128,
                 "downsample": 4,
                 "model": dict(_RECIPE, model="wrn-10-1-autol2", batch_size=32,
                               bn_group_size=4, eval_every=5, train_eval_size=64,
                               eval_batch_size=32),
                 "seeds": [0, 1, 2], "budget": 10, "lams": [0.0, 0.2, 0.6], "lam_large": 0.6,
                 "short_natural_time": 0.12,
                 "short_model": {"eval_every": None, "evals_per_decade": 10}},
    },
    "paper": {
        "title": "WRN-28-10-autol2 (BatchNorm) on CIFAR-10, the authors' run: batch 1024 in 8 "
                 "BatchNorm groups of 128, momentum 0.9, their lr 0.2, crop + flip + mixup",
        # their run trains on all 50000 images: no validation split (see the docstring)
        "dataset": "cifar10", "n_train": 50000, "n_val": None, "n_test": None,
        "model": dict(_RECIPE, **_AUTHORS_BATCH, model="wrn-28-10-autol2",
                      compute_dtype="bfloat16", eval_every=_CIFAR_EPOCH, train_eval_size=5000,
                      eval_batch_size=1250),
        "lr": _LR, "seeds": [0, 1], "budget": 200 * _CIFAR_EPOCH,
        "metric": "accuracy",
        # (c): AutoL2 from their L2 = 0.1 against their L2 = 1e-4, both at constant lr
        "lams": _theirs([1e-4]), "autol2_start": _theirs([0.1])[0],
        "autol2_model": _AUTOL2_RECIPE,
        # their t* run: -L2=0.01 -epochs=2 at constant lr
        "lam_large": _theirs([0.01])[0], "short_natural_time": _SHORT_TAU,
        "short_model": {"eval_every": None, "evals_per_decade": 10},
        # (a): their L2 list (assumed; the README does not give it) for 200 epochs with the step
        # schedule, and for 0.1 / L2 epochs (L2 >= 1e-4: at most 1000 epochs)
        "step_lams": _theirs([1e-5, 3e-5, 1e-4, 3e-4, 5e-4, 1e-3, 3e-3, 1e-2]),
        "scaled_lams": _theirs([1e-4, 3e-4, 5e-4, 1e-3, 3e-3, 1e-2]),
        "scaled_natural_time": 2 * 0.02 * _CIFAR_EPOCH,  # 0.1 / L2 epochs = 1.92 / (lam lr)
        "lam_opt": {"arm": "step", "from": "scaled"},
        "chunk_size": 1,  # one WRN-28-10 at batch 1024 fills the GPU: lanes one after another
    },
}
TINY = {"n_train": 200, "n_val": 100, "n_test": 200,
        "model": dict(_FC, width=16, batch_size=50, train_eval_size=100, eval_every=5),
        "autol2_model": {"autol2_measure_every": 5, "autol2_delay": 0.004},
        "seeds": [0, 1], "lams": [0.005, 0.02, 0.08], "budget": 30, "autol2_start": 0.08,
        "lam_large": 0.08, "short_natural_time": 1.0}
# One image's share of a training step on one H200 (seconds), for cost_estimate: WRN-28-10
# measured in bfloat16 at batch 128 (12.2 ms a step = 10.5k images/s; docs/figures.md), counted
# per image (a batch of 1024 assumed no faster per image: an upper bound). WRN-16-4 on 28x28x1:
# derived, 12.2 ms x 2.10e11 / 3.67e12 (FLOPs of a gradient step, XLA cost analysis: WRN-16-4
# on 28x28x1 vs WRN-28-10 on 32x32x3) = 0.70 ms per 128 images at WRN-28-10's efficiency, x4 for
# a small model's lower efficiency (conservative): 3 ms per 128. An evaluation costs a third of
# a training step per image (forward only). Compilation: assumed 45 s per compiled program.
IMAGE_SECONDS = {"wrn-28-10": 12.2e-3 / 128, "wrn-16-4": 3.0e-3 / 128}
COMPILE_SECONDS = 45.0
# Examples and one example's shape of each dataset (for a plan without the data on disk).
DATASET_SHAPES = {"cifar10": (50000, (32, 32, 3)), "fashion_mnist": (60000, (28, 28, 1)),
                  "mnist": (60000, (28, 28, 1)), "fashion_mnist_subset": (2000, (28, 28, 1))}


# ------------------------------------------------------------------------------ configs


def train_configs(config: dict) -> dict:
    """The ``TrainConfig`` of each arm of ``config``: ``constant`` (fixed lam, constant lr),
    ``step`` (fixed lam, the step schedule: lr x0.2 at 30/60/90%), ``autol2`` (constant lr),
    ``short`` (the short run that gives ``c``; constant lr). ``config["autol2_model"]`` and
    ``config["short_model"]`` add settings to those two arms. Raises naming a bad field."""
    base = _common.train_config(config["model"]).replace(lr=config["lr"],
                                                         steps=config["budget"])
    return {"constant": base.replace(lr_schedule="constant", lam_schedule="constant"),
            "step": base.replace(lr_schedule="step", lam_schedule="constant"),
            "autol2": base.replace(lr_schedule="constant", lam_schedule="autol2",
                                   lam=config["autol2_start"],
                                   **config.get("autol2_model", {})),
            "short": base.replace(lr_schedule="constant", lam_schedule="constant",
                                  **config.get("short_model", {}))}


def _n_evals(cfg, steps: int) -> int:
    t, n = 0, 1
    while t < steps:
        t, n = cfg.next_eval_step(t, steps), n + 1
    return n


def _model_base(config: dict) -> str:
    """The model's name without the variant: ``wrn-28-10`` of ``wrn-28-10-autol2``."""
    return config["model"]["model"].removesuffix("-autol2")


def _arm_lengths(config: dict) -> dict[str, tuple[str, list[tuple[float, int]]]]:
    """Each arm's ``(train_configs key, [(lam, steps), ...])`` (one entry per lam, per seed)."""
    lr, T = config["lr"], config["budget"]
    arms = {"short": ("short", [(config["lam_large"],
                                 math.ceil(config["short_natural_time"]
                                           / (config["lam_large"] * lr)))]),
            "constant": ("constant", [(lam, T) for lam in config["lams"]]),
            "autol2": ("autol2", [(config["autol2_start"], T)])}
    if config.get("step_lams"):
        arms["step"] = ("step", [(lam, T) for lam in config["step_lams"]])
    if config.get("scaled_lams"):
        arms["scaled"] = ("step", [(lam, math.ceil(config["scaled_natural_time"] / (lam * lr)))
                                   for lam in config["scaled_lams"]])
    return arms


def cost_estimate(config: dict) -> dict | None:
    """Training steps, evaluations and estimated seconds on one H200 of each part of ``config``
    (``None`` for a model without a time per image in ``IMAGE_SECONDS``). Lanes are counted one
    after the other (each at its own length); a step costs ``batch x IMAGE_SECONDS``, an
    evaluation ``(n_test + n_val + train_eval_size) / 3`` images' worth; plus ``COMPILE_SECONDS``
    per compiled sweep."""
    model = _model_base(config)
    if model not in IMAGE_SECONDS or config.get("tiny"):
        return None
    cfgs = train_configs(config)
    sec = IMAGE_SECONDS[model] * cfgs["constant"].batch_size
    n_test = config["n_test"] or {"cifar10": 10000, "fashion_mnist": 10000}.get(
        config["dataset"], 10000)
    per_eval = (n_test + (config.get("n_val") or 0) + (cfgs["constant"].train_eval_size or 0)
                ) / (3 * cfgs["constant"].batch_size)
    seeds = len(config["seeds"])
    parts = {}
    for name, (key, runs) in _arm_lengths(config).items():
        lengths = [n for _, n in runs]
        steps = sum(lengths) * seeds
        evals = sum(_n_evals(cfgs[key], n) for n in lengths) * seeds
        parts[name] = {"lanes": len(lengths) * seeds, "steps": steps, "evaluations": evals,
                       "seconds": (steps + evals * per_eval) * sec + COMPILE_SECONDS}
    total = sum(p["seconds"] for p in parts.values())
    return {"parts": parts, "seconds": total, "hours": total / 3600, "step_seconds": sec,
            "compile_seconds": COMPILE_SECONDS, "model": model}


def plan(config: dict) -> list[dict]:
    """Every run of ``config`` without training it (``train.run_plan``, no data needed): one
    JSON-ready dict per run, in the order the figure runs them, with ``arm`` (``short``,
    ``constant``, ``autol2``, ``step``, ``scaled``) in front: model and its settings,
    ``batch_size``, ``bn_group_size``, ``steps``, ``steps_per_epoch``, ``lr``, ``lam``,
    ``lam_schedule``, the AutoL2 settings, ``seed`` and ``init_seed``, the whole config."""
    from l2theory import train

    if config["dataset"] not in DATASET_SHAPES:
        raise ValueError(f"dataset={config['dataset']!r}: no plan without its shape; known: "
                         f"{', '.join(DATASET_SHAPES)}")
    n_all, shape = DATASET_SHAPES[config["dataset"]]
    n_train = config.get("n_train") or n_all - (config.get("n_val") or 0)
    k = config.get("downsample") or 1
    shape = (shape[0] // k, shape[1] // k, shape[2])
    cfgs = train_configs(config)
    plans = []
    for name, (key, runs) in _arm_lengths(config).items():
        for lam, steps in runs:
            for p in train.run_plan(cfgs[key].replace(steps=steps), n_train=n_train,
                                    input_shape=shape, lam=[lam], lr=[config["lr"]],
                                    seeds=config["seeds"]):
                plans.append({"arm": name, **p, "run": len(plans)})
    return plans


# ------------------------------------------------------------------------------ run


METRICS = {"loss": ("val_loss", "test_loss", "min", "test loss"),
           "accuracy": ("val_acc", "test_acc", "max", "test accuracy")}


def metric_columns(config: dict) -> tuple[str, str, str, str]:
    """``(chosen on, scored on, mode, label)`` of the config's ``metric`` (``"loss"``: the
    validation loss defines t* and chooses the best lam, the test loss scores; ``"accuracy"``
    likewise with accuracies). Without a validation split (``n_val`` None: the paper preset, as
    the authors' run) the test column both chooses and scores."""
    if config["metric"] not in METRICS:
        raise ValueError(f"metric={config['metric']!r}: unknown; valid: {', '.join(METRICS)}")
    select, score, mode, label = METRICS[config["metric"]]
    return (select if config.get("n_val") else score), score, mode, label


def _optimum(lams, by_seed, mode):
    """``grid_optimum`` over the positive lams (lam = 0 has no place on a log grid; it stays a
    reference arm), its ``best`` an index into the whole grid."""
    from l2theory import experiments as ex

    zeros = sum(lam == 0 for lam in lams)
    opt = ex.grid_optimum(lams[zeros:], by_seed[zeros:], mode=mode)
    return {**opt, "best": opt["best"] + zeros, "zero_lams": zeros}


def _better(a, b, mode):
    """``claim_greater`` of ``a`` over ``b`` paired by seed, signed so that PASS means better
    (higher for ``mode="max"``, lower for ``"min"``); None entries are missing seeds."""
    from l2theory import experiments as ex

    sign = 1.0 if mode == "max" else -1.0
    return ex.claim_greater(*([None if v is None else sign * v for v in x] for x in (a, b)))


def _best_during(curves, mode):
    """Each curve's best value during training (max, or min for a loss; None for a missing
    lane): the paper's number is the best test accuracy during training."""
    pick = np.nanmax if mode == "max" else np.nanmin
    return [None if c is None else float(pick(np.asarray(c, np.float64))) for c in curves]


def _mean_se(columns):
    """Mean and standard error over seeds of equal-length curves (None lanes skipped)."""
    arr = np.array([c for c in columns if c is not None], np.float64)
    mean = arr.mean(0)
    se = arr.std(0, ddof=1) / np.sqrt(len(arr)) if len(arr) > 1 else np.zeros_like(mean)
    return mean, se


def _best_index(arm: dict) -> int:
    """The index of the arm's best lam on validation: the best mean over the whole grid (lam =
    0 included: ``best_lam``), else the fitted optimum's grid point."""
    lam = arm.get("best_lam")
    return arm["lam"].index(lam) if lam is not None else arm["optimum"]["best"]


def _mean_and_se(values):
    """Mean and standard error (``experiments.standard_error``) of the values present."""
    from l2theory import experiments as ex

    v = [x for x in values if x is not None]
    return (float(np.mean(v)), ex.standard_error(v)) if v else (None, None)


def _half_width(values, level: float = _report.LEVEL) -> float:
    """Half the Student-t interval of the mean of ``values`` (0 with fewer than two)."""
    from l2theory import experiments as ex

    c = ex.claim_within([v for v in values if v is not None], -np.inf, np.inf, level=level)
    return 0.0 if c.ci is None else (c.ci[1] - c.ci[0]) / 2


def _arm(rows, lams, score, select, mode):
    """A fixed-lam arm: ``per_lam`` of the scored metric, with ``select`` (of the metric chosen
    on) and its ``optimum`` (``grid_optimum``)."""
    from l2theory import experiments as ex

    got = ex.per_lam(rows, lams, metric=score)
    got["select"] = ex.per_lam(rows, lams, metric=select)
    got["optimum"] = _optimum(lams, got["select"]["by_seed"], mode)
    return got


def run(config: dict, out: str | Path, progress: bool = False) -> dict:
    """The figure into ``out``; ``progress``: a progress bar per sweep (stderr)."""
    from l2theory import experiments as ex
    from l2theory import train

    select, score, mode, label = metric_columns(config)
    job = _common.FigureRun(NAME, config, out)
    if config.get("n_val"):
        print(f"   t* and the best lam from `{select}` (validation split, {config['n_val']} "
              f"examples held out of training), scored on `{score}`")
    else:
        print(f"   no validation split (the authors' run trains on every image): t* and the "
              f"best lam from `{select}`, the column that scores - not held-out evidence")
    est = cost_estimate(config)
    if est is not None:
        print(f"   estimated cost on one H200: {est['seconds']:.0f} s ({est['hours']:.2f} h; "
              + ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in est["parts"].items()) + ")")
    ds = job.dataset()
    if (config.get("downsample") or 1) > 1:
        from l2theory import data

        ds = data.downsample(ds, config["downsample"])
    cfgs = train_configs(config)
    lr, seeds, T = config["lr"], config["seeds"], config["budget"]
    chunk = config.get("chunk_size")
    seconds = {}

    t0 = time.perf_counter()
    short = ex.short_run_c(cfgs["short"], ds, lam_large=config["lam_large"], lr=lr, seeds=seeds,
                           short_natural_time=config["short_natural_time"], metric=select,
                           progress=progress)
    seconds["short"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    comp = ex.autol2_comparison(cfgs["autol2"], ds, budget=T, lams=config["lams"],
                                lam_start=config["autol2_start"], seeds=seeds, metric=score,
                                select_metric=select, chunk_size=chunk, progress=progress)
    seconds["constant_and_autol2"] = time.perf_counter() - t0
    lams = sorted(config["lams"])
    arms = {"constant": {**comp["fixed"], "steps": [T] * len(lams),
                         "optimum": _optimum(lams, comp["fixed"]["select"]["by_seed"], mode),
                         "best_lam": comp["best_fixed"]["lam"]}}
    # the best value during training of each lane (the paper's number), beside the final one
    best_during = {"fixed": [_best_during(c, mode) for c in comp["curves"]["fixed"]],
                   "autol2": _best_during(comp["curves"]["autol2"], mode)}
    chosen = comp["best_fixed"]["chosen_per_seed"]
    ref = [None if lam is None else best_during["fixed"][lams.index(lam)][j]
           for j, lam in enumerate(chosen)]
    best_during["claim"] = _better(best_during["autol2"], ref, mode).to_json()
    best_during["fixed_per_seed"] = ref
    if config.get("step_lams"):
        t0 = time.perf_counter()
        grid = sorted(config["step_lams"])
        rows = train.sweep(cfgs["step"], ds, lam=grid, lr=[lr], seeds=seeds, progress=progress,
                           chunk_size=chunk, desc=f"step schedule, {len(grid) * len(seeds)} runs")
        arms["step"] = _arm(rows, grid, score, select, mode)
        seconds["step"] = time.perf_counter() - t0
    if config.get("scaled_lams"):
        t0 = time.perf_counter()
        grid = sorted(config["scaled_lams"])
        rows = train.sweep(cfgs["step"], ds, lam=grid, lr=[lr], seeds=seeds, progress=progress,
                           natural_time=config["scaled_natural_time"], chunk_size=chunk,
                           desc=f"step schedule, 1/lam budgets, {len(grid) * len(seeds)} runs")
        arms["scaled"] = _arm(rows, grid, score, select, mode)
        seconds["scaled"] = time.perf_counter() - t0

    # lam_opt: from the short run (c_s / (lr T) per seed) and from the 1/lam arm (tau / (lr T))
    c_seed = dict(zip(short["seeds"], short["c_per_seed"]))
    preds = {"short": short["c"] / (lr * T)}
    pred_per_seed = {"short": [c_seed[sd] / (lr * T) for sd in comp["seeds"]]}
    if config.get("scaled_lams"):
        preds["scaled"] = config["scaled_natural_time"] / (lr * T)
        pred_per_seed["scaled"] = [preds["scaled"]] * len(comp["seeds"])
    which = config["lam_opt"]
    lam_opt = {"arm": which["arm"], "from": which["from"], "predictions": preds,
               "predictions_per_seed": pred_per_seed,
               "optimum": arms[which["arm"]]["optimum"]}
    auto_vs_step = None
    if "step" in arms:
        i = arms["step"]["optimum"]["best"]
        claim = _better(comp["autol2"]["final_by_seed"], arms["step"]["by_seed"][i], mode)
        auto_vs_step = {"lam": arms["step"]["lam"][i], "claim": claim.to_json()}

    job.save_figure(_plot(job.plt, config, short, comp, arms, lam_opt))
    _tables(job, comp, arms, score)
    result = {"short": short, "comparison": comp, "arms": arms, "lam_opt": lam_opt,
              "autol2_vs_step_best": auto_vs_step, "best_during": best_during,
              "budget": T, "lr": lr,
              "metric": config["metric"], "select_metric": select, "score_metric": score,
              "cost_estimate": est, "seconds": seconds}
    for claim in _claims(result, config):
        print(f"   {claim.line()[2:]}")
    return job.finish(result)


def _plot(plt, config, short, comp, arms, lam_opt):
    import matplotlib.ticker as mpl_ticker

    T, lr = config["budget"], config["lr"]
    select, score, mode, label = metric_columns(config)
    bn = "bn_weight_norm" in comp["curves"]
    fig, axes = plt.subplots(1, 4 if bn else 3, figsize=(23 if bn else 17, 6.2))
    # (a) final metric vs lam, 95% intervals over seeds
    ax = axes[0]
    styles = {"constant": ("o", f"fixed $\\lambda$, constant lr, {T} steps"),
              "step": ("s", f"fixed $\\lambda$, step schedule, {T} steps"),
              "scaled": ("^", f"step schedule, {config.get('scaled_natural_time') or 0:.3g}"
                              r"$/(\lambda\eta)$ steps")}
    for name, a in arms.items():
        marker, text = styles[name]
        mean = np.array([np.nan if v is None else v for v in a["mean"]])
        err = np.array([_half_width(v) for v in a["by_seed"]])
        pos = np.asarray(a["lam"]) > 0  # lam = 0 (no place on a log axis): a band below
        line = ax.errorbar(np.asarray(a["lam"])[pos], mean[pos], yerr=err[pos], marker=marker,
                           capsize=3, label=f"{text}: {label} (mean, 95% CI over seeds)")[0]
        val = np.array([np.nan if v is None else v for v in a["select"]["mean"]])
        if select != score:
            ax.plot(np.asarray(a["lam"])[pos], val[pos], marker, ls=":", mfc="none",
                    color=line.get_color(),
                    label=f"{text}: validation {label.split()[-1]} (chooses the best)")
        for i in np.flatnonzero(~pos):
            ax.axhline(mean[i], color=line.get_color(), ls="--", lw=1,
                       label=f"{text}: $\\lambda$ = 0 (mean, 95% CI band)")
            ax.axhspan(mean[i] - err[i], mean[i] + err[i], color=line.get_color(), alpha=0.08)
        opt = a["optimum"]
        if not opt["at_edge"]:
            lo, hi = opt["window"][0], opt["window"][-1]
            ax.axvline(opt["lam_opt"], color=line.get_color(), lw=1, ls="-", alpha=0.6,
                       label=f"{text}: fitted optimum (validation) {opt['lam_opt']:.3g}")
            ax.axvspan(lo, hi, color=line.get_color(), alpha=0.06)
    auto = comp["autol2"]
    if auto["mean"] is not None:
        half = _half_width(auto["final_by_seed"])
        ax.axhline(auto["mean"], color="r", ls=":",
                   label=f"AutoL2 from $\\lambda$ = {auto['lam_start']:g} (mean, 95% CI band)")
        ax.axhspan(auto["mean"] - half, auto["mean"] + half, color="r", alpha=0.12)
    for key, color, ls, text in (("short", "g", "--", r"predicted $\lambda_{opt} = c/(\eta T)$"),
                                 ("scaled", "m", "-.", r"$\tau/(\eta T)$: 1/$\lambda$ budget = T")):
        if key in lam_opt["predictions"]:
            ax.axvline(lam_opt["predictions"][key], color=color, ls=ls,
                       label=f"{text} = {lam_opt['predictions'][key]:.3g}")
    ax.set_xscale("log")
    grid = sorted({lam for a in arms.values() for lam in a["lam"] if lam > 0})
    ax.set_xticks(grid, [f"{lam:g}" for lam in grid], rotation=30, fontsize=7)
    ax.xaxis.set_minor_locator(mpl_ticker.NullLocator())  # the grid's lams only: no overlaps
    ax.set_xlabel(_common.label("lam"))
    ax.set_ylabel(f"{label} after the budget")
    ax.set_title(f"(a) final {label} vs $\\lambda$; c = {short['c']:.3g} from a short run at "
                 f"$\\lambda$ = {config['lam_large']:g}", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1)
    # (b) metric vs step: AutoL2 and the best fixed lam
    ax = axes[1]
    steps = np.array(comp["curves"]["step"], np.float64)
    best = comp["best_fixed"]["lam"]
    i = comp["fixed"]["lam"].index(best)
    for cols, color, text, hits in (
            (comp["curves"]["fixed"][i], "C0", f"best fixed $\\lambda$ = {best:g}",
             comp["best_fixed"]["steps_to_target"]),
            (comp["curves"]["autol2"], "r", "AutoL2", auto["steps_to_target"])):
        mean, se = _mean_se(cols)
        ax.plot(steps, mean, color=color, label=f"{text} (mean, +-SE band)")
        ax.fill_between(steps, mean - se, mean + se, color=color, alpha=0.2)
        got = [h for h in hits if h is not None]
        if got:
            ax.axvline(np.mean(got), color=color, ls="--", lw=1,
                       label=f"{text}: steps to target, mean {np.mean(got):.0f}")
    tgt = [t for t in (comp["speed"] or {}).get("target_per_seed", []) if t is not None]
    if tgt:
        ax.axhline(np.mean(tgt), color="k", ls=":", lw=1,
                   label=f"target: best fixed $\\lambda$'s final {label} (mean {np.mean(tgt):.3f})")
    late = np.concatenate([np.asarray(c, np.float64)[len(steps) // 4:]
                           for c in comp["curves"]["autol2"] + comp["curves"]["fixed"][i]
                           if c is not None])
    if late.size:
        lo, hi = np.nanmin(late), np.nanmax(late)
        pad = (0.3, 0.1) if mode == "max" else (0.1, 0.3)
        ax.set_ylim(lo - pad[0] * (hi - lo), hi + pad[1] * (hi - lo))
    ax.set_xlabel(_common.label("steps"))
    ax.set_ylabel(label)
    sp = comp["speed"]
    ax.set_title("(b) AutoL2 vs the best fixed $\\lambda$" + (
        f": speed-up {sp['speedup']:.2f}" if sp else ""), fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1)
    # (c) AutoL2's lam(t) against c / (lr t): one colour per seed, as in the legend; seeds with
    # the same schedule would hide each other, so each is drawn 2% above the previous one
    ax = axes[2]
    tr = auto["lam_trace"]
    ts = np.array(tr["step"], np.float64)
    keep = ts > 0
    colors = plt.get_cmap("tab10")
    for j, (s, lam_t) in enumerate(zip(comp["seeds"], tr["lam"])):
        lam_t = np.asarray(lam_t, np.float64)
        pos = keep & (lam_t > 0)
        ax.step(ts[pos], lam_t[pos] * 1.02 ** j, where="post", lw=1.2, color=colors(j % 10),
                label=f"seed {s}: divisions at steps "
                      f"{_common.numbers(auto['decay_steps'][j], 'd')}")
    x = np.geomspace(max(1.0, ts[keep].min()), T, 50)
    ax.plot(x, short["c"] / (lr * x), "g--", label=r"$c/(\eta t)$: $\lambda$ peaking at $t$")
    if best > 0:  # lam = 0 has no place on the log axis
        ax.axhline(best, color="C0", ls=":", label=f"best fixed $\\lambda$ = {best:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_common.label("steps"))
    ax.set_ylabel(r"$\lambda$ in force (seed $j$ drawn x$1.02^j$)")
    ax.set_title(f"(c) AutoL2's $\\lambda$ per seed (divisions: "
                 f"{_common.numbers(auto['n_decays'], 'd')})", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    if bn:
        _plot_bn(axes[3], comp, best)
    fig.suptitle(f"{_figure_name(config)} - {config['title']} (preset {config['preset']})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _plot_bn(ax, comp, best) -> None:
    """(d) The norm of the BatchNorm-preceded (scale-invariant) weights and the effective
    learning rate ``lr / ||w||^2`` against the step: AutoL2 and the best fixed lam (mean over
    seeds), the other fixed lams thin."""
    steps = np.array(comp["curves"]["step"], np.float64)
    norm, eff = comp["curves"]["bn_weight_norm"], comp["curves"]["effective_lr"]
    twin = ax.twinx()
    lams = comp["fixed"]["lam"]
    for i, lam in enumerate(lams):
        strong = lam == best
        for axis, cols, ls in ((ax, norm["fixed"][i], "-"), (twin, eff["fixed"][i], "--")):
            mean, _ = _mean_se(cols)
            axis.plot(steps, mean, ls, color=f"C{i % 10}", lw=1.8 if strong else 0.8,
                      alpha=1.0 if strong else 0.6,
                      label=(f"fixed $\\lambda$ = {lam:g}" + (" (best)" if strong else ""))
                      if axis is ax else None)
    for axis, cols, ls in ((ax, norm["autol2"], "-"), (twin, eff["autol2"], "--")):
        mean, _ = _mean_se(cols)
        axis.plot(steps, mean, ls, color="r", lw=2, label="AutoL2" if axis is ax else None)
    ax.set_yscale("log")
    twin.set_yscale("log")
    ax.set_xlabel(_common.label("steps"))
    ax.set_ylabel(r"$\|w\|$ of the BatchNorm-preceded weights (solid)")
    twin.set_ylabel(r"effective lr $\eta / \|w\|^2$ (dashed)")
    ax.set_title("(d) scale invariance: weight norm and effective lr (mean over seeds)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)


def _tables(job, comp, arms, metric) -> None:
    seeds = job.config["seeds"]
    rows = []
    curves = comp["curves"]
    steps = curves["step"]
    extra = [c for c in ("bn_weight_norm", "effective_lr") if c in curves]

    def more(arm, i, j):  # the BatchNorm columns of lane (lam i, seed j) at every evaluation
        cols = [(c, (curves[c]["fixed"][i][j] if arm == "constant" else curves[c]["autol2"][j])
                 or []) for c in extra]
        return [dict((c, v[k] if k < len(v) else None) for c, v in cols)
                for k in range(len(steps))]

    for i, (lam, per_seed) in enumerate(zip(comp["fixed"]["lam"], curves["fixed"])):
        for j, (s, vals) in enumerate(zip(seeds, per_seed)):
            rows += [{"arm": "constant", "lam": lam, "seed": s, "step": t, metric: v, **m}
                     for t, v, m in zip(steps, vals or [], more("constant", i, j))]
    for j, (s, vals) in enumerate(zip(seeds, curves["autol2"])):
        rows += [{"arm": "autol2", "lam": lam_t, "seed": s, "step": t, metric: v, **m}
                 for t, v, lam_t, m in zip(steps, vals or [], comp["autol2"]["lam_trace"]["lam"][
                     seeds.index(s)], more("autol2", 0, j))]
    job.save_csv("curves", rows)
    rows = []
    for name, a in arms.items():
        for i, lam in enumerate(a["lam"]):
            rows.append({"arm": name, "lam": lam, "steps": a["steps"][i],
                         f"final_{metric}_mean": a["mean"][i], f"final_{metric}_se": a["se"][i],
                         "validation_mean": a["select"]["mean"][i],
                         "n_seeds": len(a["per_seed"][i]),
                         "best_on_validation": i == _best_index(a)})
    auto = comp["autol2"]
    rows.append({"arm": "autol2", "lam": auto["lam_start"], "steps": job.config["budget"],
                 f"final_{metric}_mean": auto["mean"], f"final_{metric}_se": auto["se"],
                 "validation_mean": auto["select_mean"],
                 "n_seeds": sum(v is not None for v in auto["final_by_seed"]),
                 "best_on_validation": None})
    job.save_csv("lams", rows)
    rows = []
    for s, rec in zip(seeds, auto["record"]):
        rows += [{"seed": s, "step": t, "train_loss": loss, "train_acc": acc, "lam": lam}
                 for t, loss, acc, lam in zip(rec["step"], rec["train_loss"], rec["train_acc"],
                                              rec["lam"])]
    job.save_csv("autol2", rows)


def _claims(r: dict, cfg: dict) -> list[_report.Claim]:
    """The figure's must-hold claims, from its results ``r``."""
    from l2theory import experiments as ex

    comp, lam_opt = r["comparison"], r["lam_opt"]
    metric = r["score_metric"]
    d, sp = comp["difference"], comp["speed"]
    fmt = ".4f"
    chosen = comp["best_fixed"]["chosen_per_seed"]
    better = "lower" if r["metric"] == "loss" else "higher"
    crossed = ex.Claim.from_json(d["claim"]) if d["claim"] else ex.Claim("n/a", None, None, 0)
    seed_c = ex.Claim.from_json(d["seed_claim"])
    diff = "best fixed - AutoL2" if r["metric"] == "loss" else "AutoL2 - best fixed"
    claims = [_report.Claim.of(
        f"AutoL2 ends {better} in `{metric}` than the best fixed lam (Figure 1c; the lam chosen "
        f"on `{r['select_metric']}` without the seed it scores; estimate: {diff}, mean over "
        "seeds and test images)", crossed,
        f"best fixed lam per seed {_common.numbers(chosen)}; {d['n_test']} test images; seeds "
        f"alone (test set held fixed): {seed_c.verdict}, 95% CI "
        f"{_common.interval(seed_c.ci)}", fmt=fmt)]
    if sp:
        claims.append(_report.Claim.of(
            f"AutoL2 reaches the best fixed lam's final `{metric}` in fewer steps (speed-up > 1; "
            "ratio of mean steps, seed bootstrap)", ex.Claim.from_json(sp["claim"]),
            f"steps {sp['steps_ref_mean']:.0f} vs {sp['steps_new_mean']:.0f}, reached in "
            f"{sp['n_reached_new']} of {sp['n']} seeds", fmt=".3f"))
    bd = r.get("best_during")
    if bd:
        claims.append(_report.Claim.of(
            f"AutoL2's best `{metric}` during training (the paper's number) {better} than the "
            "best fixed lam's (the lam chosen as above; paired by seed, t-interval; estimate: "
            f"{diff})", ex.Claim.from_json(bd["claim"]),
            f"AutoL2 per seed {_common.numbers(bd['autol2'], '.4f')}, best fixed "
            f"{_common.numbers(bd['fixed_per_seed'], '.4f')}", fmt=fmt))
    line = _report.lam_opt_claim(
        f"{_figure_name(cfg)}, {lam_opt['arm']} arm, predicted from the {lam_opt['from']} run(s)",
        lam_opt["predictions"][lam_opt["from"]], lam_opt["predictions_per_seed"][lam_opt["from"]],
        lam_opt["optimum"], r["select_metric"])
    if r["select_metric"] == r["score_metric"] and len(lam_opt["optimum"]["mean"]) > 1:
        # no validation split (the paper preset, as the authors' run): the optimum is read on the
        # test set it is scored on, so the line cannot be evidence either way
        line = dataclasses.replace(line, verdict="TIE", note="optimum read on the test set: "
                                   "no validation split in the authors' run")
    claims.append(line)
    return claims


def _figure_name(cfg: dict) -> str:
    """"Figure 1", or for the quick preset's FC net "AutoL2 stand-in (not Figure 1)"."""
    return "AutoL2 stand-in (not Figure 1)" if cfg.get("standin") else "Figure 1"


def report(summary: dict) -> _report.Report:
    """The figure's section of ``REPORT.md``: the final metric per arm and lam (scored, and on
    the validation split that chooses), the predicted against the fitted optimum, AutoL2
    against the best fixed lam; must hold: AutoL2 ends better and gets there faster, and
    ``lam_opt`` within ``LAM_OPT_FACTOR`` of the fitted optimum - each beyond its noise."""
    r, cfg = summary["results"], summary["config"]
    pm, numbers = _common.pm, _common.numbers
    comp, short, lam_opt = r["comparison"], r["short"], r["lam_opt"]
    metric, select = r["score_metric"], r["select_metric"]
    n = len(comp["seeds"])
    lines = [f"### {_figure_name(cfg)} ({cfg.get('title')})\n",
             "*Caption:* (a) the final test metric after the budget against lam (mean, 95% "
             "interval over seeds), the validation metric that chooses the best lam (dotted), "
             "the optimum of a parabola in ln lam fitted to it, the predicted lam_opt and "
             "AutoL2's final value as a band; (b) the test metric against the step for AutoL2 "
             "and the best fixed lam (mean +- standard error bands) and the mean steps each "
             "needs to reach the best fixed lam's final value; (c) AutoL2's lam per seed (one "
             "colour each) against c/(lr t). "
             + ("(d) the norm of the BatchNorm-preceded weights and the effective lr "
                "lr/||w||^2 over training. " if "bn_weight_norm" in comp["curves"] else "")
             + ("**Stand-in:** this preset's FC-128x3 net (MSE, plain SGD, constant lr, on 1000 "
                "points of the shipped Fashion-MNIST subset) is not Figure 1's network; Figure 1 "
                "is the BatchNorm WRN of the presets cpu, gpu and paper.\n"
                if cfg.get("standin") else f"Preset {cfg.get('preset')}.\n"),
             f"Metric: the {r['metric']}, stated before the run and kept: t* of the short run "
             f"and the best lam from `{select}` "
             + (f"(a validation split of {cfg['n_val']} examples held out of the training set, "
                "never trained on)" if cfg.get("n_val") else
                "(no validation split, as in the authors' run: read on the test set, not "
                "held-out evidence)")
             + f", scored on `{metric}`. "
             f"Budget T = {r['budget']} steps, lr {r['lr']:g}; {n} seeds "
             f"({numbers(comp['seeds'], 'd')}); AutoL2 and a fixed lam are compared paired by "
             "seed (shared initialization, minibatch order and augmentation) and by test "
             "image.\n"]
    arms = r["arms"]
    names = [a for a in ("constant", "step", "scaled") if a in arms]
    heads = {"constant": "constant lr, T steps", "step": "step schedule, T steps",
             "scaled": "step schedule, tau/(lam lr) steps"}
    lines.append("| lam | " + " | ".join(f"{heads[a]}: test (validation)" for a in names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for lam in sorted({lam for a in names for lam in arms[a]["lam"]}):
        cells = []
        for a in names:
            arm = arms[a]
            cell = ""
            if lam in arm["lam"]:
                i = arm["lam"].index(lam)
                cell = (f"{pm(arm['mean'][i], arm['se'][i])} "
                        f"({_common.num(arm['select']['mean'][i], '.4f')})")
                if a == "scaled":
                    cell += f" ({arm['steps'][i]} steps)"
                cell += " (best on validation)" if i == _best_index(arm) else ""
            cells.append(cell)
        lines.append(f"| {lam:.3g} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"- c = lam lr t* = {pm(short['c'], short['c_se'], '.3g')} from short runs at "
                 f"lam = {short['lam_large']:g} ({short['steps']} steps, t* from "
                 f"`{short['metric']}`; per seed {numbers(short['c_per_seed'])}; peak at "
                 f"the boundary: {'yes' if short['at_boundary'] else 'no'})")
    preds, opt = lam_opt["predictions"], lam_opt["optimum"]
    lines.append("- predicted lam_opt: " + ", ".join(
        {"short": f"c/(lr T) = {preds['short']:.3g}",
         "scaled": f"tau/(lr T) = {preds.get('scaled', 0):.3g} (the lam whose 1/lam budget is T)"
         }[k] for k in preds)
        + f"; fitted optimum ({lam_opt['arm']} arm, `{select}`) {opt['lam_opt']:.3g}"
        + (" - at the grid's edge: only a bound" if opt["at_edge"] else
           f", per seed {numbers(opt['lam_opt_per_seed'])}"))
    best, auto, d = comp["best_fixed"], comp["autol2"], comp["difference"]
    lines.append(f"- final `{metric}`: best fixed lam on validation {best['lam']:g} "
                 f"{pm(best['mean'], best['se'])} (each seed scored at the lam the other seeds "
                 f"chose: {numbers(best['chosen_per_seed'])}); AutoL2 (from lam "
                 f"{auto['lam_start']:g}) {pm(auto['mean'], auto['se'])}; AutoL2 - best fixed per "
                 f"seed {numbers(d['per_seed'], '.4f')}")
    lines.append("- AutoL2 against every fixed lam (seeds only, 95% t-interval of AutoL2 - lam"
                 + (", sign flipped for a loss" if r["metric"] == "loss" else "") + "): "
                 + "; ".join(f"{v['lam']:g}: {v['seed_claim']['verdict']} "
                             f"{_common.interval(v['seed_claim']['ci'])}"
                             for v in comp["vs_fixed"]))
    bd = r.get("best_during")
    if bd:
        fx = [[v for v in row if v is not None] for row in bd["fixed"]]
        lines.append(f"- best `{metric}` during training (the paper's number): AutoL2 "
                     f"{pm(*_mean_and_se(bd['autol2']))}; fixed lam "
                     + "; ".join(f"{lam:g}: {pm(*_mean_and_se(v))}"
                                 for lam, v in zip(comp["fixed"]["lam"], fx)))
    bn = comp["curves"].get("bn_weight_norm")
    if bn:
        end = lambda cols: _mean_and_se([c[-1] for c in cols if c is not None])  # noqa: E731
        first = [c[0] for c in bn["autol2"] if c is not None]
        lines.append(f"- BatchNorm-preceded weights ||w|| at step 0 {np.mean(first):.3g}, at the "
                     f"end: AutoL2 {pm(*end(bn['autol2']), '.3g')}; fixed lam "
                     + "; ".join(f"{lam:g}: {pm(*end(c), '.3g')}"
                                 for lam, c in zip(comp["fixed"]["lam"], bn["fixed"]))
                     + " (effective lr = lr/||w||^2: fig1_curves.csv)")
    vs = r.get("autol2_vs_step_best")
    if vs:
        lines.append(f"- AutoL2 (constant lr) - best step-schedule lam {vs['lam']:g}, paired: "
                     f"{vs['claim']['verdict']} {_common.interval(vs['claim']['ci'])}")
    sp = comp["speed"]
    if sp:
        lines.append(f"- steps to reach the best fixed lam's final `{metric}` (per seed, raw "
                     "evaluations): best fixed "
                     f"{pm(sp['steps_ref_mean'], sp['steps_ref_se'], '.0f')}, AutoL2 "
                     f"{pm(sp['steps_new_mean'], sp['steps_new_se'], '.0f')} (reached in "
                     f"{sp['n_reached_new']} of {sp['n']} seeds); speed-up "
                     f"{sp['speedup']:.3f} (95% bootstrap interval {_common.interval(sp['ci'])})")
    finals = auto["final_lam"]
    lines.append(f"- AutoL2 divisions per seed: {numbers(auto['n_decays'], 'd')} (at "
                 "steps " + "; ".join(numbers(s, "d") for s in auto["decay_steps"])
                 + f"); final lam {numbers(sorted(set(finals)))}")
    est = r.get("cost_estimate")
    if est:
        lines.append(f"- estimated cost on one H200 (not measured): {est['seconds']:.0f} s "
                     f"({est['hours']:.2f} h)")
    lines.append("")
    return _report.Report(lines, _claims(r, cfg))


def main(argv=None) -> int:
    """``python -m l2theory.figures.fig1``: the figures command for this figure alone."""
    return make_all.main(argv, NAME)


if __name__ == "__main__":
    raise SystemExit(main())
