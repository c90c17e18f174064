"""Several processes as one: JAX's multi-controller runtime (``jax.distributed``), what the
processes of a run must agree on, and arrays over every process's devices.

One process per host (or per GPU) runs the same program; ``jax.devices()`` then lists every
process's devices, and a ``jax.sharding.NamedSharding`` over a mesh of them splits an array over
all hosts. Each process only touches the shards on its own devices (``jax.local_devices()``).

- ``start`` begins the runtime (from explicit arguments, or from what JAX detects on SLURM, Open
  MPI and Cloud TPU pods).
- Collectives, which every process must call at the same point of the program with arrays of
  the same shape: ``allgather`` and ``broadcast`` (small host values), ``check_same`` (the
  processes agree), ``raise_everywhere`` (one error in every process, so that none waits for a
  partner that stopped). In a single process they communicate nothing.
- Global arrays over a 1-D ``mesh`` of every device: ``replicated`` (whole on every device),
  ``split`` (split along the first dimension), ``local`` (this process's copy of a replicated
  result).

The CPU backend exchanges data between processes over TCP with gloo (JAX's
``jax_cpu_collectives_implementation``), which ``start`` switches on if it is off.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np

from l2theory import _checks


def start(coordinator: str | None = None, num_processes: int | None = None,
          process_id: int | None = None, *,
          names: tuple[str, str, str] = ("coordinator", "num_processes", "process_id")) -> bool:
    """Start JAX's multi-controller runtime in this process, before any JAX computation.

    Either all three arguments (one process per host: every local device is used), or none: then
    JAX's own cluster detection decides (SLURM, Open MPI, Cloud TPU pods; on SLURM with GPUs JAX
    gives each task the GPU of its ``SLURM_LOCALID``, so launch one task per GPU), and where it
    detects no cluster of several processes nothing is started (a plain single-process run).

    Args:
      coordinator: ``"HOST:PORT"`` of process 0, where it listens for the others (a free port;
        every process passes the same).
      num_processes: how many processes take part (``>= 1``; 1 starts nothing, also without
        the other two arguments and whatever cluster JAX would detect).
      process_id: this process's number, ``0 .. num_processes - 1``.
      names: how messages name the three arguments (a command's options).

    Returns:
      True when several processes now run together.
    """
    import jax

    if num_processes == 1 and process_id in (None, 0):
        return False  # one process, whatever the environment says
    given = [a is not None for a in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        missing = [n for n, g in zip(names, given) if not g]
        raise _checks.bad(missing[0], None, f"several processes need {', '.join(names[:2])} "
                          f"and {names[2]} together", "pass all three (e.g. node01:12345, 2, 0), "
                          "or none for JAX's cluster detection (SLURM, Open MPI, TPU pods)")
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    if all(given):
        n = _checks.positive_int(names[1], num_processes, what="processes taking part")
        i = _checks.integer(names[2], process_id, low=0, high=n - 1,
                            what="this process's number", fix=f"pass 0 .. {n - 1}")
        _checks_address(names[0], coordinator)
        if n == 1:
            return False
        kwargs = dict(coordinator_address=coordinator, num_processes=n, process_id=i,
                      cluster_detection_method="deactivate")
    else:
        cluster, count = _detected()
        if count <= 1:
            return False
        kwargs = dict(cluster_detection_method=cluster)
    _before_any_computation()
    if jax.config.jax_cpu_collectives_implementation is None:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**kwargs)
    return jax.process_count() > 1


def _checks_address(name: str, coordinator) -> None:
    if not isinstance(coordinator, str) or not re.fullmatch(r"\S+:\d{1,5}", coordinator):
        raise _checks.bad(name, coordinator, "must be HOST:PORT, the address of "
                          "process 0 and a free port there", "e.g. 'node01:12345' (or "
                          "'localhost:12345' for processes on one machine)")


_DETECTED = ("slurm", "ompi", "gcetpu", "gketpu")  # JAX's detectors that read the environment


def detected_processes() -> int:
    """How many processes JAX's cluster detection finds in this environment (SLURM, Open MPI,
    Cloud TPU pods); 1 when it finds none. (JAX's Kubernetes detector, which queries the cluster's
    API from any pod, is left out: pass the addresses there.)"""
    return _detected()[1]


def _detected() -> tuple[str | None, int]:
    """``(JAX's name of the cluster found, its process count)``, or ``(None, 1)``."""
    try:  # JAX's own detection (the same jax.distributed.initialize() uses without arguments)
        from jax._src import clusters
    except ImportError:  # pragma: no cover - a JAX without it
        return None, 1
    for env in clusters.ClusterEnv._cluster_types:
        if getattr(env, "name", "") not in _DETECTED:
            continue
        try:
            if env.is_env_present():
                return env.name, int(env.get_process_count())
        except Exception:  # noqa: BLE001 - a detector that cannot answer finds nothing
            continue
    return None, 1


def _before_any_computation() -> None:
    """``RuntimeError`` if JAX has already started a backend in this process."""
    try:
        from jax._src import xla_bridge
        started = bool(xla_bridge._backends)
    except (ImportError, AttributeError):  # pragma: no cover - a JAX without it
        return
    if started:
        raise RuntimeError("the multi-process runtime must start before any JAX computation in "
                           "this process; start it first (l2theory sweep --coordinator ... does, "
                           "or call jax.distributed.initialize() at the top of the script)")


def process_count() -> int:
    import jax

    return jax.process_count()


def process_index() -> int:
    import jax

    return jax.process_index()


def check_devices() -> None:
    """``RuntimeError`` unless every process has the same number of devices (the collectives
    below and the lane layout of a sweep assume it)."""
    import jax

    local = jax.local_device_count()
    if jax.device_count() != jax.process_count() * local:
        raise RuntimeError(
            f"the {jax.process_count()} processes have {jax.device_count()} devices in all, not "
            f"{local} each as this process: start every process with the same number of devices "
            "(e.g. one process per GPU, or every GPU of a host in its process)")


def allgather(values) -> np.ndarray:
    """Every process's ``values`` (a small host array of the same shape and dtype everywhere;
    int32, float32 or bool: with JAX's default 32-bit mode wider types would be narrowed), stacked
    in process order: ``[process_count, *shape]``."""
    values = np.asarray(values)
    if process_count() == 1:
        return values[None]
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(values, tiled=False))


