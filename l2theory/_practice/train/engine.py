"""The compiled training loop, shared by ``train`` (one run) and ``sweep`` (many lanes at once).

An ``Engine`` holds, for one config, dataset and number of lanes, jitted programs over a state
pytree with a leading lane axis: ``init`` (hyperparameters -> state), ``segment`` (the steps
between two evaluations inside one ``lax.scan``: minibatch gathering, augmentation, update, all on
the device, no Python per step; on the CPU a model with convolutions runs one compiled step per
call instead, ``loop_free``, because XLA's CPU backend is 20-40x slower on a convolution's
gradient inside a loop), ``permutation`` (an epoch's minibatch order, drawn once per epoch
on the device), ``evaluate`` (the full test set, the validation split if the dataset has one,
and the fixed training subset, in batches) and ``outputs`` (every test and validation example's
network outputs, for scores per example).
With one lane the per-run functions are called directly (no ``vmap``), so a single run compiles
to the same program a hand-written loop would.
"""

from __future__ import annotations

import collections
import functools
import json
import sys
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import _checks, _precision
from l2theory._practice.datasets.augment import random_crop_flip
from l2theory._practice.train import schedules
from l2theory._practice.train.config import TrainConfig, check_config
from l2theory._practice.train.progress import ProgressBar
from l2theory._practice.train.step import (Hyper, Step, TrainState, invariant_norms_sq,
                                           make_step, run_keys, sum_squares)

# Columns of one evaluation row, in table order (sweeps add lane columns in front); with a
# validation split (``Dataset.x_val``) also ``VAL_COLUMNS``.
COLUMNS = ("step", "train_loss", "train_acc", "test_loss", "test_acc", "lam", "lr",
           "param_norm_sq")
VAL_COLUMNS = ("val_loss", "val_acc")
# Further columns of a model with scale-invariant (BatchNorm-preceded) weights
# (docs/conventions.md section 8).
BN_COLUMNS = ("bn_weight_norm", "effective_lr", "angular_update")

def loop_free(model, input_shape: Sequence[int], platform: str) -> bool:
    """Whether the training steps of ``model`` run one compiled step per call instead of in a
    ``lax.scan``: on the CPU, for a model with convolutions (found in its traced program).

    XLA's CPU backend runs the gradient of a convolution inside a while loop 13-33x slower than
    outside one (jax-ml/jax#12868; ``benchmarks/bench_cpu_loops.py``). One step per piece: a
    piece of k unrolled steps compiles about k times longer and ran no faster (WRN-10-1 on 7x7
    images, batch 16: 18 ms a step with k = 1, 36 ms with k = 4)."""
    if platform != "cpu":
        return False
    params, state = jax.eval_shape(lambda k: model.init(k, tuple(input_shape)),
                                   jax.random.key(0))
    x = jax.ShapeDtypeStruct((2, *input_shape), jnp.float32)
    jaxpr = jax.make_jaxpr(lambda p, s, x: model.apply(p, s, x, False))(params, state, x)
    return "conv_general_dilated" in str(jaxpr)


def _scan(body: Callable, carry, xs, unrolled: bool):
    """``jax.lax.scan(body, carry, xs)``, or with ``unrolled`` the same steps traced one after
    the other (no loop in the program; ``xs``' leading axis is static)."""
    if not unrolled:
        return jax.lax.scan(body, carry, xs)
    ys = []
    for j in range(jax.tree.leaves(xs)[0].shape[0]):
        carry, y = body(carry, jax.tree.map(lambda a: a[j], xs))
        ys.append(y)
    return carry, jax.tree.map(lambda *a: jnp.stack(a), *ys)


def lanes_map(fn: Callable, n_lanes: int, in_axes: Sequence[int | None]) -> Callable:
    """``jax.vmap(fn, in_axes)``, except that one lane calls ``fn`` unbatched (then re-adds the
    lane axis), so a single run is not a batch-of-one program."""
    if n_lanes != 1:
        return jax.vmap(fn, in_axes=tuple(in_axes))

    def single(*args):
        args = [jax.tree.map(lambda x: x[0], a) if ax == 0 else a for a, ax in zip(args, in_axes)]
        return jax.tree.map(lambda x: x[None], fn(*args))

    return single


