"""Several processes as one (JAX's multi-controller runtime, two processes on localhost, CPU):
a sweep split over two processes (``l2theory sweep --coordinator ...``), one of them killed
mid-sweep, then resumed, gives the rows of one process bit for bit; two processes started as
SLURM tasks (JAX's own detection) that disagree (config, folder, process count) all stop with
one clear error; kernel rows split over two processes and over four virtual devices give the
one-device products and Krylov solutions to 1e-10 in float64.

Every subprocess runs under a time limit (``_LIMIT`` seconds); they share a JAX compilation
cache, so the second launch of the same programs does not compile again.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from l2theory import _distributed, _x64, train
from l2theory._cli import training as cli
from l2theory._practice.train import results

# several JAX processes that must meet within Gloo's 30 s: run alone, not beside other tests
pytestmark = pytest.mark.isolated

ROOT = Path(__file__).resolve().parents[1]
_LIMIT = 150  # seconds for any one launch (a few under no load)

# A grid of 8 runs; with --chunk-size 8 over two processes of one device each, each device
# trains 4 lanes at once, as one process does with --chunk-size 4 (the same compiled program
# per device: see docs/cluster.md on bit-identical results).
GRID = ["--lam", "0", "1e-3", "--lr", "0.5", "1", "--seeds", "0", "1", "--depth", "2",
        "--width", "32", "--steps", "60", "--eval-every", "10", "--batch-size", "32",
        "--n-train", "256", "--n-test", "128", "--checkpoint-every", "1"]

# `l2theory sweep ARGS` with each checkpoint slowed down by SLOW seconds (argv[1]), so that a
# process can be killed between two checkpoints.
SWEEP = textwrap.dedent("""
    import sys, time
    from l2theory._practice.train import results
    slow = float(sys.argv[1])
    if slow:
        save = results.save_npz
        def slow_save(path, arrays):
            save(path, arrays)
            if "checkpoints" in str(path):
                time.sleep(slow)
        results.save_npz = slow_save
    from l2theory.cli import main
    sys.exit(main(["sweep", *sys.argv[2:]]))
""")

# Kernel products and Krylov solutions (float64) with whatever devices the process has; run
# in the test process too (one device) for the reference.
KERNELS = textwrap.dedent("""
    import numpy as np
    from l2theory import _x64, data, kernels, solvers

    def kernel_results():
        with _x64.x64():
            ds = data.load("fashion_mnist_subset", n_train=120, n_test=40)
            x = ds.x_train.reshape(120, -1).astype(np.float64) / 255
            z = ds.x_test.reshape(40, -1).astype(np.float64) / 255
            y = np.eye(10)[ds.y_train] - 0.1
            fn = kernels.fc_relu_fn(depth=3)
            k = np.asarray(kernels.kernel_matrix(fn, x, block_size=40))
            k_test = np.asarray(kernels.kernel_matrix(fn, z, x, block_size=40))
            op = kernels.kernel_operator(fn, x, block_size=40)
            op_test = kernels.kernel_operator(fn, z, x, block_size=40)
            v = np.random.default_rng(0).normal(size=(120, 3))
            t = [0.0, 10.0, 1e3, np.inf]
            out = {"op_v": op @ v, "op_test_v": op_test @ v}
            dense = solvers.L2GradientFlow(k, y, lam=1e-3, degree=3, method="krylov", tol=1e-12)
            out["dense_train"], out["dense_test"] = dense.predict(t, k_test_train=k_test)
            lazy = solvers.L2GradientFlow(op, y, lam=1e-3, degree=3, method="krylov", tol=1e-12)
            out["op_train"], out["op_test"] = lazy.predict(t, k_test_train=op_test)
            return {name: np.asarray(a) for name, a in out.items()}
