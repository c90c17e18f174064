"""Scaling of a sweep and of a Krylov solve over devices and processes (docs/cluster.md).

Each configuration runs the same two workloads in fresh processes:

- sweep: ``train.sweep`` of an FC-256x3 (cross-entropy, SGD batch 128) on the shipped
  Fashion-MNIST subset (2000 train / 1000 test images), lam {0, 1e-3} x lr {0.1, 0.2} x seeds
  {0, 1} = 8 lanes in one chunk, 300 steps, a row every 100 steps; ``cold`` includes
  compilation, ``warm`` is the same call again (compiled programs reused).
- krylov: ``L2GradientFlow(op, y, method="krylov", tol=1e-8)`` (float64, depth-3 ``fc_relu``
  NTK) on the first ``--n`` training images (default all 2000; ``n / 2`` test images), the
  train and test kernels given as ``kernels.kernel_operator`` (block 256: every block step
  recomputes the train kernel, split over the devices), predicting train and test outputs at
  50 times; ``cold`` and ``warm`` alike (a new flow each time).

Configurations (``--configs``): ``dev1``, ``dev2``, ``dev4`` (one process with 1, 2 or 4 CPU
devices: ``XLA_FLAGS=--xla_force_host_platform_device_count``), ``proc2`` (two processes on
localhost, one CPU device each, ``jax.distributed``), ``here`` (one process with this machine's
own devices: a GPU where there is one). Virtual CPU devices share the machine's cores: they
test the code paths, not a speed-up. Every row records the load average before and after.

Results: ``<out>/bench_cluster-<device>.json``.

Usage::

    PYTHONPATH=. python benchmarks/bench_cluster.py --out benchmarks/results
    PYTHONPATH=. python benchmarks/bench_cluster.py --configs here --out DIR   # one GPU row
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIGS = ("dev1", "dev2", "dev4", "proc2", "here")


def worker(n: int, result: str) -> None:
    """Both workloads in this process (started by ``main``); process 0 writes ``result``."""
    import jax
    import numpy as np

    if os.environ.get("BENCH_COORDINATOR"):  # the Python recipe of docs/cluster.md
        jax.distributed.initialize(os.environ["BENCH_COORDINATOR"],
                                   num_processes=int(os.environ["BENCH_PROCESSES"]),
                                   process_id=int(os.environ["BENCH_PROCESS_ID"]))

    from l2theory import data, kernels, solvers, train

    ds = data.load("fashion_mnist_subset")
    cfg = train.TrainConfig(depth=3, width=256, steps=300, eval_every=100, batch_size=128)
    row = {"devices": len(jax.devices()), "processes": jax.process_count(),
           "backend": jax.default_backend(), "environment": train.environment()}
    for when in ("cold", "warm"):
        t0 = time.perf_counter()
        table = train.sweep(cfg, ds, lam=[0.0, 1e-3], lr=[0.1, 0.2], seeds=[0, 1],
                            chunk_size=8, progress=False)
        row[f"sweep_{when}_s"] = time.perf_counter() - t0
    row["sweep_final_test_acc"] = float(np.mean(table["test_acc"][table["step"] == 300]))
    jax.config.update("jax_enable_x64", True)  # the solve in float64, after the sweep
    x = ds.x_train[:n].reshape(n, -1).astype(np.float64) / 255
    z = ds.x_test[:n // 2].reshape(n // 2, -1).astype(np.float64) / 255
    y = np.eye(10)[ds.y_train[:n]] - 0.1
    fn = kernels.fc_relu_fn(depth=3)
    times = np.geomspace(1, 1e5, 50)
    for when in ("cold", "warm"):
        t0 = time.perf_counter()
        flow = solvers.L2GradientFlow(kernels.kernel_operator(fn, x, block_size=256), y,
                                      lam=1e-3, degree=3, method="krylov", tol=1e-8)
        f_train, f_test = flow.predict(times, k_test_train=kernels.kernel_operator(
            fn, z, x, block_size=256))
        np.asarray(f_test)
        row[f"krylov_{when}_s"] = time.perf_counter() - t0
    row["krylov_info"] = {k: flow.info[k] for k in ("iterations", "converged",
                                                    "error_estimate", "basis_size")}
    if jax.process_index() == 0:
        Path(result).write_text(json.dumps(row, default=str))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def run_config(name: str, n: int, work: Path) -> dict:
    """One configuration in fresh processes; its row."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if name != "here":
        env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = ("--xla_force_host_platform_device_count="
                            + {"dev1": "1", "dev2": "2", "dev4": "4", "proc2": "1"}[name])
    result = work / f"{name}.json"
    cmd = [sys.executable, __file__, "--worker", "--n", str(n), "--result", str(result)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    if name == "proc2":
        port = _free_port()
        procs = [subprocess.Popen(cmd, env={**env, "BENCH_COORDINATOR": f"localhost:{port}",
                                            "BENCH_PROCESSES": "2", "BENCH_PROCESS_ID": str(i)})
                 for i in (0, 1)]
        codes = [p.wait(timeout=1800) for p in procs]
    else:
        codes = [subprocess.run(cmd, env=env, timeout=1800).returncode]
    if any(codes):
        raise SystemExit(f"{name}: a process failed ({codes})")
    row = json.loads(result.read_text())
    row.update(config=name, wall_s=time.perf_counter() - t0, load_before=load,
               load_after=os.getloadavg()[0])
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=["dev1", "dev2", "dev4", "proc2"],
                   choices=CONFIGS)
    p.add_argument("--n", type=int, default=2000, help="training points of the Krylov solve")
    p.add_argument("--out", default=None, help="folder for the JSON (default: print only)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.n, args.result)
        return 0
    work = Path(args.out or "/tmp") / f".bench_cluster-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'config':<7} {'devices':>7} {'procs':>5} {'sweep cold/warm s':>18} "
          f"{'krylov cold/warm s':>19} {'load':>10}")
    for name in args.configs:
        r = run_config(name, args.n, work)
        rows.append(r)
        print(f"{name:<7} {r['devices']:>7} {r['processes']:>5} "
              f"{r['sweep_cold_s']:>8.1f} /{r['sweep_warm_s']:>7.1f} "
              f"{r['krylov_cold_s']:>9.1f} /{r['krylov_warm_s']:>7.1f} "
              f"{r['load_before']:>4.1f}-{r['load_after']:<4.1f}", flush=True)
    if args.out:
        env = rows[0]["environment"]
        device = env["device_kind"] if env["backend"] != "cpu" else \
            f"cpu {env['cpu']} {env['cpu_count']}cores"
        tag = re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")
        path = Path(args.out) / f"bench_cluster-{tag}.json"
        path.write_text(json.dumps({"n": args.n, "rows": rows}, indent=2, default=str) + "\n")
        print(f"wrote {path}")
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
