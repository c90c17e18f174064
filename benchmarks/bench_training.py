"""Training-engine throughput against a bare hand-written JAX step of the same model.

What it compares: for each case, in one process, the engine's compiled segment
(``l2theory._practice.train.engine.Engine.segment``: on-device minibatch sampling, optax update,
divergence check and lane masking inside one ``lax.scan``) against a bare ``lax.scan`` of
``value_and_grad`` + a hand-written SGD-momentum update on a fixed batch of the same size and
dtype (no sampling, no checks, no logging). Both are warmed up (compiled) before timing; each
timed call runs ``steps`` steps and ends in ``block_until_ready``; figures are mean +- std over
``repeats`` calls. ``ratio = bare time / engine time`` (target >= 0.9: the engine keeps 90% of
the bare throughput).

Cases (``--preset gpu``; ``--preset cpu`` shrinks them to run in a few minutes on 2 cores):

- WRN-28-10 and WRN-16-4 on 32x32x3 inputs, batch 128, float32 and bfloat16 compute, one run;
- FC 784-2048-2048-2048-10, batch 128, one run;
- FC sweeps of 16 / 64 / 256 lanes (run-steps per second). A sweep of small networks is bound by
  the memory traffic of the optimizer update (read params, gradient, momentum; write params,
  momentum: 5 x 4 bytes per parameter and lane), so the script prints the achieved bytes/s of that
  update against the device's memory bandwidth (``--bandwidth-gbs``; default per known device,
  on CPU a measured copy bandwidth). Small sweeps whose parameters fit in the CPU caches can
  exceed the DRAM figure.

Results go to ``benchmarks/results/bench_training-<preset>-<device>.json`` with the config, the
versions and the git commit.

Measured (``--preset cpu``, 2-core AMD EPYC VM shared with other jobs, jax/jaxlib 0.10.2,
optax 0.2.8, numpy 2.4, Python 3.11; 146 s; ``results/bench_training-cpu-cpu-amd-epyc-2cores.json``):
ratio 0.98 WRN-16-4 fp32 (batch 2), 0.98 / 1.00 WRN-10-2 fp32 / bf16 (batch 8), 0.95 FC
784-2048x3-10, 0.94 / 0.99 / 1.01 FC-128 sweeps of 16 / 64 / 256 lanes (about 2000 run-steps/s,
the update at ~85% of the measured 5.5 GB/s). Timings on this shared machine vary by +-5-50%
between calls and runs (earlier runs gave 0.88-1.03); what the engine adds per step is the gather
of each lane's minibatch (the bare step reuses a fixed batch) and a few scalar ops. GPU preset:
not yet run (``gpu_check.sh``).

Usage::

    PYTHONPATH=. python benchmarks/bench_training.py --preset cpu
    PYTHONPATH=. python benchmarks/bench_training.py --preset gpu --bandwidth-gbs 3350
"""

from __future__ import annotations

import argparse
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

# One config per preset. Units: batch in examples, steps per timed call, bandwidth in GB/s.
PRESETS = {
    "gpu": {
        "repeats": 5,
        "single": [
            # name, TrainConfig kwargs, input shape, steps per timed call
            ("wrn-28-10 fp32", dict(model="wrn-28-10"), (32, 32, 3), 20),
            ("wrn-28-10 bf16", dict(model="wrn-28-10", compute_dtype="bfloat16"), (32, 32, 3), 20),
            ("wrn-16-4 fp32", dict(model="wrn-16-4"), (32, 32, 3), 50),
            ("wrn-16-4 bf16", dict(model="wrn-16-4", compute_dtype="bfloat16"), (32, 32, 3), 50),
            ("fc 784-2048x3-10", dict(model="fc", depth=4, width=2048), (28, 28, 1), 500),
        ],
        "batch": 128,
        "sweep": dict(depth=3, width=1024, batch=128, lanes=(16, 64, 256), steps=100),
    },
    "cpu": {  # WRN-28-10 skipped; WRNs shrunk in batch (a 2-core CPU does ~10 GFLOP/s)
        "repeats": 5,
        "single": [
            ("wrn-16-4 fp32 (batch 2)", dict(model="wrn-16-4", batch_size=2), (32, 32, 3), 2),
            ("wrn-10-2 fp32 (batch 8)", dict(model="wrn-10-2", batch_size=8), (32, 32, 3), 2),
            ("wrn-10-2 bf16 (batch 8)", dict(model="wrn-10-2", batch_size=8,
                                              compute_dtype="bfloat16"), (32, 32, 3), 2),
            ("fc 784-2048x3-10", dict(model="fc", depth=4, width=2048), (28, 28, 1), 5),
        ],
        "batch": 128,
        "sweep": dict(depth=3, width=128, batch=32, lanes=(16, 64, 256), steps=10),
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


def bare_program(engine: Engine, x, y, steps: int, n_lanes: int):
    """A bare ``lax.scan`` of SGD with momentum on a fixed batch per lane, vmapped over lanes."""
    cfg, model = engine.config, engine.model
    lr, lam, mu = cfg.lr, cfg.lam, cfg.momentum

    def loss(p, s, x, y):
        out, s = model.apply(p, s, x, True)
        out = out.astype(jnp.float32)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(out), y[:, None], -1)), s

    def one(carry, x, y):
        def body(carry, _):
            p, m, s = carry
            (_, s), g = jax.value_and_grad(loss, has_aux=True)(p, s, x, y)
            m = jax.tree.map(lambda m, g, p: mu * m + (g + lam * p), m, g, p)
            p = jax.tree.map(lambda p, m: p - lr * m, p, m)
            return (p, m, s), None

        return jax.lax.scan(body, carry, None, length=steps)[0]

    run = jax.vmap(one) if n_lanes > 1 else (
        lambda c, x, y: jax.tree.map(lambda a: a[None], one(*jax.tree.map(lambda a: a[0],
                                                                           (c, x, y)))))
    run = jax.jit(run, donate_argnums=(0,))
    return lambda carry: run(carry, x, y)


