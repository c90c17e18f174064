"""A sweep's results directory: atomic writes, checkpoints, the result table, the environment.

Layout of ``out/``::

    config.json          the results format (``FORMAT``) and what was run (see "config.json"
                         below): every lane's full TrainConfig, the grid, the dataset's
                         fingerprint (and, from the commands, how the data were loaded), the
                         chunk size (a rerun must match it, see ``Store.open``)
    environment.json     python / jax / numpy / optax versions, devices, hostname (one entry per
                         start or resume)
    checkpoints/chunk-00000.npz
                         per chunk of lanes: the step reached, the rows so far and the lane-batched
                         training state (params, optimizer state, schedule state; the random
                         state is derived from the seed and the step, so nothing else is needed);
                         once a chunk is done it keeps only its rows
    results.npz, results.csv
                         the final table; results.npz is written last, so it marks a finished
                         sweep. A nested table (AutoL2's ``"autol2"`` measurements, a BatchNorm
                         model's ``"bn_tensor_norms"`` and ``"bn_tensor_angles"``) is stored
                         in results.npz as ``<table>/<name>`` arrays and as ``<table>.csv``;
                         results.csv holds the evaluation table only

config.json::

    format      FORMAT
    how_to_read one line saying the below
    lanes       one entry per lane, in the order of results.csv's ``run`` column: ``run``,
                ``lam``, ``lr``, ``seed``, ``steps`` and ``config``, the lane's full
                TrainConfig as it ran (resolved; ``TrainConfig(**config)`` rebuilds it,
                ``train.load_config(folder, lane=run)`` reads it)
    identity    what a resumed or repeated sweep must match: ``template`` (the settings shared by
                every lane: the TrainConfig without ``lam``, ``lr``, ``seed``, and without
                ``steps`` when ``grid.natural_time`` sets them per lane; a template, not a run),
                ``grid`` (the axes ``lam``, ``lr``, ``seeds``, ``natural_time``) and ``dataset``
                (name, shapes and a BLAKE2 hash of the four arrays)
    chunk_size  lanes per compiled program
    data        (written by ``l2theory train``/``sweep``) how the dataset was made: ``dataset``,
                ``data_root``, ``n_train``, ``n_test``, ``data_seed``, ``standardize``, i.e.
                ``data.load(dataset, root=data_root, n_train=..., n_test=..., seed=data_seed)``,
                then ``data.standardize`` when ``standardize``

Every file is written to a temporary name in the same folder, flushed to disk and renamed over
its final name (``os.replace``), so a crash or SIGKILL leaves either the old or the new version,
never a torn file.

Several processes (``jax.distributed``, see docs/cluster.md) share one folder, which must be on a
filesystem every process sees. Process ``i`` of ``n`` writes only files named ``*.p<i>-of-<n>.*``,
holding the lanes on its own devices; process 0 also writes the files of the whole sweep::

    config.json          (process 0) as above, plus ``processes``: how many processes and
                         devices made the folder (a resume must use as many)
    environment.json     (process 0) its environment; environment.p<i>-of-<n>.json: process i's
    checkpoints/chunk-00000.p<i>-of-<n>.t0000001200.npz
                         process i's lanes of chunk 0 at step 1200 (``lanes``: their positions in
                         the chunk). A process keeps its previous checkpoint until every process
                         has written the next one, so after any process is killed the processes
                         resume together from the newest step all of them hold
    results.p<i>-of-<n>.npz
                         process i's lanes of the final table
    results.npz, results.csv
                         (process 0) the parts combined, once every process has written its part;
                         ``load_results`` combines the parts itself when they are missing

``FORMAT`` changes whenever what a folder stores, or what a stored entry means, changes; a folder
of another format is not resumed or reused (``Store.open`` says so: rerun into a new folder).
``load_results`` still reads the table of a finished folder of any format (its columns have not
changed).
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

from l2theory import _checks, _distributed

FORMAT = 4  # the layout version of a results folder (see above); 4: per-tensor angle sums in
# the checkpointed training state (BatchNorm models' ``bn_tensor_angles``)


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


def _csv_cells(a: np.ndarray) -> list:
    """A column's cells: every float in the shortest text that reads back to the same value in
    the column's own dtype (float32 ``1e-3`` as ``0.001``, not ``0.0010000000474974513``)."""
    a = np.asarray(a)
    if a.dtype.kind == "f" and a.dtype.itemsize < 8:
        return [str(v) for v in a]  # numpy's str of a float32 scalar is its shortest repr
    return a.tolist()


