"""A sweep's results directory: atomic writes, checkpoints, the result table, the environment.

Layout of ``out/``::

    config.json          what was run: the TrainConfig, the grid, the dataset's fingerprint,
                         the chunk size (a rerun must match it, see ``Store.open``)
    environment.json     python / jax / numpy / optax versions, devices, hostname (one entry per
                         start or resume)
    checkpoints/chunk-00000.npz
                         per chunk of lanes: the step reached, the rows so far and the lane-batched
                         training state (params, optimizer state, schedule state; the random
                         state is derived from the seed and the step, so nothing else is needed);
                         once a chunk is done it keeps only its rows
    results.npz, results.csv
                         the final table; results.npz is written last, so it marks a finished
                         sweep. A nested table (AutoL2's ``"autol2"`` measurements) is stored in
                         results.npz as ``autol2/<name>`` arrays and as autol2.csv; results.csv
                         holds the evaluation table only

Every file is written to a temporary name in the same folder, flushed to disk and renamed over
its final name (``os.replace``), so a crash or SIGKILL leaves either the old or the new version,
never a torn file.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

FORMAT = 1


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> None:
    """``write(f)`` into a temporary file beside ``path``, fsync, then ``os.replace`` it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_json(path, obj) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n"), "w")


def load_json(path) -> Any:
    with open(path) as f:
        return json.load(f)


