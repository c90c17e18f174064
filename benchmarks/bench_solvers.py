"""Speed and accuracy of the MSE solvers: both exact paths of ``L2GradientFlow`` beside
neural-tangents in one run (the default), against scipy integration (``--integration``), and
krylov's error against eigh (``--krylov``).

Default run (``python benchmarks/bench_solvers.py [--sizes ...] [--dtypes ...]``): per n
(default 500, 1000, 2000, 3000) and dtype (float64, float32), the depth-3 ``fc_relu`` NTK of
standardized Fashion-MNIST, k = 10 centred one-hot targets, 2,000 test points, 200 log-spaced
times in [1, 50/(lr lam)] steps, lam = 1e-3, lr = 1: the seconds of a fresh solver (construction
and train + test outputs at all times, median of --repeats after a compiling call) with
``method="eigh"`` and with ``method="krylov"`` (default tol), krylov's relative error against
eigh, which one ``method="auto"`` picks, and (float64) our eigh at lam = 0 beside
neural-tangents' ``predict.gradient_descent_mse`` (no L2 term), which runs in its pinned
environment (``--nt-python``, default ``~/.cache/l2theory/nt-venv``, built by ``tests/run.sh``)
as a subprocess on the same kernel and times. It ends with the n from which krylov was faster at
every larger measured size, per dtype: ``L2GradientFlow.AUTO_KRYLOV_MIN_N`` is set from it.
Results: benchmarks/results/solvers_paths_<machine><tag>.json. Recorded (2-core AMD EPYC VM
shared with other jobs, load average 5-11, OpenBLAS's default threads, jax 0.10.2;
``solvers_paths_vm-under-load.json``; timings under load, eigh suffers most): see
docs/measurements.md.

``--integration``: the exact solver against (a) scipy integration of the same system and (b)
neural-tangents' ``predict.gradient_descent_mse`` at lam = 0 (pinned environment).

Setting: infinite-width depth-3 bias-free ReLU NTK (``kernels.fc_relu``) on standardized
Fashion-MNIST images (full files via $L2THEORY_DATA; the shipped subset / synthetic images when
n exceeds what is found), k = 10 centered one-hot targets, n = 1k, 4k, 10k training points,
2k test points, 200 log-spaced times in [1, 50/(lr lam)] steps, lam = 1e-3, lr = 1, float64.
Timings include the factorization (first call) and the predictions at all 200 times, train and
test; median of --repeats fresh solvers for n <= 4000 (one above), after a warm-up that compiles. Integration: DOP853 on the full train+test system in the variable e^{b t} f (rtol 1e-9),
capped at --integration-cap seconds; a capped run gives a lower bound on the speed-up, stated
as such, with the fraction of the time span it covered, and an estimate: the number of RHS
evaluations of the finished smaller run (the stiffness does not grow with n for this kernel)
times the measured cost of one RHS at this n.

Usage: python benchmarks/bench_solvers.py --integration [--sizes 1000 4000 10000]
[--integration-cap 120]
Results: printed, and saved as JSON in benchmarks/results/ with the machine named.
Recorded (2-core AMD EPYC VM, jax 0.10.2 / neural-tangents 0.6.5 on jax 0.4.23, float64,
benchmarks/results/solvers_cpu_vm*.json):
- equal accuracy (integration rtol 1e-12, its error vs ours 4e-12): n = 1000: solver 0.45 s vs
  integration 58 s = 129x; n = 4000: 9.8 s vs >300 s (capped; ~400 s estimated) = ~41x.
- rtol 1e-9 (integration error 3.7e-9): n = 1000: 44x; n = 10000: solver 255 s (machine shared
  with another job), integration ~1100 s estimated = ~4x. The O(n^3) eigendecomposition grows
  faster than the integrator's O(n^2) cost per step, so the 100x target holds at n = 1000 only
  on this CPU.
- neural-tangents at lam = 0 (same kernel, times, machine): ours/NT = 0.87 (n = 1000),
  1.06 (n = 4000), 1.11 (n = 10000); outputs agree to 1e-13 relative.

``--krylov``: the matrix-free solver (``method="krylov"``, block Lanczos) against the exact one
(``method="eigh"``, float64) on the same kernels and times: relative error per time slice
(max over the 200 times) of the train and test outputs, the time of each (kernel excluded, as
for eigh; the kernel's own time is recorded apart), the speed-up, and what the solver reports
(block steps, basis size, error estimate). Each timed call builds a fresh solver (validation,
Lanczos, outputs), after a warm-up that compiles. Where eigh does not run (above --eigh-max-n),
the error is measured against krylov at tol 1e-12 (float64). Presets: ``cpu`` n = 1000, 3000,
10000, 2000 test points; ``gpu`` n = 10000 and 60000 (the full Fashion-MNIST training set),
10,000 test points, float64 and float32, kernel (``kernels.kernel_matrix`` in tiles) timed
and included in the n = 60000 total, first (compiling) and second call.
Usage: python benchmarks/bench_solvers.py --krylov [--preset cpu|gpu] [--sizes ...]
Results: benchmarks/results/solvers_krylov_<preset>_<machine>.json (see benchmarks/README.md).
Recorded (2-core AMD EPYC VM shared with other jobs, load average 4-5 throughout, jax 0.10.2,
float64, tol 1e-8, 2,000 test points, 200 times; krylov after a compiling first call, median of
3 for n <= 3000; eigh once at n = 10000):
- OPENBLAS_NUM_THREADS=1 (``solvers_krylov_cpu_vm-openblas1.json``): n = 1000: krylov 0.55 s,
  eigh 0.61 s; n = 3000: 0.87 s vs 11.1 s (12.7x); n = 10000: 5.6 s vs 288 s (52x). Largest
  relative error against eigh over the 200 times: 1.8e-10 (train), 1.4e-11 (test); 11-15 block
  steps, a basis of 110-150 vectors, estimate <= 8.3e-9. Kernel in tiles: 23 s at n = 10000.
- OpenBLAS's default 2 threads (``solvers_krylov_cpu_vm-openblas-default.json``, slower under
  load, see benchmarks/README.md): n = 3000: 2.5 s vs 16.7 s (6.7x); n = 10000: 9.6 s vs 312 s
  (33x); the same errors.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

CONFIG = {
    "depth": 3,          # homogeneity degree L
    "lam": 1e-3,         # L2 coefficient
    "lr": 1.0,           # learning rate; times in steps
    "k": 10,             # outputs (classes)
    "n_test": 2000,      # test points
    "n_times": 200,      # times per call, log-spaced in [1, 50/(lr lam)] steps
    "rtol_integration": 1e-9,    # integration tolerance (the exact solver is ~1e-13)
}

NT_SCRIPT = r"""
import sys, time, json, numpy as np, jax
jax.config.update("jax_enable_x64", True)
import neural_tangents as nt
d = np.load(sys.argv[1])
k_tr, k_te, y, t, lr = d["k_tr"], d["k_te"], d["y"], d["t"], float(d["lr"])
f0, f0_test = np.zeros_like(y), np.zeros((k_te.shape[0], y.shape[1]))
def once():
    start = time.perf_counter()
    fn = nt.predict.gradient_descent_mse(k_tr, y, learning_rate=lr * y.shape[1])
    a, b = fn(t, f0, f0_test, k_te)
    a.block_until_ready(); b.block_until_ready()
    return time.perf_counter() - start, a, b
