"""``sweep``: a lam x lr x seed grid trained together, lane-vectorized, chunked, sharded, resumable."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import sys
from typing import Any, Sequence

import jax
import numpy as np

from l2theory import _checks, _distributed
from l2theory._practice.train import results
from l2theory._practice.train.config import TrainConfig, check_config
from l2theory._practice.train.engine import (Engine, Placement, ProgressBar, Rows, run_chunk,
                                             to_host)
from l2theory._practice.train.progress import MODES as PROGRESS_MODES
from l2theory._practice.train.step import Hyper, make_step

# Columns a sweep adds in front of ``train``'s: the lane and its hyperparameters.
LANE_COLUMNS = ("run", "seed", "run_lam", "run_lr", "run_steps")


def steps_for_natural_time(tau: float, lam: float, lr: float) -> int:
    """Steps of a lane trained for natural time ``tau = lam * lr * t``: ``ceil(tau / (lam lr))``.

    Computed in float64 with a relative slack of 1e-9, so that a quotient that is an integer up to
    rounding (``2 / (1e-3 * 0.1)``) gives that integer.
    """
    tau = _natural_time(tau)
    x = tau / (_lane_lam("lam", lam) * _checks.lr("lr", lr))
    return max(1, math.ceil(x * (1 - 1e-9)))


def _natural_time(tau) -> float:
    return _checks.positive("natural_time", tau, what="the natural time lam * lr * t",
                            fix="e.g. 1.0, or None for config.steps steps in every lane")


def _lane_lam(name: str, lam) -> float:
    """A lam of a lane trained for a natural time: ``> 0``."""
    if _checks.lam(name, lam) == 0:
        raise _checks.bad(name, lam, "natural_time needs lam > 0 in every lane",
                          "drop lam=0 from the grid, or pass natural_time=None (config.steps "
                          "for all)")
    return float(lam)


def sweep(config: TrainConfig, dataset, *, lam: Sequence[float], lr: Sequence[float],
          seeds: Sequence[int], natural_time: float | None = None,
          out: str | os.PathLike | None = None, chunk_size: int | None = None,
          progress: bool = True, checkpoint_every: int = 10,
          desc: str | None = None, record_outputs: bool = False) -> dict[str, Any]:
    """Train every ``(lam, lr, seed)`` of the Cartesian grid, all lanes in one compiled program.

    Each lane is the run ``train(config.replace(lam=lam, lr=lr, seed=seed, steps=...), dataset)``:
    same initialization, same minibatches, same update, so the same rows up to float rounding (a
    batched matmul may sum in another order than the unbatched one; the tests allow 1e-5 relative).
    The lanes are trained together by ``jax.vmap``: ``lr``, ``lam``, ``seed`` and the number of
    steps are traced per-lane arrays, so one compilation serves the whole grid.

    - Chunks: ``chunk_size`` lanes at a time (default: as many as fit in about half of a device's
      memory by an estimate from the model's traced graph; on the CPU one lane per device for a
      model with convolutions, ``auto_chunk_size``). Lanes are ordered longest first before
      cutting them into chunks, so lanes of similar length share a chunk; a chunk runs until its
      longest lane ends, and the last chunk is padded with idle lanes so every chunk reuses the one
      compiled program.
    - Devices: each chunk's lanes are split over all devices (``jax.sharding.NamedSharding`` over a
      1-D mesh ``'lanes'``); the data is replicated. The same code runs on one CPU, one GPU or
      eight. No computation mixes lanes (each lane's randomness comes from its seed, its losses,
      norms and divergence test from its own arrays), so a lane's rows do not depend on the
      device that trains it; they are bit-identical wherever each device trains as many lanes at
      once (XLA compiles the step for that number and may sum in another order for another one:
      last-bit differences, see ``docs/cluster.md``).
    - Several processes (hosts, or GPUs; ``jax.distributed``, see ``docs/cluster.md``): start the
      runtime first in every process (``l2theory sweep --coordinator HOST:PORT --num-processes N
      --process-id I`` does, or ``jax.distributed.initialize(...)``), then call ``sweep`` with
      the same arguments and data everywhere (checked: a disagreement is a ``ValueError`` in
      every process). The lanes spread over every device of every process; each process returns
      the whole table. With ``out`` (one folder on a filesystem every process sees, checked),
      process ``i`` writes only its own lanes (``*.p<i>-of-<n>.*`` files) and process 0 the
      config and the combined table; after any process is killed, starting all of them again
      resumes from the newest checkpoint they all hold. ``load_results(out)`` reads the folder
      as one sweep.
    - ``natural_time=tau``: lane ``i`` takes ``ceil(tau / (lam_i lr_i))`` steps (see
      ``steps_for_natural_time``); lanes stop independently (updates past a lane's end are
      masked) and each lane's rows stop at its own end. Step-schedule fractions refer to each
      lane's own length. Chunks are filled longest lanes first, and a chunk runs until its
      longest lane ends: a masked lane still costs its share of the compute. On a CPU (cost ~
      lanes x steps) pass ``chunk_size=len(seeds)`` so that each chunk holds lanes of one
      ``lam lr``; on a GPU, small lanes run side by side nearly for free, so one chunk is best.
      ``TrainConfig(evals_per_decade=...)`` spaces the rows evenly in log-time across lanes.
    - Divergence: a lane is marked ``diverged`` at the first step whose training loss is
      non-finite or whose update would make ``||theta||^2`` non-finite or larger than
      ``config.divergence_norm_factor`` (default 100) times its value at initialization (weights
      that blew up while the loss stayed finite, e.g. every ReLU dead after a too-large lr); that
      update is refused (``diverged_step`` = that step), its parameters are frozen from then on
      and its later rows evaluate them; the other lanes are unaffected. See
      ``TrainConfig.divergence_norm_factor``.
    - ``out=DIR``: config, environment, checkpoints and the final table are written atomically
      (see ``l2theory._practice.train.results``). Calling the same ``sweep`` again resumes from the
      last checkpoint after a crash and ends with exactly the rows of an uninterrupted run; calling
      it after it finished returns the stored table without computing; a different sweep in the
      same directory raises ``ValueError``. With ``progress``, a resumed sweep says so and from
      where (``resuming DIR at chunk 2/5, step 1200 (1 of 5 chunks done)``) on stderr.
    - Ctrl-C (``KeyboardInterrupt``) is re-raised with one line saying where the sweep stopped
      and, with ``out``, where the newest checkpoint is (what a new call resumes from).

    Args:
      config: the shared settings (its ``lam``, ``lr``, ``seed`` are replaced by the grid's, its
        ``steps`` by ``natural_time`` when given).
      dataset: an ``l2theory.data.Dataset``.
      lam, lr, seeds: the grid's values (lanes in ``itertools.product(lam, lr, seeds)`` order).
      natural_time: natural time ``tau = lam * lr * steps`` per lane, or ``None`` for
        ``config.steps`` steps in every lane.
      out: results directory, or ``None`` to write nothing.
      chunk_size: lanes per compiled program (rounded up to a multiple of the device count).
      progress: ``True``: a tqdm bar (steps, ETA, best test accuracy so far) on stderr when it
        is a terminal, else one line as the sweep starts, one per chunk and one as it ends (a
        log gets a few lines); ``"bar"``: the bar wherever stderr goes; ``False``: nothing.
        Any but ``False`` also says when a sweep resumes.
      checkpoint_every: with ``out``, checkpoint every this many evaluations.
      desc: the progress bar's label (default ``"sweep <n> runs"``).
      record_outputs: also keep every lane's network outputs on each test (and validation)
        example at the lane's end (eval mode): per-example scores for statistics over the test
        images (``experiments.claim_greater_crossed``).

    Returns:
      A dict of equal-length 1-D numpy arrays, rows ordered by ``run`` then ``step``: ``run``
      (lane index in grid order), ``seed``, ``run_lam``, ``run_lr``, ``run_steps`` (the lane's
      settings; ``run_lam``/``run_lr`` are float64 holding the values exactly as given, so
      ``table["run_lam"] == 1e-3`` selects lanes), the columns of ``train`` (``step``,
      ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``, ``lam``, ``lr``,
      ``param_norm_sq``; ``val_loss``, ``val_acc`` when the dataset has a validation split, see
      ``data.hold_out``) and ``diverged``, ``diverged_step``. ``lam`` and ``lr`` are the values in
      force at that step as the training computed them, in ``config.dtype`` (float32 by default:
      ``1e-3`` reads ``0.0010000000474974513``; they differ from ``run_lam``/``run_lr`` under a
      schedule). ``out/results.csv`` writes every number in the shortest form that reads back to
      the same value in its column's dtype (``0.001``); ``l2theory.train.load_results(out)`` reads
      the table back.
      With ``lam_schedule="autol2"`` also ``"autol2"``: AutoL2's measurements of every lane as one
      dict of equal-length 1-D arrays, ordered by ``run`` then ``step``: ``run`` and ``train``'s
      ``step``, ``train_loss``, ``train_acc``, ``lam``. With ``out`` they are stored in the
      checkpoints, in ``results.npz`` (as ``autol2/<name>``) and in ``autol2.csv``;
      ``results.csv`` is the evaluation table. For a BatchNorm model, the columns
      ``BN_COLUMNS`` (``bn_weight_norm``, ``effective_lr``, ``angular_update``) and the nested
      ``"bn_tensor_norms"`` and ``"bn_tensor_angles"`` (``run``, ``step`` and each
      scale-invariant tensor's norm, or its RMS angle per step; stored as
      ``bn_tensor_norms/<name>`` and in ``bn_tensor_norms.csv``, alike for the angles), as
      ``train`` documents them.
      With ``record_outputs``, also ``"outputs"``: ``run`` ``[n_runs]`` and ``test`` (``val``)
      ``[n_runs, n_test, k]``: each lane's outputs at its end (stored in ``results.npz`` as
      ``outputs/<name>``).

    Example:
      >>> from l2theory import data
      >>> ds = data.load("fashion_mnist_subset", n_train=200, n_test=100)
      >>> cfg = TrainConfig(depth=2, width=32, steps=20, eval_every=10)
      >>> table = sweep(cfg, ds, lam=[0.0, 1e-3], lr=[1.0], seeds=[0], progress=False)
      >>> table["run"].tolist(), table["step"].tolist()
      ([0, 0, 0, 1, 1, 1], [0, 10, 20, 0, 10, 20])
    """
    lanes = _plan_lanes(config, dataset, lam=lam, lr=lr, seeds=seeds, natural_time=natural_time)
    checkpoint_every = _checks.positive_int("checkpoint_every", checkpoint_every)
    chunk_size = _checks.optional_int("chunk_size", chunk_size,
                                      fix="pass an int >= 1, or None (automatic)")
    _checks.choice("progress", progress, PROGRESS_MODES)
    _checks.boolean("record_outputs", record_outputs)
    if record_outputs:  # a folder of a sweep without outputs is another sweep
        lanes.axes["record_outputs"] = True
    if jax.process_count() > 1:
        _agree(config, dataset, lanes, out=out, chunk_size=chunk_size,
               checkpoint_every=checkpoint_every)
        if jax.process_index() != 0:  # one bar, one set of messages
            progress = False
    store, chunk_size, finished = _resume(out, config, dataset, lanes, chunk_size, progress)
    if finished is not None:
        return finished
    devices = jax.devices()
    if chunk_size is None:
        chunk_size = auto_chunk_size(config, dataset, len(lanes), len(devices))
        # each process estimates from its own free memory: all take the smallest
        chunk_size = int(_distributed.allgather(np.int32(chunk_size)).min())
    chunks = _Chunks.cut(lanes.steps, chunk_size, len(devices))
    if store is not None:
        store.set_chunk_size(chunks.size)
    engine = Engine(config, dataset, chunks.size, placement=Placement(devices))
    share = _Share(engine.placement, chunks.size)
    if desc is None:
        desc = f"sweep {len(lanes)} runs" + (f", {len(chunks)} chunks" if len(chunks) > 1 else "")
    tables = _run_chunks(engine, lanes, chunks, store, share, progress=progress,
                         checkpoint_every=checkpoint_every, desc=desc,
                         record_outputs=record_outputs)
    return _finish(tables, lanes, store, part=share.runs(chunks))


# ----------------------------------------------------------------------------- plan the lanes


@dataclasses.dataclass(frozen=True)
class _Lanes:
    """A sweep's lanes in grid order (``itertools.product(lam, lr, seeds)``).

    Attributes:
      grid: each lane's ``(lam, lr, seed)``, the values as given.
      steps: each lane's number of steps.
      axes: the grid's axes as checked (``lam``, ``lr``, ``seeds``, ``natural_time``): what a
        results folder records.
    """

    grid: list[tuple[float, float, int]]
    steps: list[int]
    axes: dict[str, Any]

    def __len__(self) -> int:
        return len(self.grid)


def _plan_lanes(config: TrainConfig, dataset, *, lam: Sequence[float], lr: Sequence[float],
                seeds: Sequence[int], natural_time: float | None = None) -> _Lanes:
    """The lanes of ``sweep(config, dataset, lam=, lr=, seeds=, natural_time=)``, every argument
    checked: ``config.steps`` steps per lane, or with ``natural_time`` ``tau``
    ``steps_for_natural_time(tau, lam, lr)`` (then every lam must be > 0). ``dataset=None``
    checks the config against no data (for a plan)."""
    check_config(config)
    lam = _checks.sequence("lam", lam, _checks.lam, example="[1e-4, 1e-3]")
    lr = _checks.sequence("lr", lr, _checks.lr, example="[0.1]")
    seeds = _checks.seeds("seeds", seeds)
    if dataset is not None:
        config.validate(dataset)
    grid = list(itertools.product(lam, lr, seeds))
    if natural_time is None:
        steps = [config.steps] * len(grid)
    else:
        natural_time = _natural_time(natural_time)
        for i, m in enumerate(lam):
            _lane_lam(f"lam[{i}]", m)
        steps = [steps_for_natural_time(natural_time, m, r) for m, r, _ in grid]
    return _Lanes(grid, steps, {"lam": lam, "lr": lr, "seeds": seeds,
                                "natural_time": natural_time})


@dataclasses.dataclass(frozen=True)
class _Chunks:
    """Lanes cut into chunks of ``size`` lanes, one compiled program for all: longest lanes
    first (lanes of similar length share a chunk, which runs until its longest lane ends); the
    last chunk is padded with idle lanes (0 steps)."""

    size: int
    members: list[list[int]]  # lane indices of each chunk
    steps: list[np.ndarray]  # [size] steps of each chunk's lanes, 0 for padding

    @classmethod
    def cut(cls, steps: Sequence[int], size: int, n_devices: int) -> "_Chunks":
        """``size`` rounded up to a multiple of ``n_devices`` (and no larger than the lanes)."""
        size = min(_round_up(size, n_devices), _round_up(len(steps), n_devices))
        order = sorted(range(len(steps)), key=lambda i: (-steps[i], i))
        members = [order[i:i + size] for i in range(0, len(order), size)]
        return cls(size, members, [np.array([steps[i] for i in m] + [0] * (size - len(m)))
                                   for m in members])

    def __len__(self) -> int:
        return len(self.members)

    def end(self, ci: int) -> int:
        """The last step of chunk ``ci`` (its longest lane's)."""
        return int(self.steps[ci].max())


# ----------------------------------------------------------------------------- resume


def _agree(config: TrainConfig, dataset, lanes: _Lanes, *, out, chunk_size: int | None,
           checkpoint_every: int) -> None:
    """Several processes: ``ValueError`` in every process unless all run the same sweep (config,
    grid, data, chunking, checkpoints, whether they write a folder) on as many devices each."""
    _distributed.check_devices()
    parts = {**_identity(config, dataset, lanes), "chunk_size": chunk_size,
             "checkpoint_every": checkpoint_every, "out given": out is not None}
    _distributed.check_same("the sweep", parts,
                            "start every process with the same arguments and the same data")


def _identity(config: TrainConfig, dataset, lanes: _Lanes) -> dict[str, Any]:
    """What makes two sweeps the same (``results.sweep_identity``): the settings every lane
    shares, the grid, the data's fingerprint."""
    return results.sweep_identity(config, lanes.axes, dataset)


def _resume(out, config: TrainConfig, dataset, lanes: _Lanes, chunk_size: int | None,
            progress: bool) -> tuple[results.Store | None, int | None, dict[str, Any] | None]:
    """``(store, chunk_size, finished)``: the results folder ``out`` opened for this sweep
    (``None`` without ``out``), the chunk size a resumed sweep keeps (``chunk_size`` in a new
    folder) and the table of a sweep that finished there earlier (else ``None``). ``ValueError``
    if ``out`` holds another sweep, or one written by another l2theory version."""
    if out is None:
        return None, chunk_size, None
    store = results.Store(out)
    chunk_size = store.open(_identity(config, dataset, lanes), chunk_size, config,
                            lanes=results.lane_configs(config, lanes.grid, lanes.steps))
    finished = store.load_result()
    if finished is not None and progress:
        print(f"{out} holds this sweep, finished: returning its results", file=sys.stderr)
    return store, chunk_size, finished


# ----------------------------------------------------------------------------- run the chunks


@dataclasses.dataclass
class _Where:
    """A point of a sweep: step ``t`` of chunk ``chunk`` (0-based), after ``done`` chunks."""

    chunk: int = 0
    t: int = 0
    done: int = 0

    def position(self, n_chunks: int) -> str:
        """``"step 1200"`` (one chunk) or ``"chunk 2/5, step 1200"``."""
        if n_chunks == 1:
            return f"step {self.t}"
        return f"chunk {min(self.chunk, n_chunks - 1) + 1}/{n_chunks}, step {self.t}"

    def resume_point(self, n_chunks: int) -> str:
        """Where a sweep resumes: ``"chunk 2/5, step 1200 (1 of 5 chunks done)"``."""
        if self.done >= n_chunks:
            return "the end (every chunk done)"
        text = self.position(n_chunks)
        return text if n_chunks == 1 else f"{text} ({self.done} of {n_chunks} chunks done)"


def _run_chunks(engine: Engine, lanes: _Lanes, chunks: _Chunks, store: results.Store | None,
                share: "_Share", *, progress: bool, checkpoint_every: int, desc: str,
                record_outputs: bool = False) -> list[dict[str, Any]]:
    """Every chunk trained to its end, or read back from ``store`` where it finished earlier; the
    first unfinished chunk resumes from its checkpoint (and says so). Returns each lane's table,
    in grid order. Ctrl-C: ``KeyboardInterrupt`` with one line saying where the sweep stopped
    and, with a store, what a new call resumes from."""
    tables: list[dict[str, Any] | None] = [None] * len(lanes)
    where = _Where()
    first_open = True  # the first chunk not finished earlier: where a resumed sweep starts
    total = sum(chunks.end(ci) for ci in range(len(chunks)))
    try:
        with ProgressBar(progress, total=total, desc=desc) as bar:
            for ci, members in enumerate(chunks.members):
                where.chunk, where.t = ci, 0
                saved = store.load_chunk(ci) if store is not None else None
                if saved is not None:
                    saved["rows"] = share.whole_rows(saved)
                if saved is not None and saved["done"]:
                    rows = Rows.from_arrays(saved["rows"])
                    bar.skip(chunks.end(ci), rows)
                else:
                    if first_open and (saved is not None or ci > 0):
                        at = _Where(ci, saved["t"] if saved is not None else 0, where.done)
                        bar.write(f"resuming {store.root} at {at.resume_point(len(chunks))}")
                    first_open = False
                    rows = _train_chunk(engine, lanes, chunks, ci, saved, store, share, bar,
                                        where, checkpoint_every, record_outputs)
                where.chunk, where.t, where.done = ci + 1, 0, where.done + 1
                if len(chunks) > 1:
                    bar.phase(f"chunk {ci + 1}/{len(chunks)} done")
                for run, table in zip(members, rows.tables(engine.model.scale_invariant)):
                    tables[run] = table
    except KeyboardInterrupt:
        line = "interrupted at " + where.position(len(chunks))
        if store is not None:
            line += "; " + _checkpoint_note(store, where, len(chunks))
        raise KeyboardInterrupt(line) from None
    return tables


def _train_chunk(engine: Engine, lanes: _Lanes, chunks: _Chunks, ci: int, saved, store,
                 share: "_Share", bar, where: _Where, checkpoint_every: int,
                 record_outputs: bool = False) -> Rows:
    """Chunk ``ci`` trained to its end, from its checkpoint ``saved`` (``Store.load_chunk``) or
    from initialization, checkpointed every ``checkpoint_every`` evaluations; its rows (with
    ``record_outputs``, the lanes' final outputs on the test/validation examples)."""
    members, end = chunks.members[ci], chunks.end(ci)
    if saved is not None:
        state, t, rows = _restore(engine, saved, store, share, ci), saved["t"], Rows.from_arrays(
            saved["rows"])
        bar.skip(t, rows)
        where.t = t
    else:
        hyper = engine.hyper([lanes.grid[i][1] for i in members],
                             [lanes.grid[i][0] for i in members],
                             [lanes.grid[i][2] for i in members],
                             [lanes.steps[i] for i in members])
        state, t, rows = engine.init(hyper), 0, Rows()

    def on_eval(state, t, rows, n_steps):
        where.t = t
        bar.on_eval(state, t, rows, n_steps)
        if store is not None and 0 < t < end and (len(rows) - 1) % checkpoint_every == 0:
            store.save_chunk(ci, t=t, rows=share.own_rows(rows.to_arrays()), done=False,
                             state_leaves=share.own_state(state), lanes=share.lanes)

    state, rows = run_chunk(engine, state, t, rows, chunks.steps[ci], on_eval=on_eval)
    if record_outputs:
        rows.outputs = engine.outputs(state)
    del state
    if store is not None:
        store.save_chunk(ci, t=end, rows=share.own_rows(rows.to_arrays()), done=True,
                         lanes=share.lanes)
    return rows


def _restore(engine: Engine, saved, store: results.Store, share: "_Share", ci: int):
    """The lane-batched state of a checkpoint, placed on the devices; a checkpoint whose arrays
    do not fit this version's training state is rejected, not patched."""
    abstract = engine.abstract_state()
    expected = [(share.own_shape(a.shape), np.dtype(a.dtype))
                for a in jax.tree.leaves(abstract)]
    leaves = saved["state_leaves"]
    found = [(np.shape(a), np.dtype(a.dtype)) for a in leaves]
    if found != expected:
        first = next((i for i, (f, e) in enumerate(zip(found, expected)) if f != e),
                     min(len(found), len(expected)))
        what = (f"array {first} is {found[first][1]}{list(found[first][0])} where this version "
                f"has {expected[first][1]}{list(expected[first][0])}"
                if first < min(len(found), len(expected)) else
                f"{len(found)} arrays where this version has {len(expected)}")
        raise ValueError(
            f"out={str(store.root)!r}: the checkpoint of chunk {ci} does not fit this version's "
            f"training state ({what}): written by another l2theory version; rerun the sweep "
            "into a new folder (pass another out)")
    return share.place_state(engine, jax.tree.unflatten(jax.tree.structure(abstract), leaves))


class _Share:
    """The lanes of a chunk that this process holds, and moving lane-indexed data between this
    process's share and the whole chunk.

    A chunk's ``size`` lanes are split over every device of every process (the engine's 1-D mesh
    ``'lanes'``); process ``i`` holds the lanes on its own devices (``lanes``: their positions in
    the chunk, the same for every chunk). In a single process that is every lane and each method
    passes its data through as the one-process sweep always did.
    """

    def __init__(self, placement: Placement, size: int):
        self.placement, self.size = placement, size
        self.multi = jax.process_count() > 1
        if self.multi:
            held = placement.lane_sharding.addressable_devices_indices_map((size,)).values()
            self.lanes = np.unique(np.concatenate([np.arange(size)[i] for i in held]))
        else:
            self.lanes = np.arange(size)

    def runs(self, chunks: _Chunks) -> list[int]:
        """The lanes of the sweep (grid indices) that this process trains."""
        return sorted(m[j] for m in chunks.members for j in self.lanes if j < len(m))

    def own_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of this process's share of a lane-batched array of ``shape``."""
        return (len(self.lanes),) + tuple(shape[1:])

    def own_state(self, state) -> list[np.ndarray]:
        """The leaves of a lane-batched state on the host: this process's lanes only (the
        shards on its devices: nothing crosses between processes)."""
        if not self.multi:
            return jax.tree.leaves(to_host(state))
        out = []
        for leaf in jax.tree.leaves(state):
            own = np.empty(self.own_shape(leaf.shape), leaf.dtype)
            for shard in leaf.addressable_shards:  # lane-split, or whole where XLA replicated
                held = np.arange(self.size)[shard.index[0]]
                mine = np.isin(held, self.lanes)
                own[np.searchsorted(self.lanes, held[mine])] = np.asarray(shard.data)[mine]
            out.append(own)
        return out

    def own_rows(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``Rows.to_arrays()`` of the whole chunk cut to this process's lanes (axis 1 of the
        ``[evaluations, lanes]`` columns; AutoL2's ``autol2/step`` has no lane axis; the final
        outputs ``outputs/<split>`` are ``[lanes, n, k]``)."""
        if not self.multi:
            return arrays
        return {k: (v[self.lanes] if k.startswith("outputs/") else
                    v[:, self.lanes] if np.ndim(v) == 2 else v) for k, v in arrays.items()}

    def whole_rows(self, saved: dict[str, Any]) -> dict[str, np.ndarray]:
        """A checkpoint's rows (this process's lanes, ``Store.load_chunk``) completed with the
        other processes' lanes: every process then holds the chunk's rows, as during training."""
        if "lanes" not in saved:
            return saved["rows"]
        self._check_lanes(saved["lanes"])
        from jax.sharding import NamedSharding, PartitionSpec

        sharding = NamedSharding(self.placement.lane_sharding.mesh, PartitionSpec(None, "lanes"))
        whole = {}
        for name, v in saved["rows"].items():
            if np.ndim(v) != 2:
                whole[name] = v
                continue
            arr = jax.make_array_from_callback(
                (v.shape[0], self.size), sharding,
                lambda index, v=v: v[:, self._positions(index[1])])
            whole[name] = to_host(arr)
        return whole

    def place_state(self, engine: Engine, state):
        """A checkpoint's lane-batched state (this process's lanes) placed on the devices."""
        if not self.multi:
            return engine.place_state(state)
        sharding = self.placement.lane_sharding
        return jax.tree.map(
            lambda x: jax.make_array_from_callback(
                (self.size,) + x.shape[1:], sharding,
                lambda index: x[(self._positions(index[0]),) + tuple(index[1:])]), state)

    def _positions(self, lanes: slice) -> np.ndarray:
        """Rows of this process's share that hold the chunk's lanes ``lanes``."""
        return np.searchsorted(self.lanes, np.arange(self.size)[lanes])

    def _check_lanes(self, lanes) -> None:
        if not np.array_equal(np.asarray(lanes), self.lanes):
            raise ValueError(f"a checkpoint of this process holds lanes {np.asarray(lanes)}, "
                             f"not the lanes {self.lanes} its devices hold now; resume with the "
                             "same processes and devices, or pass another out")


def _checkpoint_note(store: results.Store, where: _Where, n_chunks: int) -> str:
    """What a new call resumes from, read from ``store``: the checkpoint of the chunk in progress
    (``where.chunk``) after the ``where.done`` chunks before it."""
    saved = store.chunk_progress(where.chunk) if where.chunk < n_chunks else None
    if saved is None and where.done == 0:
        return f"nothing checkpointed yet in {store.root}"
    at = _Where(where.chunk, 0, where.done)
    if saved is not None:
        t, finished = saved
        at = _Where(where.chunk + 1, 0, where.done + 1) if finished else _Where(
            where.chunk, t, where.done)
    return f"checkpoint in {store.root} at {at.resume_point(n_chunks)}"


# ----------------------------------------------------------------------------- finish


def _finish(tables: list[dict[str, Any]], lanes: _Lanes, store: results.Store | None,
            part: list[int]) -> dict[str, Any]:
    """The sweep's table (``_assemble``), saved to ``store`` (which marks the sweep finished);
    with several processes each saves ``part``, the rows of the lanes it trained."""
    table = _assemble(tables, lanes.grid, lanes.steps)
    if store is not None:
        store.save_result(table, part=_rows_of(table, part) if store.multi else None)
    return table


def _rows_of(table: dict[str, Any], runs: Sequence[int]) -> dict[str, Any]:
    """The rows of ``table`` (and of its nested tables) whose ``run`` is in ``runs``."""
    out = {}
    keep = np.isin(table["run"], list(runs))
    for name, value in table.items():
        out[name] = _rows_of(value, runs) if isinstance(value, dict) else value[keep]
    return out


def _assemble(tables, grid, steps) -> dict[str, Any]:
    """One table, lanes in grid order; ``run_lam``/``run_lr`` are float64 of the values as given
    (``table["run_lam"] == 1e-3`` selects a lane), whatever the training dtype; nested tables
    (AutoL2's measurements ``table["autol2"]``, the BatchNorm tensors' norms and angles
    ``table["bn_tensor_norms"]``, ``table["bn_tensor_angles"]``) with a ``run`` column in front;
    the lanes' final outputs ``table["outputs"]`` (``run`` and ``[n_runs, n, k]`` arrays)."""
    parts, nested, outputs = [], {}, []
    for run, ((lam, lr, seed), n, table) in enumerate(zip(grid, steps, tables)):
        table = dict(table)
        if "outputs" in table:
            outputs.append(table.pop("outputs"))
        for name in [name for name, value in table.items() if isinstance(value, dict)]:
            inner = table.pop(name)
            nested.setdefault(name, []).append(
                {"run": np.full(len(inner["step"]), run, np.int64), **inner})
        k = len(table["step"])
        lane = {"run": np.full(k, run, np.int64), "seed": np.full(k, seed, np.int64),
                "run_lam": np.full(k, lam, np.float64), "run_lr": np.full(k, lr, np.float64),
                "run_steps": np.full(k, n, np.int64)}
        parts.append({**lane, **table})
    out: dict[str, Any] = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    for name, lanes in nested.items():
        out[name] = {col: np.concatenate([m[col] for m in lanes]) for col in lanes[0]}
    if outputs:
        out["outputs"] = {"run": np.arange(len(outputs), dtype=np.int64),
                          **{name: np.stack([o[name] for o in outputs]) for name in outputs[0]}}
    return out