class Placement:
    """Where arrays live: lane-indexed arrays split over a 1-D device mesh ``'lanes'``, everything
    else replicated. One device, one GPU or eight: the same code (``jax.sharding.NamedSharding``);
    on JAX versions without it, everything goes to the first device."""

    def __init__(self, devices: Sequence[Any]):
        self.devices = list(devices)
        try:
            from jax.sharding import Mesh, NamedSharding, PartitionSpec

            mesh = Mesh(np.array(self.devices), ("lanes",))
            self.lane_sharding = NamedSharding(mesh, PartitionSpec("lanes"))
            self.replicated_sharding = NamedSharding(mesh, PartitionSpec())
        except (ImportError, AttributeError):  # pragma: no cover - very old JAX
            self.lane_sharding = self.replicated_sharding = None

    def _put(self, x, sharding):
        if sharding is None:
            return jax.device_put(x, self.devices[0])
        if isinstance(x, jax.Array):
            return jax.device_put(x, sharding)
        x = np.asarray(x)
        # From host data on every process: works single- and multi-process alike.
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    def lanes(self, tree):
        return jax.tree.map(lambda x: self._put(x, self.lane_sharding), tree)

    def replicated(self, tree):
        return jax.tree.map(lambda x: self._put(x, self.replicated_sharding), tree)


def to_host(tree):
    """Device arrays -> numpy (gathered from every process in a multi-host run)."""
    if jax.process_count() > 1:  # pragma: no cover - needs several hosts
        from jax.experimental import multihost_utils

        return jax.tree.map(lambda x: np.asarray(
            multihost_utils.process_allgather(x, tiled=True)), tree)
    return jax.tree.map(np.asarray, tree)


