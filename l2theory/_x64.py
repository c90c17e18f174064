"""``x64()``: JAX 64-bit mode inside a block, the previous mode restored after."""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def x64():
    """Turn ``jax_enable_x64`` on for the block (process-wide: float64 exact solvers, float64
    tests) and restore the previous value after, also when the block raises."""
    import jax

    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)