""")

# Two processes started as SLURM tasks (JAX's own detection, no addresses given): processes that
# disagree, a folder that is not shared, a folder made by one process, a command without --out;
# then the kernels. Each case prints one line per process.
CHECKS = textwrap.dedent("""
    import sys
    import numpy as np
    from l2theory import _distributed
    base = sys.argv[1]
    assert _distributed.start()
    import jax
    pid = jax.process_index()
    print(f"detected: {jax.process_count()} processes", flush=True)
    from l2theory import data, train
    from l2theory.cli import main
    # the sweep of GRID as the command runs it (standardized inputs, MSE: its defaults)
    ds = data.standardize(data.load("fashion_mnist_subset", n_train=256, n_test=128))
    cfg = train.TrainConfig(depth=2, width=32, steps=60, eval_every=10, batch_size=32,
                            loss="mse")
    kw = dict(lam=[0.0, 1e-3], lr=[0.5, 1.0], seeds=[0, 1], progress=False)
    cases = {"disagree": dict(kw, lam=[0.0, 1e-3 if pid == 0 else 1e-2]),
             "not-shared": dict(kw, out=f"{base}/own-folder-{pid}"),
             "one-process-folder": dict(kw, out=f"{base}/reference")}
    for name, args in cases.items():
        try:
            train.sweep(cfg, ds, **args)
            print(f"{name}: no error", flush=True)
        except ValueError as e:
            print(f"{name}: {e}", flush=True)
    print("no-out:", main(["sweep", "--lam", "0", "--lr", "1", "--steps", "2"]), flush=True)
    exec(open(sys.argv[2]).read())
    np.savez(f"{base}/kernels-{pid}.npz", **kernel_results())
    print("kernels: done", flush=True)