def broadcast(values) -> np.ndarray:
    """Process 0's ``values`` in every process (a small host array of the same shape and dtype
    everywhere, as for ``allgather``)."""
    values = np.asarray(values)
    if process_count() == 1:
        return values
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.broadcast_one_to_all(values))


def digest(obj: Any) -> np.ndarray:
    """A 128-bit hash of a JSON-able object as four int32s (for ``check_same``)."""
    text = json.dumps(obj, sort_keys=True, default=repr)
    return np.frombuffer(hashlib.blake2b(text.encode(), digest_size=16).digest(), np.int32)


def check_same(what: str, parts: dict[str, Any], fix: str) -> None:
    """``ValueError`` in every process unless every process passed equal ``parts`` (each part
    compared by ``digest``), naming the parts and the processes that differ from process 0."""
    if process_count() == 1:
        return
    hashes = allgather(np.stack([digest(v) for v in parts.values()]))  # [processes, parts, 4]
    same = (hashes == hashes[:1]).all(axis=2)  # [processes, parts]
    if same.all():
        return
    names = [name for name, ok in zip(parts, same.all(axis=0)) if not ok]
    who = [str(i) for i in range(len(hashes)) if not same[i].all()]
    raise ValueError(f"the {len(hashes)} processes disagree on {what} (differs in: "
                     f"{', '.join(names)}; process(es) {', '.join(who)} differ from process 0); "
                     f"{fix}")


_MESSAGE_BYTES = 2048


def raise_everywhere(error: BaseException | None) -> None:
    """Collective: if any process passes an error, every process raises: the first such process
    its own error, the others a ``ValueError`` (or ``RuntimeError``) with that process's message
    (so no process waits forever for one that stopped). Nothing happens when all pass None."""
    if process_count() == 1:
        if error is not None:
            raise error
        return
    me = process_index()
    failed = allgather(np.int32(error is not None))
    if not failed.any():
        return
    first = int(np.flatnonzero(failed)[0])
    text = f"{type(error).__name__}: {error}" if error is not None else ""
    data = np.zeros(_MESSAGE_BYTES, np.int32)
    raw = np.frombuffer(text.encode()[:_MESSAGE_BYTES], np.uint8)
    data[:len(raw)] = raw
    from jax.experimental import multihost_utils

    message = np.asarray(multihost_utils.broadcast_one_to_all(data, is_source=me == first))
    message = bytes(message[message != 0].astype(np.uint8)).decode(errors="replace")
    if me == first:
        raise error
    kind = ValueError if message.startswith("ValueError") else RuntimeError
    raise kind(f"process {first} reports: {message.split(': ', 1)[-1]}")


# ----------------------------------------------------------------------------- global arrays


def mesh(axis: str):
    """A 1-D ``jax.sharding.Mesh`` named ``axis`` over every device of every process."""
    import jax
    from jax.sharding import Mesh

    return Mesh(np.array(jax.devices()), (axis,))


def replicated(x, mesh_):
    """``x`` (the same host or single-device array in every process) as a global array held
    whole by every device of ``mesh_``."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = NamedSharding(mesh_, PartitionSpec())
    if process_count() == 1:
        return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def split(x, mesh_, axis: str):
    """``x`` (the same host array in every process, its first dimension a multiple of the mesh
    size) split along its first dimension over the devices of ``mesh_``; each device receives
    only its own part (``x`` is never whole on one device)."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = NamedSharding(mesh_, PartitionSpec(axis))
    return jax.make_array_from_callback(np.shape(x), sharding, lambda index: np.asarray(x[index]))


def local(x):
    """This process's copy of a global array that every device holds whole (``replicated``, or
    a collective's result), on this process's first device (its default device)."""
    import jax

    first = jax.local_devices()[0]
    for shard in x.addressable_shards:
        if shard.device == first:
            return shard.data
    return x.addressable_data(0)


def environment_hint() -> str:
    """How this process was placed, for messages: ``"process 1 of 2 on host X"``."""
    import socket

    return f"process {process_index()} of {process_count()} on {socket.gethostname()}"


def free_port() -> int:
    """A TCP port free on this machine now (for a coordinator on ``localhost``)."""
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


__all__ = ["start", "detected_processes", "process_count", "process_index", "check_devices",
           "allgather", "broadcast", "digest", "check_same", "raise_everywhere",
           "mesh", "replicated", "split", "local", "environment_hint", "free_port"]