def _eval_batches(x: np.ndarray, y: np.ndarray, batch: int):
    """``x``/``y`` padded to whole batches and reshaped ``[n_batches, batch, ...]``, plus weights
    (1 for real examples, 0 for padding)."""
    n = len(y)
    batch = min(batch, n)
    n_batches = -(-n // batch)
    pad = n_batches * batch - n
    w = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
    x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
    y = np.concatenate([y, np.zeros(pad, y.dtype)])
    shape = (n_batches, batch)
    return x.reshape(shape + x.shape[1:]), y.reshape(shape), w.reshape(shape)


def train_eval_indices(n_train: int, size: int | None) -> np.ndarray:
    """Indices of the fixed training subset used for ``train_loss``/``train_acc``: the first
    ``size`` entries of ``numpy.random.default_rng(0).permutation(n_train)``, sorted (all of the
    training set when ``size`` is None or >= n_train)."""
    if size is None or size >= n_train:
        return np.arange(n_train)
    return np.sort(np.random.default_rng(0).permutation(n_train)[:size])


def program_key(config: TrainConfig, dataset, n_lanes: int, placement: "Placement") -> str:
    """What the compiled programs depend on: the config without the per-lane hyperparameters
    (``lr``, ``lam``, ``seed``, ``steps`` are traced) and with the matmul precision in force, the
    data shapes, the lanes and devices. (With ``matmul_precision="default"`` the programs follow
    the caller's ``jax.default_matmul_precision``: JAX traces them again under another one.)"""
    d = config.resolved().to_dict()
    for name in ("lr", "lam", "seed", "steps"):
        d.pop(name)
    d["matmul_precision"] = config.matmul_precision_in_force
    n_eval = len(train_eval_indices(dataset.n_train, config.train_eval_size))
    shapes = (dataset.input_shape, dataset.num_classes, dataset.n_train, n_eval, dataset.n_test,
              dataset.n_val, str(dataset.x_train.dtype))
    return json.dumps([d, shapes, n_lanes, [str(dev) for dev in placement.devices]],
                      sort_keys=True, default=repr)


class _Programs(NamedTuple):
    model: Any
    step: Step
    init: Callable
    segment: Callable
    evaluate: Callable
    outputs: Callable
    permutation: Callable
    per_epoch: int | None
    unrolled: bool


_CACHE: "collections.OrderedDict[str, _Programs]" = collections.OrderedDict()
_CACHE_SIZE = 8


def _programs(config: TrainConfig, dataset, n_lanes: int, placement: "Placement") -> _Programs:
    """The jitted programs, shared by every ``Engine`` with the same ``program_key`` (so a loop of
    ``train`` calls over seeds or learning rates compiles once)."""
    key = program_key(config, dataset, n_lanes, placement)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    model = config.build_model(dataset.num_classes)
    augment = functools.partial(random_crop_flip, pad=4) if config.augment else None
    step = make_step(config, model, dataset.input_shape, augment_fn=augment,
                     num_classes=dataset.num_classes)
    keyed = config.augment or config.mixup
    invariant = tuple(model.scale_invariant)
    measure = config.lam_schedule == "autol2"
    n_train = dataset.n_train
    batch = config.batch_size
    batch = None if batch is None or batch >= n_train else batch
    counts = {"train": len(train_eval_indices(n_train, config.train_eval_size)),
              "test": dataset.n_test, "val": dataset.n_val}

    per_epoch = None if batch is None else n_train // batch
    unrolled = loop_free(model, dataset.input_shape, placement.devices[0].platform)

    def lane_permutation(seed, epoch):
        """The order of the training set in ``epoch`` (int32 ``[n_train]``)."""
        return jax.random.permutation(jax.random.fold_in(run_keys(seed)[1], epoch), n_train)

    def lane_segment(state: TrainState, n_steps: int, t0, data, perms, fresh):
        """``(state, record)`` after ``n_steps`` steps from ``t0``; ``record`` (AutoL2 only, else
        None): per step, whether it was a measurement, the measured loss and accuracy and the lam
        decided (``[n_steps]`` each). ``fresh``: the first piece after an evaluation, which zeroes
        the angle accumulators of ``angular_update`` first."""
        x_train, y_train = data
        state = state._replace(
            angle_sq_sum=jnp.where(fresh, jnp.zeros_like(state.angle_sq_sum), state.angle_sq_sum),
            angle_steps=jnp.where(fresh, jnp.zeros_like(state.angle_steps), state.angle_steps))
        aug_key = run_keys(state.hyper.seed)[2]
        ts = t0 + jnp.arange(n_steps, dtype=jnp.int32)
        aug = (lambda t: jax.random.fold_in(aug_key, t)) if keyed else (lambda t: None)

        def advance(state, x, y, t):
            new, (loss, acc) = step.update(state, x, y, aug(t))
            if not measure:
                return new, None
            # a measurement happened iff the step was taken at a multiple of measure_every
            measured = ((state.step % config.setting("autol2_measure_every") == 0)
                        & (new.step > state.step))
            return new, {"measured": measured, "train_loss": loss, "train_acc": acc,
                         "lam": new.lam.lam}

        if batch is None:  # full batch, fixed order
            def body(state, t):
                return advance(state, x_train, y_train, t)

            return _scan(body, state, ts, unrolled)

        # The minibatch indices of the whole segment are cut before the loop from the
        # permutations of the epochs it touches (``perms[j]`` is epoch ``t0 // per_epoch + j``),
        # so the loop has no branch: a per-step lax.cond would make a GPU wait for the host.
        perms = jnp.stack(perms)
        rows = (ts // per_epoch - t0 // per_epoch)[:, None]
        cols = ((ts % per_epoch) * batch)[:, None] + jnp.arange(batch)
        idx = perms[rows, cols]  # [n_steps, batch]

        def body(state, xs):
            t, i = xs
            return advance(state, x_train[i], y_train[i], t)

        return _scan(body, state, (ts, idx), unrolled)

    def lane_evaluate(state: TrainState, t, eval_data):
        row = {}
        for split, (xb, yb, wb) in eval_data.items():
            def body(acc, batch):
                loss, correct = step.evaluate(state.params, state.model_state, *batch)
                return (acc[0] + loss, acc[1] + correct), None

            zero = jnp.zeros((), config.param_dtype)
            (loss, correct), _ = jax.lax.scan(body, (zero, zero), (xb, yb, wb))
            row[f"{split}_loss"] = loss / counts[split]
            row[f"{split}_acc"] = correct / counts[split]
        at = jnp.minimum(t, state.hyper.steps)
        lr = step.lr(state, at)
        row.update(step=at, lam=state.lam.lam, lr=lr,
                   param_norm_sq=sum_squares(state.params), diverged=state.diverged,
                   diverged_step=state.diverged_step)
        if invariant:
            tensor_sq = invariant_norms_sq(state.params, invariant)
            norm_sq, steps = jnp.sum(tensor_sq), state.angle_steps
            row.update(bn_weight_norm=jnp.sqrt(norm_sq), effective_lr=lr / norm_sq,
                       bn_tensor_norm=jnp.sqrt(tensor_sq),
                       bn_tensor_angle=jnp.where(
                           steps > 0, jnp.sqrt(state.angle_sq_sum / jnp.maximum(steps, 1)),
                           jnp.nan),
                       angular_update=jnp.where(
                           steps > 0,
                           jnp.sqrt(jnp.mean(state.angle_sq_sum) / jnp.maximum(steps, 1)),
                           jnp.nan))
        return row

    def lane_outputs(state: TrainState, eval_data):
        """The network's outputs ``[n, k]`` on every test (and validation) example, eval mode."""
        out = {}
        for split in ("test", "val"):
            if split not in eval_data:
                continue

            def body(_, x):
                return None, model.apply(state.params, state.model_state,
                                         x.astype(config.param_dtype), False)[0]

            _, o = jax.lax.scan(body, None, eval_data[split][0])
            out[split] = o.reshape((-1, o.shape[-1]))[:counts[split]]
        return out

    scoped_outputs = _precision.in_scope(lane_outputs,
                                         precision=config.matmul_precision_in_force)
    programs = _Programs(
        model=model,
        step=step,
        init=jax.jit(lanes_map(step.init, n_lanes, (0,))),
        segment=jax.jit(lanes_map(lane_segment, n_lanes, (0, None, None, None, 0, None)),
                        static_argnums=(1,), donate_argnums=(0,)),
        permutation=jax.jit(lanes_map(lane_permutation, n_lanes, (0, None))),
        per_epoch=per_epoch,
        unrolled=unrolled,
        evaluate=jax.jit(lanes_map(lane_evaluate, n_lanes, (0, None, None))),
        outputs=jax.jit(lanes_map(scoped_outputs, n_lanes, (0, None))),
    )
    _CACHE[key] = programs
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return programs


class Engine:
    """Compiled programs for ``n_lanes`` runs of ``config`` on ``dataset`` trained together, and
    the dataset on the device(s).

    Args:
      config: the shared settings; per-lane ``lr``, ``lam``, ``seed`` and ``steps`` come from
        ``hyper(...)``.
      dataset: an ``l2theory.data.Dataset``.
      n_lanes: lanes per program (a multiple of the number of devices in ``placement``).
      placement: a ``Placement``; default: the first device.
    """

    def __init__(self, config: TrainConfig, dataset, n_lanes: int, *,
                 placement: Placement | None = None):
        check_config(config).validate(dataset)
        self.config = config
        self.n_lanes = _checks.positive_int("n_lanes", n_lanes)
        self.placement = placement or Placement(jax.devices()[:1])
        n_dev = len(self.placement.devices)
        if self.n_lanes % n_dev:
            raise _checks.bad("n_lanes", n_lanes, f"must be a multiple of the number of devices "
                              f"({n_dev})", f"e.g. {n_dev * -(-self.n_lanes // n_dev)}")
        self.programs = _programs(config, dataset, self.n_lanes, self.placement)
        batch = config.batch_size or dataset.n_train
        self.max_piece = 1 if self.programs.unrolled else max(1024, dataset.n_train // batch)
        self.model = self.programs.model
        put = self.placement.replicated
        self.train_data = put((np.asarray(dataset.x_train), np.asarray(dataset.y_train, np.int32)))
        sub = train_eval_indices(dataset.n_train, config.train_eval_size)
        x_train, y_train = np.asarray(dataset.x_train), np.asarray(dataset.y_train, np.int32)
        self.eval_data = put({
            "train": _eval_batches(x_train[sub], y_train[sub], config.eval_batch_size),
            **{split: _eval_batches(np.asarray(getattr(dataset, f"x_{split}")),
                                    np.asarray(getattr(dataset, f"y_{split}"), np.int32),
                                    config.eval_batch_size)
               for split in dataset.splits[1:]},
        })

    def hyper(self, lr: Sequence[float], lam: Sequence[float], seed: Sequence[int],
              steps: Sequence[int]) -> Hyper:
        """Per-lane constants as numpy arrays (lanes beyond the given ones are padding: 0 steps)."""
        n = len(lr)
        if n > self.n_lanes:
            raise _checks.bad("lr", lr, f"{n} lanes given for an engine of {self.n_lanes}",
                              f"pass at most {self.n_lanes} values per argument")
        pad = self.n_lanes - n
        dt = self.config.param_dtype
        decay_at = self.config.setting("lr_decay_at")
        steps = list(steps) + [0] * pad
        return Hyper(
            lr=np.asarray(list(lr) + [1.0] * pad, dt),
            lam=np.asarray(list(lam) + [0.0] * pad, dt),
            seed=np.asarray(list(seed) + [0] * pad, np.int32),
            steps=np.asarray(steps, np.int32),
            boundaries=np.asarray(
                [schedules.step_boundaries(s, decay_at) for s in steps],
                np.int32).reshape(self.n_lanes, len(decay_at)),
        )

    def init(self, hyper: Hyper) -> TrainState:
        return self.programs.init(self.placement.lanes(hyper))

    def abstract_state(self) -> TrainState:
        """Shapes and dtypes of the state (for restoring checkpoints)."""
        return jax.eval_shape(self.programs.init, self.hyper([1.0], [0.0], [0], [1]))

    def place_state(self, state: TrainState) -> TrainState:
        return self.placement.lanes(state)

    def segment(self, state: TrainState, t0: int, n_steps: int,
                epochs: dict | None = None, autol2: list | None = None) -> TrainState:
        """Steps ``t0 .. t0 + n_steps`` of every lane (lanes past their end or diverged hold).

        Runs as compiled pieces (``pieces``), queued on the device without waiting for each
        other. ``epochs`` caches the lanes' minibatch permutations by epoch across calls, so each
        epoch's order is drawn once (pass the same dict for consecutive segments of the same
        lanes, a new one for other lanes; ``None``: no reuse). With AutoL2, each piece's record
        (device arrays ``[n_lanes, n]``, see ``Rows.add_autol2``) is appended to the list
        ``autol2`` as ``(t0, record)``. A segment is the steps between two evaluations: it starts
        the window of ``angular_update`` afresh (``TrainState.angle_sq_sum``).
        """
        epochs = {} if epochs is None else epochs
        pe = self.programs.per_epoch
        for i, n in enumerate(self.pieces(n_steps)):
            perms = ()
            if pe is not None:
                needed = range(t0 // pe, (t0 + n - 1) // pe + 1)
                for e in [e for e in epochs if e < needed[0]]:
                    del epochs[e]
                for e in needed:
                    if e not in epochs:
                        epochs[e] = self.programs.permutation(state.hyper.seed,
                                                              jnp.asarray(e, jnp.int32))
                # a fixed count per piece length, so one compilation serves every piece
                count = -(-(n - 1) // pe) + 1
                perms = tuple(epochs[min(e, needed[-1])] for e in
                              range(needed[0], needed[0] + count))
            state, record = self.programs.segment(state, n, jnp.asarray(t0, jnp.int32),
                                                  self.train_data, perms, jnp.asarray(i == 0))
            if autol2 is not None and record is not None:
                autol2.append((t0, record))
            t0 += n
        return state

    def pieces(self, n_steps: int) -> list[int]:
        """The lengths of the compiled pieces that make up ``n_steps`` steps (one program is
        compiled per distinct length). With evaluations every ``eval_every`` steps every segment
        has that length: pieces of ``max_piece`` steps and the rest. With log-spaced evaluations
        (``evals_per_decade``) the segments are powers of two from 1 to thousands of steps:
        pieces are then powers of 16 up to ``max_piece`` (1, 16, 256), largest first, so three
        programs serve every segment instead of one per length (compilation dominates the run
        time of small networks on a GPU; the extra calls are queued without waiting). Unrolled
        (``loop_free``): single steps."""
        if self.config.evals_per_decade is None or self.programs.unrolled:
            full, rest = divmod(n_steps, self.max_piece)
            return [self.max_piece] * full + ([rest] if rest else [])
        out = []
        while n_steps > 0:
            p = 1 << (4 * ((min(n_steps, self.max_piece).bit_length() - 1) // 4))
            out.append(p)
            n_steps -= p
        return out

    def evaluate(self, state: TrainState, t: int) -> dict[str, np.ndarray]:
        """One row per lane at step ``min(t, lane steps)``: numpy arrays ``[n_lanes]``."""
        return to_host(self.programs.evaluate(state, jnp.asarray(t, jnp.int32), self.eval_data))

    def outputs(self, state: TrainState) -> dict[str, np.ndarray]:
        """Every lane's outputs on each test (``"test"``) and validation (``"val"``) example in
        eval mode, ``[n_lanes, n, k]`` numpy arrays (per-example scores: accuracy, loss)."""
        return to_host(self.programs.outputs(state, self.eval_data))


# What AutoL2 saw, per measurement (``result["autol2"]``).
AUTOL2_COLUMNS = ("step", "train_loss", "train_acc", "lam")


class Rows:
    """Evaluation rows of a chunk of lanes, as they come: one ``[n_lanes]`` array per column and
    evaluation, plus ``valid`` (whether the lane had not ended before that evaluation); and with
    AutoL2 its measurements: ``step`` ``[n]`` and ``measured``, ``train_loss``, ``train_acc``,
    ``lam`` ``[n, n_lanes]`` at every multiple of ``autol2_measure_every`` (``measured``: the lane
    took that step, so the values are a measurement)."""

    def __init__(self, columns: dict[str, list] | None = None,
                 autol2: dict[str, list] | None = None,
                 outputs: dict[str, np.ndarray] | None = None):
        self.columns: dict[str, list[np.ndarray]] = columns or {}
        self.autol2: dict[str, list[np.ndarray]] = autol2 or {}
        # the lanes' outputs on the test/validation examples at their end (``Engine.outputs``)
        self.outputs: dict[str, np.ndarray] = outputs or {}

    def __len__(self) -> int:
        return len(self.columns.get("valid", []))

    def append(self, row: dict[str, np.ndarray], valid: np.ndarray) -> None:
        for name, value in {**row, "valid": valid}.items():
            self.columns.setdefault(name, []).append(np.asarray(value))

    def add_autol2(self, t0: int, record: dict[str, np.ndarray], every: int) -> None:
        """Keep the measurement steps of a segment's per-step ``record`` (``[n_lanes, n]`` host
        arrays for steps ``t0 .. t0 + n - 1``)."""
        n = np.shape(record["measured"])[1]
        j = np.flatnonzero((t0 + np.arange(n)) % every == 0)
        if len(j):
            self.autol2.setdefault("step", []).append(t0 + j)
            for name in ("measured",) + AUTOL2_COLUMNS[1:]:
                self.autol2.setdefault(name, []).append(np.asarray(record[name])[:, j].T)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{column: [n_evals, n_lanes]}`` and ``{"autol2/<name>": ...}`` (for checkpoints)."""
        out = {name: np.stack(values) for name, values in self.columns.items()}
        out.update({f"autol2/{name}": np.concatenate(v) for name, v in self.autol2.items()})
        out.update({f"outputs/{name}": v for name, v in self.outputs.items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Rows":
        nested = {p: {name[len(p) + 1:]: a for name, a in arrays.items()
                      if name.startswith(p + "/")} for p in ("autol2", "outputs")}
        return cls({name: list(a) for name, a in arrays.items() if "/" not in name},
                   {name: [a] for name, a in nested["autol2"].items()}, nested["outputs"])

    def tables(self, invariant: Sequence[tuple[str, ...]] = ()) -> list[dict[str, Any]]:
        """One table per lane: its valid rows, with lane-level ``diverged``/``diverged_step``
        taken from the last evaluation; with AutoL2, ``"autol2"``: the lane's measurements
        (``AUTOL2_COLUMNS``, one entry per measurement); for a model with scale-invariant
        tensors (their paths ``invariant``, ``model.scale_invariant``), ``"bn_tensor_norms"``
        and ``"bn_tensor_angles"``: ``step`` and each tensor's norm (its RMS angle per step since
        the previous row) per row, under its path joined by ``/``; with outputs
        kept, ``"outputs"``: ``{"test": [n_test, k], "val": ...}`` at the lane's end."""
        a = self.to_arrays()
        names = COLUMNS + tuple(c for c in VAL_COLUMNS if c in a)
        out = []
        for j in range(a["valid"].shape[1]):
            keep = a["valid"][:, j]
            table: dict[str, Any] = {name: a[name][keep, j] for name in names + BN_COLUMNS
                                     if name in a}
            table["step"] = table["step"].astype(np.int64)
            n = len(table["step"])
            table["diverged"] = np.full(n, bool(a["diverged"][-1, j]))
            table["diverged_step"] = np.full(n, int(a["diverged_step"][-1, j]), np.int64)
            if self.autol2:
                m = a["autol2/measured"][:, j].astype(bool)
                table["autol2"] = {"step": a["autol2/step"][m].astype(np.int64),
                                   **{name: a[f"autol2/{name}"][m, j]
                                      for name in AUTOL2_COLUMNS[1:]}}
            for column, name in (("bn_tensor_norm", "bn_tensor_norms"),
                                 ("bn_tensor_angle", "bn_tensor_angles")):
                if column in a:
                    per = a[column][keep, j]
                    table[name] = {"step": table["step"], **{
                        "/".join(path): per[:, i] for i, path in enumerate(invariant)}}
            if self.outputs:
                table["outputs"] = {name: v[j] for name, v in self.outputs.items()}
            out.append(table)
        return out


def run_chunk(engine: Engine, state: TrainState, t: int, rows: Rows, steps: np.ndarray,
              *, on_eval: Callable[[TrainState, int, Rows, int], None] | None = None):
    """Advance every lane of a chunk to its end, evaluating at ``config.next_eval_step``.

    Args:
      engine: the chunk's ``Engine``.
      state: lane-batched state after ``t`` steps (``t`` an evaluation step).
      t: the step reached; 0 for a fresh chunk (then the step-0 row is taken first).
      rows: the rows so far (empty for a fresh chunk).
      steps: ``[n_lanes]`` ints, each lane's number of steps (0 for padding lanes).
      on_eval: ``f(state, t, rows, n_steps_just_run)`` after each evaluation (checkpoints,
        progress).

    Returns:
      ``(state, rows)`` when the longest lane has ended.
    """
    steps = np.asarray(steps)
    end = int(steps.max(initial=0))
    config = engine.config
    if len(rows) == 0:
        rows.append(engine.evaluate(state, 0), steps > 0)
        if on_eval:
            on_eval(state, 0, rows, 0)
    epochs: dict = {}
    records: list | None = [] if config.lam_schedule == "autol2" else None
    while t < end:
        n = config.next_eval_step(t, end) - t
        state = engine.segment(state, t, n, epochs, autol2=records)
        prev, t = t, t + n
        rows.append(engine.evaluate(state, t), steps > prev)
        for t0, record in records or ():
            rows.add_autol2(t0, to_host(record), config.setting("autol2_measure_every"))
        if records:
            records.clear()
        if on_eval:
            on_eval(state, t, rows, n)
    return state, rows


def train(config: TrainConfig, dataset, *, progress: bool = False) -> dict[str, Any]:
    """Train one network; return its evaluation rows.

    Minimizes ``mean_i loss(f(x_i), y_i) + lam/2 ||theta||^2`` (all parameters) by SGD with the
    settings of ``config`` (see ``TrainConfig`` for the exact update, sampling and schedules).
    The ``eval_every`` steps between two evaluations run inside one compiled ``lax.scan`` on the
    device (on the CPU, a model with convolutions: one compiled step per call, ``loop_free``);
    minibatches are drawn there from the run's seed. On CPU a run is bitwise reproducible
    for a fixed seed.

    Args:
      config: a ``TrainConfig``.
      dataset: an ``l2theory.data.Dataset`` (numpy arrays; labels are integers).
      progress: ``True``: a tqdm bar (steps, ETA, best test accuracy so far) when stderr is a
        terminal, else one line as the run starts and one as it ends; ``"bar"``: the bar
        wherever stderr goes; ``False``: nothing (``l2theory._practice.train.progress``).

    Returns:
      A dict of equal-length 1-D numpy arrays, one entry per evaluation (steps 0, eval_every, ...,
      and the last step; log-spaced with ``evals_per_decade``): ``step``,
      ``train_loss``/``train_acc`` (data loss without the L2 term and accuracy on the fixed
      training subset, see ``TrainConfig.train_eval_size``),
      ``test_loss``/``test_acc`` (full test set), ``lam`` and ``lr`` (the values in force at that
      step), ``param_norm_sq`` (``||theta||^2``, so the L2 term is ``lam/2 * param_norm_sq``),
      ``diverged`` and ``diverged_step`` (-1 unless a non-finite training loss stopped the run at
      that step; the rows after it evaluate the frozen parameters).
      For a model with scale-invariant weights (BatchNorm; ``model.scale_invariant``) also
      ``BN_COLUMNS`` (``docs/conventions.md`` section 8): ``bn_weight_norm`` (``||w||``, the norm
      of those tensors together), ``effective_lr`` (``lr / ||w||^2``, ``lr`` the row's) and
      ``angular_update`` (the root-mean-square over the steps since the previous row of the
      angle, in radians, between consecutive weights, averaged over those tensors; NaN at step 0
      and when no step was taken); ``"bn_tensor_norms"``: ``step`` and the norm ``||w_p||``
      of each of those tensors, named by its path in the parameters joined by ``/`` (e.g.
      ``"stage1_block0/conv1/w"``), one entry per row; and ``"bn_tensor_angles"``: the same
      per tensor for the angle (the RMS over the steps since the previous row of ``theta_p``;
      ``angular_update`` is the RMS of these over the tensors).
      With ``lam_schedule="autol2"`` also ``"autol2"``: a dict of 1-D arrays, one entry per
      AutoL2 measurement (steps 0, ``autol2_measure_every``, ... that the run took): ``step``,
      ``train_loss``/``train_acc`` (the measured minibatch's data loss and accuracy, see
      ``TrainConfig.lam_schedule``) and ``lam`` (decided there, used from that step's update on;
      the ``lam`` column of a row at step ``t`` is that of the last measurement before ``t``).
      ``train.autol2_rule(a["step"], a["train_loss"], a["train_acc"], lam0=config.lam,
      num_classes=k, delay=config.setting("autol2_delay"), decay=config.setting("autol2_factor"))``
      gives ``a["lam"]``.

    Example:
      >>> from l2theory import data
      >>> ds = data.load("fashion_mnist_subset", n_train=200, n_test=100)
      >>> rows = train(TrainConfig(depth=2, width=32, steps=20, eval_every=10), ds)
      >>> rows["step"].tolist()
      [0, 10, 20]
    """
    engine = Engine(config, dataset, 1)
    steps = np.array([config.steps])
    state = engine.init(engine.hyper([config.lr], [config.lam], [config.seed], steps))
    with ProgressBar(progress, total=config.steps, desc="train") as bar:
        state, rows = run_chunk(engine, state, 0, Rows(), steps, on_eval=bar.on_eval)
    return rows.tables(engine.model.scale_invariant)[0]