""")


def _env(cache: Path, devices: int = 1) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
            "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def _start(argvs, env, envs=None) -> list[subprocess.Popen]:
    """``python -c`` each of ``argvs``, in ``env`` (or ``envs[i]``)."""
    envs = envs or [env] * len(argvs)
    return [subprocess.Popen([sys.executable, "-c", *argv], cwd=ROOT, env=e, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for argv, e in zip(argvs, envs)]


def _finish(procs, limit: float = _LIMIT) -> list[tuple[int, str, str]]:
    """``(returncode, stdout, stderr)`` of each process; all are killed at ``limit`` seconds."""
    deadline = time.time() + limit
    out = []
    for p in procs:
        try:
            o, e = p.communicate(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            o, e = p.communicate()
            pytest.fail(f"a process ran over {limit} s:\n{o[-2000:]}\n{e[-3000:]}")
        out.append((p.returncode, o, e))
    return out


def _two_processes(script: str, args, env) -> list[subprocess.Popen]:
    """``script`` in processes 0 and 1; ``args(i)`` the arguments of process i."""
    return _start([[script, *args(i)] for i in (0, 1)], env)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    try:
        _distributed.free_port()
    except OSError as e:  # pragma: no cover - a sandbox without loopback networking
        pytest.skip(f"two processes cannot talk over localhost TCP here ({e})")
    return tmp_path_factory.mktemp("distributed")


@pytest.fixture(scope="module")
def reference(base):
    """The sweep in this process (one device, 4 lanes per program)."""
    assert cli.sweep_main(GRID + ["--chunk-size", "4", "--no-progress", "--out",
                                  str(base / "reference")]) == 0
    return train.load_results(base / "reference")


@pytest.fixture(scope="module")
def resumed(base):
    """The sweep in two processes (``l2theory sweep --coordinator ...``), process 1 killed by
    SIGKILL after its second checkpoint and process 0 stopped, then both started again."""
    out, env = base / "two", _env(base / "cache")

    def args(port, slow):
        return lambda i: [slow, *GRID, "--chunk-size", "8", "--out", str(out), "--coordinator",
                          f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)]

    port = _distributed.free_port()
    procs = _two_processes(SWEEP, args(port, "0.3"), env)
    mark = out / "checkpoints" / "chunk-00000.p1-of-2.t0000000020.npz"
    deadline = time.time() + _LIMIT
    while not mark.exists() and all(p.poll() is None for p in procs) and time.time() < deadline:
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    try:  # the survivor waits for its partner (JAX stops it after a heartbeat timeout)
        procs[0].wait(timeout=1)
    except subprocess.TimeoutExpired:
        procs[0].send_signal(signal.SIGKILL)
    logs = [p.communicate() for p in procs]
    assert mark.exists(), f"process 1 wrote no checkpoint at step 20:\n{logs[1][1][-3000:]}"
    assert not (out / "results.npz").exists(), "the sweep finished before it could be killed"
    killed = sorted(f.name for f in (out / "checkpoints").iterdir())
    # Process 1 killed before it wrote the newest step that process 0 holds: the processes must
    # resume together from the newest step both hold.
    newest = {i: max(f for f in killed if f".p{i}-of-2." in f) for i in (0, 1)}
    if newest[0][-14:] == newest[1][-14:]:
        (out / "checkpoints" / newest[1]).unlink()
    port = _distributed.free_port()
    runs = _finish(_two_processes(SWEEP, args(port, "0"), env))
    for rc, o, e in runs:
        assert rc == 0, e[-3000:]
    return {"out": out, "killed": killed, "runs": runs}


def test_killed_and_resumed_two_processes_give_one_process_rows_bit_for_bit(resumed, reference):
    out = resumed["out"]
    table = train.load_results(out)
    assert table.keys() == reference.keys()
    for k in reference:
        np.testing.assert_array_equal(table[k], reference[k], err_msg=k)
    # process 0's config.json holds every lane's config, as the one-process folder's
    assert train.load_config(out, lane=5) == train.load_config(out.parent / "reference", lane=5)
    # the kill came mid-sweep: both processes had checkpoints at steps 10 and 20 or beyond
    assert any(".p0-of-2.t0000000010" in f or ".p0-of-2.t0000000020" in f
               for f in resumed["killed"]), resumed["killed"]
    (rc0, out0, err0), (rc1, out1, err1) = resumed["runs"]
    assert "resuming" in err0 and "at step" in err0  # process 0 says from where
    assert "resuming" not in err1 and "sweep 8 runs" not in err1  # one progress bar
    assert "results:" in out0 and "results:" not in out1 and "train_loss" not in out1
    # each process wrote its own lanes only; process 0 the combined table and config
    names = sorted(f.name for f in out.iterdir())
    assert {"results.p0-of-2.npz", "results.p1-of-2.npz", "results.npz", "results.csv",
            "config.json", "environment.json", "environment.p1-of-2.json"} <= set(names)
    parts = [results.load_table(out / f"results.p{i}-of-2.npz") for i in (0, 1)]
    assert sorted(set(parts[0]["run"])) == [0, 1, 2, 3]  # lanes 0-3 on process 0's device
    assert sorted(set(parts[1]["run"])) == [4, 5, 6, 7]
    checkpoints = sorted(f.name for f in (out / "checkpoints").iterdir())
    assert checkpoints == ["chunk-00000.p0-of-2.t0000000060.npz",
                           "chunk-00000.p1-of-2.t0000000060.npz"]  # older steps removed
    assert results.load_json(out / "config.json")["processes"] == {"count": 2, "devices": 2}


def test_load_results_combines_the_parts_of_the_processes(resumed, tmp_path):
    folder = tmp_path / "parts"
    shutil.copytree(resumed["out"], folder)
    whole = train.load_results(folder)
    (folder / "results.npz").unlink()  # as if process 0 stopped before combining
    parts = train.load_results(folder)
    for k in whole:
        np.testing.assert_array_equal(parts[k], whole[k], err_msg=k)
    (folder / "results.p1-of-2.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"not of process\(es\) 1; rerun the same sweep "
                                                r"with all 2 processes"):
        train.load_results(folder)


def test_combined_parts_keep_nested_tables_in_run_order(tmp_path):
    def part(runs):
        rows = {"run": np.repeat(runs, 2), "step": np.tile([0, 5], len(runs)),
                "test_acc": np.arange(2.0 * len(runs)) + 10 * runs[0]}
        rows["autol2"] = {"run": np.asarray(runs), "lam": np.asarray(runs) * 1e-3}
        return rows

    results.save_npz(tmp_path / "results.p0-of-2.npz", results.flatten(part([0, 2])))
    results.save_npz(tmp_path / "results.p1-of-2.npz", results.flatten(part([1, 3])))
    table = train.load_results(tmp_path)
    assert table["run"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert table["step"].tolist() == [0, 5] * 4
    assert table["test_acc"].tolist() == [0, 1, 10, 11, 2, 3, 12, 13]
    assert table["autol2"]["run"].tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(table["autol2"]["lam"], [0, 1e-3, 2e-3, 3e-3])


@pytest.fixture(scope="module")
def checks(base, reference):
    """The ``CHECKS`` script in two processes."""
    (base / "kernels.py").write_text(KERNELS)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "localhost", "SLURM_NTASKS": "2",
             "JAX_COORDINATOR_PORT": str(_distributed.free_port())}
    env = {**_env(base / "cache"), **slurm}
    runs = _finish(_start([[CHECKS, str(base), str(base / "kernels.py")]] * 2, None, envs=[
        {**env, "SLURM_PROCID": str(i), "SLURM_LOCALID": str(i)} for i in (0, 1)]))
    for rc, o, e in runs:
        assert rc == 0 and "kernels: done" in o, e[-3000:]
    return [dict(line.split(": ", 1) for line in o.splitlines() if ": " in line)
            for _, o, _ in runs]


def test_processes_that_disagree_stop_together_with_one_clear_error(checks, base):
    for pid, said in enumerate(checks):
        assert said["detected"] == "2 processes"  # from SLURM's variables, by JAX
        assert said["disagree"].startswith(
            "the 2 processes disagree on the sweep (differs in: grid; process(es) 1 differ "
            "from process 0)"), said
        assert "process 1 of 2" in said["not-shared"]
        assert "does not see the files process 0 writes there" in said["not-shared"]
        assert "filesystem shared by all of them" in said["not-shared"]
        assert "was made by 1 process, this run has 2 processes" in said["one-process-folder"]
        assert "resume it in one process" in said["one-process-folder"]
        assert said["no-out"] == "2"  # the command's error status
    assert checks[0]["not-shared"].startswith("process 1 reports: ")  # from its partner
    assert checks[1]["one-process-folder"].startswith("process 0 reports: ")
    assert not (base / "own-folder-0" / "config.json").exists()  # nothing recorded


@pytest.fixture(scope="module")
def one_device():
    """``KERNELS`` in this process (one device)."""
    namespace: dict = {}
    exec(KERNELS, namespace)
    return namespace["kernel_results"]()


def _assert_kernels_match(got, want):
    for name, a in want.items():
        err = np.abs(got[name] - a).max() / np.abs(a).max()
        assert err < 1e-10, (name, err)


def test_kernel_rows_split_over_two_processes_match_one_device(checks, base, one_device):
    for pid in (0, 1):  # every process holds the whole result
        _assert_kernels_match(dict(np.load(base / f"kernels-{pid}.npz")), one_device)


def test_kernel_rows_split_over_four_virtual_devices_match_one_device(base, one_device):
    script = KERNELS + textwrap.dedent("""
        import sys, jax
        assert len(jax.devices()) == 4
        np.savez(sys.argv[1], **kernel_results())
    """)
    path = base / "kernels-4-devices.npz"
    [(rc, _, err)] = _finish(_start([[script, str(path)]], _env(base / "cache", devices=4)))
    assert rc == 0, err[-3000:]
    _assert_kernels_match(dict(np.load(path)), one_device)


def test_start_checks_its_arguments_and_starts_nothing_for_one_process(monkeypatch):
    for var in ("SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match=r"^process_id=None: several processes need "
                                         r"coordinator, num_processes and process_id together"):
        _distributed.start("localhost:1234", 2)
    with pytest.raises(ValueError, match=r"coordinator='localhost': must be HOST:PORT"):
        _distributed.start("localhost", 2, 0)
    with pytest.raises(ValueError, match=r"--process-id=2: this process's number must be an "
                                         r"int in \[0, 1\]"):
        _distributed.start("localhost:1234", 2, 2, names=("--coordinator", "--num-processes",
                                                           "--process-id"))
    assert _distributed.start("localhost:1234", 1, 0) is False  # one process: nothing to start
    assert _distributed.start() is False  # no cluster detected
    import jax

    assert not jax.distributed.is_initialized()


def test_cluster_detection_is_jaxs_own(monkeypatch):
    """Under ``srun`` JAX's SLURM detection sees the job's tasks (what ``start()`` without
    arguments, and ``l2theory sweep`` without --coordinator, rely on)."""
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_STEP_NODELIST", "node[001-004]")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "2")
    monkeypatch.setenv("SLURM_LOCALID", "0")
    assert _distributed.detected_processes() == 4
    assert _distributed.start(num_processes=1) is False  # one process, whatever SLURM says
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert _distributed.detected_processes() == 1
    assert _distributed.start() is False  # a one-task job step: nothing to start
    import jax

    assert not jax.distributed.is_initialized()