once()  # compile
runs = [once() for _ in range(int(sys.argv[3]))]
secs = float(np.median([r[0] for r in runs]))
a, b = runs[-1][1], runs[-1][2]
np.savez(sys.argv[2], f_train=np.asarray(a), f_test=np.asarray(b))
print(json.dumps({"seconds": secs, "all_seconds": [r[0] for r in runs], "jax": jax.__version__}))
"""


def load_images(n_train, n_test):
    from l2theory import data
    try:
        ds = data.load("fashion_mnist", n_train=n_train, n_test=n_test, seed=0)
        source = "fashion_mnist"
    except FileNotFoundError:
        ds = data.load("fashion_mnist_subset")
        source = "fashion_mnist_subset"
        if n_train > len(ds.x_train) or n_test > len(ds.x_test):
            ds = data.load("synthetic", n_train=n_train, n_test=n_test, seed=0)
            source = "synthetic"
        else:
            ds = data.subsample(ds, n_train, n_test, seed=0)
    ds = data.standardize(ds)
    flat = lambda x: x.reshape(len(x), -1).astype(np.float64)
    y = data.one_hot(ds.y_train, 10, centered=True).astype(np.float64)
    return flat(ds.x_train), flat(ds.x_test), y, source


def timed_solver(k_tr, k_te, y, t, lam, lr, depth, dtype=None, repeats=1):
    """Median seconds over ``repeats`` fresh solvers (each pays its eigendecomposition)."""
    times = []
    for _ in range(repeats):
        secs, f_train, f_test = _solver_once(k_tr, k_te, y, t, lam, lr, depth, dtype)
        times.append(secs)
    return float(np.median(times)), f_train, f_test


def _solver_once(k_tr, k_te, y, t, lam, lr, depth, dtype):
    from l2theory import solvers
    start = time.perf_counter()
    flow = solvers.L2GradientFlow(k_tr, y, lam=lam, lr=lr, degree=depth, dtype=dtype,
                                  method="eigh")
    f_train, f_test = flow.predict(t, k_te)
    f_train.block_until_ready()
    f_test.block_until_ready()
    return time.perf_counter() - start, np.asarray(f_train), np.asarray(f_test)


def timed_integration(k_tr, k_te, y, t, lam, lr, depth, rtol, cap):
    """DOP853 on the train+test system in g = e^{b t} f; stops at `cap` seconds."""
    from scipy.integrate import solve_ivp
    n, k = y.shape
    m = k_te.shape[0]
    b, gamma = lr * lam * depth, 2 * (depth - 1) * lr * lam
    beta = b if gamma > 0 else 0.0
    kk = np.vstack([k_tr, k_te])

    class Cap(Exception):
        pass

    reached = [0.0]
    calls = [0]
    start = time.perf_counter()

    def rhs(time_, g_flat):
        if time.perf_counter() - start > cap:
            raise Cap()
        reached[0] = max(reached[0], time_)
        calls[0] += 1
        g = g_flat.reshape(n + m, k)
        resid = g[:n] - np.exp(beta * time_) * y
        return (-(lr / n) * np.exp(-gamma * time_) * (kk @ resid) - (b - beta) * g).ravel()

    try:
        sol = solve_ivp(rhs, (0, t[-1]), np.zeros((n + m) * k), method="DOP853", t_eval=t,
                        rtol=rtol, atol=1e-14)
    except Cap:
        return {"finished": False, "seconds": cap, "t_reached": reached[0],
                "fraction_of_log_span": float(np.log1p(reached[0]) / np.log1p(t[-1])),
                "seconds_per_rhs": cap / max(calls[0], 1)}
    f = sol.y.T.reshape(len(t), n + m, k) * np.exp(-beta * t)[:, None, None]
    return {"finished": True, "seconds": time.perf_counter() - start, "nfev": int(sol.nfev),
            "seconds_per_rhs": (time.perf_counter() - start) / max(calls[0], 1),
            "f_train": f[:, :n], "f_test": f[:, n:]}


def rel_err(a, b):
    """Largest relative error over time slices."""
    return float(np.max(rel_err_per_time(a, b)))


KRYLOV_PRESETS = {
    "cpu": {"sizes": [1000, 3000, 10000], "n_test": 2000, "dtypes": ["float64"],
            "kernel_repeats": 1},
    "gpu": {"sizes": [10000, 60000], "n_test": 10000, "dtypes": ["float64", "float32"],
            "kernel_repeats": 2},
}


def _blocked(x):
    import jax
    return jax.block_until_ready(x)


def timed_kernels(x_tr, x_te, depth, dtype, block_size):
    """``(k_train_train, k_test_train, seconds)``: fc_relu NTKs in tiles, on the device (the
    first call at a shape compiles the tiles)."""
    from l2theory import kernels
    fn = kernels.fc_relu_fn(depth=depth)  # one function object per depth: compiled once
    start = time.perf_counter()
    k_tr = _blocked(kernels.kernel_matrix(fn, x_tr, block_size=block_size, dtype=dtype))
    k_te = _blocked(kernels.kernel_matrix(fn, x_te, x_tr, block_size=block_size, dtype=dtype))
    return k_tr, k_te, time.perf_counter() - start


def timed_flow(k_tr, k_te, y, t, cfg, *, method, dtype, tol=None):
    """Seconds, outputs (numpy) and ``info`` of one fresh solver: construction and ``predict``."""
    from l2theory import solvers
    kwargs = {} if method == "eigh" or tol is None else {"tol": tol}
    start = time.perf_counter()
    flow = solvers.L2GradientFlow(k_tr, y.astype(dtype), lam=cfg["lam"], lr=cfg["lr"],
                                  degree=cfg["depth"], dtype=dtype, method=method, **kwargs)
    f_train, f_test = _blocked(flow.predict(t, k_te))
    secs = time.perf_counter() - start
    return secs, np.asarray(f_train, np.float64), np.asarray(f_test, np.float64), flow.info


def rel_err_per_time(a, b):
    """Relative error per time slice ``[T]`` (norm over points and outputs; 0 where both are 0)."""
    num = np.linalg.norm((a - b).reshape(len(a), -1), axis=1)
    den = np.linalg.norm(b.reshape(len(b), -1), axis=1)
    return np.where(num == 0, 0.0, num / np.where(den == 0, 1.0, den))


def run_krylov(args):
    """Rows of krylov vs eigh (see the module docstring)."""
    import jax
    jax.config.update("jax_enable_x64", True)

    preset = KRYLOV_PRESETS[args.preset]
    sizes = args.sizes or preset["sizes"]
    n_test = args.n_test or preset["n_test"]
    dtypes = args.dtypes or preset["dtypes"]
    cfg = dict(CONFIG, n_test=n_test)
    header = {"machine": platform.node(), "platform": platform.platform(),
              "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "python": sys.version.split()[0], "jax": jax.__version__,
              "devices": [str(d) for d in jax.devices()], "config": cfg, "preset": args.preset,
              "tol": args.tol, "eigh_max_n": args.eigh_max_n, "block_size": args.block_size,
              "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
              "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(json.dumps({k: v for k, v in header.items() if k != "config"}), flush=True)
    x_tr_all, x_te, y_all, source = load_images(max(sizes), n_test)
    t = np.geomspace(1.0, 50 / (cfg["lr"] * cfg["lam"]), cfg["n_times"])
    rows = []
    for n in sizes:
        x_tr, y = x_tr_all[:n], y_all[:n]
        reference = None  # float64 outputs to compare with: eigh, else krylov at tol 1e-12
        for dtype_name in dtypes:
            dtype = np.dtype(dtype_name)
            row = {"n": n, "n_test": n_test, "dtype": dtype_name, "data": source,
                   "load_before": os.getloadavg()}
            kernel_times = []
            for _ in range(preset["kernel_repeats"]):
                k_tr = k_te = None  # free the previous copy first
                k_tr, k_te, secs = timed_kernels(x_tr, x_te, cfg["depth"], dtype, args.block_size)
                kernel_times.append(secs)
            row["kernel_s"] = kernel_times  # first call compiles the tiles
            repeats = args.repeats if n <= 4000 else 1
            row["repeats"] = repeats
            times, out = [], None
            for i in range(repeats + 1):  # the first call compiles; it is timed apart
                secs, f_train, f_test, info = timed_flow(k_tr, k_te, y, t, cfg, method="krylov",
                                                         dtype=dtype, tol=args.tol)
                times.append(secs)
                out = (f_train, f_test)
            row["krylov_first_call_s"] = times[0]
            row["krylov_s"] = float(np.median(times[1:]))
            row["krylov_info"] = {k: v for k, v in info.items() if not isinstance(v, np.ndarray)}
            row["total_first_call_s"] = kernel_times[0] + times[0]
            row["total_s"] = kernel_times[-1] + row["krylov_s"]
            if reference is None and n <= args.eigh_max_n and dtype == np.float64:
                if n <= 4000:
                    timed_flow(k_tr, k_te, y, t, cfg, method="eigh", dtype=dtype)  # compile
                eigh_times = []
                for _ in range(repeats):
                    secs, e_train, e_test, _ = timed_flow(k_tr, k_te, y, t, cfg, method="eigh",
                                                          dtype=dtype)
                    eigh_times.append(secs)
                row["eigh_s"] = float(np.median(eigh_times))
                row["speedup_vs_eigh"] = row["eigh_s"] / row["krylov_s"]
                reference = ("eigh", e_train, e_test)
            elif reference is None and dtype == np.float64:
                _, r_train, r_test, r_info = timed_flow(k_tr, k_te, y, t, cfg, method="krylov",
                                                        dtype=dtype, tol=1e-12)
                reference = ("krylov tol 1e-12", r_train, r_test)
                row["reference_info"] = {k: v for k, v in r_info.items()
                                         if not isinstance(v, np.ndarray)}
            if reference is not None:
                row["error_against"] = reference[0]
                train_err = rel_err_per_time(out[0], reference[1])
                test_err = rel_err_per_time(out[1], reference[2])
                # float32 outputs underflow below ~1e-38 at late times (degree >= 2 decays like
                # e^{-lr lam L t}): those slices are reported apart
                norm = np.linalg.norm(reference[2].reshape(len(t), -1), axis=1)
                shown = norm > (1e-30 if dtype == np.float32 else 0.0)
                row["rel_err_train"] = float(train_err[shown].max())
                row["rel_err_test"] = float(test_err[shown].max())
                row["times_compared"] = int(shown.sum())
            row["load_after"] = os.getloadavg()
            rows.append(row)
            print(json.dumps(row), flush=True)
            del k_tr, k_te
    print(f"\n{'n':>6} {'dtype':>8} {'kernel s':>9} {'krylov s':>9} {'eigh s':>8} "
          f"{'speed-up':>9} {'err train':>10} {'err test':>10} {'steps':>6} {'basis':>6} "
          f"{'estimate':>9}")
    for r in rows:
        info = r["krylov_info"]
        print(f"{r['n']:6d} {r['dtype']:>8} {r['kernel_s'][-1]:9.2f} {r['krylov_s']:9.2f} "
              f"{r.get('eigh_s', float('nan')):8.2f} {r.get('speedup_vs_eigh', float('nan')):8.1f}x "
              f"{r.get('rel_err_train', float('nan')):10.2e} "
              f"{r.get('rel_err_test', float('nan')):10.2e} {info['iterations']:6d} "
              f"{info['basis_size']:6d} {info['error_estimate']:9.1e}")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"solvers_krylov_{args.preset}_{platform.node() or 'host'}"
                                  f"{args.tag}.json")
    with open(path, "w") as fh:
        json.dump({"header": header, "rows": rows}, fh, indent=2)
    print(f"saved {path}")


def run_paths(args):
    """Rows of the default run: both exact paths and neural-tangents, per n (module docstring)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    from l2theory import kernels, solvers

    sizes = args.sizes or [500, 1000, 2000, 3000]
    dtypes = args.dtypes or ["float64", "float32"]
    cfg = dict(CONFIG)
    header = _header(jax, cfg)
    header["nt_python"] = args.nt_python
    print(json.dumps({k: v for k, v in header.items() if k != "config"}), flush=True)
    x_tr_all, x_te, y_all, source = load_images(max(sizes), cfg["n_test"])
    t = np.geomspace(1.0, 50 / (cfg["lr"] * cfg["lam"]), cfg["n_times"])
    rows = []
    for n in sizes:
        x_tr, y = x_tr_all[:n], y_all[:n]
        k_tr, k_te = kernels.ntk_matrices(kernels.fc_relu_fn(depth=cfg["depth"]), x_tr, x_te)
        k_tr, k_te = np.asarray(k_tr), np.asarray(k_te)
        repeats = args.repeats if n <= 4000 else 1
        for dtype_name in dtypes:
            dtype = np.dtype(dtype_name)
            row = {"n": n, "dtype": dtype_name, "data": source, "repeats": repeats,
                   "load_before": os.getloadavg()}
            outs = {}
            for method in ("eigh", "krylov"):
                timed_flow(k_tr, k_te, y, t, cfg, method=method, dtype=dtype)  # compile
                secs = []
                for _ in range(repeats):
                    s_, f_train, f_test, info = timed_flow(k_tr, k_te, y, t, cfg, method=method,
                                                           dtype=dtype)
                    secs.append(s_)
                row[f"{method}_s"] = float(np.median(secs))
                row[f"{method}_all_s"] = secs
                outs[method] = (f_train, f_test)
                if method == "krylov":
                    row["krylov_info"] = {k: v for k, v in info.items()
                                          if not isinstance(v, np.ndarray)}
            auto = solvers.L2GradientFlow(k_tr, y.astype(dtype), lam=cfg["lam"], lr=cfg["lr"],
                                          degree=cfg["depth"], dtype=dtype)
            row["auto_picks"] = auto.method
            row["faster"] = "krylov" if row["krylov_s"] < row["eigh_s"] else "eigh"
            row["eigh_over_krylov"] = row["eigh_s"] / row["krylov_s"]
            # float32 outputs underflow at late times (e^{-lr lam L t}): compare where the
            # float64-scale outputs are above float32's normal range
            norm = np.linalg.norm(outs["eigh"][1].reshape(len(t), -1), axis=1)
            shown = norm > (1e-30 if dtype == np.float32 else 0.0)
            row["rel_err_krylov_vs_eigh"] = max(
                float(rel_err_per_time(outs["krylov"][0], outs["eigh"][0])[shown].max()),
                float(rel_err_per_time(outs["krylov"][1], outs["eigh"][1])[shown].max()))
            if dtype == np.float64:
                row.update(_neural_tangents(args, k_tr, k_te, y, t, cfg, repeats))
            row["load_after"] = os.getloadavg()
            rows.append(row)
            print(json.dumps(row), flush=True)
    crossover = {}
    for dtype_name in dtypes:
        mine = [r for r in rows if r["dtype"] == dtype_name]
        # the smallest n from which krylov is faster at every measured size
        above = [r["n"] for i, r in enumerate(mine)
                 if all(q["faster"] == "krylov" for q in mine[i:])]
        crossover[dtype_name] = min(above) if above else None
    print(f"\n{'n':>6} {'dtype':>8} {'eigh s':>8} {'krylov s':>9} {'eigh/kry':>9} "
          f"{'auto':>7} {'err kry':>9} {'eigh l=0':>9} {'NT l=0':>8} {'err NT':>9}")
    for r in rows:
        print(f"{r['n']:6d} {r['dtype']:>8} {r['eigh_s']:8.2f} {r['krylov_s']:9.2f} "
              f"{r['eigh_over_krylov']:8.1f}x {r['auto_picks']:>7} "
              f"{r['rel_err_krylov_vs_eigh']:9.1e} {r.get('eigh_lam0_s', float('nan')):9.2f} "
              f"{r.get('nt_s', float('nan')):8.2f} {r.get('rel_err_vs_nt', float('nan')):9.1e}")
    print("krylov faster from n =", crossover, "(solvers.L2GradientFlow's AUTO_KRYLOV_MIN_N: "
          f"{solvers.L2GradientFlow.AUTO_KRYLOV_MIN_N})")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"solvers_paths_{platform.node() or 'host'}{args.tag}.json")
    with open(path, "w") as fh:
        json.dump({"header": header, "rows": rows, "krylov_faster_from_n": crossover}, fh,
                  indent=2)
    print(f"saved {path}")