def save_csv(path, table: dict[str, Any]) -> None:
    """The table as CSV: a header of column names, then one line per row; floats in the shortest
    form that round-trips in their column's dtype, booleans as ``True``/``False``. Nested tables
    (dicts, e.g. ``table["autol2"]``) are left out."""
    names = [n for n in table if not isinstance(table[n], dict)]

    def write(f):
        w = csv.writer(f)
        w.writerow(names)
        for row in zip(*(_csv_cells(table[n]) for n in names)):
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
def load_csv(path) -> dict[str, np.ndarray]:
    """A table written by ``save_csv``: int64 columns where every cell is an integer, bool where
    every cell is ``True``/``False``, float64 otherwise."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        names = next(reader, None)
        if not names:
            raise ValueError(f"path={str(path)!r}: empty CSV file; pass a results.csv written by "
                             "l2theory (a header line, then one line per row)")
        cells = list(zip(*reader)) or [()] * len(names)
    table = {}
    for name, col in zip(names, cells):
        if col and all(c in ("True", "False") for c in col):
            table[name] = np.array([c == "True" for c in col])
        elif col and all(re.fullmatch(r"-?\d+", c) for c in col):
            table[name] = np.array([int(c) for c in col], np.int64)
        else:
            table[name] = np.array([float(c) for c in col], np.float64)
    return table


_PART = re.compile(r"results\.p(\d+)-of-(\d+)\.npz")


def part_name(process: int, processes: int) -> str:
    """The file of process ``process``'s lanes of the final table: ``results.p0-of-2.npz``."""
    return f"results.p{process}-of-{processes}.npz"


def combine_parts(folder) -> dict[str, Any] | None:
    """The table of a multi-process sweep, from its processes' parts (``results.p<i>-of-<n>.npz``),
    rows ordered by ``run`` then ``step``; ``None`` if the folder holds no part.
    ``FileNotFoundError`` naming the processes whose part is missing."""
    found: dict[int, set[int]] = {}
    for f in Path(folder).glob("results.p*-of-*.npz"):
        m = _PART.fullmatch(f.name)
        if m:
            found.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
    if not found:
        return None
    n = max(found)
    missing = sorted(set(range(n)) - found[n])
    if missing:
        raise FileNotFoundError(
            f"path={str(folder)!r}: holds the table of {n - len(missing)} of the {n} processes of "
            f"a multi-process sweep, not of process(es) {', '.join(map(str, missing))}; rerun the "
            f"same sweep with all {n} processes (same out) to finish it")
    parts = [load_table(Path(folder) / part_name(i, n)) for i in range(n)]
    return _concatenate(parts)


