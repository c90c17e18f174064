"""Training-engine throughput against bare hand-written JAX steps of the same model.

What it compares: for each case, in one process, the engine's compiled segment
(``l2theory.train.Engine.segment``: on-device minibatch sampling, optax update, divergence check
and lane masking inside one ``lax.scan``) against bare ``lax.scan``s of ``value_and_grad`` + a
hand-written SGD-momentum update of the same model, batch, compute dtype, matmul precision
(``TrainConfig.matmul_precision_in_force``: full float32 unless a row asks for TF32) and
cross-entropy (``-sum(one_hot * log_softmax)``, as the engine): ``bare`` on a fixed batch per
lane (no sampling, no checks: the strict lower bound), ``bare_gather`` gathering each step's
minibatch from the training set on the device (what any training loop does). All are warmed up
(compiled) before timing and timed in turns; each timed call runs ``steps`` steps and ends in
``block_until_ready``; figures are mean +- std over ``repeats`` calls. ``ratio = bare time /
engine time`` (target >= 0.9: the engine keeps 90% of the bare throughput), ``ratio_gather``
the same against ``bare_gather``. The training set has 128 steps per epoch (the engine draws one
permutation per epoch; a real run has hundreds of steps per epoch).

Cases, in order of importance (``--preset gpu``; ``--preset cpu`` shrinks them to run in a few
minutes on 2 cores; ``--preset tiny`` runs one of each kind in seconds):

- FC 784-2048-2048-2048-10, batch 128, one run, full float32 and TF32;
- FC sweeps of 16 / 64 / 256 lanes (run-steps per second). A sweep of small networks is bound by
  the memory traffic of the optimizer update (read params, gradient, momentum; write params,
  momentum: 5 x 4 bytes per parameter and lane), so the script prints the achieved bytes/s of that
  update against the device's memory bandwidth (``--bandwidth-gbs``; default per known device,
  on CPU a measured copy bandwidth). Small sweeps whose parameters fit in the CPU caches can
  exceed the DRAM figure;
- WRN-28-10 and WRN-16-4 on 32x32x3 inputs, batch 128, float32 and bfloat16 compute, one run
  (engine and ``bare``, both with BatchNorm); a bare WRN-28-10 bf16 step without BatchNorm (what
  BatchNorm costs); 4 WRN-28-10 bf16 runs as the lanes of one program (examples/s of all four:
  whether lanes fill a GPU that one run leaves idle).

Results go to ``<out>/bench_training-<preset>-<device>.json`` (after every row) with the config,
the versions and the git commit.

What the engine adds per step, read off the compiled CPU program (FC, one run): the minibatch
gather (also in ``bare_gather``), the training loss's value (the divergence check needs it: a
log and a reduction), three scalar-state updates (step, diverged, diverged_step) and two carry
copies. Cross-entropy of integer labels is a one-hot product, not a gather/scatter-add (5 fewer
kernels per step than before issue 12; the same values bit for bit).

Measured (``--preset cpu``, 2-core AMD EPYC VM shared with other agents' jobs, load average
3.2-4.4 during the run, jax/jaxlib 0.10.2, optax 0.2.8, numpy 2.4, Python 3.11; 223 s;
``results/bench_training-cpu-cpu-amd-epyc-2cores.json``): ratio / ratio_gather 1.04 / 1.01 FC
784-2048x3-10 (compute bound: 93 ms/step), 0.59 / 0.87 FC 784-32x3-10 at batch 16 (latency bound,
0.076 ms/step: the CPU's gather is slow; a stand-in for the per-step overhead a GPU sees), 0.85 /
1.00, 0.89 / 0.91, 1.00 / 1.05 FC-128 sweeps of 16 / 64 / 256 lanes, 1.01 WRN-16-4 fp32
(batch 2), 1.01 / 1.00 WRN-10-2 fp32 / bf16 (batch 8), 1.04 for 4 WRN-10-2 bf16 runs in one
program (which on this CPU take 1.6x longer per run than one run alone). Timings on this shared
machine vary by +-5-50% between calls and runs. GPU preset: ``gpu_check.sh`` (issue 12's H200
figures before these changes: ratio 0.76 FC single run, 0.875 / 0.943 / 0.991 FC sweeps of 16 /
64 / 256 lanes, 0.987 / 0.985 WRN-28-10 fp32 / bf16, 0.967 / 0.937 WRN-16-4; all at JAX's
default TF32 then).

Usage::

    PYTHONPATH=. python benchmarks/bench_training.py --preset cpu
    PYTHONPATH=. python benchmarks/bench_training.py --preset gpu --bandwidth-gbs 3350
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from l2theory import data
from l2theory.train import Engine, TrainConfig
from l2theory.train import environment

HERE = Path(__file__).resolve().parent

# One config per preset, cases in order of importance (a time limit keeps the first ones: the
# JSON is written after each). A case: (name, TrainConfig kwargs, input shape, steps per timed
# call, options): "lanes" (runs trained as lanes of one program, default 1), "sweep" (a sweep
# row: optimizer bytes/s reported) and "programs" (default: all of PROGRAMS; the gather
# matters only for small steps). Units: batch in examples, bandwidth in GB/s.
_NO_BN = {"batchnorm": False, "residual_scale": 1 / 12 ** 0.5}  # 1/sqrt(3n), n = 4 blocks
_CONV = {"programs": ("engine", "bare")}
_FC_SWEEP = dict(model="fc", depth=3, width=1024)
PRESETS = {
    "gpu": {
        "repeats": 4,
        "batch": 128,
        "cases": [
            ("fc 784-2048x3-10", dict(model="fc", depth=4, width=2048), (28, 28, 1), 500, {}),
            ("fc sweep 784-1024x2-10", _FC_SWEEP, (28, 28, 1), 100, {"lanes": 16, "sweep": True}),
            ("wrn-28-10 bf16", dict(model="wrn-28-10", compute_dtype="bfloat16"), (32, 32, 3), 20,
             _CONV),
            ("wrn-28-10 bf16, 4 runs in one program", dict(model="wrn-28-10",
                                                           compute_dtype="bfloat16"),
             (32, 32, 3), 10, {**_CONV, "lanes": 4}),
            ("wrn-28-10 bf16 without BatchNorm", dict(model="wrn-28-10", compute_dtype="bfloat16",
                                                      model_kwargs=_NO_BN), (32, 32, 3), 20,
             {"programs": ("bare",)}),
            ("wrn-28-10 fp32", dict(model="wrn-28-10"), (32, 32, 3), 20, _CONV),
            ("wrn-16-4 bf16", dict(model="wrn-16-4", compute_dtype="bfloat16"), (32, 32, 3), 50,
             _CONV),
            ("wrn-16-4 fp32", dict(model="wrn-16-4"), (32, 32, 3), 50, _CONV),
            ("fc 784-2048x3-10 tf32", dict(model="fc", depth=4, width=2048,
                                           matmul_precision="tensorfloat32"), (28, 28, 1), 500,
             {}),
            ("fc sweep 784-1024x2-10", _FC_SWEEP, (28, 28, 1), 100, {"lanes": 64, "sweep": True}),
            ("fc sweep 784-1024x2-10", _FC_SWEEP, (28, 28, 1), 100,
             {"lanes": 256, "sweep": True, "programs": ("engine", "bare")}),
        ],
    },
    "cpu": {  # WRN-28-10 skipped; WRNs shrunk in batch (a 2-core CPU does ~10 GFLOP/s)
        "repeats": 5,
        "batch": 128,
        "cases": [
            ("fc 784-2048x3-10", dict(model="fc", depth=4, width=2048), (28, 28, 1), 5, {}),
            ("fc 784-32x3-10 (batch 16)", dict(model="fc", depth=4, width=32, batch_size=16),
             (28, 28, 1), 1000, {}),
            ("fc sweep 784-128x2-10 (batch 32)", dict(model="fc", depth=3, width=128,
                                                      batch_size=32), (28, 28, 1), 10,
             {"lanes": 16, "sweep": True}),
            ("fc sweep 784-128x2-10 (batch 32)", dict(model="fc", depth=3, width=128,
                                                      batch_size=32), (28, 28, 1), 10,
             {"lanes": 64, "sweep": True}),
            ("fc sweep 784-128x2-10 (batch 32)", dict(model="fc", depth=3, width=128,
                                                      batch_size=32), (28, 28, 1), 10,
             {"lanes": 256, "sweep": True}),
            ("wrn-16-4 fp32 (batch 2)", dict(model="wrn-16-4", batch_size=2), (32, 32, 3), 2,
             _CONV),
            ("wrn-10-2 fp32 (batch 8)", dict(model="wrn-10-2", batch_size=8), (32, 32, 3), 2,
             _CONV),
            ("wrn-10-2 bf16 (batch 8)", dict(model="wrn-10-2", batch_size=8,
                                              compute_dtype="bfloat16"), (32, 32, 3), 2, _CONV),
            ("wrn-10-2 bf16 (batch 8) without BatchNorm",
             dict(model="wrn-10-2", batch_size=8, compute_dtype="bfloat16",
                  model_kwargs={"batchnorm": False, "residual_scale": 0.5}), (32, 32, 3), 2,
             {"programs": ("bare",)}),
            ("wrn-10-2 bf16 (batch 8), 4 runs in one program",
             dict(model="wrn-10-2", batch_size=8, compute_dtype="bfloat16"), (32, 32, 3), 2,
             {**_CONV, "lanes": 4}),
        ],
    },
    "tiny": {  # every kind of row in seconds (gpu_check.sh SMALL=1)
        "repeats": 2,
        "batch": 32,
        "cases": [
            ("fc 784-64x3-10", dict(model="fc", depth=4, width=64), (28, 28, 1), 5, {}),
            ("fc sweep 784-32x2-10", dict(model="fc", depth=3, width=32, batch_size=16),
             (28, 28, 1), 5, {"lanes": 4, "sweep": True}),
            ("wrn-10-1 bf16 (batch 4) without BatchNorm",
             dict(model="wrn-10-1", batch_size=4, compute_dtype="bfloat16",
                  model_kwargs={"batchnorm": False, "residual_scale": 0.5}), (8, 8, 3), 2,
             {"programs": ("bare",)}),
            ("wrn-10-1 bf16 (batch 4), 2 runs in one program",
             dict(model="wrn-10-1", batch_size=4, compute_dtype="bfloat16"), (8, 8, 3), 2,
             {**_CONV, "lanes": 2}),
        ],
    },
}

# Nominal memory bandwidth (GB/s) by device kind (first match wins).
BANDWIDTH_GBS = [("H200", 4800), ("H100 PCIe", 2000), ("H100", 3350), ("A100-SXM4-40GB", 1555),
                 ("A100", 2039), ("L40S", 864), ("L4", 300), ("V100", 900)]


def device_tag(env: dict) -> str:
    """File-name-safe device name, e.g. ``nvidia-h100-80gb-hbm3`` or ``cpu-amd-epyc-2cores``."""
    name = f"cpu {env['cpu']} {env['cpu_count']}cores" if env["backend"] == "cpu" else \
        env["device_kind"]
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def measured_copy_bandwidth_gbs() -> float:
    """Bytes/s of ``y = a * x + y`` on 64 MiB arrays (read 2, write 1): a STREAM-like triad."""
    n = 16 << 20
    x = jnp.ones(n, jnp.float32)
    y = jnp.ones(n, jnp.float32)
    f = jax.jit(lambda x, y: 1.0001 * x + y)
    f(x, y).block_until_ready()
    reps = []
    for _ in range(5):
        t = time.perf_counter()
        f(x, y).block_until_ready()
        reps.append(time.perf_counter() - t)
    return 3 * 4 * n / min(reps) / 1e9


def timed_pair(fns, states, repeats: int):
    """Warm each ``state = fn(state)`` up once, then time them in turns (``repeats`` rounds, so
    slow drifts of a shared machine hit both alike). Returns seconds per call, one array each."""
    states = [jax.block_until_ready(fn(st)) for fn, st in zip(fns, states)]
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            states[i] = jax.block_until_ready(fn(states[i]))
            times[i].append(time.perf_counter() - t)
    return [np.array(t) for t in times]


def dataset(input_shape, n_train: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return data.Dataset(rng.random((n_train,) + input_shape, np.float32),
                        rng.integers(0, 10, n_train).astype(np.int32),
                        rng.random((64,) + input_shape, np.float32),
                        rng.integers(0, 10, 64).astype(np.int32))


# TrainConfig.matmul_precision values as jax.default_matmul_precision names ("default": none).
_JAX_PRECISION = {"highest": "float32", "tensorfloat32": "tensorfloat32", "bfloat16": "bfloat16",
                  "default": None}


def bare_program(engine: Engine, steps: int, n_lanes: int, x, y, idx=None):
    """A bare ``lax.scan`` of SGD with momentum (cross-entropy as the engine computes it, at the
    config's matmul precision), vmapped over lanes; ``carry -> carry``.

    ``idx=None``: a fixed batch per lane (``x``, ``y``: ``[lanes, batch, ...]``), the strict lower
    bound. Else ``x``, ``y`` are the training set on the device and ``idx`` ``[lanes, steps,
    batch]`` the examples of each step: the minibatch gather any training loop does.
    """
    cfg, model = engine.config, engine.model
    lr, lam, mu = cfg.lr, cfg.lam, cfg.momentum
    precision = _JAX_PRECISION[cfg.matmul_precision_in_force]

    def loss(p, s, xb, yb):
        out, s = model.apply(p, s, xb, True)
        out = out.astype(jnp.float32)
        target = jax.nn.one_hot(yb, out.shape[-1], dtype=out.dtype)
        return -jnp.mean(jnp.sum(target * jax.nn.log_softmax(out), axis=-1)), s

    def update(carry, xb, yb):
        p, m, s = carry
        (_, s), g = jax.value_and_grad(loss, has_aux=True)(p, s, xb, yb)
        m = jax.tree.map(lambda m, g, p: mu * m + (g + lam * p), m, g, p)
        p = jax.tree.map(lambda p, m: p - lr * m, p, m)
        return p, m, s

    def one(carry, x, y, idx):
        if idx is None:
            return jax.lax.scan(lambda c, _: (update(c, x, y), None), carry, None,
                                length=steps)[0]
        return jax.lax.scan(lambda c, i: (update(c, x[i], y[i]), None), carry, idx)[0]

    def traced(carry, x, y, idx):
        with jax.default_matmul_precision(precision) if precision else contextlib.nullcontext():
            if n_lanes > 1:
                axes = (0, 0, 0, None) if idx is None else (0, None, None, 0)
                return jax.vmap(one, in_axes=axes)(carry, x, y, idx)
            strip = lambda a: jax.tree.map(lambda v: v[0], a)  # noqa: E731
            out = one(strip(carry), *((strip(x), strip(y), None) if idx is None else
                                      (x, y, strip(idx))))
            return jax.tree.map(lambda v: v[None], out)

    run = jax.jit(traced, donate_argnums=(0,))
    return lambda carry: run(carry, x, y, idx)


PROGRAMS = ("engine", "bare", "bare_gather")


def compare(name: str, cfg: TrainConfig, input_shape, n_lanes: int, steps: int,
            repeats: int, programs=PROGRAMS) -> dict:
    batch = cfg.batch_size
    # an epoch of 128 steps (up to 16384 examples): the engine draws one permutation per epoch,
    # as rarely as in a real run (Fashion-MNIST at batch 128: 468 steps per epoch)
    ds = dataset(input_shape, max(2048, min(16384, 128 * batch)))
    engine = Engine(cfg, ds, n_lanes)
    lanes = list(range(n_lanes))
    total = 10**9  # lanes never end during the benchmark
    state = engine.init(engine.hyper([cfg.lr] * n_lanes, [cfg.lam] * n_lanes, lanes,
                                     [total] * n_lanes))
    t0 = [0]
    epochs = {}  # the engine's per-epoch minibatch orders, reused as run_chunk does

    def engine_fn(state):
        out = engine.segment(state, t0[0], steps, epochs)
        t0[0] += steps
        return out

    # bare: the same initial parameters; a fixed batch per lane, or gathered per step
    def carry():
        return jax.tree.map(jnp.copy, (state.params, jax.tree.map(jnp.zeros_like, state.params),
                                       state.model_state))

    n_params = sum(int(np.prod(p.shape[1:])) for p in jax.tree.leaves(state.params))
    rng = np.random.default_rng(1)
    fixed = rng.integers(0, ds.n_train, (n_lanes, batch))
    idx = jnp.asarray(rng.integers(0, ds.n_train, (n_lanes, steps, batch)), jnp.int32)
    x_all, y_all = jnp.asarray(ds.x_train), jnp.asarray(ds.y_train.astype(np.int32))
    fns = {"engine": (engine_fn, state),
           "bare": (bare_program(engine, steps, n_lanes, jnp.asarray(ds.x_train[fixed]),
                                 jnp.asarray(ds.y_train[fixed].astype(np.int32))), carry()),
           "bare_gather": (bare_program(engine, steps, n_lanes, x_all, y_all, idx), carry())}
    fns = {k: v for k, v in fns.items() if k in programs}
    times = timed_pair([f for f, _ in fns.values()], [st for _, st in fns.values()], repeats)
    fns.clear()
    row = {"name": name, "lanes": n_lanes, "batch": batch, "steps_per_call": steps,
           "params_per_lane": n_params, "matmul_precision": cfg.matmul_precision_in_force,
           "compute_dtype": cfg.compute_dtype}
    per_step = dict(zip([p for p in PROGRAMS if p in programs], (t / steps for t in times)))
    for prog, t in per_step.items():
        row[f"{prog}_step_s"] = [float(t.mean()), float(t.std())]
        row[f"{prog}_examples_per_s"] = float(n_lanes * batch / t.mean())
        row[f"{prog}_run_steps_per_s"] = float(n_lanes / t.mean())
    if "engine" in per_step:
        e = per_step["engine"]
        for prog, key in (("bare", "ratio"), ("bare_gather", "ratio_gather")):
            if prog in per_step:
                row[key] = float(per_step[prog].mean() / e.mean())
                row[f"{key}_of_fastest"] = float(per_step[prog].min() / e.min())
        bytes_per_param = 4 * (5 if cfg.momentum > 0 else 3)
        row["update_bytes_per_step"] = n_lanes * n_params * bytes_per_param
        row["engine_update_gbs"] = row["update_bytes_per_step"] / e.mean() / 1e9
    return row


def fmt(row: dict, bandwidth: float | None) -> str:
    parts = [f"{row['name']:<48} lanes {row['lanes']:>4}"]
    for prog in PROGRAMS:
        if f"{prog}_step_s" in row:
            t = row[f"{prog}_step_s"]
            parts.append(f"{prog} {t[0] * 1e3:9.3f} +- {t[1] * 1e3:7.3f} ms/step "
                         f"({row[f'{prog}_examples_per_s']:,.0f} ex/s)")
    text = "  ".join(parts)
    if "ratio" in row:
        text += (f"\n{'':<48} ratio {row['ratio']:.3f} (fastest calls "
                 f"{row['ratio_of_fastest']:.3f})")
    if "ratio_gather" in row:
        text += (f"  ratio_gather {row['ratio_gather']:.3f} (fastest calls "
                 f"{row['ratio_gather_of_fastest']:.3f})")
    if row.get("sweep"):
        frac = f" = {100 * row['engine_update_gbs'] / bandwidth:.1f}% of {bandwidth:.0f}" \
            if bandwidth else ""
        text += f"\n{'':<48} optimizer update {row['engine_update_gbs']:.1f} GB/s{frac} GB/s"
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--bandwidth-gbs", type=float, default=None,
                        help="device memory bandwidth in GB/s (default: by device kind; on CPU "
                             "a measured copy bandwidth)")
    parser.add_argument("--only", default=None, help="run only cases whose name has this text")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for the JSON")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    env = environment()
    bandwidth = args.bandwidth_gbs
    source = "--bandwidth-gbs"
    if bandwidth is None:
        kind = env["device_kind"]
        bandwidth = next((bw for k, bw in BANDWIDTH_GBS if k in kind), None)
        source = f"nominal for {kind}"
        if bandwidth is None:
            bandwidth, source = measured_copy_bandwidth_gbs(), "measured (jnp triad)"
    print(f"# bench_training --preset {args.preset}")
    print(f"# device: {env['device_kind']} x{len(env['devices'])} ({env['backend']}), "
          f"cpu {env['cpu']} x{env['cpu_count']}, host {env['hostname']}")
    print("# versions: " + ", ".join(f"{k} {env[k]}" for k in
                                    ("python", "jax", "jaxlib", "numpy", "optax", "git")))
    print(f"# memory bandwidth: {bandwidth:.1f} GB/s ({source})")
    start = time.time()
    rows = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench_training-{args.preset}-{device_tag(env)}.json"

    def save():  # after every row, so a run stopped by a time limit keeps what it measured
        path.write_text(json.dumps({
            "preset": args.preset, "config": preset, "environment": env,
            "bandwidth_gbs": bandwidth, "bandwidth_source": source,
            "runtime_s": time.time() - start, "results": rows}, indent=2, default=list) + "\n")

    common = dict(loss="xent", lr=0.1, lam=5e-4, momentum=0.9, eval_every=1,
                  train_eval_size=64, eval_batch_size=64)
    for name, kw, shape, steps, opts in preset["cases"]:
        if args.only and args.only not in name:
            continue
        kw = {**common, "batch_size": preset["batch"], **kw}
        cfg = TrainConfig(**kw)
        row = compare(name, cfg, shape, opts.get("lanes", 1), steps, preset["repeats"],
                      opts.get("programs", PROGRAMS))
        if opts.get("sweep"):
            row["sweep"] = True
            row["update_fraction_of_bandwidth"] = row["engine_update_gbs"] / bandwidth
        rows.append(row)
        print(fmt(row, bandwidth), flush=True)
        save()
    save()
    print(f"# runtime {time.time() - start:.0f} s")
    print(f"# wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