def _header(jax, cfg):
    return {"machine": platform.node(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "jax": jax.__version__,
            "devices": [str(d) for d in jax.devices()], "config": cfg,
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def _neural_tangents(args, k_tr, k_te, y, t, cfg, repeats):
    """Our eigh path at lam = 0 and neural-tangents' ``gradient_descent_mse`` (no L2 term) in
    its pinned environment (a subprocess of ``--nt-python``), same kernel and times."""
    row = {}
    secs0, f0_train, f0_test = timed_solver(k_tr, k_te, y, t, 0.0, cfg["lr"], cfg["depth"],
                                            repeats=repeats)
    row["eigh_lam0_s"] = secs0
    if not os.path.exists(args.nt_python):
        row["nt_error"] = f"no neural-tangents environment at {args.nt_python}"
        return row
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(inp, k_tr=k_tr, k_te=k_te, y=y, t=t, lr=cfg["lr"])
        proc = subprocess.run([args.nt_python, "-c", NT_SCRIPT, inp, outp, str(repeats)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            row["nt_error"] = proc.stderr[-500:]
            return row
        nt_res = json.loads(proc.stdout.strip().splitlines()[-1])
        ref = np.load(outp)
        row["nt_s"] = nt_res["seconds"]
        row["nt_jax"] = nt_res["jax"]
        row["ratio_eigh_lam0_over_nt"] = secs0 / nt_res["seconds"]
        row["rel_err_vs_nt"] = max(rel_err(f0_train, ref["f_train"]),
                                   rel_err(f0_test, ref["f_test"]))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="training set sizes (default: 500 1000 2000 3000; --integration: "
                             "1000 4000 10000; --krylov: the preset's)")
    parser.add_argument("--krylov", action="store_true",
                        help="krylov's error against eigh, presets cpu/gpu")
    parser.add_argument("--integration", action="store_true",
                        help="eigh against scipy integration of the same system and NT")
    parser.add_argument("--preset", choices=sorted(KRYLOV_PRESETS), default="cpu",
                        help="--krylov: sizes, test points and dtypes")
    parser.add_argument("--n-test", type=int, default=None, help="--krylov: test points")
    parser.add_argument("--dtypes", nargs="+", default=None,
                        help="float64 float32 (default run: both; --krylov: the preset's)")
    parser.add_argument("--tol", type=float, default=None,
                        help="--krylov: the solver's tol (default: its own, 1e-8 in float64)")
    parser.add_argument("--eigh-max-n", type=int, default=10000,
                        help="--krylov: largest n at which eigh runs")
    parser.add_argument("--block-size", type=int, default=4096,
                        help="--krylov: tile side of kernels.kernel_matrix")
    parser.add_argument("--integration-cap", type=float, default=120.0, help="seconds per size")
    parser.add_argument("--rtol", type=float, default=CONFIG["rtol_integration"],
                        help="integration rtol (1e-12 is about the solver's own accuracy)")
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats (median) for n <= 4000; 1 above")
    parser.add_argument("--nt-python", default=os.environ.get(
        "L2THEORY_ORACLE_PYTHON", os.path.expanduser("~/.cache/l2theory/nt-venv/bin/python")))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    if args.krylov:
        return run_krylov(args)
    if not args.integration:
        return run_paths(args)
    args.sizes = args.sizes or [1000, 4000, 10000]

    import jax
    jax.config.update("jax_enable_x64", True)
    from l2theory import kernels

    cfg = dict(CONFIG, rtol_integration=args.rtol)
    header = {"machine": platform.node(), "platform": platform.platform(),
              "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "python": sys.version.split()[0], "jax": jax.__version__,
              "devices": [str(d) for d in jax.devices()], "config": cfg,
              "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(json.dumps({k: v for k, v in header.items() if k != "config"}))
    x_tr_all, x_te, y_all, source = load_images(max(args.sizes), cfg["n_test"])
    rows = []
    nfev_measured = None  # RHS evaluations of a finished integration (about n-independent)
    for n in args.sizes:
        x_tr, y = x_tr_all[:n], y_all[:n]
        k_tr, k_te = kernels.ntk_matrices(kernels.fc_relu_fn(depth=cfg["depth"]), x_tr, x_te)
        t = np.geomspace(1.0, 50 / (cfg["lr"] * cfg["lam"]), cfg["n_times"])
        row = {"n": n, "data": source}
        # warm-up on the same shapes, so that compilation is not timed (the timed call still
        # includes the eigendecomposition, which a new solver object always pays once)
        timed_solver(k_tr, k_te, y, t, cfg["lam"], cfg["lr"], cfg["depth"])
        repeats = args.repeats if n <= 4000 else 1
        row["repeats"] = repeats
        secs, f_train, f_test = timed_solver(k_tr, k_te, y, t, cfg["lam"], cfg["lr"], cfg["depth"],
                                             repeats=repeats)
        row["solver_s"] = secs
        integ = timed_integration(k_tr, k_te, y, t, cfg["lam"], cfg["lr"], cfg["depth"],
                                  cfg["rtol_integration"], args.integration_cap)
        row["integration_s"] = integ["seconds"]
        row["integration_finished"] = integ["finished"]
        row["integration_seconds_per_rhs"] = integ["seconds_per_rhs"]
        if integ["finished"]:
            nfev_measured = integ["nfev"]
            row["integration_nfev"] = integ["nfev"]
            row["rel_err_solver_vs_integration"] = max(rel_err(f_train, integ["f_train"]),
                                                       rel_err(f_test, integ["f_test"]))
            row["speedup_vs_integration"] = integ["seconds"] / secs
        else:
            row["integration_t_reached"] = integ["t_reached"]
            row["integration_fraction_of_log_span"] = integ["fraction_of_log_span"]
            row["speedup_vs_integration_lower_bound"] = integ["seconds"] / secs
            if nfev_measured is not None:
                # estimate: the stiffness (top rate lr k_max / n) and so the number of steps does
                # not grow with n for this kernel; seconds per RHS (integrator overhead included)
                # as measured in the capped run at this n.
                est = nfev_measured * integ["seconds_per_rhs"]
                row["integration_estimated_s"] = est
                row["speedup_vs_integration_estimated"] = est / secs
        # (b) neural-tangents at lam = 0 in its pinned environment, same kernel and times
        row.update(_neural_tangents(args, k_tr, k_te, y, t, cfg, repeats))
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(f"\n{'n':>6} {'solver s':>9} {'integr. s':>10} {'speed-up':>10} {'err vs int':>11} "
          f"{'lam=0 s':>8} {'NT s':>7} {'ours/NT':>8} {'err vs NT':>10}")
    for r in rows:
        speed = (f"{r['speedup_vs_integration']:.0f}x" if r["integration_finished"]
                 else f"~{r['speedup_vs_integration_estimated']:.0f}x(est)"
                 if "speedup_vs_integration_estimated" in r
                 else f">{r['speedup_vs_integration_lower_bound']:.0f}x")
        print(f"{r['n']:6d} {r['solver_s']:9.2f} {r['integration_s']:10.1f} {speed:>10} "
              f"{r.get('rel_err_solver_vs_integration', float('nan')):11.2e} "
              f"{r['eigh_lam0_s']:8.2f} {r.get('nt_s', float('nan')):7.2f} "
              f"{r.get('ratio_eigh_lam0_over_nt', float('nan')):8.2f} "
              f"{r.get('rel_err_vs_nt', float('nan')):10.2e}")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"solvers_cpu_{platform.node() or 'host'}{args.tag}.json")
    with open(path, "w") as fh:
        json.dump({"header": header, "rows": rows}, fh, indent=2)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