def auto_chunk_size(config: TrainConfig, dataset, n_runs: int, n_devices: int) -> int:
    """Lanes per chunk: as many as fit in about half of one device's memory (times the number of
    devices), by an estimate of one lane's memory (state x3 for gradients and the updated copy,
    plus every intermediate of one training step and one evaluation batch, from the traced graph),
    then balanced so that chunks are about equally full. On the CPU a model with convolutions
    runs one lane per device: XLA's CPU backend runs the gradient of lanes' batched
    convolutions (``vmap`` over per-lane weights) about 7x slower per lane than one lane's
    (measured, WRN-10-1 on 128 28x28 images: 3 lanes 6.2 s a step, 1 lane 0.31 s)."""
    from l2theory._practice.train.engine import loop_free

    if loop_free(config.build_model(dataset.num_classes), dataset.input_shape,
                 jax.devices()[0].platform):
        return n_devices
    per_lane = lane_bytes(config, dataset)
    budget = _device_memory() // 2
    per_device = max(1, budget // max(per_lane, 1))
    cap = per_device * n_devices
    n_chunks = -(-n_runs // cap)
    return _round_up(-(-n_runs // n_chunks), n_devices)


def lane_bytes(config: TrainConfig, dataset) -> int:
    """Estimated device memory of one lane of a sweep (bytes)."""
    import jax.numpy as jnp

    model = config.build_model(dataset.num_classes)
    step = make_step(config, model, dataset.input_shape, num_classes=dataset.num_classes)
    scalar = lambda dt: jax.ShapeDtypeStruct((), dt)  # noqa: E731
    n_decays = len(config.setting("lr_decay_at"))
    hyper = Hyper(scalar(config.param_dtype), scalar(config.param_dtype), scalar(jnp.int32),
                  scalar(jnp.int32), jax.ShapeDtypeStruct((n_decays,), jnp.int32))
    state = jax.eval_shape(step.init, hyper)
    state_bytes = _tree_bytes(state)
    n = dataset.n_train
    b = n if config.batch_size is None else min(config.batch_size, n)
    x = jax.ShapeDtypeStruct((b,) + dataset.input_shape, jnp.float32)
    y = jax.ShapeDtypeStruct((b,), jnp.int32)
    train_act = _jaxpr_bytes(jax.grad(lambda p, s, x, y: step.loss(p, s, x, y)[0]),
                             state.params, state.model_state, x, y)
    e = min(config.eval_batch_size, dataset.n_test)
    xe = jax.ShapeDtypeStruct((e,) + dataset.input_shape, jnp.float32)
    ye = jax.ShapeDtypeStruct((e,), jnp.int32)
    we = jax.ShapeDtypeStruct((e,), jnp.float32)
    eval_act = _jaxpr_bytes(step.evaluate, state.params, state.model_state, xe, ye, we)
    return 3 * state_bytes + train_act + eval_act + 4 * n


def _tree_bytes(tree) -> int:
    return int(sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize
                   for x in jax.tree.leaves(tree)))


def _jaxpr_bytes(fn, *args) -> int:
    """Sum of the sizes of every intermediate of ``fn`` (an upper bound on its live memory)."""
    closed = jax.make_jaxpr(fn)(*args)

    def walk(jaxpr) -> int:
        total = 0
        for eqn in jaxpr.eqns:
            for v in eqn.outvars:
                aval = v.aval
                if hasattr(aval, "shape"):
                    total += math.prod(aval.shape) * np.dtype(aval.dtype).itemsize
            for p in eqn.params.values():
                inner = getattr(p, "jaxpr", p)
                if hasattr(inner, "eqns"):
                    total += walk(inner)
        return total

    return walk(closed.jaxpr)


def _device_memory() -> int:
    """Bytes of memory of one device of this process (GPU: XLA's limit; CPU: available RAM)."""
    dev = jax.local_devices()[0]
    try:
        stats = dev.memory_stats() or {}
        if stats.get("bytes_limit"):
            return int(stats["bytes_limit"])
    except Exception:  # noqa: BLE001 - memory_stats is unsupported on some backends
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // max(
            1, jax.local_device_count())
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


__all__ = ["sweep", "steps_for_natural_time", "auto_chunk_size", "lane_bytes",
           "LANE_COLUMNS"]