def save_npz(path, arrays: dict[str, Any]) -> None:
    """``arrays`` to an ``.npz``, atomically. Dtypes numpy cannot store (bfloat16) are stored as
    raw bits and restored by ``load_npz``."""
    stored, dtypes = {}, {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind == "V" or a.dtype.type.__module__ not in ("numpy", "builtins"):
            dtypes[name] = a.dtype.name
            a = a.view(np.dtype(f"u{a.dtype.itemsize}"))
        stored[name] = a
    stored["__dtypes__"] = np.asarray(json.dumps(dtypes))
    atomic_write(path, lambda f: np.savez(f, **stored))


def load_npz(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    dtypes = json.loads(str(arrays.pop("__dtypes__", "{}")))
    if dtypes:
        import jax.numpy as jnp  # knows bfloat16 & co. (ml_dtypes)

        for name, dtype in dtypes.items():
            arrays[name] = arrays[name].view(jnp.dtype(dtype))
    return arrays


def save_csv(path, table: dict[str, Any]) -> None:
    """The table as CSV (floats in Python's shortest round-trip form); nested tables (dicts) are
    left out."""
    names = [n for n in table if not isinstance(table[n], dict)]

    def write(f):
        w = csv.writer(f)
        w.writerow(names)
        for row in zip(*(table[n].tolist() for n in names)):
            w.writerow(row)

    atomic_write(path, write, "w")


def flatten(table: dict[str, Any]) -> dict[str, np.ndarray]:
    """A table with nested tables (``{"autol2": {...}}``) as flat arrays ``"autol2/<name>"``."""
    flat = {}
    for name, value in table.items():
        if isinstance(value, dict):
            flat.update({f"{name}/{k}": v for k, v in value.items()})
        else:
            flat[name] = value
    return flat


def nest(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Inverse of ``flatten``: ``"autol2/<name>"`` arrays back into ``table["autol2"]``."""
    table: dict[str, Any] = {}
    for name, value in arrays.items():
        if "/" in name:
            outer, inner = name.split("/", 1)
            table.setdefault(outer, {})[inner] = value
        else:
            table[name] = value
    return table


def load_table(path) -> dict[str, Any]:
    """A ``results.npz`` as the table ``sweep`` returned (AutoL2's measurements nested again)."""
    return nest(load_npz(path))


def environment(config=None) -> dict[str, Any]:
    """Versions, devices and host of this process; JAX's ``jax_default_matmul_precision`` and,
    given a ``TrainConfig``, the ``matmul_precision`` its programs use (``docs/conventions.md``
    section 6)."""
    import jax

    env = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "argv": sys.argv,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "process_count": jax.process_count(),
        "x64": bool(jax.config.read("jax_enable_x64")),
        "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
    }
    if config is not None:
        env["matmul_precision"] = config.matmul_precision_in_force
    for module in ("jaxlib", "optax", "scipy"):
        try:
            env[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            env[module] = None
    env["cpu"] = platform.processor() or None
    try:
        text = Path("/proc/cpuinfo").read_text()
        env["cpu"] = re.search(r"model name\s*:\s*(.*)", text).group(1).strip()
    except (OSError, AttributeError):
        pass
    env["cpu_count"] = os.cpu_count()
    try:  # the commit of the l2theory checkout, if it is one
        env["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["git"] = None
    return env


def dataset_fingerprint(dataset) -> dict[str, Any]:
    """Shapes, dtypes and a BLAKE2 hash of the four arrays (a rerun must see the same data)."""
    h = hashlib.blake2b(digest_size=16)
    shapes = {}
    for name in ("x_train", "y_train", "x_test", "y_test"):
        a = np.ascontiguousarray(getattr(dataset, name))
        shapes[name] = [list(a.shape), a.dtype.str]
        h.update(name.encode())
        h.update(a.tobytes())
    return {"name": getattr(dataset, "name", None), "arrays": shapes, "blake2b": h.hexdigest()}


class Store:
    """The results directory of one sweep (see the module docstring). In a multi-host run only
    process 0 writes; every process reads."""

    def __init__(self, out: str | os.PathLike):
        import jax

        self.root = Path(out)
        self.writer = jax.process_index() == 0
        if self.writer:
            (self.root / "checkpoints").mkdir(parents=True, exist_ok=True)
            for stale in [*self.root.glob(".*.tmp-*"), *self.root.glob("checkpoints/.*.tmp-*")]:
                stale.unlink(missing_ok=True)  # left by a process killed mid-write

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    def open(self, identity: dict[str, Any], chunk_size: int | None, config=None) -> int | None:
        """Check that ``out`` holds this sweep (or nothing yet) and record the environment.

        Returns:
          The chunk size stored by an earlier call (which a resume must reuse), or ``chunk_size``
          for a new directory (``None`` there means: decide and call ``set_chunk_size``).

        Raises:
          ValueError: ``out`` holds a different sweep, or ``chunk_size`` differs from the stored.
        """
        stored_chunk = None
        if self.config_path.exists():
            stored = load_json(self.config_path)
            old = stored.get("identity")
            grid = (old or {}).get("grid") or {}
            if "physical_time" in grid:  # written before the rename to natural_time
                grid["natural_time"] = grid.pop("physical_time")
            if isinstance((old or {}).get("config"), dict):  # stored before matmul_precision
                old["config"].setdefault("matmul_precision", None)
            if old != json.loads(json.dumps(identity)):
                diff = _differences(old, identity)
                raise ValueError(
                    f"out={str(self.root)!r} holds a different sweep (differs in: "
                    f"{', '.join(diff) or 'format'}); pass another out directory, or delete this "
                    "one to start over")
            stored_chunk = stored.get("chunk_size")
            if chunk_size is not None and stored_chunk is not None and chunk_size != stored_chunk:
                raise ValueError(
                    f"chunk_size={chunk_size} differs from chunk_size={stored_chunk} of the sweep "
                    f"stored in {str(self.root)!r}; pass chunk_size=None (or {stored_chunk}) to "
                    "resume it")
        if self.writer:
            envs = []
            path = self.root / "environment.json"
            if path.exists():
                envs = load_json(path)
            save_json(path, envs + [environment(config)])
            if not self.config_path.exists():
                save_json(self.config_path, {"format": FORMAT, "identity": identity,
                                             "chunk_size": chunk_size})
        return stored_chunk if stored_chunk is not None else chunk_size

    def set_chunk_size(self, chunk_size: int) -> None:
        stored = load_json(self.config_path) if self.config_path.exists() else {}
        if self.writer and stored.get("chunk_size") != chunk_size:
            save_json(self.config_path, {**stored, "chunk_size": chunk_size})

    # ------------------------------------------------------------------ result

    def load_result(self) -> dict[str, Any] | None:
        path = self.root / "results.npz"
        return load_table(path) if path.exists() else None

    def save_result(self, table: dict[str, Any]) -> None:
        if self.writer:
            save_csv(self.root / "results.csv", table)
            for name, value in table.items():
                if isinstance(value, dict):
                    save_csv(self.root / f"{name}.csv", value)
            save_npz(self.root / "results.npz", flatten(table))  # last: marks the sweep finished

    # ------------------------------------------------------------------ checkpoints

    def _chunk_path(self, i: int) -> Path:
        return self.root / "checkpoints" / f"chunk-{i:05d}.npz"

    def save_chunk(self, i: int, *, t: int, rows: dict[str, np.ndarray], done: bool,
                   state_leaves: list[np.ndarray] | None = None) -> None:
        """Checkpoint chunk ``i``: step ``t`` reached, ``rows`` so far (``{column: [evals,
        lanes]}``) and, unless ``done``, the flattened lane-batched state."""
        if not self.writer:
            return
        arrays = {"t": np.asarray(t), "done": np.asarray(done)}
        arrays.update({f"rows/{k}": v for k, v in rows.items()})
        for j, leaf in enumerate(state_leaves or []):
            arrays[f"state/{j:05d}"] = leaf
        save_npz(self._chunk_path(i), arrays)

    def chunk_progress(self, i: int) -> tuple[int, bool] | None:
        """``(step reached, done)`` of chunk ``i``'s checkpoint (read without its state), or None
        if never saved."""
        path = self._chunk_path(i)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            return int(z["t"]), bool(z["done"])

    def load_chunk(self, i: int) -> dict[str, Any] | None:
        """``{"t", "done", "rows", "state_leaves"}`` of chunk ``i``, or None if never saved."""
        path = self._chunk_path(i)
        if not path.exists():
            return None
        a = load_npz(path)
        leaves = [a[k] for k in sorted(k for k in a if k.startswith("state/"))]
        return {"t": int(a["t"]), "done": bool(a["done"]),
                "rows": {k[5:]: v for k, v in a.items() if k.startswith("rows/")},
                "state_leaves": leaves}


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted names of the entries that differ between two JSON-like dicts."""
    new = json.loads(json.dumps(new))
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [prefix.rstrip(".")] if old != new else []
    out = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            if isinstance(old.get(k), dict) and isinstance(new.get(k), dict):
                out += _differences(old[k], new[k], f"{prefix}{k}.")
            else:
                out.append(f"{prefix}{k}")
    return out