def compare(name: str, cfg: TrainConfig, input_shape, n_lanes: int, steps: int,
            repeats: int) -> dict:
    batch = cfg.batch_size
    ds = dataset(input_shape, max(2048, 16 * batch))
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

    # bare: the same initial parameters, a fixed batch per lane
    carry = (state.params, jax.tree.map(jnp.zeros_like, state.params), state.model_state)
    carry = jax.tree.map(jnp.copy, carry)
    n_params = sum(int(np.prod(p.shape[1:])) for p in jax.tree.leaves(carry[0]))
    rng = np.random.default_rng(1)
    idx = rng.integers(0, ds.n_train, (n_lanes, batch))
    x = jnp.asarray(ds.x_train[idx])
    y = jnp.asarray(ds.y_train[idx].astype(np.int32))
    e_times, b_times = timed_pair([engine_fn, bare_program(engine, x, y, steps, n_lanes)],
                                  [state, carry], repeats)
    del state, carry
    e_step, b_step = e_times / steps, b_times / steps
    row = {
        "name": name, "lanes": n_lanes, "batch": batch, "steps_per_call": steps,
        "params_per_lane": n_params,
        "engine_step_s": [float(e_step.mean()), float(e_step.std())],
        "bare_step_s": [float(b_step.mean()), float(b_step.std())],
        "ratio": float(b_step.mean() / e_step.mean()),
        "ratio_of_fastest": float(b_step.min() / e_step.min()),
        "engine_run_steps_per_s": float(n_lanes / e_step.mean()),
        "bare_run_steps_per_s": float(n_lanes / b_step.mean()),
    }
    bytes_per_param = 4 * (5 if cfg.momentum > 0 else 3)
    row["update_bytes_per_step"] = n_lanes * n_params * bytes_per_param
    row["engine_update_gbs"] = row["update_bytes_per_step"] / e_step.mean() / 1e9
    return row


def fmt(row: dict, bandwidth: float | None) -> str:
    e, b = row["engine_step_s"], row["bare_step_s"]
    text = (f"{row['name']:<28} lanes {row['lanes']:>4}  engine {e[0] * 1e3:9.3f} +- "
            f"{e[1] * 1e3:7.3f} ms/step  bare {b[0] * 1e3:9.3f} +- {b[1] * 1e3:7.3f} ms/step  "
            f"ratio {row['ratio']:.3f} (fastest calls {row['ratio_of_fastest']:.3f})  run-steps/s {row['engine_run_steps_per_s']:10.1f}")
    if row.get("sweep"):
        frac = f" = {100 * row['engine_update_gbs'] / bandwidth:.1f}% of {bandwidth:.0f}" \
            if bandwidth else ""
        text += f"\n{'':<28} optimizer update {row['engine_update_gbs']:.1f} GB/s{frac} GB/s"
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
    common = dict(loss="xent", lr=0.1, lam=5e-4, momentum=0.9, eval_every=1,
                  train_eval_size=64, eval_batch_size=64)
    for name, kw, shape, steps in preset["single"]:
        if args.only and args.only not in name:
            continue
        cfg = TrainConfig(**{**common, "batch_size": preset["batch"], **kw})
        rows.append(compare(name, cfg, shape, 1, steps, preset["repeats"]))
        print(fmt(rows[-1], bandwidth), flush=True)
    sw = preset["sweep"]
    for lanes in sw["lanes"]:
        name = f"fc sweep 784-{sw['width']}x{sw['depth'] - 1}-10"
        if args.only and args.only not in name:
            continue
        cfg = TrainConfig(**{**common, "model": "fc", "depth": sw["depth"], "width": sw["width"],
                             "batch_size": sw["batch"]})
        row = compare(name, cfg, (28, 28, 1), lanes, sw["steps"], preset["repeats"])
        row["sweep"] = True
        row["update_fraction_of_bandwidth"] = row["engine_update_gbs"] / bandwidth
        rows.append(row)
        print(fmt(row, bandwidth), flush=True)
    runtime = time.time() - start
    print(f"# runtime {runtime:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench_training-{args.preset}-{device_tag(env)}.json"
    path.write_text(json.dumps({
        "preset": args.preset, "config": preset, "environment": env,
        "bandwidth_gbs": bandwidth, "bandwidth_source": source, "runtime_s": runtime,
        "results": rows}, indent=2, default=list) + "\n")
    print(f"# wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