def _concatenate(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Tables of disjoint lanes as one, rows ordered by ``run`` (stable: each lane's rows keep
    their order); nested tables (``"autol2"``) alike."""
    out: dict[str, Any] = {}
    order = np.argsort(np.concatenate([p["run"] for p in parts]), kind="stable")
    for name, value in parts[0].items():
        if isinstance(value, dict):
            out[name] = _concatenate([p[name] for p in parts])
        else:
            out[name] = np.concatenate([p[name] for p in parts])[order]
    return out


def load_results(path) -> dict[str, Any]:
    """The result table of a finished ``sweep`` (or ``l2theory train``/``sweep`` command) saved
    in a results folder.

    Example: ``rows = load_results("runs/sweep-20250101-120000")`` (the folder the command
    printed), then ``m = rows["run_lam"] == 1e-3`` selects the lanes of lam = 1e-3.

    Args:
      path: the results folder (``sweep(..., out=path)``), or its ``results.npz`` (exact dtypes)
        or ``results.csv`` (floats read back as float64, ints as int64, flags as bool). The
        folder of a sweep run by several processes is read as one sweep (its ``results.npz``,
        or its processes' parts ``results.p<i>-of-<n>.npz`` combined when that is missing).

    Returns:
      The table ``sweep`` returned: ``{column: 1-D array}``, rows ordered by ``run`` then
      ``step`` (see ``l2theory.train.sweep`` for the columns); from an ``.npz`` also AutoL2's
      measurements as ``table["autol2"]`` when the sweep recorded them.

    Raises:
      FileNotFoundError: ``path`` does not exist, or the folder holds no finished sweep (the
        message says whether it holds checkpoints of an unfinished one: rerun the same sweep
        with the same ``out`` to resume and finish it; or which processes' parts are missing).
      ValueError: a file that is neither ``.npz`` nor ``.csv``, or not a result table.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path={str(path)!r}: no such file or folder; pass the results "
                                "folder a sweep wrote (sweep(..., out=...), or the folder "
                                "l2theory train/sweep printed)")
    if p.is_dir():
        if (p / "results.npz").is_file():
            p = p / "results.npz"
        elif (combined := combine_parts(p)) is not None:
            return combined
        else:
            chunks = sorted((p / "checkpoints").glob("chunk-*.npz"))
            if chunks:
                state = (f"holds checkpoints of an unfinished sweep ({len(chunks)} chunk(s)) "
                         "but no results.npz")
                fix = ("rerun the same sweep (same command or call, same out) to resume it; "
                       "results.npz is written when it finishes")
            elif (p / "config.json").is_file():
                state = "holds a sweep that started but wrote no checkpoint and no results.npz"
                fix = "rerun the same sweep (same command or call, same out) to run it"
            else:
                state = "holds no results.npz (not a results folder)"
                fix = "pass the folder a sweep wrote with out=..., or its results.npz"
            raise FileNotFoundError(f"path={str(path)!r}: {state}; {fix}")
    if p.suffix == ".npz":
        table = load_table(p)
    elif p.suffix == ".csv":
        table = load_csv(p)
    else:
        raise ValueError(f"path={str(path)!r}: not a result table file (.npz or .csv); pass the "
                         "results folder, its results.npz or its results.csv")
    if "step" not in table or any(np.ndim(v) != 1 for v in table.values()
                                  if not isinstance(v, dict)):
        raise ValueError(f"path={str(path)!r}: not a result table (no 'step' column of 1-D "
                         "rows); pass the results folder of a sweep, or its results.npz")
    return table


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
    """Shapes, dtypes and a BLAKE2 hash of the arrays, the validation split's too when there is
    one (a rerun must see the same data)."""
    h = hashlib.blake2b(digest_size=16)
    shapes = {}
    extra = ("x_val", "y_val") if getattr(dataset, "x_val", None) is not None else ()
    for name in ("x_train", "y_train", "x_test", "y_test") + extra:
        a = np.ascontiguousarray(getattr(dataset, name))
        shapes[name] = [list(a.shape), a.dtype.str]
        h.update(name.encode())
        h.update(a.tobytes())
    return {"name": getattr(dataset, "name", None), "arrays": shapes, "blake2b": h.hexdigest()}


class Store:
    """The results directory of one sweep (see the module docstring).

    With several processes (``jax.process_count() > 1``) every process writes its own files
    (``*.p<i>-of-<n>.*``: its lanes) and process 0 also those of the whole sweep; ``open``,
    ``save_chunk``, ``load_chunk``, ``save_result`` are then collectives: every process calls
    them at the same point of the sweep, and an error in one process is raised in all of them.
    """

    def __init__(self, out: str | os.PathLike):
        import jax

        self.root = Path(out)
        self.process, self.processes = jax.process_index(), jax.process_count()
        self.multi = self.processes > 1
        self.writer = self.process == 0
        self.tag = f".p{self.process}-of-{self.processes}" if self.multi else ""
        if self.writer and not self.multi:
            self._prepare()

    def _prepare(self) -> None:
        """The folder created (first tried: ``_checks.writable_folder`` names ``out`` when it
        cannot be), and the temporary files of a process killed mid-write (or between the steps
        of ``_check_shared``) removed."""
        _checks.writable_folder("out", self.root)
        (self.root / "checkpoints").mkdir(parents=True, exist_ok=True)
        for stale in [*self.root.glob(".*.tmp-*"), *self.root.glob("checkpoints/.*.tmp-*"),
                      *self.root.glob(".shared-check-*")]:
            stale.unlink(missing_ok=True)

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    def open(self, identity: dict[str, Any], chunk_size: int | None, config=None,
             lanes: list[dict[str, Any]] | None = None) -> int | None:
        """Check that ``out`` holds this sweep (or nothing yet) and record the environment.

        Returns:
          The chunk size stored by an earlier call (which a resume must reuse), or ``chunk_size``
          for a new directory (``None`` there means: decide and call ``set_chunk_size``).

        Raises:
          ValueError: ``out`` was written by another l2theory version (another ``FORMAT``), holds
            a different sweep, was made by another number of processes or devices, or
            ``chunk_size`` differs from the stored; with several processes also when ``out`` is
            not one folder that every process sees.
        """
        if not self.multi:
            return self._open(identity, chunk_size, config, lanes)
        stored, error = None, None
        if self.writer:
            try:
                self._prepare()
            except (OSError, ValueError) as e:
                error = e
        _distributed.raise_everywhere(error)
        self._check_shared()
        if self.writer:
            try:
                stored = self._open(identity, chunk_size, config, lanes)
            except (ValueError, OSError) as e:
                error = e
        _distributed.raise_everywhere(error)
        stored = int(_distributed.broadcast(np.int32(-1 if stored is None else stored)))
        if not self.writer:
            path = self.root / f"environment{self.tag}.json"
            envs = load_json(path) if path.exists() else []
            save_json(path, envs + [environment(config)])
        return None if stored < 0 else stored

    def _open(self, identity: dict[str, Any], chunk_size: int | None, config,
              lanes: list[dict[str, Any]] | None = None) -> int | None:
        """``open`` in one process (process 0 of several)."""
        import jax

        processes = {"count": self.processes, "devices": jax.device_count()}
        stored_chunk = None
        if self.config_path.exists():
            stored = load_json(self.config_path)
            self._check_format(stored.get("format") if isinstance(stored, dict) else None)
            old = stored.get("identity")
            if old != json.loads(json.dumps(identity)):
                diff = _differences(old, identity)
                raise ValueError(
                    f"out={str(self.root)!r} holds a different sweep (differs in: "
                    f"{', '.join(diff) or 'format'}); pass another out directory, or delete this "
                    "one to start over")
            made = stored.get("processes", {"count": 1})
            if made["count"] != self.processes or (self.multi and made != processes):
                raise ValueError(
                    f"out={str(self.root)!r} was made by {_processes_text(made)}, this run has "
                    f"{_processes_text(processes)}: each process's checkpoints hold the lanes of "
                    f"its own devices, so resume it "
                    + (f"with {made['count']} processes (l2theory sweep --num-processes "
                       f"{made['count']}) and as many devices" if made["count"] > 1 else
                       "in one process (without --num-processes)")
                    + ", or pass another out")
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
                made = {"processes": processes} if self.multi else {}
                save_json(self.config_path, {"format": FORMAT, "how_to_read": HOW_TO_READ,
                                             "lanes": lanes or [], "identity": identity,
                                             "chunk_size": chunk_size, **made})
        return stored_chunk if stored_chunk is not None else chunk_size

    def _check_shared(self) -> None:
        """``ValueError`` in every process unless each one sees the file process 0 just wrote in
        ``out`` (one folder on a filesystem shared by all)."""
        token = _distributed.broadcast(np.frombuffer(os.urandom(16), np.int32))
        path = self.root / f".shared-check-{bytes(np.asarray(token, np.int32)).hex()}"
        error = None
        if self.writer:
            try:
                atomic_write(path, lambda f: f.write(path.name), "w")
            except OSError as e:
                error = e
        _distributed.raise_everywhere(error)
        if not self.writer and not (path.is_file() and path.read_text() == path.name):
            error = ValueError(
                f"out={str(self.root)!r}: {_distributed.environment_hint()} does not see the "
                "files process 0 writes there: every process must pass the same folder, on a "
                "filesystem shared by all of them (NFS, Lustre, GPFS, ...); pass such a folder")
        _distributed.raise_everywhere(error)
        if self.writer:
            path.unlink(missing_ok=True)

    def _check_format(self, found: Any) -> None:
        """``ValueError`` unless ``found`` (config.json's ``format``) is this version's
        ``FORMAT``."""
        if found == FORMAT:
            return
        if isinstance(found, int) and not isinstance(found, bool):
            who = "an older" if found < FORMAT else "a newer"
            what = f"results format {found}; this version writes format {FORMAT}"
        else:
            who = "another"
            what = f"no results format in config.json; this version writes {FORMAT}"
        raise ValueError(
            f"out={str(self.root)!r}: written by {who} l2theory ({what}), so it cannot be resumed "
            "or reused; rerun the sweep into a new folder (pass another out)")

    def set_chunk_size(self, chunk_size: int) -> None:
        if not self.writer:
            return
        stored = load_json(self.config_path) if self.config_path.exists() else {}
        if stored.get("chunk_size") != chunk_size:
            save_json(self.config_path, {**stored, "chunk_size": chunk_size})

    # ------------------------------------------------------------------ result

    def load_result(self) -> dict[str, Any] | None:
        """The finished sweep's table, or None. Several processes: also when only the parts are
        there (process 0 stopped before combining them; it combines them now)."""
        path = self.root / "results.npz"
        if path.exists():
            return load_table(path)
        if not self.multi:
            return None
        try:
            table = combine_parts(self.root)
        except FileNotFoundError:  # some process's part is missing: not finished
            return None
        if table is not None and self.writer:
            self._save_table(table)
        return table

    def save_result(self, table: dict[str, Any], part: dict[str, Any] | None = None) -> None:
        """The final ``table``; with several processes each writes ``part`` (the table of its
        own lanes) and process 0 then the parts combined."""
        if not self.multi:
            if self.writer:
                self._save_table(table)
            return
        error = None
        try:
            save_npz(self.root / part_name(self.process, self.processes), flatten(part))
        except OSError as e:
            error = e
        _distributed.raise_everywhere(error)
        if self.writer:
            self._save_table(combine_parts(self.root))

    def _save_table(self, table: dict[str, Any]) -> None:
        save_csv(self.root / "results.csv", table)
        for name, value in table.items():  # nested tables of rows (not outputs)
            if isinstance(value, dict) and all(np.ndim(v) == 1 for v in value.values()):
                save_csv(self.root / f"{name}.csv", value)
        save_npz(self.root / "results.npz", flatten(table))  # last: marks the sweep finished

    # ------------------------------------------------------------------ checkpoints

    def _chunk_path(self, i: int, t: int | None = None) -> Path:
        """Chunk ``i``'s checkpoint; with several processes this process's at step ``t``."""
        if not self.multi:
            return self.root / "checkpoints" / f"chunk-{i:05d}.npz"
        return self.root / "checkpoints" / f"chunk-{i:05d}{self.tag}.t{t:010d}.npz"

    def _generations(self, i: int) -> list[tuple[int, Path]]:
        """This process's checkpoints of chunk ``i`` (several processes), oldest first."""
        found = []
        for f in (self.root / "checkpoints").glob(f"chunk-{i:05d}{self.tag}.t*.npz"):
            m = re.fullmatch(rf"chunk-{i:05d}{re.escape(self.tag)}\.t(\d+)\.npz", f.name)
            if m:
                found.append((int(m.group(1)), f))
        return sorted(found)

    def save_chunk(self, i: int, *, t: int, rows: dict[str, np.ndarray], done: bool,
                   state_leaves: list[np.ndarray] | None = None,
                   lanes: np.ndarray | None = None) -> None:
        """Checkpoint chunk ``i``: step ``t`` reached, ``rows`` so far (``{column: [evals,
        lanes]}``) and, unless ``done``, the flattened lane-batched state. Several processes:
        this process's ``lanes`` (their positions in the chunk) only, and its older checkpoints
        of the chunk are removed once every process has written this one."""
        if not self.multi:
            if self.writer:
                save_npz(self._chunk_path(i), _chunk_arrays(t, rows, done, state_leaves))
            return
        error = None
        try:
            arrays = _chunk_arrays(t, rows, done, state_leaves)
            save_npz(self._chunk_path(i, t), {**arrays, "lanes": np.asarray(lanes, np.int64)})
        except OSError as e:
            error = e
        _distributed.raise_everywhere(error)  # every process holds step t now
        for t_old, path in self._generations(i):
            if t_old < t:
                path.unlink(missing_ok=True)

    def chunk_progress(self, i: int) -> tuple[int, bool] | None:
        """``(step reached, done)`` of chunk ``i``'s checkpoint (read without its state), or None
        if never saved (several processes: this process's newest; no communication)."""
        if self.multi:
            generations = self._generations(i)
            path = generations[-1][1] if generations else None
        else:
            path = self._chunk_path(i)
        if path is None or not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            return int(z["t"]), bool(z["done"])

    def load_chunk(self, i: int) -> dict[str, Any] | None:
        """``{"t", "done", "rows", "state_leaves"}`` of chunk ``i``, or None if never saved.
        Several processes: the newest step that every process holds, this process's lanes of it
        (and ``"lanes"``, their positions in the chunk)."""
        if not self.multi:
            path = self._chunk_path(i)
            return _read_chunk(path) if path.exists() else None
        mine = self._generations(i)[-_KEPT:]
        table = np.full((_KEPT, 2), -1, np.int32)
        for row, (t, path) in enumerate(mine):
            with np.load(path, allow_pickle=False) as z:
                table[row] = t, int(bool(z["done"]))
        everyone = _distributed.allgather(table)  # [processes, _KEPT, (t, done)]
        common = set.intersection(*({int(t) for t in p[:, 0] if t >= 0} for p in everyone))
        if not common:
            return None
        t = max(common)
        error, saved = None, None
        try:
            saved = _read_chunk(self._chunk_path(i, t))
        except (OSError, ValueError) as e:
            error = e
        _distributed.raise_everywhere(error)
        return saved


_KEPT = 4  # a process's newest checkpoints of a chunk compared when processes resume


def _processes_text(made: dict[str, int]) -> str:
    n, d = made["count"], made.get("devices")
    return f"{n} process{'es' if n > 1 else ''}" + (f" with {d} devices" if d else "")


def _chunk_arrays(t: int, rows: dict[str, np.ndarray], done: bool,
                  state_leaves: list[np.ndarray] | None) -> dict[str, np.ndarray]:
    arrays = {"t": np.asarray(t), "done": np.asarray(done)}
    arrays.update({f"rows/{k}": v for k, v in rows.items()})
    for j, leaf in enumerate(state_leaves or []):
        arrays[f"state/{j:05d}"] = leaf
    return arrays


def _read_chunk(path: Path) -> dict[str, Any]:
    a = load_npz(path)
    leaves = [a[k] for k in sorted(k for k in a if k.startswith("state/"))]
    saved = {"t": int(a["t"]), "done": bool(a["done"]),
             "rows": {k[5:]: v for k, v in a.items() if k.startswith("rows/")},
             "state_leaves": leaves}
    if "lanes" in a:
        saved["lanes"] = a["lanes"]
    return saved


HOW_TO_READ = ("lanes[i].config is lane i's full TrainConfig (run i of results.csv): "
               "TrainConfig(**lanes[i]['config']), or l2theory.train.load_config(folder, lane=i); "
               "identity.template is the shared settings without lam, lr, seed (a template, not "
               "a run); identity.grid the grid; data (from the commands) how the data were "
               "loaded")


def sweep_identity(config, axes: dict[str, Any], dataset) -> dict[str, Any]:
    """What a resumed sweep must match: the settings every lane shares (``template``: the
    resolved TrainConfig without ``lam``, ``lr``, ``seed``, and without ``steps`` when
    ``natural_time`` sets them), the grid's ``axes`` and the dataset's fingerprint."""
    template = config.resolved().to_dict()
    for name in ("lam", "lr", "seed") + (("steps",) if axes.get("natural_time") else ()):
        del template[name]
    return {"template": template, "grid": axes, "dataset": dataset_fingerprint(dataset)}


def lane_configs(config, grid, steps) -> list[dict[str, Any]]:
    """config.json's ``lanes``: per lane ``run``, ``lam``, ``lr``, ``seed``, ``steps`` and the
    full resolved TrainConfig dict of that run."""
    base = config.resolved().to_dict()
    return [{"run": run, "lam": lam, "lr": lr, "seed": seed, "steps": int(n),
             "config": {**base, "lam": lam, "lr": lr, "seed": seed, "steps": int(n)}}
            for run, ((lam, lr, seed), n) in enumerate(zip(grid, steps))]


def record_data(out, recipe: dict[str, Any]) -> None:
    """config.json's ``data`` entry of the results folder ``out`` (nothing when the folder holds
    no config.json yet): how the dataset was made (module docstring)."""
    path = Path(out) / "config.json"
    if path.is_file():
        stored = load_json(path)
        if stored.get("data") != recipe:
            save_json(path, {**stored, "data": recipe})


def load_config(path, lane: int | None = None):
    """The ``TrainConfig`` of lane ``lane`` of a results folder, as it ran: training it on the
    same data (``train.train(config, dataset)``) gives that lane's rows of results.csv (to float
    rounding: the sweep trained the lanes batched).

    Example: ``config = load_config("runs/sweep-20250101-120000", lane=3)`` (lane = results.csv's
    ``run``); ``load_config(folder)`` for a folder of one run (``l2theory train``).

    Args:
      path: a results folder (or its config.json).
      lane: the lane, ``0 .. len(lanes) - 1``; None for a folder holding one lane.

    Raises:
      FileNotFoundError: no config.json there.
      ValueError: a folder of another results format, or ``lane`` not given for several lanes or
        out of range.
    """
    from l2theory._practice.train.config import TrainConfig

    p = Path(path)
    p = p / "config.json" if p.is_dir() else p
    if not p.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no config.json there; pass a results folder "
                                "a sweep wrote (sweep(..., out=...), or the folder l2theory "
                                "train/sweep printed)")
    stored = load_json(p)
    found = stored.get("format") if isinstance(stored, dict) else None
    if found != FORMAT or not stored.get("lanes"):
        what = (f"results format {found!r}, not {FORMAT}" if found != FORMAT else
                "written by a development version of this format")
        raise ValueError(f"path={str(path)!r}: {what}: its config.json holds no per-lane configs "
                         "(an older one holds the grid in identity.grid around a config whose "
                         "lam, lr, seed are placeholders); rerun the sweep with this version")
    lanes = stored["lanes"]
    if lane is None:
        if len(lanes) != 1:
            raise ValueError(f"lane=None: {str(path)!r} holds {len(lanes)} lanes; pass lane=i, "
                             f"0 <= i < {len(lanes)} (results.csv's run column)")
        lane = 0
    lane = _checks.integer("lane", lane, low=0, high=len(lanes) - 1,
                           what=f"a lane of the {len(lanes)} in {str(path)!r}",
                           fix="pass results.csv's run number of the lane")
    return TrainConfig(**lanes[lane]["config"])


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

