"""Why the training engine runs convolutional nets step by step on the CPU: XLA's CPU backend runs
the gradient of a convolution inside a loop (``lax.scan``/``while``) many times slower than the
same step outside one (jax-ml/jax#12868), and the gradient of lanes' batched convolutions
(``vmap`` over per-lane weights) slower per lane than one lane's.

What it times, per model, on 128 Fashion-MNIST-shaped images (one SGD-momentum step of a
cross-entropy loss; each figure the mean seconds per step of ``--repeats`` timed calls after a
warm-up call that compiles):

- ``scan``: ``steps`` steps in one ``lax.scan`` (what the engine did before, on every backend);
- ``unrolled``: the same steps traced one after the other in one program (no loop);
- ``engine``: ``Engine.segment`` of one lane (what ``train``/``sweep`` run now: on the CPU a
  convolutional model's steps run one compiled step at a time, ``engine.loop_free``);
- ``engine_3_lanes``: three lanes in one program (``vmap``), per lane-step (``sweep`` now puts
  one lane per chunk on the CPU for such models, ``auto_chunk_size``).

Measured (2-core "Intel(R) Xeon(R) Processor" VM, jax 0.10.2, CPython 3.11.7, quiet; 4 steps a
call, mean of 3; ``results/bench_cpu_loops-cpu-intel-r-xeon-r-processor-2cores.json``), seconds
per step: CNN (3 conv x 64) 28x28: scan 6.23, unrolled 0.258, engine 0.331, 3 lanes 0.765 per
lane; WRN-10-1-autol2 (8 BatchNorm groups) 28x28: 6.52, 0.410, 0.514, 1.51; at 14x14: 0.851,
0.067, 0.108, 0.325. The loop costs 13-24x; the engine's per-step call, minibatch gather and
checks add 25-60% to the bare unrolled step; a lane in a 3-lane program costs 2.3-3x one alone.

Usage::

    PYTHONPATH=. python benchmarks/bench_cpu_loops.py [--steps 4] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

CASES = [("cnn", {"model": "cnn"}, 1), ("wrn-10-1-autol2", {"model": "wrn-10-1-autol2",
                                                            "bn_group_size": 16}, 1),
         ("wrn-10-1-autol2 14x14", {"model": "wrn-10-1-autol2", "bn_group_size": 16}, 2)]


def _bare(model, x, y, steps: int, unrolled: bool):
    """``steps`` SGD-momentum steps of ``model`` on the fixed batch ``(x, y)``, in a scan or
    unrolled; returns a jitted function of ``(params, state)``."""
    def loss(p, s):
        out, s = model.apply(p, s, x, True)
        return -jnp.mean(jnp.sum(jax.nn.one_hot(y, out.shape[-1]) * jax.nn.log_softmax(out),
                                 -1)), s

    def body(carry, _):
        p, s, m = carry
        (_, s), g = jax.value_and_grad(loss, has_aux=True)(p, s)
        m = jax.tree.map(lambda a, b: 0.9 * a + b, m, g)
        return (jax.tree.map(lambda a, b: a - 0.02 * b, p, m), s, m), None

    def run(p, s):
        carry = (p, s, jax.tree.map(jnp.zeros_like, p))
        if not unrolled:
            return jax.lax.scan(body, carry, None, length=steps)[0]
        for _ in range(steps):
            carry, _ = body(carry, None)
        return carry

    return jax.jit(run)


def _machine_tag() -> str:
    """``intel-r-xeon-r-processor-2cores``: the CPU's model name and core count."""
    import os
    import re

    name = "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            found = re.search(r"model name\s*:\s*(.+)", f.read())
        name = found.group(1) if found else name
    except OSError:
        pass
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + f"-{os.cpu_count()}cores"


def _time(fn, repeats: int) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def main(argv=None) -> int:
    from l2theory import data, train

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    ds = data.load("fashion_mnist_subset", n_test=256)
    dev = jax.devices()[0]
    env = {"jax": jax.__version__, "device": dev.device_kind, "platform": dev.platform,
           "machine": _machine_tag()}
    print(f"# bench_cpu_loops: {env}; seconds per step, batch 128, mean of {args.repeats}")
    rows = []
    for name, kw, down in CASES:
        d = data.downsample(ds, down) if down > 1 else ds
        cfg = train.TrainConfig(loss="xent", batch_size=128, momentum=0.9, lr=0.02, lam=2e-3,
                                steps=10 ** 6, eval_batch_size=256, train_eval_size=256, **kw)
        model = cfg.build_model(10)
        params, state = model.init(jax.random.key(0), d.input_shape)
        x, y = jnp.asarray(d.x_train[:128]), jnp.asarray(d.y_train[:128])
        row = {"case": name, "input_shape": list(d.input_shape)}
        for label, unrolled in (("scan", False), ("unrolled", True)):
            fn = _bare(model, x, y, args.steps, unrolled)
            row[label] = _time(lambda: fn(params, state), args.repeats) / args.steps
        for label, lanes in (("engine", 1), ("engine_3_lanes", 3)):
            engine = train.Engine(cfg, d, lanes)
            holder = {"state": engine.init(engine.hyper([0.02] * lanes, [2e-3] * lanes,
                                                        list(range(lanes)), [10 ** 6] * lanes))}
            t = {"t0": 0}

            def go():
                holder["state"] = engine.segment(holder["state"], t["t0"], args.steps)
                t["t0"] += args.steps
                return holder["state"]

            row[label] = _time(go, args.repeats) / args.steps / lanes
        row["scan_over_unrolled"] = row["scan"] / row["unrolled"]
        rows.append(row)
        print(f"{name:24s} scan {row['scan']:.3f}  unrolled {row['unrolled']:.3f}  engine "
              f"{row['engine']:.3f}  engine 3 lanes {row['engine_3_lanes']:.3f} per lane  "
              f"(scan / unrolled {row['scan_over_unrolled']:.1f}x)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{dev.platform}-{_machine_tag()}"
    path = out / f"bench_cpu_loops-{tag}.json"
    path.write_text(json.dumps({"environment": env, "steps": args.steps,
                                "repeats": args.repeats, "rows": rows}, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
